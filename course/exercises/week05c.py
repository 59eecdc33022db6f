"""Exercises for week 5, "Translate and summarise": teacher forcing's shifted decoder input, BLEU's clipped n-gram
precision and brevity penalty, ROUGE-L by hand, the size of cross-attention, and beam search's length penalty."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from course.exercises import Case, Exercise, choice, near, same_as
from course.syllabus import objective

NOTEBOOK = "05c-translate-and-summarise"
CROSS_OBJ = objective(NOTEBOOK, "Explain how cross-attention")
TEACHER_OBJ = objective(NOTEBOOK, "Train with teacher forcing")
METRICS_OBJ = objective(NOTEBOOK, "Measure BLEU with sacrebleu")


# q1 (code): the decoder's input under teacher forcing.
def shift_right(labels: Any, start_id: int, pad_id: int) -> Any:
    """The decoder input for teacher forcing: start_id, then the labels without the last one; -100 becomes pad_id."""
    shifted = labels.new_zeros(labels.shape)
    shifted[..., 1:] = labels[..., :-1]
    shifted[..., 0] = start_id
    return shifted.masked_fill(shifted == -100, pad_id)


def _labels(rows: list[list[int]]) -> Any:
    import torch

    return torch.tensor(rows, dtype=torch.long)


def _shift_cases() -> list[Case]:
    return [Case("2 sequences of 5, start 0 and pad 0 (T5's ids), the second padded with -100",
                 (_labels([[37, 12, 9, 4, 1], [52, 8, 1, -100, -100]]), 0, 0)),
            Case("3 sequences of 4, start 2 and pad 1 (other ids, as in BART-style models)",
                 (_labels([[5, 6, 7, 1], [9, 1, -100, -100], [4, 4, 3, 1]]), 2, 1)),
            Case("1 sequence of 7, start 59 and pad 3, -100 in the middle of the shifted part",
                 (_labels([[11, 12, 13, -100, -100, -100, -100]]), 59, 3)),
            Case("4 sequences of 2, start 7 and pad 0", (_labels([[3, 1], [8, 1], [1, -100], [5, 1]]), 7, 0))]


def _keeps_minus_100(labels: Any, start_id: int, pad_id: int) -> Any:
    import torch

    return torch.cat([torch.full_like(labels[:, :1], start_id), labels[:, :-1]], dim=1)


def _shift_left(labels: Any, start_id: int, pad_id: int) -> Any:
    import torch

    shifted = torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], pad_id)], dim=1)
    return shifted.masked_fill(shifted == -100, pad_id)


def _overwrites_first(labels: Any, start_id: int, pad_id: int) -> Any:
    shifted = labels.clone()
    shifted[:, 0] = start_id
    return shifted.masked_fill(shifted == -100, pad_id)


def _prepends_without_dropping(labels: Any, start_id: int, pad_id: int) -> Any:
    import torch

    shifted = torch.cat([torch.full_like(labels[:, :1], start_id), labels], dim=1)
    return shifted.masked_fill(shifted == -100, pad_id)


def _pad_as_start(labels: Any, start_id: int, pad_id: int) -> Any:
    return shift_right(labels, pad_id, pad_id)


def _start_zero(labels: Any, start_id: int, pad_id: int) -> Any:
    return shift_right(labels, 0, pad_id)


def _pad_zero(labels: Any, start_id: int, pad_id: int) -> Any:
    return shift_right(labels, start_id, 0)


def _start_and_pad_swapped(labels: Any, start_id: int, pad_id: int) -> Any:
    return shift_right(labels, pad_id, start_id)


def _roll_wraps(labels: Any, start_id: int, pad_id: int) -> Any:
    import torch

    shifted = torch.roll(labels, shifts=1, dims=-1)  # the last label comes round to the front
    return shifted.masked_fill(shifted == -100, pad_id)


def _minus_100_to_start(labels: Any, start_id: int, pad_id: int) -> Any:
    return shift_right(labels.masked_fill(labels == -100, start_id), start_id, pad_id)


def _as_numpy(labels: Any, start_id: int, pad_id: int) -> Any:
    return shift_right(labels, start_id, pad_id).numpy()


def _cat_after_replacing(labels: Any, start_id: int, pad_id: int) -> Any:
    """Replace -100 first (on a copy), then put the start token in front and drop the last label."""
    import torch

    clean = torch.where(labels == -100, torch.full_like(labels, pad_id), labels)
    return torch.cat([torch.full_like(clean[:, :1], start_id), clean[:, :-1]], dim=1)


def _loop(labels: Any, start_id: int, pad_id: int) -> Any:
    """Row by row, token by token, in plain Python."""
    import torch

    rows = [[start_id] + [pad_id if t == -100 else t for t in row[:-1]] for row in labels.tolist()]
    return torch.tensor(rows, dtype=labels.dtype)


def _roll(labels: Any, start_id: int, pad_id: int) -> Any:
    import torch

    shifted = torch.roll(labels, shifts=1, dims=-1)
    shifted[:, 0] = start_id
    shifted[shifted == -100] = pad_id
    return shifted


q1 = Exercise(
    "q1",
    "Write shift_right(labels, start_id, pad_id): labels is a (batch, length) tensor of target token ids where -100 "
    "marks padding (the loss ignores it). Return the decoder input for teacher forcing: the same shape and dtype, "
    "start_id in the first position, the labels without their last token after it, and every -100 replaced by "
    "pad_id (an embedding has no row -100). Do not change labels itself.",
    same_as(shift_right, _shift_cases, [
        (_keeps_minus_100, "the -100 markers reach the decoder input, where the embedding lookup fails: replace them "
                           "with pad_id."),
        (_shift_left, "you shifted left (the labels without their first token): the decoder reads the start token, "
                      "then each label one position later."),
        (_overwrites_first, "you overwrote the first label with the start token instead of shifting: every label "
                            "must move one position to the right."),
        (_prepends_without_dropping, "the decoder input has one token too many: put start_id in front and drop the "
                                     "last label, so it has the labels' length."),
        (_pad_as_start, "the first decoder input must be start_id; T5 happens to use its pad id (0) for both, other "
                        "models do not."),
        (_start_zero, "use the start_id you are given, not 0: T5 starts with 0, other models with other ids."),
        (_pad_zero, "replace -100 with the pad_id you are given, not 0: other models pad with other ids."),
        (_start_and_pad_swapped, "start_id and pad_id are swapped: start_id goes first, pad_id replaces -100."),
        (_roll_wraps, "torch.roll brings the last label round to the front: overwrite the first position with "
                      "start_id."),
        (_minus_100_to_start, "replace -100 with pad_id, not start_id: the start token appears once, at the front."),
    ], alternatives=[_cat_after_replacing, _loop, _roll]),
    "labels.new_zeros(labels.shape), then shifted[:, 1:] = labels[:, :-1], shifted[:, 0] = start_id, and "
    "shifted.masked_fill(shifted == -100, pad_id).",
    lambda: shift_right,
    objective=TEACHER_OBJ,
    wrong=((_as_numpy, "return a torch tensor, not a ndarray"),),
)


# q2 (code): BLEU's clipped (modified) n-gram precision of one sentence.
def ngram_precision(hypothesis: list[str], reference: list[str], n: int) -> float:
    """Clipped n-gram precision: hypothesis n-grams found in the reference (each at most as often as there) / all."""
    hyp = Counter(tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1))
    ref = Counter(tuple(reference[i:i + n]) for i in range(len(reference) - n + 1))
    total = sum(hyp.values())
    return sum(min(count, ref[gram]) for gram, count in hyp.items()) / total if total else 0.0


def _ngram_cases() -> list[Case]:
    def words(text: str) -> list[str]:
        return text.split()

    return [Case("bigrams, a repeated bigram in both ('the the the the cat sat' against 'cat sat the the the')",
                 (words("the the the the cat sat"), words("cat sat the the the"), 2)),
            Case("bigrams, 'the cat sat on the mat' against 'the cat is on the mat'",
                 (words("the cat sat on the mat"), words("the cat is on the mat"), 2)),
            Case("unigrams, a word repeated in both ('a a b c' against 'a a a b')",
                 (words("a a b c"), words("a a a b"), 1)),
            Case("unigrams, 'the the the the the the the' against 'the cat is on the mat'",
                 (words("the the the the the the the"), words("the cat is on the mat"), 1)),
            Case("unigrams, a hypothesis shorter than its reference ('the cat' against 'the cat is on the mat')",
                 (words("the cat"), words("the cat is on the mat"), 1)),
            Case("trigrams, a repeated phrase", (words("on the mat on the mat on the mat"),
                                                 words("the cat sat on the mat by the door"), 3)),
            Case("4-grams, hypothesis shorter than 4 words (no 4-grams at all)", (words("a cat"), words("a cat"), 4)),
            Case("bigrams of French words", (words("le chat dort sur le lit"), words("le chien dort sur le lit"), 2))]


def _unclipped(hypothesis: list[str], reference: list[str], n: int) -> float:
    grams = [tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1)]
    ref = {tuple(reference[i:i + n]) for i in range(len(reference) - n + 1)}
    return sum(g in ref for g in grams) / len(grams) if grams else 0.0


def _recall(hypothesis: list[str], reference: list[str], n: int) -> float:
    hyp = Counter(tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1))
    ref = Counter(tuple(reference[i:i + n]) for i in range(len(reference) - n + 1))
    total = sum(ref.values())
    return sum(min(c, ref[g]) for g, c in hyp.items()) / total if total else 0.0


def _distinct(hypothesis: list[str], reference: list[str], n: int) -> float:
    hyp = {tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1)}
    ref = {tuple(reference[i:i + n]) for i in range(len(reference) - n + 1)}
    return len(hyp & ref) / len(hyp) if hyp else 0.0


def _non_overlapping(hypothesis: list[str], reference: list[str], n: int) -> float:
    hyp = Counter(tuple(hypothesis[i:i + n]) for i in range(0, len(hypothesis) - n + 1, n))
    ref = Counter(tuple(reference[i:i + n]) for i in range(len(reference) - n + 1))
    total = sum(hyp.values())
    return sum(min(c, ref[g]) for g, c in hyp.items()) / total if total else 0.0


def _misses_the_last(hypothesis: list[str], reference: list[str], n: int, both: bool = True) -> float:
    hyp = Counter(tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n))  # range(len - n): one short
    ref = Counter(tuple(reference[i:i + n]) for i in range(len(reference) - n + 1 - int(both)))
    total = sum(hyp.values())
    return sum(min(c, ref[g]) for g, c in hyp.items()) / total if total else 0.0


def _percent(hypothesis: list[str], reference: list[str], n: int) -> float:
    return 100 * ngram_precision(hypothesis, reference, n)


def _clipped_at_one(hypothesis: list[str], reference: list[str], n: int) -> float:
    hyp = Counter(tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1))
    ref = {tuple(reference[i:i + n]) for i in range(len(reference) - n + 1)}
    total = sum(hyp.values())
    return sum(min(c, 1) for g, c in hyp.items() if g in ref) / total if total else 0.0


def _as_fraction(hypothesis: list[str], reference: list[str], n: int) -> Any:
    """Another style: an exact Fraction, the n-grams made with zip."""
    from fractions import Fraction

    hyp = Counter(zip(*(hypothesis[i:] for i in range(n))))
    ref = Counter(zip(*(reference[i:] for i in range(n))))
    total = sum(hyp.values())
    return Fraction(sum(min(c, ref[g]) for g, c in hyp.items()), total) if total else 0


def _counter_and(hypothesis: list[str], reference: list[str], n: int) -> float:
    """Counter's & keeps the smaller count of each n-gram: that is the clipping."""
    def grams(words: list[str]) -> Counter:
        return Counter(zip(*(words[i:] for i in range(n))))

    hyp = grams(hypothesis)
    return sum((hyp & grams(reference)).values()) / max(sum(hyp.values()), 1)


