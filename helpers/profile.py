"""Which profile a notebook runs in, and the metrics it records for the runner.

``PROFILE = "auto"`` in a notebook's parameters cell becomes ``COURSE_PROFILE`` from the
environment when set (CI sets ``smoke``), else ``full``. Metrics go through :func:`record`:
it shows them in the notebook and, when the runner (``python -m course run``) or a test set
``COURSE_METRICS_FILE``, merges them into that JSON file together with the peak memory so far.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

PROFILES = ("smoke", "full")


def resolve_profile(profile: str = "auto") -> str:
    """Turn ``"auto"`` into ``COURSE_PROFILE`` (else ``"full"``) and check the name."""
    chosen = (profile or "auto").strip().lower()
    if chosen == "auto":
        chosen = os.environ.get("COURSE_PROFILE", "full").strip().lower() or "full"
    if chosen not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}: use one of {', '.join(PROFILES)} (or 'auto').")
    return chosen


def pick(profile: str, *, smoke: Any, full: Any) -> Any:
    """Return the value for this profile: ``pick(P, smoke=64, full=4096)``."""
    return smoke if resolve_profile(profile) == "smoke" else full


def peak_memory() -> dict[str, float]:
    """Peak memory of this process so far: host RSS and, on CUDA, PyTorch's allocator peak (MB)."""
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024  # macOS reports bytes
    out = {"peak_rss_mb": round(rss_kb * scale, 1)}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        out["peak_vram_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _clean(value: Any) -> Any:
    """Make numpy / torch scalars JSON-friendly."""
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            pass
    if isinstance(value, float):
        return round(value, 6)
    return value


def record(show: bool = True, **metrics: Any) -> dict[str, Any]:
    """Show metrics in the notebook and save them where the course runner reads them."""
    metrics = {k: _clean(v) for k, v in metrics.items()}
    target = os.environ.get("COURSE_METRICS_FILE")
    if target:
        path = Path(target)
        try:
            saved = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, json.JSONDecodeError):
            saved = {}
        saved.setdefault("metrics", {}).update(metrics)
        saved["memory"] = peak_memory()
        _write_json_atomic(path, saved)
    if show:
        _show(metrics)
    return metrics


