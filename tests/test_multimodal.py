"""Extra e3's helpers: the tiny LLaVA, its image placeholders, the projection spliced by hand."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def tiny_vlm():
    from helpers import multimodal

    return multimodal.load_vlm(multimodal.tiny_llava_dir(), device="cpu")


@pytest.fixture(scope="module")
def flower():
    from helpers import multimodal

    return multimodal.sample_images()["flower"]


def test_sample_images_are_two_real_rgb_photos():
    from helpers import multimodal

    images = multimodal.sample_images()
    assert set(images) == {"china", "flower"}
    assert all(img.mode == "RGB" and img.width > 100 for img in images.values())


def test_tiny_llava_reloads_through_the_auto_classes_as_llava(tiny_vlm):
    model, processor = tiny_vlm
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert type(processor).__name__ == "LlavaProcessor"
    assert processor.tokenizer.chat_template


def test_prompt_has_one_image_placeholder_per_patch(tiny_vlm, flower):
    from helpers import multimodal

    model, processor = tiny_vlm
    inputs = multimodal.encode(processor, flower, "What is this?")
    vcfg = model.config.vision_config
    placeholders = int((inputs["input_ids"] == model.config.image_token_index).sum())
    assert placeholders == (vcfg.image_size // vcfg.patch_size) ** 2
    assert tuple(inputs["pixel_values"].shape) == (1, 3, vcfg.image_size, vcfg.image_size)


def test_splicing_projected_patches_by_hand_reproduces_the_models_logits(tiny_vlm, flower):
    from helpers import multimodal

    model, processor = tiny_vlm
    inputs = multimodal.encode(processor, flower, "What is this?")
    steps = multimodal.image_embeddings(model, inputs["pixel_values"])
    assert steps["projected"].shape[-1] == model.config.text_config.hidden_size
    assert steps["patch_features"].shape[-1] == model.config.vision_config.hidden_size
    by_hand = multimodal.merge_and_run(model, inputs, steps["projected"])
    with torch.inference_mode():
        reference = model(**inputs).logits
    assert torch.allclose(by_hand, reference, atol=1e-5)
    other = multimodal.merge_and_run(model, inputs, torch.zeros_like(steps["projected"]))
    assert not torch.allclose(other, reference, atol=1e-3)  # the image vectors do reach the LLM


def test_ask_answers_with_new_tokens_repeatably(tiny_vlm, flower):
    from helpers import multimodal

    model, processor = tiny_vlm
    first = multimodal.ask(model, processor, flower, "Describe this image.", max_new_tokens=5)
    again = multimodal.ask(model, processor, flower, "Describe this image.", max_new_tokens=5)
    assert 1 <= first["new_tokens"] <= 5 and first["prompt_tokens"] > 16
    assert first["text"] == again["text"]


def test_multimodal_exercises_explain_typical_mistakes(capsys):
    import numpy as np

    from course.exercises import extras_multimodal as ex

    assert not ex.q1.check(257)
    assert "CLS" in capsys.readouterr().out
    assert not ex.q1.check(16)
    assert "square grid" in capsys.readouterr().out
    assert not ex.q1.check(576)  # the 336-pixel count the notebook names: this question is about 224 pixels
    assert "224 x 224" in capsys.readouterr().out
    assert ex.q1.check(np.int64(256)) and ex.q2.check(np.float32(20979712))
    assert not ex.q2.check(1024 * 4096 + 4096 * 4096)
    assert "biases" in capsys.readouterr().out
    assert not ex.q3.check(4096 / 576)
    assert "round down" in capsys.readouterr().out
    assert not ex.q4.check(ex._q4_solve() * 12 / 16)
    assert "Count the weights too" in capsys.readouterr().out
    assert ex.q4.check(50.4)  # (768 x 4096 + 4096) parameters x 16 bytes