def _with_sacrebleu(hypothesis: list[str], reference: list[str], n: int) -> float:
    """sacrebleu's own statistics (no re-tokenisation): matches and totals of each order up to 4."""
    import sacrebleu

    stats = sacrebleu.sentence_bleu(" ".join(hypothesis), [" ".join(reference)], tokenize="none")
    return stats.counts[n - 1] / stats.totals[n - 1] if stats.totals[n - 1] else 0.0


q2 = Exercise(
    "q2",
    "Write ngram_precision(hypothesis, reference, n) for two lists of words: the share of the hypothesis's n-grams "
    "(every run of n consecutive words, overlapping) that the reference also has, where an n-gram counts at most as "
    "many times as it occurs in the reference (BLEU's clipping). Return 0.0 when the hypothesis has no n-grams.",
    same_as(ngram_precision, _ngram_cases, [
        (_unclipped, "an n-gram repeated in the hypothesis counts every time: clip each count at the number of times "
                     "the reference has it, or 'the the the the' scores 1.0 against any reference with 'the'."),
        (_recall, "you divided by the reference's n-grams (that is recall, ROUGE's side): BLEU divides by the "
                  "hypothesis's n-grams."),
        (_distinct, "you counted each distinct n-gram once: BLEU counts every occurrence in the hypothesis, each "
                    "clipped at its count in the reference."),
        (_non_overlapping, "your n-grams do not overlap: take every run of n words, starting at every position."),
        (_misses_the_last, "your n-grams miss the last one: a list of L words has L - n + 1 runs of n, "
                           "range(len(words) - n + 1)."),
        (_percent, "give the precision as a fraction between 0 and 1, not a percentage (sacrebleu prints 0-100)."),
        (_clipped_at_one, "you counted each matching n-gram at most once: clip at the number of times the reference "
                          "has it, min(count, reference_counts[gram])."),
        (lambda hypothesis, reference, n: _misses_the_last(hypothesis, reference, n, both=False),
         "your hypothesis's n-grams miss the last one: a list of L words has L - n + 1 runs of n, "
         "range(len(words) - n + 1)."),
    ], alternatives=[_counter_and, _with_sacrebleu, _as_fraction]),
    "Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1)) counts the n-grams; clip with "
    "min(count, reference_counts[gram]) and divide by the number of hypothesis n-grams.",
    lambda: ngram_precision,
    objective=METRICS_OBJ,
)

