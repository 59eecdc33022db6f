"""``python -m course plan MODEL``: will it fit? The planner's breakdown, a verdict, and what to change.

MODEL is a preset name (``python -m course plan --list`` shows them) or a path to a config.json.
Bad input (an unknown model, a config missing a field, bits 5, a negative batch) is refused in
one line with exit code 2.
"""

from __future__ import annotations

import argparse
import json

from course.errors import CourseError
from helpers import ladders, planner
from helpers.presets import GIB, GPUS, gpu_vram_gib, preset_config, preset_names

WHAT = {
    "weights": "the model's parameters (base + adapters)",
    "kv_cache": "keys and values of past tokens (inference)",
    "activations": "saved for backward + temporaries (logits)",
    "gradients": "one per trainable parameter",
    "optimizer": "optimizer state (AdamW: 2 per trainable)",
    "overhead": "CUDA context + allocator reserve",
}


def list_presets() -> str:
    """The presets as a table: name, parameters, and where the config comes from."""
    lines = [f"{'preset':<22}{'params':>10}  source"]
    for name in preset_names():
        arch = planner.load_arch(name)
        lines.append(f"{name:<22}{arch.params / 1e9:>9.3f}B  {preset_config(name)['_source']}")
    lines.append("\nGPU names for --gpu: " + ", ".join(f"{k} ({v[1]:g} GiB)" for k, v in GPUS.items()))
    return "\n".join(lines)


