"""``python -m course doctor``: this machine's report and, per notebook, whether its full profile can run.

A report, not a test: it exits 0 on a machine without a GPU and says what to do instead.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from course import syllabus as syl

PACKAGES = ("torch", "torchvision", "transformers", "peft", "bitsandbytes", "diffusers", "accelerate",
            "datasets", "scikit-learn", "jupyterlab", "ipywidgets", "papermill", "nbval")


@dataclass
class Verdict:
    """Whether one notebook's full profile can run here, and what to do if not."""

    notebook: str
    full_ok: bool
    reason: str
    advice: str = ""


def hf_cache_dir() -> Path:
    """Hugging Face's hub cache folder (HF_HUB_CACHE / HF_HOME aware)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    return home / "hub"


def is_cached(download: str) -> bool:
    """True if a syllabus download ("hf-model:org/name", "hf-dataset:org/name") is in the local cache."""
    kind, _, ident = download.partition(":")
    prefix = {"hf-model": "models", "hf-dataset": "datasets"}.get(kind)
    if prefix is None or not ident:
        return False
    return (hf_cache_dir() / f"{prefix}--{ident.replace('/', '--')}").is_dir()


def offline() -> bool:
    """True if Hugging Face downloads are switched off in this environment."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _plan_specs(source: Path | None = None) -> dict[str, dict]:
    """The optional ``plan = { model = ..., method = ... }`` table of each syllabus entry, by notebook id."""
    import tomllib

    try:
        data = tomllib.loads(Path(source or syl.SYLLABUS_PATH).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {e["id"]: e["plan"] for e in data.get("notebooks", []) if isinstance(e, dict) and isinstance(e.get("plan"), dict)}


def planner_need(nb: syl.Notebook, source: Path | None = None) -> tuple[float, str] | None:
    """(GiB, how it was computed) from the VRAM planner, for a notebook whose syllabus entry names a model."""
    spec = _plan_specs(source).get(nb.id)
    if not spec:
        return None
    from helpers import memory

    try:
        est = memory.estimate(**spec)
    except (ValueError, TypeError) as err:
        return nb.full.vram_gb, f"syllabus figure; the planner refused its plan: {err}"
    how = f"planner: {spec['model']} {est.method} {est.bits}-bit, batch {est.batch} x {est.seq} tokens"
    return round(est.total / 2**30, 2), how


def judge(nb: syl.Notebook, gpu: dict, source: Path | None = None) -> Verdict:
    """Decide whether the notebook's full profile fits this machine (the planner's figure when it names a model)."""
    has_cuda = gpu["device"] == "cuda"
    total = gpu.get("vram_total_gb") or 0.0
    planned = planner_need(nb, source)
    if has_cuda and planned and planned[0] > total:
        return Verdict(nb.id, False, f"needs about {planned[0]:g} GiB ({planned[1]}), this GPU has {total:.1f} GiB",
                       "use the smaller model or 4-bit option in its parameters cell, or Colab")
    if ("gpu" in nb.needs or "cuda-only" in nb.needs) and not has_cuda:
        advice = ("run it with COURSE_PROFILE=smoke to learn the code path, or open it on Colab "
                  "(Runtime > Change runtime type > T4 GPU)")
        if gpu["device"] == "mps" and "cuda-only" not in nb.needs:
            return Verdict(nb.id, True, "Apple GPU: should run, slower than a CUDA card; 4-bit needs CUDA")
        need = f"{planned[0]:g} GiB ({planned[1]})" if planned else f"{nb.full.vram_gb:g} GB"
        return Verdict(nb.id, False, f"needs a CUDA GPU with about {need}", advice)
    if has_cuda and not planned and nb.full.vram_gb > total:
        return Verdict(nb.id, False, f"needs about {nb.full.vram_gb:g} GB of VRAM, this GPU has {total:.1f} GiB",
                       "use the smaller model or 4-bit option in its parameters cell, or Colab")
    missing = [d for d in nb.downloads if d.startswith("hf-") and not is_cached(d)]
    if missing and offline():
        return Verdict(nb.id, False, f"offline (HF_HUB_OFFLINE=1) and not cached: {', '.join(missing)}",
                       "unset HF_HUB_OFFLINE and run it once online to cache them")
    reason = "ready" if has_cuda or not nb.needs else "runs on this machine"
    if planned and has_cuda:
        reason += f" (needs about {planned[0]:g} of {total:.1f} GiB; {planned[1]})"
    if missing:
        reason += f"; first run downloads {', '.join(missing)}"
    return Verdict(nb.id, True, reason)


def environment() -> dict:
    """Python, packages, disk and cache facts (no network access)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    free_gb = shutil.disk_usage(Path.home()).free / 1e9
    return {
        "python": sys.version.split()[0], "platform": platform.platform(), "packages": versions,
        "disk_free_gb": round(free_gb, 1), "hf_cache": str(hf_cache_dir()), "hf_offline": offline(),
        "profile_env": os.environ.get("COURSE_PROFILE"),
    }


def main(args: argparse.Namespace) -> int:
    """Print the environment report and a verdict per notebook (exit 0: it is a report)."""
    from helpers import gpu as gpu_mod

    course = syl.load(args.syllabus)
    rep = gpu_mod.report()
    gpu = rep.to_dict()
    env = environment()
    verdicts = [judge(nb, gpu, course.source) for nb in course.notebooks]
    if args.json:
        print(json.dumps({"gpu": gpu, "environment": env, "verdict": gpu_mod.verdict(rep),
                          "notebooks": [v.__dict__ for v in verdicts]}, indent=2))
        return 0
    print("== This machine ==")
    gpu_mod.show(rep)
    print(f"\npython {env['python']} on {env['platform']}; {env['disk_free_gb']} GB free in your home folder")
    missing = [k for k, v in env["packages"].items() if v is None]
    print("packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v))
    if missing:
        print(f"missing: {', '.join(missing)} (run `make setup`)")
    print(f"Hugging Face cache: {env['hf_cache']}" + (" (offline mode)" if env["hf_offline"] else ""))
    print(f"\n== Notebooks, full profile (reference card: {course.reference_gpu}) ==")
    width = max(len(v.notebook) for v in verdicts)
    for v in verdicts:
        mark = "ok " if v.full_ok else "-- "
        print(f"{mark}{v.notebook:<{width}}  {v.reason}")
        if v.advice:
            print(f"   {'':<{width}}  what to do: {v.advice}")
    ok = sum(v.full_ok for v in verdicts)
    print(f"\n{ok} of {len(verdicts)} notebooks can run their full profile here; "
          "every notebook runs in the smoke profile (COURSE_PROFILE=smoke).")
    return 0