# q3: BLEU's brevity penalty.
HYP_LEN, REF_LEN = 15, 20


def _q3_solve() -> float:
    return math.exp(1 - REF_LEN / HYP_LEN) if HYP_LEN < REF_LEN else 1.0


q3 = Exercise(
    "q3",
    f"A system's translations of a test set have {HYP_LEN} words in all; the references have {REF_LEN}. BLEU "
    "multiplies its n-gram score by the brevity penalty exp(1 - r/c) when c < r (c: hypothesis length, r: reference "
    "length), else by 1. What is the penalty?",
    near(_q3_solve(), rel=0.01, mistakes={
        math.exp(1 - HYP_LEN / REF_LEN): "You swapped c and r: the penalty is never above 1.",
        HYP_LEN / REF_LEN: "That is the length ratio c/r; the penalty is exp(1 - r/c).",
        1.0: "The translations are shorter than the references, so the penalty applies.",
        math.exp(REF_LEN / HYP_LEN - 1): "The exponent's sign is flipped: exp(1 - r/c) is below 1 when c < r.",
        1 - REF_LEN / HYP_LEN: "You forgot the exponential: the penalty is exp(1 - r/c).",
        REF_LEN / HYP_LEN: "That is the ratio r/c; the penalty is exp(1 - r/c).",
    }),
    "r/c = 20/15; exp(1 - 1.333).",
    _q3_solve,
    objective=METRICS_OBJ,
)