def _show(metrics: dict[str, Any]) -> None:
    rows = "".join(f"<tr><td><code>{k}</code></td><td>{v}</td></tr>" for k, v in metrics.items())
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            display(HTML(f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>"))
            return
    except ImportError:
        pass
    for k, v in metrics.items():
        print(f"{k}: {v}")


# Metrics named with these endings are measurements of this machine (time, speed, memory):
# shown and checked against thresholds, but not expected to repeat exactly between runs.
MEASURED_SUFFIXES = ("_s", "_seconds", "_per_s", "_tflops", "_mb", "_gb", "_gib", "_speedup", "_x")


def is_measurement(name: str) -> bool:
    """True for metrics that measure the machine (timings, memory), which vary between runs."""
    return name.endswith(MEASURED_SUFFIXES)


def build_once(folder: str | os.PathLike, build: Any, version: int = 1) -> Path:
    """Build a folder once (``build(tmp_dir)`` writes its files) and reuse it while ``version`` matches.

    The files are written to a temporary folder beside it and renamed into place, so a folder that
    is half-written (a crash, two notebooks building at once) is never loaded; a folder built by an
    older version of the code is rebuilt.
    """
    import shutil

    folder = Path(folder)
    marker = folder / ".built.json"
    try:
        if json.loads(marker.read_text()).get("version") == version:
            return folder
    except (OSError, ValueError):
        pass  # missing, unreadable or from another version: build it
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        build(tmp)
        (tmp / ".built.json").write_text(json.dumps({"version": version}))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process built it first: theirs is as good as ours
            if not marker.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def data_dir(*parts: str) -> Path:
    """Where datasets, models and smoke stand-ins are cached: ``COURSE_DATA_DIR`` or ~/.cache/dl12gb."""
    root = Path(os.environ.get("COURSE_DATA_DIR") or Path.home() / ".cache" / "dl12gb").expanduser()
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


class CannotRunFull(RuntimeError):
    """This machine cannot run the notebook's full profile; the message says what to do instead."""

    def _render_traceback_(self) -> list[str]:  # IPython shows just the message, no deep traceback
        return [f"\x1b[31mCannot run the full profile here.\x1b[0m {self}"]


def offline() -> bool:
    """True when downloads are switched off (HF_HUB_OFFLINE or COURSE_OFFLINE set to 1/true)."""
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes", "on") for k in ("HF_HUB_OFFLINE", "COURSE_OFFLINE"))


def _hub_problem(spec: str) -> str | None:
    """Why a Hugging Face repo ("model:org/name" or "dataset:org/name") cannot be had, or None."""
    kind, _, repo_id = spec.partition(":")
    repo_type = "dataset" if kind == "dataset" else "model"
    from huggingface_hub.constants import HF_HUB_CACHE

    cached = (Path(HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}" / "snapshots").is_dir()
    if cached:
        return None
    if offline():
        return (f"{repo_type} {repo_id} is not in the local cache and downloads are off (HF_HUB_OFFLINE=1). "
                f"Run once online to cache it (`hf download {repo_id}"
                f"{' --repo-type dataset' if repo_type == 'dataset' else ''}`), or use PROFILE = \"smoke\".")
    try:
        from huggingface_hub import auth_check
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

        auth_check(repo_id, repo_type=repo_type)
    except GatedRepoError:
        return (f"{repo_id} is gated: accept its licence on its Hugging Face page, then log in "
                "(`hf auth login`, or set HF_TOKEN), or pick an open model in the parameters cell.")
    except RepositoryNotFoundError:
        return f"{repo_type} {repo_id} was not found (or needs a login): check the name in the parameters cell."
    except Exception as err:  # noqa: BLE001 - no network, proxy, DNS: all mean the same to a learner
        return (f"cannot reach the Hugging Face Hub to get {repo_id} ({type(err).__name__}). Connect to the "
                "internet, or pre-download it elsewhere into your HF cache, or use PROFILE = \"smoke\".")
    return None


def require_full(profile: str, *, gpu: bool = False, cuda: bool = False, vram_gb: float | None = None,
                 hub: tuple[str, ...] | list[str] = (), datasets: tuple[str, ...] | list[str] = (),
                 what: str = "this notebook") -> None:
    """In the full profile, stop at once with one clear message if this machine cannot run it.

    ``gpu``: needs a CUDA or Apple GPU; ``cuda``: needs an NVIDIA GPU (bitsandbytes, NVML);
    ``vram_gb``: needs that much VRAM *free now*, plus a margin for its CUDA context (what the browser or
    a game holds counts: the message names them); ``hub``: "model:org/name" / "dataset:org/name" to
    be cached or downloadable (checked in seconds, before anything heavy starts); ``datasets``:
    "torchvision:MNIST", "torchvision:CIFAR10", "pyg:Cora" to be cached unless downloads are on. Smoke: no-op.
    """
    if resolve_profile(profile) == "smoke":
        return
    import torch

    problems = []
    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if cuda and not has_cuda:
        problems.append(f"{what} needs an NVIDIA GPU with CUDA, and none is visible")
    elif gpu and not (has_cuda or has_mps):
        problems.append(f"{what} needs a GPU, and none is visible")
    if vram_gb and has_cuda:  # free VRAM (NVML: what other programs hold too), less a margin
        from helpers.diagnose import gather, vram_problem

        problem = vram_problem(vram_gb, gather(test_bnb=False), what)
        if problem:
            problems.append(problem)
    for spec in hub:
        problem = _hub_problem(spec)
        if problem:
            problems.append(problem)
    if datasets:
        from helpers.data import dataset_problem

        problems.extend(p for p in map(dataset_problem, datasets) if p)
    if problems:
        fix = ("Set PROFILE = \"smoke\" in the parameters cell to run the small CPU version, or open this "
               "notebook on Colab with a GPU runtime.")
        raise CannotRunFull("; ".join(p.rstrip(".") for p in problems) + ". " + fix)
    print(f"Full profile: this machine has what {what} needs.")
