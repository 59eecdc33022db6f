"""The heaviest step of 04c, 04d, 05b and 05c at real size, for ``benchmarks.rehearse`` (random weights, no download).

The contract of ``benchmarks.rehearse_steps``: ``step_<notebook>(device, tiny)`` returns ``(run, planner_bytes, what)``.
The planner models none of these steps (CNNs, a detector, a hand-written GPT, an encoder-decoder), so
``planner_bytes`` is None and the rehearsal compares PyTorch's peak with the notebook's own figure (its syllabus
``vram_gb``). Each mirrors its notebook's full profile: the sizes below are the notebook's, read from it by
:func:`notebook_value` in tests/test_rehearse.py (and by 05b's step itself), so a notebook that changes them fails a
test until its step follows. ``tiny=True`` shrinks every shape for a CPU test of the same code.

Written on machines without a GPU: only the tiny versions have run (tests/test_rehearse.py); the real-size steps
first run with ``python -m benchmarks.rehearse --notebooks 04c 04d 05b 05c`` on a GPU.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

# The notebooks' full-profile sizes (tests/test_rehearse.py checks each against the notebook's own cells).
NB_04C = {"BATCH_SIZE": 64, "IMAGE_SIZE": 224, "HEAD_LR": 2e-3}
PETS_CLASSES = 37  # Oxford-IIIT Pets' breeds: the notebook's N_CLASSES, read from the data set
NB_04D = {"BATCH_SIZE": 4, "LR": 0.01}
PENN_FUDAN_HW = (559, 536)  # a typical Penn-Fudan photo (the syllabus estimate's size); the model resizes it to 800 px
NB_05C = {"BATCH_SIZE": 4, "ACCUMULATE": 4, "CFG": {"max_source": 512, "max_target": 128, "lr": 3e-4}}
CHARS_05B = 128  # TinyStories' characters: the notebook counts them from the text (an assumption: ~100-150)
# FLAN-T5-base's architecture (google/flan-t5-base config.json; Apache-2.0): 247,577,856 parameters.
FLAN_T5_BASE = dict(vocab_size=32128, d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_decoder_layers=12,
                    num_heads=12, feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
                    relative_attention_max_distance=128, dropout_rate=0.1, layer_norm_epsilon=1e-6,
                    tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
TINY_T5 = dict(FLAN_T5_BASE, vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
               num_heads=4)
_NOT_LITERAL = object()


def _full_of(expr: ast.expr) -> Any:
    """The full-profile value of an assignment's right side: ``pick(P, smoke=..., full=X)``, ``NAME or X``, or X."""
    if isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.Or):
        return _full_of(expr.values[-1])
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "pick":
        return _full_of(next(k.value for k in expr.keywords if k.arg == "full"))
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "dict" and not expr.args:
        return {k.arg: _full_of(k.value) for k in expr.keywords}
    try:
        return ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError):
        return _NOT_LITERAL


def notebook_value(nb: str, name: str) -> Any:
    """The value a notebook's full profile gives ``name``: its last top-level literal or ``profiles.pick`` assignment."""
    from course import notebook_code

    value = _NOT_LITERAL
    for cell in notebook_code.cells(nb):
        if cell.cell_type != "code":
            continue
        for node in ast.parse(notebook_code.python(cell)).body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                found = _full_of(node.value)
                value = found if found is not _NOT_LITERAL else value
    if value is _NOT_LITERAL:
        raise KeyError(f"{nb} assigns {name} no literal or profiles.pick(..., full=...) value")
    return value


def _autocast(device: str):  # noqa: ANN202 - (autocast dtype or None, GradScaler), by the course's one rule
    import torch

    from helpers import gpu

    prec = gpu.precision(device)  # bf16 where native, fp16 + GradScaler on older GPUs, fp32 (no autocast) on a CPU
    return (prec.compute if prec.autocast else None), torch.amp.GradScaler(device, enabled=prec.scaler)