# q4: ROUGE-L by hand.
ROUGE_REF, ROUGE_PRED = "the cat sat on the mat", "on the mat the cat sat"


def _lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def _q4_solve() -> float:
    ref, pred = ROUGE_REF.split(), ROUGE_PRED.split()
    lcs = _lcs(ref, pred)
    p, r = lcs / len(pred), lcs / len(ref)
    return 2 * p * r / (p + r)


q4 = Exercise(
    "q4",
    f"The reference summary is '{ROUGE_REF}' and the model writes '{ROUGE_PRED}'. ROUGE-L takes the longest common "
    "subsequence (LCS: words in the same order, gaps allowed) of the two, precision = LCS / predicted words, recall = "
    "LCS / reference words, and their harmonic mean F1. What is ROUGE-L F1?",
    near(_q4_solve(), rel=0.01, mistakes={
        1.0: "Every word appears in both (that is ROUGE-1's F1), but ROUGE-L needs them in the same order: the "
             "longest common subsequence is 3 words.",
        2 / 3: "The longest common subsequence is 3 words ('the cat sat' or 'on the mat'), not 4.",
        3: "That is the length of the longest common subsequence; ROUGE-L divides it by the lengths: precision "
           "3 / 6, recall 3 / 6, then their F1.",
        0.8: "That is ROUGE-2 (4 of the 5 bigrams are shared); ROUGE-L takes the longest common subsequence.",
        50: "Give F1 as a fraction between 0 and 1, not a percentage.",
    }),
    "Find the longest run of words that appear in both in the same order ('the cat sat' is one); here precision "
    "and recall are equal, so F1 equals them.",
    _q4_solve,
    objective=METRICS_OBJ,
)