def suggestions(est: planner.Estimate, vram_gib: float, model: str) -> list[str]:
    """Concrete changes that make a plan fit, each checked with the planner."""
    tips: list[str] = []
    base = dict(model=model, method=est.method, bits=est.bits, batch=est.batch, seq=est.seq,
                optimizer=est.knobs["optimizer"], checkpointing=est.knobs["checkpointing"],
                lora_rank=est.knobs["lora_rank"], precision=est.knobs.get("precision") or "mixed")

    def gib(**change: object) -> tuple[bool, float]:
        e = planner.estimate(**(base | change))
        return e.fits(vram_gib), e.total / GIB

    def try_it(label: str, **change: object) -> None:
        try:
            ok, total = gib(**change)
        except ValueError:
            return
        tips.append(f"{label}: {total:.1f} GiB ({'fits' if ok else 'still too big'})")

    if est.method == "inference" and est.bits > 4:
        try_it("load it in 4-bit (--bits 4)", bits=4)
    if est.method == "full":
        try_it("train LoRA adapters on a 4-bit base instead (--method qlora)", method="qlora", bits=4)
    if est.method == "lora":
        try_it("quantise the frozen base to 4-bit (--method qlora)", method="qlora", bits=4)
    if est.method != "inference" and not est.knobs["checkpointing"]:
        try_it("turn on gradient checkpointing (--checkpointing)", checkpointing=True)
    if est.method == "full" and est.knobs["optimizer"] == "adamw":
        try_it("use 8-bit AdamW (--optimizer adamw8bit)", optimizer="adamw8bit")
    if est.knobs.get("precision") == "mixed":
        try_it("train in pure bf16, no fp32 master weights (--precision pure; small updates can be lost)",
               precision="pure")
    if est.batch > 1:
        try_it(f"batch 1 with {est.batch} gradient-accumulation steps (same effective batch)"
               if est.method != "inference" else "batch 1 (--batch 1)", batch=1)
    if est.seq > 256:
        try_it(f"a shorter context (--seq {est.seq // 4})", seq=est.seq // 4)
    tips.append("or a smaller model: `python -m course plan list` shows 1-3B presets (llama-3.2-1b, llama-3.2-3b, "
                "smollm2-1.7b)")
    return tips


def _vram(args: argparse.Namespace) -> tuple[str, float]:
    if args.gpu and args.vram is not None:
        raise CourseError("give either --gpu or --vram, not both.")
    if args.gpu:
        try:
            return gpu_vram_gib(args.gpu)
        except ValueError as err:
            raise CourseError(str(err)) from None
    vram = 12.0 if args.vram is None else args.vram
    if not vram > 0 or vram > 4096:
        raise CourseError(f"--vram must be a card size in GiB, such as 12; got {args.vram!r}.")
    return (f"a {vram:g} GiB card" if args.vram is not None else "a 12 GiB card (the course's reference)"), vram


def ladder_report(notebook: str, vram: float | None) -> dict:
    """A notebook's ladder against ``vram`` GiB free (0 or None: no GPU): each rung's need, whether it fits, the choice.

    The same code the notebook runs (``helpers.ladders.choose``): ``--vram`` is the VRAM free when the notebook starts.
    """
    try:
        rungs = ladders.ladder(notebook)
    except KeyError as err:
        raise CourseError(str(err).strip("'\"")) from None
    chosen, why = ladders.choose(notebook, vram)
    rows = []
    for rung in rungs:
        need = rung.need()
        fits = rung.cpu or bool(vram) and need <= vram - ladders.MARGIN_GIB
        rows.append({"name": rung.name, "total_gib": round(need, 3), "fits": fits, "device": rung.device,
                     "settings": rung.settings, "minutes": rung.minutes, "why": rung.why})
    return {"notebook": notebook, "vram_gib": vram or 0, "margin_gib": ladders.MARGIN_GIB, "rungs": rows,
            "chosen": chosen.name if chosen else None, "reason": why}


def print_ladder(report: dict) -> None:
    """The ladder as a table, largest rung first, and the rung this much free VRAM gets."""
    free = report["vram_gib"]
    print(f"{report['notebook']}: ladder, largest first ({f'{free:g} GiB free' if free else 'no GPU'}, "
          f"keeping {report['margin_gib']:g} GiB in hand)")
    for row in report["rungs"]:
        need = "CPU" if row["device"] == "cpu" else f"{row['total_gib']:.2f} GiB"
        mark = "<- chosen" if row["name"] == report["chosen"] else ("fits" if row["fits"] else "")
        print(f"  {row['name']:<24}{need:>10}  {mark:<9} {row['why']}")
    print(report["reason"])


def main(args: argparse.Namespace) -> int:
    """Print the breakdown and verdict (or JSON); exit 0 whether or not it fits."""
    if getattr(args, "ladder", None):
        if args.vram is not None and args.vram < 0:
            raise CourseError("--vram must be 0 (no GPU) or more GiB.")
        report = ladder_report(args.ladder, args.vram)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print_ladder(report)
        return 0
    if getattr(args, "list", False) or (args.model or "").strip().lower() == "list":
        print(list_presets())
        return 0
    if not args.model:
        raise CourseError("give a MODEL: a preset name (`python -m course plan --list` shows them) "
                          "or a path to a config.json.")
    label, vram = _vram(args)
    knobs = {k: getattr(args, k) for k in ("optimizer", "checkpointing", "lora_rank", "precision")
             if getattr(args, k, None) is not None}
    try:
        est = planner.estimate(args.model, method=args.method, bits=args.bits, batch=args.batch, seq=args.seq, **knobs)
        fits = est.fits(vram)
        tips = [] if fits else suggestions(est, vram, args.model)
        biggest = None
        if fits:
            same = dict(method=est.method, bits=est.bits, **knobs)
            biggest = (planner.max_batch(args.model, vram, seq=est.seq, limit=1024, **same),
                       planner.max_seq(args.model, vram, batch=est.batch, **same))
    except ValueError as err:
        raise CourseError(str(err)) from None
    if args.json:
        out = est.to_dict(vram) | {"gpu": label, "suggestions": tips}
        if biggest:
            out |= {"max_batch": biggest[0], "max_seq": biggest[1]}
        print(json.dumps(out, indent=2))
        return 0
    print(est.title())
    extra = f", trainable {est.trainable / 1e6:,.1f} M" if est.trainable else ""
    print(f"parameters: {est.params / 1e9:.3f} B{extra}; {est.notes[0]}")
    if est.method in ("lora", "qlora"):
        print(f"LoRA rank {est.knobs['lora_rank']} on {est.knobs['lora_target']} layers, optimizer "
              f"{est.knobs['optimizer']}, gradient checkpointing {'on' if est.knobs['checkpointing'] else 'off'}")
    print()
    for name, value in est.components.items():
        print(f"  {name:<12}{value / GIB:>7.2f} GiB   {WHAT[name]}")
    print(f"  {'total':<12}{est.total / GIB:>7.2f} GiB")
    print()
    spare = vram - est.total / GIB
    if fits:
        print(f"Verdict: fits in {label}, with {spare:.1f} GiB to spare.")
        if biggest:
            print(f"Largest batch at {est.seq} tokens: {biggest[0]}; longest sequence at batch {est.batch}: "
                  f"{biggest[1]} tokens (estimates).")
    else:
        print(f"Verdict: does NOT fit in {label}: it needs about {est.total / GIB:.1f} GiB, {-spare:.1f} GiB too much.")
        print("What would make it fit:")
        for tip in tips:
            print(f"  - {tip}")
    for note in est.notes[1:]:
        print(f"note: {note}")
    print("These are estimates (see helpers/planner.py for what is modelled); "
          "`python -m benchmarks.rehearse` measures real peaks on a GPU.")
    return 0
