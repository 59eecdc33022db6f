"""Week 5's hand-written GPT (05b-build-a-gpt), imported from the notebook and compared with transformers.

The notebook's ``GPT`` loaded with a random GPT-2's weights must give ``GPT2LMHeadModel``'s logits and loss, and
each Llama piece it writes (RMSNorm, rotary embeddings, SwiGLU, grouped-query attention, the whole decoder layer)
must compute what transformers' Llama module computes, on tiny configurations of several shapes.
"""

from __future__ import annotations

import sys
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course import notebook_code

# notebook_code.definitions compiles the cells under this repo's `from __future__ import annotations`, so a
# @dataclass in them (the notebook's GPTConfig) looks its module, "notebook", up in sys.modules.
sys.modules.setdefault("notebook", types.ModuleType("notebook"))

NB = notebook_code.definitions("05b", "GPT", "GPTConfig", "load_gpt2_weights", "generate", "get_batch", "RMSNorm",
                               "rope_cos_sin", "apply_rope", "SwiGLU", "GQAttention", "LlamaBlock")


def _tiny_gpt2(n_embd: int, n_head: int, n_layer: int, vocab: int = 97, n_positions: int = 40, seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=n_positions, n_embd=n_embd, n_head=n_head,
                                       n_layer=n_layer, initializer_range=0.2)).eval()
    return model


def _ours_from(hf) -> nn.Module:
    c = hf.config
    ours = NB.GPT(NB.GPTConfig(vocab_size=c.vocab_size, context=c.n_positions, dim=c.n_embd, n_heads=c.n_head,
                               n_layers=c.n_layer)).eval()
    return NB.load_gpt2_weights(ours, hf.state_dict())