# q5: how many weights one cross-attention layer computes.
HEADS, SOURCE, TARGET = 12, 40, 30


def _q5_solve() -> int:
    return HEADS * TARGET * SOURCE  # every target position (query) against every source position (key), per head


q5 = Exercise(
    "q5",
    f"A T5 decoder layer with {HEADS} heads translates a {SOURCE}-token source into a {TARGET}-token target. How many "
    "attention weights does its cross-attention compute for this one sequence pair?",
    near(_q5_solve(), rel=0.0, mistakes={
        HEADS * TARGET * TARGET: "That is the decoder's self-attention (target x target); cross-attention lets each "
                                 "target token attend to the source tokens.",
        HEADS * SOURCE * SOURCE: "That is the encoder's self-attention (source x source); cross-attention's queries "
                                 "are the target tokens.",
        TARGET * SOURCE: "Every head computes its own weights.",
        HEADS * (SOURCE + TARGET) ** 2: "That is self-attention over source and target joined (a decoder-only "
                                        "model's way); cross-attention pairs each target token with each source "
                                        "token.",
    }),
    "Queries come from the target, keys from the encoder's output for the source: heads x target x source.",
    _q5_solve,
    objective=CROSS_OBJ,
)

# q6: beam search's length penalty.
BEAMS = {"A": (5, -4.0), "B": (10, -6.0)}  # tokens, sum of log-probabilities


q6 = Exercise(
    "q6",
    "Beam search finishes two summaries: A has 5 tokens with a summed log-probability of -4.0, B has 10 tokens with "
    "-6.0. transformers ranks finished beams by sum / length ** length_penalty. With its default length_penalty=1.0, "
    "which does generate return: 'A' or 'B'?",
    choice("B", {"A": "A has the higher total (-4.0 > -6.0), but the score is divided by the length: "
                      "-4.0 / 5 = -0.8 against -6.0 / 10 = -0.6, so B wins. Raw totals favour short outputs."}),
    "Divide each sum by its length (length_penalty 1.0) and take the larger score.",
    lambda: max(BEAMS, key=lambda k: BEAMS[k][1] / BEAMS[k][0]),
    objective=CROSS_OBJ,
    wrong=(("A", "divided by the length"),),
)