def step_04c(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """ResNet-18 (random weights) fine-tuned with every layer training, as 04c's section 4 measures it.

    The notebook's model (new 37-class head) stays resident while a deep copy trains all its layers with AdamW
    through ``helpers.train.fit`` (autocast by ``gpu.precision``) on one batch of 64 images of 224 px.
    """
    import copy

    import torch
    from torch import nn
    from torchvision.models import resnet18

    from helpers import train

    cfg = NB_04C
    batch, size, steps = (4, 32, 2) if tiny else (cfg["BATCH_SIZE"], cfg["IMAGE_SIZE"], 3)

    def run() -> None:
        torch.manual_seed(0)
        model = resnet18(weights=None)  # the notebook's architecture; its ImageNet weights are not needed for memory
        model.fc = nn.Linear(model.fc.in_features, PETS_CLASSES)
        model = model.to(device).eval().requires_grad_(False)  # 04c's `model`, resident during section 4
        unfrozen = copy.deepcopy(model).requires_grad_(True)
        x = torch.randn(batch, 3, size, size, device=device)
        y = torch.randint(0, PETS_CLASSES, (batch,), device=device)
        opt = torch.optim.AdamW(unfrozen.parameters(), lr=cfg["HEAD_LR"])
        train.fit(unfrozen, [(x, y)] * steps, opt, amp="auto", progress=False)  # as the notebook's step_cost

    dtype, _ = _autocast(device)
    return run, None, (f"ResNet-18 every layer training, batch {batch} x 3x{size}x{size}, {PETS_CLASSES} classes, AdamW, "
                       f"autocast {str(dtype).replace('torch.', '') if dtype else 'off'}, the frozen model resident")


def _as_pretrained(model) -> None:  # noqa: ANN001 - what 04d's COCO weights make of the backbone
    """Freeze the detector's backbone as torchvision does when it loads pretrained weights.

    ``fasterrcnn_mobilenet_v3_large_fpn(weights=...)`` builds its MobileNetV3 with ``FrozenBatchNorm2d`` and trains
    only its last 3 stages (``trainable_backbone_layers=3``, torchvision's ``_mobilenet_extractor``); built with
    ``weights=None`` everything trains. The stage rule here is torchvision's.
    """
    from torch import nn
    from torchvision.ops import FrozenBatchNorm2d

    body = model.backbone.body
    for name, module in list(body.named_modules()):
        if isinstance(module, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps).to(module.weight.device)
            parent, _, leaf = name.rpartition(".")
            setattr(body.get_submodule(parent) if parent else body, leaf, frozen)
    blocks = list(body.children())
    stages = [0] + [i for i, b in enumerate(blocks) if getattr(b, "_is_cn", False)] + [len(blocks) - 1]
    for block in blocks[:stages[len(stages) - 3]]:
        block.requires_grad_(False)


def detector_04d(tiny: bool):  # noqa: ANN201 - a torchvision FasterRCNN
    """04d's detector: Faster R-CNN MobileNetV3-Large FPN, random weights, frozen as pretrained, a 2-class head."""
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    small = dict(min_size=64, max_size=96, rpn_pre_nms_top_n_train=200, rpn_post_nms_top_n_train=100,
                 box_batch_size_per_image=64) if tiny else {}
    model = fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=91, **small)
    _as_pretrained(model)
    in_features = model.roi_heads.box_predictor.cls_score.in_features
    model.roi_heads.box_predictor = FastRCNNPredictor(in_features, 2)  # background + pedestrian, as 04d
    return model


def step_04d(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """04d's fine-tuning step: Faster R-CNN MobileNetV3-Large FPN at batch 4, photos resized to 800 px, SGD.

    Random weights (no download), frozen as the COCO weights leave it; random pedestrian-shaped boxes (1-3 an
    image); the notebook's loop: autocast by ``gpu.precision``, GradScaler, SGD with momentum and weight decay.
    """
    import torch

    batch, (h, w) = (2, (80, 64)) if tiny else (NB_04D["BATCH_SIZE"], PENN_FUDAN_HW)

    def run() -> None:
        torch.manual_seed(0)
        model = detector_04d(tiny).to(device).train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=NB_04D["LR"], momentum=0.9, weight_decay=5e-4)
        dtype, scaler = _autocast(device)
        g = torch.Generator().manual_seed(0)
        for _ in range(3):
            images, targets = [], []
            for _ in range(batch):
                n = int(torch.randint(1, 4, (1,), generator=g))
                bw, bh = w * (0.1 + 0.2 * torch.rand(n, generator=g)), h * (0.3 + 0.4 * torch.rand(n, generator=g))
                x1, y1 = (w - bw) * torch.rand(n, generator=g), (h - bh) * torch.rand(n, generator=g)
                boxes = torch.stack([x1, y1, x1 + bw, y1 + bh], dim=1)
                images.append(torch.rand(3, h, w).to(device))
                targets.append({"boxes": boxes.to(device), "labels": torch.ones(n, dtype=torch.int64, device=device)})
            with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
                losses = model(images, targets)  # a dict of four losses
            loss = sum(losses.values())
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

    return run, None, (f"Faster R-CNN MobileNetV3-Large FPN (3 backbone stages training), batch {batch} x 3x{h}x{w} "
                       f"resized to {64 if tiny else 800} px, SGD")


