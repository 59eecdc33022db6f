"""Exercises for the extra "Multimodal" (MiniGPT-4 / LLaVA-style vision-language models)."""

from __future__ import annotations

from typing import Any

from course.exercises import Case, Exercise, as_number, near, same_as
from course.syllabus import objective

NOTEBOOK = "e3-multimodal"

PROJECT = objective(NOTEBOOK, "Explain how MiniGPT-4")
PARTS = objective(NOTEBOOK, "Take a vision-language")
SPLICE = objective(NOTEBOOK, "Reproduce the model's")


def _exact(expected: int, unit: str, mistakes: dict[float, str]) -> Any:
    """A checker for a whole number: exactly ``expected`` (any numeric type), else what the typical mistake means."""

    def checker(answer: Any) -> str | None:
        value = as_number(answer)
        if value is None:
            return f"expected a number of {unit}, got {type(answer).__name__}."
        if value == expected:
            return None
        problem = f"{value:g} {unit} is too {'high' if value > expected else 'low'}."
        for wrong, why in mistakes.items():
            if abs(value - wrong) < 0.01:
                return f"{problem} {why}"
        return problem

    return checker


def _q1_solve() -> int:
    image_size, patch_size = 224, 14  # the first LLaVA: CLIP ViT-L/14 at 224 px
    return (image_size // patch_size) ** 2  # one vector per patch; the CLS vector is dropped ("default" strategy)


_Q1_MISTAKES = {
    _q1_solve() + 1: "LLaVA drops the CLS vector and keeps one vector per patch.",
    224 // 14: "That is the patches along one side; the image is a square grid of them.",
    (336 // 14) ** 2: "576 is LLaVA-1.5's count, at 336 x 336 pixels; this encoder sees 224 x 224.",
    224 * 224 // 14: "Divide each side by the patch size (or the image's area by the patch's area, 14 x 14), "
                     "not the area by 14.",
    (224 // 16) ** 2: "That is a ViT-B/16's count; ViT-L/14 cuts 14 x 14-pixel patches: 224 / 14 = 16 a side.",
}

q1 = Exercise(
    "q1",
    "The first LLaVA (2023) resized images to 224 x 224 pixels for its CLIP ViT-L/14 vision tower (14 x 14-pixel "
    "patches). How many <image> tokens did one image take in its prompt?",
    _exact(_q1_solve(), "image tokens", _Q1_MISTAKES),
    "Count the patches: (image size / patch size) along each side, and the grid is square.",
    _q1_solve,
    objective=PARTS,
    wrong=(*_Q1_MISTAKES.items(), ("256 tokens", "expected a number")),
)


def _q2_solve() -> int:
    vision, llm = 1024, 4096  # CLIP ViT-L width -> Vicuna-7B width, through a 2-layer MLP with biases
    return (vision * llm + llm) + (llm * llm + llm)


_Q2_MISTAKES = {
    1024 * 4096 + 4096 * 4096: "Add the biases: one per output of each linear layer.",
    1024 * 4096 + 4096: "That is the first layer only; LLaVA-1.5's projector has two.",
    (1024 * 4096 + 1024) + (4096 * 4096 + 4096): "A layer has one bias per output (4,096 for the first layer), "
                                                  "not one per input.",
    1024 * 4096 + 4096 * 4096 + 4096: "Both layers have a bias: 4,096 values each.",
}

q2 = Exercise(
    "q2",
    "LLaVA-1.5-7B's projector is Linear(1024 -> 4096), GELU, Linear(4096 -> 4096), both with biases. "
    "How many parameters does it have?",
    _exact(_q2_solve(), "parameters", _Q2_MISTAKES),
    "A Linear(a -> b) layer with a bias has a * b + b parameters; GELU has none.",
    _q2_solve,
    objective=PROJECT,
    wrong=((1024 * 4096 + 4096 * 4096, "biases"), (1024 * 4096 + 4096, "first layer only"),
           ((1024 * 4096 + 1024) + (4096 * 4096 + 4096), "one bias per output"), ("20979712", "expected a number"),
           (1024 * 4096 + 4096 * 4096 + 4096, "Both layers have a bias")),
)


def _q3_solve() -> int:
    context, per_image = 4096, 576
    return context // per_image  # whole images only, and no room left for text


_Q3_MISTAKES = {4096 / 576: "Only whole images fit: round down.", 4096 // 576 + 1: "8 images would take 4,608 "
                "tokens, more than the 4,096 the model reads: round down, not up."}

q3 = Exercise(
    "q3",
    "LLaVA-1.5's language model reads at most 4,096 tokens, and each image takes 576. How many images fit "
    "in one prompt, ignoring the text?",
    _exact(_q3_solve(), "images", _Q3_MISTAKES),
    "Divide the context length by the tokens per image, and keep whole images only.",
    _q3_solve,
    objective=PARTS,
    wrong=((4096 / 576, "round down"), (8, "round down, not up"), (True, "expected a number")),
)


def _q4_solve() -> float:
    inputs, outputs = 768, 4096  # MiniGPT-4 (7B): the Q-Former's 768-wide vectors -> Vicuna-7B's width
    params = inputs * outputs + outputs  # one linear layer with a bias
    bytes_each = 4 + 4 + 4 + 4  # fp32 weight, its gradient, and AdamW's two moments
    return params * bytes_each / 1e6


q4 = Exercise(
    "q4",
    "MiniGPT-4's first stage trains one linear layer, Linear(768 -> 4096) with a bias, between the frozen vision "
    "encoder and the frozen Vicuna-7B, in fp32 with AdamW. How many MB (10^6 bytes) do that layer's weights, "
    "their gradients and AdamW's two states take together? (The frozen models need no gradients or states.) "
    "Give one decimal.",
    near(_q4_solve(), rel=0.001, unit="MB", mistakes={
        _q4_solve() * 12 / 16: "Count the weights too: 4 bytes each, beside the gradient and the two AdamW states.",
        _q4_solve() * 8 / 16: "That is 8 bytes a parameter: count 16, 4 bytes (fp32) each for the weight, its "
                              "gradient and AdamW's two states (the running mean and the running square of the "
                              "gradients).",
        _q4_solve() * 1e6 / 2**20: "That is MiB (2^20 bytes); the question asks for MB (10^6 bytes).",
        768 * 4096 * 16 / 1e6: "Count the bias too: 4,096 more parameters, 16 bytes each.",
        50.0: "Give one decimal: at 50 MB one cannot tell whether the bias was counted.",
        _q4_solve() * 4 / 16: "That is the weights alone; the gradients and AdamW's two states take as much again "
                              "each: 16 bytes a parameter.",
    }),
    "Parameters: 768 x 4096 + 4096. Each one needs 16 bytes: the fp32 weight, its gradient, and AdamW's two "
    "states.",
    _q4_solve,
    objective=PROJECT,
)


def merge_image_features(input_ids, text_embeds, image_features, image_token_id: int):
    """Replace the embedding at every <image> position with the next projected image vector, in order."""
    merged = text_embeds.clone()  # leave the caller's tensor alone
    slots = input_ids == image_token_id  # (batch, length) True where an <image> placeholder sits
    merged[slots] = image_features.reshape(-1, text_embeds.shape[-1]).to(merged.dtype)  # row-major order
    return merged


def _masked_scatter(input_ids, text_embeds, image_features, image_token_id):
    mask = (input_ids == image_token_id).unsqueeze(-1).expand_as(text_embeds)
    return text_embeds.masked_scatter(mask, image_features.to(text_embeds.dtype))  # what transformers does


def _row_by_row(input_ids, text_embeds, image_features, image_token_id):
    import torch

    rows = []
    for ids, embeds, feats in zip(input_ids, text_embeds, image_features, strict=True):
        row, k = [], 0
        for position, token in enumerate(ids.tolist()):
            if token == image_token_id:
                row.append(feats[k].to(embeds.dtype))
                k += 1
            else:
                row.append(embeds[position])
        rows.append(torch.stack(row))
    return torch.stack(rows)


def _added(input_ids, text_embeds, image_features, image_token_id):
    merged = text_embeds.clone()
    slots = input_ids == image_token_id
    merged[slots] += image_features.reshape(-1, text_embeds.shape[-1]).to(merged.dtype)
    return merged


def _first_positions(input_ids, text_embeds, image_features, image_token_id):
    merged = text_embeds.clone()
    flat = image_features.reshape(text_embeds.shape[0], -1, text_embeds.shape[-1]).to(merged.dtype)
    merged[:, : flat.shape[1]] = flat
    return merged


def _reversed_order(input_ids, text_embeds, image_features, image_token_id):
    merged = text_embeds.clone()
    slots = input_ids == image_token_id
    merged[slots] = image_features.reshape(-1, text_embeds.shape[-1]).flip(0).to(merged.dtype)
    return merged


def _in_place(input_ids, text_embeds, image_features, image_token_id):
    text_embeds[input_ids == image_token_id] = image_features.reshape(-1, text_embeds.shape[-1]).to(text_embeds.dtype)
    return text_embeds  # the caller's embeddings are overwritten


def _in_default_dtype(input_ids, text_embeds, image_features, image_token_id):
    import torch

    merged = torch.zeros(text_embeds.shape)  # float32, whatever the embeddings' dtype
    merged[:] = text_embeds
    merged[input_ids == image_token_id] = image_features.reshape(-1, text_embeds.shape[-1]).float()
    return merged


def _nothing_replaced(input_ids, text_embeds, image_features, image_token_id):
    return text_embeds.clone()


def _with_where(input_ids, text_embeds, image_features, image_token_id):
    """Another style: scatter the image vectors into a zero tensor, then torch.where picks per position."""
    import torch

    slots = input_ids == image_token_id
    scattered = torch.zeros_like(text_embeds)
    scattered[slots] = image_features.reshape(-1, text_embeds.shape[-1]).to(text_embeds.dtype)
    return torch.where(slots.unsqueeze(-1), scattered, text_embeds)


def _same_dtype(got: Any, expected: Any) -> str | None:
    """differs, and the dtype itself: the merged sequence goes on into the language model in its own dtype."""
    from course.exercises import differs

    got_dtype = getattr(got, "dtype", None)
    if got_dtype is not None and hasattr(expected, "dtype") and got_dtype != expected.dtype \
            and getattr(got, "shape", None) == expected.shape:
        return (f"expected dtype {expected.dtype} (text_embeds' dtype), got {got_dtype}: the merged sequence goes "
                "on into the language model, in the embeddings' dtype.")
    return differs(got, expected)


def _merge_cases() -> list[Case]:
    import torch

    gen = torch.Generator().manual_seed(3)
    one = torch.tensor([[1, 5, 9, 9, 9, 6, 2]])  # text, 3 image slots (id 9), text
    two = torch.tensor([[4, 7, 7, 3, 8], [4, 3, 7, 7, 8]])  # id 7, slots at different places in each row
    three = torch.tensor([[31, 31, 2, 5], [6, 31, 31, 2], [31, 6, 2, 31]])  # id 31, first and last positions too
    return [
        Case("one prompt with 3 <image> slots (id 9) after a text token, width 4",
             (one, torch.randn(1, 7, 4, generator=gen), torch.randn(1, 3, 4, generator=gen), 9)),
        Case("a batch of 2 prompts whose <image> slots (id 7) sit at different positions, width 3",
             (two, torch.randn(2, 5, 3, generator=gen), torch.randn(2, 2, 3, generator=gen), 7)),
        Case("a batch of 3 prompts (id 31), float64 embeddings and float32 image vectors, width 8",
             (three, torch.randn(3, 4, 8, generator=gen, dtype=torch.float64), torch.randn(3, 2, 8, generator=gen),
              31)),
    ]


q5 = Exercise(
    "q5",
    "Write merge_image_features(input_ids, text_embeds, image_features, image_token_id), the splice that "
    "section 4 checks: input_ids is (batch, length), text_embeds (batch, length, width) are the token "
    "embeddings, image_features (batch, patches, width) are the projected patch vectors. Return a new "
    "tensor with text_embeds' shape and dtype in which the embedding at each <image> position is replaced by the "
    "next image vector, in order (row by row); every other position keeps its text embedding. Leave the inputs "
    "unchanged.",
    same_as(merge_image_features, _merge_cases, mistakes=[
        (_added, "you added the image vectors to the placeholder embeddings; the placeholders carry no "
                 "meaning: replace them."),
        (_first_positions, "you wrote the image vectors over the first positions of the prompt; they go where "
                           "input_ids == image_token_id, wherever that is."),
        (_reversed_order, "the image vectors are in the wrong order: the first <image> slot gets the first "
                          "patch vector (patch order is the image's layout, row by row)."),
        (_in_default_dtype, "your result is float32, not text_embeds' dtype: build it from text_embeds "
                            "(text_embeds.clone(), or dtype=text_embeds.dtype) and cast the image vectors to it "
                            "(.to(text_embeds.dtype))."),
        (_nothing_replaced, "nothing was replaced: write the image vectors where input_ids == image_token_id."),
    ], alternatives=[_masked_scatter, _row_by_row, _with_where], compare=_same_dtype,
        expects="your merge_image_features function"),
    "slots = input_ids == image_token_id; merged = text_embeds.clone(); "
    "merged[slots] = image_features.reshape(-1, width).to(merged.dtype).",
    lambda: merge_image_features,
    objective=SPLICE,
    wrong=((_in_place, "in place"),),
)