@pytest.mark.parametrize("n_embd, n_head, n_layer", [(32, 4, 2), (48, 3, 1), (24, 1, 3)])
def test_the_notebooks_gpt_with_gpt2_weights_gives_transformers_logits_and_shifted_loss(n_embd, n_head, n_layer):
    hf = _tiny_gpt2(n_embd, n_head, n_layer)
    ours = _ours_from(hf)
    ids = torch.randint(0, 97, (3, 17), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(ids, labels=ids)
        logits = ours(ids)
    assert expected.logits.std() > 0.1, "weights large enough for the comparison to mean something"
    torch.testing.assert_close(logits, expected.logits, rtol=1e-5, atol=1e-5)
    shifted = F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
    torch.testing.assert_close(shifted, expected.loss, rtol=1e-5, atol=1e-6)


def test_a_square_matrix_loaded_without_its_transpose_shows_in_the_logits():
    hf = _tiny_gpt2(32, 4, 2)
    ours = _ours_from(hf)
    ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours.blocks[1].attn.o_proj.weight.copy_(hf.state_dict()["transformer.h.1.attn.c_proj.weight"])
        assert (ours(ids) - hf(ids).logits).abs().max() > 1e-2


def test_the_notebooks_attention_never_looks_at_later_tokens():
    torch.manual_seed(0)
    model = NB.GPT(NB.GPTConfig(vocab_size=20, context=16, dim=32, n_heads=4, n_layers=2)).eval()
    ids = torch.randint(0, 20, (2, 10))
    changed = ids.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 20
    with torch.no_grad():
        a, b = model(ids), model(changed)
    torch.testing.assert_close(a[:, :6], b[:, :6])
    assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-4


def test_an_untrained_gpt_starts_near_a_uniform_guess_and_refuses_too_long_inputs():
    torch.manual_seed(0)
    model = NB.GPT(NB.GPTConfig(vocab_size=50, context=8, dim=32, n_heads=2, n_layers=2))
    x, y = torch.randint(0, 50, (2, 4, 8), generator=torch.Generator().manual_seed(0))
    loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    assert abs(loss.item() - torch.log(torch.tensor(50.0)).item()) < 0.05
    with pytest.raises(ValueError, match="at most 8 tokens"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_batches_pair_each_input_with_the_next_token():
    data = torch.arange(100)
    x, y = NB.get_batch(data, 5, 7, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 7)
    assert torch.equal(y, x + 1) and int(y.max()) <= 99


def test_greedy_generation_of_the_notebooks_gpt_matches_transformers_generate():
    hf = _tiny_gpt2(32, 4, 2, n_positions=64)
    ours = _ours_from(hf)
    prompt = torch.tensor([[5, 17, 3, 44]])
    expected = hf.generate(prompt, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert torch.equal(NB.generate(ours, prompt, 12, top_k=1), expected)


def test_sampling_keeps_to_the_top_k_tokens():
    class Fixed(nn.Module):  # always the same logits: token 7 likeliest, then 3, then 9
        cfg = types.SimpleNamespace(context=4)

        def forward(self, ids):
            logits = torch.full((ids.shape[0], ids.shape[1], 12), -5.0)
            logits[..., 7], logits[..., 3], logits[..., 9] = 3.0, 2.5, 2.0
            return logits

    torch.manual_seed(0)
    out = NB.generate(Fixed(), torch.zeros(8, 1, dtype=torch.long), 30, temperature=2.0, top_k=2)
    assert set(out[:, 1:].unique().tolist()) == {3, 7}


def _llama_config(heads: int = 4, kv_heads: int = 2, head_dim: int = 16, theta: float = 10000.0):
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=64, num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
                       intermediate_size=128, max_position_embeddings=256, rms_norm_eps=1e-5,
                       rope_parameters={"rope_type": "default", "rope_theta": theta}, attn_implementation="eager")


def _rope(cfg, x, positions):
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    return LlamaRotaryEmbedding(cfg)(x, positions[None])


def test_the_notebooks_rmsnorm_is_llamas():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    theirs = LlamaRMSNorm(24, eps=1e-5)
    nn.init.normal_(theirs.weight)
    ours = NB.RMSNorm(24, eps=1e-5)
    ours.load_state_dict(theirs.state_dict())
    x = 3 * torch.randn(2, 5, 24)
    torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(ours(x.bfloat16()), theirs(x.bfloat16()))


@pytest.mark.parametrize("head_dim, theta, positions", [(16, 10000.0, range(7)), (32, 500000.0, range(40, 45))])
def test_the_notebooks_rotary_embedding_is_llamas(head_dim, theta, positions):
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    cfg = _llama_config(head_dim=head_dim, theta=theta)
    positions = torch.tensor(list(positions))
    cos, sin = NB.rope_cos_sin(positions, head_dim, theta)
    their_cos, their_sin = _rope(cfg, torch.zeros(1, 1, 64), positions)
    torch.testing.assert_close(cos, their_cos[0])
    q, k = torch.randn(2, 4, len(positions), head_dim), torch.randn(2, 2, len(positions), head_dim)
    their_q, their_k = apply_rotary_pos_emb(q, k, their_cos, their_sin)
    torch.testing.assert_close(NB.apply_rope(q, cos, sin), their_q)
    torch.testing.assert_close(NB.apply_rope(k, cos, sin), their_k)


def test_the_notebooks_swiglu_is_llamas_mlp():
    from transformers.models.llama.modeling_llama import LlamaMLP

    cfg = _llama_config()
    theirs = LlamaMLP(cfg)
    ours = NB.SwiGLU(64, 128)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 4, 64)
    torch.testing.assert_close(ours(x), theirs(x))


def _causal(T: int) -> torch.Tensor:
    return torch.full((T, T), float("-inf")).triu(1)[None, None]


@pytest.mark.parametrize("heads, kv_heads, head_dim", [(4, 2, 16), (8, 1, 8), (4, 4, 16)])
def test_the_notebooks_grouped_query_attention_is_llamas(heads, kv_heads, head_dim):
    from transformers.models.llama.modeling_llama import LlamaAttention

    cfg = _llama_config(heads, kv_heads, head_dim)
    theirs = LlamaAttention(cfg, layer_idx=0)
    ours = NB.GQAttention(64, heads, kv_heads, head_dim)
    ours.load_state_dict(theirs.state_dict())
    x, positions = torch.randn(2, 9, 64), torch.arange(9)
    their_cos, their_sin = _rope(cfg, x, positions)
    cos, sin = NB.rope_cos_sin(positions, head_dim)
    with torch.no_grad():
        expected = theirs(x, position_embeddings=(their_cos, their_sin), attention_mask=_causal(9))[0]
        torch.testing.assert_close(ours(x, cos, sin), expected)


def test_the_notebooks_llama_block_is_a_llama_decoder_layer():
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    cfg = _llama_config()
    theirs = LlamaDecoderLayer(cfg, layer_idx=0)
    for p in theirs.parameters():
        nn.init.normal_(p, std=0.3)
    ours = NB.LlamaBlock(cfg)
    ours.load_state_dict(theirs.state_dict())
    x, positions = torch.randn(2, 6, 64), torch.arange(6)
    cos, sin = NB.rope_cos_sin(positions, 16)
    with torch.no_grad():
        expected = theirs(x, attention_mask=_causal(6), position_embeddings=_rope(cfg, x, positions))
        torch.testing.assert_close(ours(x, cos, sin), expected, rtol=1e-4, atol=1e-5)


def test_the_fables_ship_with_the_course():
    from helpers import gpt

    text = gpt.fables()
    assert text.startswith("The Wolf And The Lamb") and 20_000 < len(text) < 30_000
    assert "Project Gutenberg" not in text
