"""Can this machine run a notebook's full profile? Say so in the first cells, in one clear message.

Called at the top of every notebook whose full profile needs a GPU, a network or a download:
``require_full(P, needs=["gpu", "network"], downloads=["hf-model:org/name"])`` raises
:class:`CannotRunFull` (shown without a traceback) naming everything that is missing. ``needs`` and
``downloads`` are spelled exactly as the notebook's ``[[notebooks]]`` entry in ``course/syllabus.toml``
(a test checks they agree), and ``course doctor`` asks the same questions (:func:`is_cached`, :func:`offline`).

Taught in week 1 (01a-the-ml-workflow); used again by every notebook whose full profile needs a GPU or a download.
"""

from __future__ import annotations

import os
from pathlib import Path

NEEDS = ("gpu", "cuda-only", "network")  # "gpu": CUDA or Apple; "cuda-only": NVIDIA; "network": to download
DOWNLOAD_KINDS = ("hf-model", "hf-dataset", "torchvision", "pyg", "url")  # "hf-model:org/name", "url:what it is"


class CannotRunFull(RuntimeError):
    """This machine cannot run the notebook's full profile; the message says what to do instead."""

    def _render_traceback_(self) -> list[str]:  # IPython shows just the message, no deep traceback
        return [f"\x1b[31mCannot run the full profile here.\x1b[0m {self}"]


def offline() -> bool:
    """True when downloads are switched off (HF_HUB_OFFLINE or COURSE_OFFLINE set to 1/true)."""
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes", "on") for k in ("HF_HUB_OFFLINE", "COURSE_OFFLINE"))


def hf_cache_dir() -> Path:
    """Hugging Face's hub cache folder, read from the environment now (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("HF_HOME") or Path(cache_home) / "huggingface").expanduser() / "hub"


def _hub_repo(spec: str) -> tuple[str, str]:
    """("model" or "dataset", "org/name") of an "hf-model:org/name" or "hf-dataset:org/name" download."""
    kind, _, repo_id = spec.partition(":")
    if kind not in ("hf-model", "hf-dataset") or not repo_id:
        raise ValueError(f"Not a Hugging Face download: {spec!r}; write \"hf-model:org/name\" or \"hf-dataset:org/name\".")
    return kind.removeprefix("hf-"), repo_id


def hub_problem(spec: str) -> str | None:
    """Why a Hugging Face repo ("hf-model:org/name" or "hf-dataset:org/name") cannot be had, or None.

    A local folder in place of "org/name" is there already.
    """
    repo_type, repo_id = _hub_repo(spec)
    if is_cached(spec) or Path(repo_id).expanduser().is_dir():
        return None
    if offline():
        return (f"{repo_type} {repo_id} is not in the local cache and downloads are off (HF_HUB_OFFLINE/COURSE_OFFLINE). "
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


def is_cached(spec: str) -> bool:
    """True if a download ("hf-model:org/name", "hf-dataset:...", "torchvision:MNIST", "pyg:Cora") is on this machine.

    A "url:" download is never known to be cached (its notebook falls back when it cannot fetch it).
    """
    kind = spec.partition(":")[0]
    if kind in ("hf-model", "hf-dataset"):
        repo_type, repo_id = _hub_repo(spec)
        return (hf_cache_dir() / f"{repo_type}s--{repo_id.replace('/', '--')}" / "snapshots").is_dir()
    if spec in _CACHED:
        from helpers.cache import data_dir

        folder, probe = _CACHED[spec]
        return (data_dir(folder) / probe).exists()
    if kind == "url":
        return False
    raise ValueError(f"Unknown download {spec!r}: use {', '.join(k + ':' for k in DOWNLOAD_KINDS)} "
                     f"(datasets: {', '.join(_CACHED)}).")


def dataset_problem(spec: str) -> str | None:
    """Why a full-profile dataset ("torchvision:MNIST", "torchvision:CIFAR10", "pyg:Cora") is out of reach, or None.

    It is out of reach only when it is not cached and downloads are off; online, the loader downloads it.
    """
    if spec not in _CACHED:
        raise ValueError(f"Unknown dataset {spec!r}: use one of {', '.join(_CACHED)}.")
    if is_cached(spec) or not offline():
        return None
    from helpers.cache import data_dir

    name = spec.split(":", 1)[1]
    return (f"{name} is not in {data_dir(_CACHED[spec][0])} and downloads are off (HF_HUB_OFFLINE/COURSE_OFFLINE). "
            "Run this notebook once online to cache it, or set PROFILE = \"smoke\".")


def download_problem(spec: str) -> str | None:
    """Why one download of the full profile cannot be had here, or None (a "url:" one has its own fallback)."""
    kind = spec.partition(":")[0]
    if kind in ("hf-model", "hf-dataset"):
        return hub_problem(spec)
    if kind == "url":
        return None
    return dataset_problem(spec)


def require_full(profile: str, *, needs: tuple[str, ...] | list[str] = (), downloads: tuple[str, ...] | list[str] = (),
                 vram_gb: float | None = None, what: str = "this notebook") -> None:
    """In the full profile, stop at once with one clear message if this machine cannot run it.

    ``needs`` and ``downloads`` are the notebook's syllabus entry, in its spelling. ``needs``: "gpu" (a CUDA or
    Apple GPU), "cuda-only" (an NVIDIA GPU: bitsandbytes, NVML), "network" (the downloads, checked one by
    one); ``downloads``: "hf-model:org/name" / "hf-dataset:org/name" to be cached or downloadable (checked in
    seconds, before anything heavy starts; a local folder counts), "torchvision:MNIST", "torchvision:CIFAR10",
    "pyg:Cora" to be cached unless downloads are on. ``vram_gb``: that much VRAM *free now*, plus a margin
    for its CUDA context (what the browser or a game holds counts: the message names them). Smoke: no-op.
    """
    unknown = [n for n in needs if n not in NEEDS]
    if unknown:
        raise ValueError(f"Unknown need {unknown[0]!r}: use {', '.join(NEEDS)}.")
    if profile not in ("smoke", "full"):
        raise ValueError(f"profile must be 'smoke' or 'full' (resolved by helpers.profiles.start), not {profile!r}.")
    if profile == "smoke":
        return
    import torch

    problems = []
    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if "cuda-only" in needs and not has_cuda:
        problems.append(f"{what} needs an NVIDIA GPU with CUDA, and none is visible")
    elif "gpu" in needs and not (has_cuda or has_mps):
        problems.append(f"{what} needs a GPU, and none is visible")
    if vram_gb and has_cuda:  # free VRAM (NVML: what other programs hold too), less a margin
        from helpers.diagnose import vram_problem
        from helpers.machine import gather

        problem = vram_problem(vram_gb, gather(test_bnb=False), what)
        if problem:
            problems.append(problem)
    problems.extend(p for p in map(download_problem, downloads) if p)
    if problems:
        fix = ("Set PROFILE = \"smoke\" in the parameters cell to run the small CPU version, or open this "
               "notebook on Colab with a GPU runtime.")
        raise CannotRunFull("; ".join(p.rstrip(".") for p in problems) + ". " + fix)
    print(f"Full profile: this machine has what {what} needs.")
