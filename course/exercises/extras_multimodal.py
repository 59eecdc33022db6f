"""Exercises for the extra "Multimodal" (MiniGPT-4 / LLaVA-style vision-language models)."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise

NOTEBOOK = "e3-multimodal"


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
)


def _q4_solve() -> str:
    return "projection"


def _q4_check(answer: Any) -> str | None:
    choices = ("vision encoder", "projection", "llm")
    if not isinstance(answer, str) or answer.strip().lower() not in choices:
        return "answer 'vision encoder', 'projection' or 'llm'."
    if answer.strip().lower() != "projection":
        return ("both big models stay frozen in MiniGPT-4's first stage: training them would need far more "
                "memory and data. Look at section 1 again.")
    return None


q4 = Exercise(
    "q4",
    "In MiniGPT-4's first training stage, which part is trained: 'vision encoder', 'projection' or 'llm'?",
    _q4_check,
    "Section 1: which part is marked (trained) in the diagram?",
    _q4_solve,
)
