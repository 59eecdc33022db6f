"""05c's translation and summarisation code against the libraries: BLEU and ROUGE against sacrebleu's and rouge-score's
published values, the hand-written greedy decoder against ``generate``, the exercises' references against T5's own
shift and sacrebleu's n-gram statistics, and the tiny T5 and the course's pairs the smoke profile runs on."""

from __future__ import annotations

import pytest
import torch

from course import notebook_code
from course.exercises import week05c as ex
from helpers import seq2seq

NB = "05c-translate-and-summarise"

# sacrebleu's README example and the values its own test suite checks (test/test_bleu.py).
HYPS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
REFS = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
        ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]]


@pytest.fixture(scope="module")
def nb():
    return notebook_code.definitions(NB, "bleu", "rouge_l", "greedy_generate")


def test_the_notebooks_bleu_gives_sacrebleus_published_score_for_its_readme_example(nb):
    assert nb.bleu(HYPS, REFS[0], REFS[1]) == pytest.approx(48.530827, abs=1e-6)


def test_the_notebooks_bleu_is_100_for_identical_text_and_0_for_empty_output(nb):
    assert nb.bleu(["Le chat dort sur le lit."], ["Le chat dort sur le lit."]) == pytest.approx(100.0)
    assert nb.bleu(["", "", ""], REFS[0], REFS[1]) == 0.0


def test_the_notebooks_rouge_l_follows_word_order_and_stems_words(nb):
    assert nb.rouge_l([ex.ROUGE_PRED], [ex.ROUGE_REF]) == pytest.approx(ex._q4_solve()) == pytest.approx(0.5)
    assert nb.rouge_l(["the cats sat"], ["the cat sat"]) == pytest.approx(1.0)  # Porter stemming: cats -> cat
    assert nb.rouge_l(["the quick fox", "a b"], ["the quick brown fox", "a b"]) == pytest.approx((6 / 7 + 1) / 2)


def test_the_ngram_precision_reference_matches_sacrebleus_statistics():
    # sacrebleu's test_statistics case: clipped matches [4, 2, 1, 0] of totals [6, 5, 4, 3]
    hyp, ref = "am I am a character sequence".split(), "I am a symbol string sequence a a".split()
    assert [ex.ngram_precision(hyp, ref, n) for n in (1, 2, 3, 4)] == pytest.approx([4 / 6, 2 / 5, 1 / 4, 0.0])


def test_the_brevity_penalty_answer_is_sacrebleus():
    import sacrebleu

    bp = sacrebleu.BLEU.compute_bleu([1] * 4, [1] * 4, sys_len=ex.HYP_LEN, ref_len=ex.REF_LEN).bp
    assert ex._q3_solve() == pytest.approx(bp)


@pytest.mark.parametrize("start, pad", [(0, 0), (2, 1)])
def test_the_shift_right_reference_is_t5s_own_shift(start, pad):
    model = seq2seq.tiny_t5(64)
    model.config.decoder_start_token_id, model.config.pad_token_id = start, pad
    labels = torch.tensor([[5, 6, 7, 1], [9, 1, -100, -100]])
    torch.testing.assert_close(ex.shift_right(labels, start, pad), model._shift_right(labels))


def _tiny_model_that_talks():
    """A random tiny T5 whose greedy output varies (the default one repeats the padding token)."""
    tok = seq2seq.build_tokenizer([row[key] for row in seq2seq.pairs() for key in ("source", "target")])
    model = seq2seq.tiny_t5(len(tok), seed=3).eval()
    with torch.no_grad():
        model.shared.weight.normal_(0, 0.05, generator=torch.Generator().manual_seed(0))
    return model, tok


def test_the_notebooks_greedy_decoder_gives_generates_tokens(nb):
    model, tok = _tiny_model_that_talks()
    outputs = []
    for row in seq2seq.pairs(split="test"):
        text = seq2seq.PREFIXES[row["task"]] + row["source"]
        by_hand = nb.greedy_generate(model, tok, text, max_new_tokens=12)
        library = model.generate(**tok(text, return_tensors="pt"), do_sample=False, num_beams=1, max_new_tokens=12)[0]
        torch.testing.assert_close(by_hand, library)
        outputs.append(tuple(by_hand.tolist()))
    assert len({tok for out in outputs for tok in out}) > 3, "the comparison should not be between trivial outputs"


def test_the_tiny_t5_loads_like_a_hub_model_and_its_tokenizer_ends_texts_with_eos(tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    folder = seq2seq.tiny_t5_dir(tmp_path / "t5")
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(folder))
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    assert tok("Le chat dort.")["input_ids"][-1] == tok.eos_token_id
    assert tok.decode(tok("Le chat dort sur le lit.")["input_ids"], skip_special_tokens=True) == "Le chat dort sur le lit."
    assert model.config.decoder_start_token_id == 0 and model.config.is_encoder_decoder
    batch = tok(["summarize: a b", "translate English to French: The cat."], return_tensors="pt", padding=True)
    loss = model(**batch, labels=tok(text_target=["a", "Le chat."], return_tensors="pt", padding=True)["input_ids"]).loss
    assert torch.isfinite(loss)


def test_the_course_pairs_have_both_tasks_and_a_held_out_split_with_siblings_in_training():
    rows = seq2seq.pairs()
    assert len(rows) == 68
    assert {(t, s): len(seq2seq.pairs(t, s)) for t in seq2seq.TASKS for s in seq2seq.SPLITS} == {
        ("translate", "train"): 40, ("translate", "test"): 8, ("summarize", "train"): 16, ("summarize", "test"): 4}
    train_sources = {r["source"] for r in seq2seq.pairs(split="train")}
    assert not train_sources & {r["source"] for r in seq2seq.pairs(split="test")}
    assert all(r["source"].strip() and r["target"].strip() for r in rows)


def test_an_unknown_task_or_split_says_which_exist():
    with pytest.raises(ValueError, match="translate, summarize"):
        seq2seq.pairs("paraphrase")
    with pytest.raises(ValueError, match="train, test"):
        seq2seq.pairs(split="validation")
