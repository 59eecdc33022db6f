"""Can this machine run a notebook's full profile? Say so in the first cells, in one clear message.

Introduced in week 0 and called at the top of every notebook whose full profile needs a GPU, a model
from the Hugging Face Hub or a dataset: ``require_full(P, cuda=True, vram_gb=8, hub=["model:org/name"])``
raises :class:`CannotRunFull` (shown without a traceback) naming everything that is missing.
"""

from __future__ import annotations

import os
from pathlib import Path


class CannotRunFull(RuntimeError):
    """This machine cannot run the notebook's full profile; the message says what to do instead."""

    def _render_traceback_(self) -> list[str]:  # IPython shows just the message, no deep traceback
        return [f"\x1b[31mCannot run the full profile here.\x1b[0m {self}"]


def offline() -> bool:
    """True when downloads are switched off (HF_HUB_OFFLINE or COURSE_OFFLINE set to 1/true)."""
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes", "on") for k in ("HF_HUB_OFFLINE", "COURSE_OFFLINE"))


def hub_problem(spec: str) -> str | None:
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


_CACHED = {  # a file that exists once each full-profile dataset is in the cache
    "torchvision:MNIST": ("torchvision", "MNIST/raw/train-images-idx3-ubyte"),
    "torchvision:CIFAR10": ("torchvision", "cifar-10-batches-py/data_batch_1"),
    "pyg:Cora": ("pyg", "Cora/processed"),
}


def dataset_problem(spec: str) -> str | None:
    """Why a full-profile dataset ("torchvision:MNIST", "torchvision:CIFAR10", "pyg:Cora") is out of reach, or None.

    It is out of reach only when it is not cached and downloads are off; online, the loader downloads it.
    """
    if spec not in _CACHED:
        raise ValueError(f"Unknown dataset {spec!r}: use one of {', '.join(_CACHED)}.")
    folder, probe = _CACHED[spec]
    from helpers.cache import data_dir

    root = data_dir(folder)
    if (root / probe).exists() or not offline():
        return None
    name = spec.split(":", 1)[1]
    return (f"{name} is not in {root} and downloads are off (HF_HUB_OFFLINE/COURSE_OFFLINE). "
            "Run this notebook once online to cache it, or set PROFILE = \"smoke\".")


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
    from helpers.profile import resolve_profile

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
        problem = hub_problem(spec)
        if problem:
            problems.append(problem)
    if datasets:
        problems.extend(p for p in map(dataset_problem, datasets) if p)
    if problems:
        fix = ("Set PROFILE = \"smoke\" in the parameters cell to run the small CPU version, or open this "
               "notebook on Colab with a GPU runtime.")
        raise CannotRunFull("; ".join(p.rstrip(".") for p in problems) + ". " + fix)
    print(f"Full profile: this machine has what {what} needs.")
