"""Exercises for the extra "Multimodal" (MiniGPT-4 / LLaVA-style vision-language models)."""

from __future__ import annotations

from typing import Any

from course.exercises import Case, Exercise, choice, same_as
from course.syllabus import objective

NOTEBOOK = "e3-multimodal"

PROJECT = objective(NOTEBOOK, "Explain how MiniGPT-4")
PARTS = objective(NOTEBOOK, "Take a vision-language")
SPLICE = objective(NOTEBOOK, "Reproduce the model's")


def _exact(expected: int, unit: str) -> Any:
    def checker(answer: Any) -> str | None:
        if isinstance(answer, bool) or not isinstance(answer, int | float):
            return f"expected a number of {unit}, got {type(answer).__name__}."
        return None if answer == expected else f"{answer:g} {unit} is too {'high' if answer > expected else 'low'}."

    return checker


def _q1_solve() -> int:
    image_size, patch_size = 336, 14  # LLaVA-1.5's CLIP ViT-L/14 at 336 px
    return (image_size // patch_size) ** 2  # the CLS vector is dropped ("default" strategy)


def _q1_check(answer: Any) -> str | None:
    problem = _exact(_q1_solve(), "image tokens")(answer)
    if problem and answer == _q1_solve() + 1:
        return problem + " LLaVA drops the CLS vector and keeps one vector per patch."
    if problem and answer == 336 // 14:
        return problem + " That is the patches along one side; the image is a square grid of them."
    return problem


q1 = Exercise(
    "q1",
    "LLaVA-1.5 resizes images to 336 x 336 pixels and its vision tower uses 14 x 14 patches. How many "
    "<image> tokens does one image take in the prompt?",
    _q1_check,
    "Count the patches: (image size / patch size) along each side, and the grid is square.",
    _q1_solve,
    objective=PARTS,
)


def _q2_solve() -> int:
    vision, llm = 1024, 4096  # CLIP ViT-L width -> Vicuna-7B width, through a 2-layer MLP with biases
    return (vision * llm + llm) + (llm * llm + llm)


def _q2_check(answer: Any) -> str | None:
    problem = _exact(_q2_solve(), "parameters")(answer)
    if problem and answer == 1024 * 4096 + 4096 * 4096:
        return problem + " Add the biases: one per output of each linear layer."
    if problem and answer == 1024 * 4096 + 4096:
        return problem + " That is the first layer only; LLaVA-1.5's projector has two."
    return problem


q2 = Exercise(
    "q2",
    "LLaVA-1.5-7B's projector is Linear(1024 -> 4096), GELU, Linear(4096 -> 4096), both with biases. "
    "How many parameters does it have?",
    _q2_check,
    "A Linear(a -> b) layer with a bias has a * b + b parameters; GELU has none.",
    _q2_solve,
    objective=PROJECT,
)


def _q3_solve() -> int:
    context, per_image = 4096, 576
    return context // per_image  # whole images only, and no room left for text


def _q3_check(answer: Any) -> str | None:
    problem = _exact(_q3_solve(), "images")(answer)
    if problem and isinstance(answer, int | float) and abs(answer - 4096 / 576) < 0.01:
        return problem + " Only whole images fit: round down."
    return problem


q3 = Exercise(
    "q3",
    "LLaVA-1.5's language model reads at most 4,096 tokens, and each image takes 576. How many images fit "
    "in one prompt, ignoring the text?",
    _q3_check,
    "Divide the context length by the tokens per image, and keep whole images only.",
    _q3_solve,
    objective=PARTS,
)


def _q4_solve() -> str:
    return "projection"


_q4_check = choice("projection", {
    "vision encoder": (
        "both big models stay frozen in MiniGPT-4's first stage: training them would need far more "
        "memory and data. Look at section 1 again."),
    "llm": (
        "both big models stay frozen in MiniGPT-4's first stage: training them would need far more "
        "memory and data. Look at section 1 again."),
})


q4 = Exercise(
    "q4",
    "In MiniGPT-4's first training stage, which part is trained: 'vision encoder', 'projection' or 'llm'?",
    _q4_check,
    "Section 1: which part is marked (trained) in the diagram?",
    _q4_solve,
    objective=PROJECT,
)


def merge_image_features(input_ids, text_embeds, image_features, image_token_id: int):
    """Replace the embedding at every <image> position with the next projected image vector, in order."""
    merged = text_embeds.clone()  # leave the caller's tensor alone
    slots = input_ids == image_token_id  # (batch, length) True where an <image> placeholder sits
    merged[slots] = image_features.reshape(-1, text_embeds.shape[-1]).to(merged.dtype)  # row-major order
    return merged


def _added(input_ids, text_embeds, image_features, image_token_id):
    merged = text_embeds.clone()
    slots = input_ids == image_token_id
    merged[slots] += image_features.reshape(-1, text_embeds.shape[-1])
    return merged


def _first_positions(input_ids, text_embeds, image_features, image_token_id):
    merged = text_embeds.clone()
    flat = image_features.reshape(text_embeds.shape[0], -1, text_embeds.shape[-1])
    merged[:, : flat.shape[1]] = flat
    return merged


def _reversed_order(input_ids, text_embeds, image_features, image_token_id):
    merged = text_embeds.clone()
    slots = input_ids == image_token_id
    merged[slots] = image_features.reshape(-1, text_embeds.shape[-1]).flip(0)
    return merged


def _merge_cases() -> list[Case]:
    import torch

    gen = torch.Generator().manual_seed(3)
    image = 9
    one = torch.tensor([[1, 5, image, image, image, 6, 2]])  # text, 3 image slots, text
    two = torch.tensor([[4, image, image, 7, 8], [4, 3, image, image, 8]])  # slots at different places
    return [
        Case("one prompt with 3 <image> slots after a text token",
             (one, torch.randn(1, 7, 4, generator=gen), torch.randn(1, 3, 4, generator=gen), image)),
        Case("a batch of 2 prompts whose <image> slots sit at different positions",
             (two, torch.randn(2, 5, 3, generator=gen), torch.randn(2, 2, 3, generator=gen), image)),
    ]


q5 = Exercise(
    "q5",
    "Write merge_image_features(input_ids, text_embeds, image_features, image_token_id), the splice that "
    "section 4 checks: input_ids is (batch, length), text_embeds (batch, length, width) are the token "
    "embeddings, image_features (batch, patches, width) are the projected patch vectors. Return a new "
    "tensor like text_embeds in which the embedding at each <image> position is replaced by the next image "
    "vector, in order (row by row); every other position keeps its text embedding.",
    same_as(merge_image_features, _merge_cases, mistakes=[
        (_added, "you added the image vectors to the placeholder embeddings; the placeholders carry no "
                 "meaning: replace them."),
        (_first_positions, "you wrote the image vectors over the first positions of the prompt; they go where "
                           "input_ids == image_token_id, wherever that is."),
        (_reversed_order, "the image vectors are in the wrong order: the first <image> slot gets the first "
                          "patch vector (patch order is the image's layout, row by row)."),
    ], expects="your merge_image_features function"),
    "slots = input_ids == image_token_id; merged = text_embeds.clone(); "
    "merged[slots] = image_features.reshape(-1, width).",
    lambda: merge_image_features,
    objective=SPLICE,
)