def step_05b(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """05b's training loop on the notebook's own GPT (``course.notebook_code``) at its full-profile CFG.

    The character GPT (context 256, dim 384, 6 heads, 6 layers, dropout 0.1) at batch 64 x 256: AdamW, autocast by
    ``gpu.precision``, fp32 loss, GradScaler, gradients clipped to 1, as section 8.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    from course import notebook_code

    cfg = notebook_value("05b", "CFG")
    if tiny:
        cfg = cfg | dict(context=32, dim=32, n_heads=4, n_layers=2, batch=4)
    vocab = 64 if tiny else CHARS_05B

    def run() -> None:
        nb = notebook_code.definitions("05b", "GPT", "GPTConfig")
        torch.manual_seed(0)
        model = nb.GPT(nb.GPTConfig(vocab_size=vocab, context=cfg["context"], dim=cfg["dim"], n_heads=cfg["n_heads"],
                                    n_layers=cfg["n_layers"], dropout=cfg["dropout"])).to(device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.95), weight_decay=0.1)
        dtype, scaler = _autocast(device)
        for _ in range(2):
            x = torch.randint(0, vocab, (cfg["batch"], cfg["context"]), device=device)
            y = torch.randint(0, vocab, (cfg["batch"], cfg["context"]), device=device)
            with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
                logits = model(x)
            loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()

    return run, None, (f"05b's GPT (dim {cfg['dim']}, {cfg['n_layers']} layers, {cfg['n_heads']} heads, vocabulary "
                       f"{vocab}) training at batch {cfg['batch']} x {cfg['context']}, AdamW")


def flan_t5(tiny: bool, device: str = "cpu"):  # noqa: ANN201 - a T5ForConditionalGeneration, random weights
    """FLAN-T5-base's architecture from its config, its output layer untied as ``from_pretrained`` leaves it.

    transformers 5 ties T5's ``lm_head`` to the embeddings whatever the config says, and unties them when a
    checkpoint holds both with different values, as FLAN-T5's does: 24.7 M parameters of its own (05c warns of it).
    """
    import torch
    from torch import nn
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    with torch.device(device):
        model = T5ForConditionalGeneration(T5Config(**(TINY_T5 if tiny else FLAN_T5_BASE)))
        model.lm_head.weight = nn.Parameter(model.shared.weight.detach().clone())
    return model


def step_05c(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """FLAN-T5-base (random weights, its published architecture) fine-tuned as 05c's Seq2SeqTrainer runs it.

    fp32 weights, AdamW (fused on CUDA: the Trainer's default), bf16 autocast where the GPU has native bf16 and
    fp32 otherwise (the notebook never trains T5 in fp16), 4 bills x 512 source + 128 target tokens a micro-batch,
    4 micro-batches accumulated an update, gradients clipped to 1 (the Trainer's default).
    """
    import torch

    from helpers import gpu

    src, tgt, batch, accumulate = (32, 16, 2, 2) if tiny else (
        NB_05C["CFG"]["max_source"], NB_05C["CFG"]["max_target"], NB_05C["BATCH_SIZE"], NB_05C["ACCUMULATE"])
    bf16 = gpu.precision(device).compute == torch.bfloat16  # the notebook's Seq2SeqTrainingArguments(bf16=...)

    def run() -> None:
        model = flan_t5(tiny, device).train()
        config = model.config
        opt = torch.optim.AdamW(model.parameters(), lr=NB_05C["CFG"]["lr"], weight_decay=0.0,
                                fused=device == "cuda")
        for _ in range(2):
            for _ in range(accumulate):
                ids = torch.randint(2, config.vocab_size, (batch, src), device=device)
                labels = torch.randint(2, config.vocab_size, (batch, tgt), device=device)
                labels[:, -tgt // 8:] = -100  # a padded tail, ignored by the loss (DataCollatorForSeq2Seq)
                with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
                    loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
                (loss / accumulate).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

    return run, None, (f"FLAN-T5-base shapes{' (tiny)' if tiny else ''}, full fine-tune in "
                       f"{'bf16 autocast' if bf16 else 'fp32'}, batch {batch} x {src} + {tgt} tokens, "
                       f"{accumulate} accumulated, AdamW")


STEPS_MORE: dict[str, Callable[[str, bool], tuple[Callable, int | None, str]]] = {
    "04c-transfer-learning": step_04c, "04d-object-detection": step_04d, "05b-build-a-gpt": step_05b,
    "05c-translate-and-summarise": step_05c,
}
