"""Can this machine run a notebook's full profile? Say so in the first cells, in one clear message.

Every notebook's opening call (``profiles.start``) calls ``require_full(P, needs=[...], downloads=[...])``, spelled as
its syllabus entry (a test checks they agree); it raises :class:`CannotRunFull` naming everything missing. A notebook
whose ladder's rungs name their own models declares its downloads in ``ladders.pick`` instead, which checks what the
chosen rung loads (:func:`download_problem`). "Cached" means *complete*: :func:`check` reads the sizes and headers of
every file the full profile loads (``FILES``, what ``course fetch`` downloads), so an empty snapshot or a file cut
short is named; ``course doctor`` uses it too.

Taught in week 1 (01a-the-ml-workflow); used again by every notebook whose full profile needs a GPU or a download.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from helpers.download_files import FILES, Files  # what each download is made of (ready.FILES to its callers)

NEEDS = ("gpu", "cuda-only", "network")  # "gpu": CUDA or Apple; "cuda-only": NVIDIA; "network": to download
# "hf-model:org/name", "torchvision:MNIST", "sklearn:california_housing", ... "url:what" (unchecked: needs a fallback)
DOWNLOAD_KINDS = ("hf-model", "hf-dataset", "torchvision", "pyg", "sklearn", "openml", "url")
FETCH = "python -m course fetch"
SMOKE_INSTEAD = ("Set PROFILE = \"smoke\" in the parameters cell to run the small CPU version, or open this notebook "
                 "on Colab with a GPU runtime.")  # the last words of every stop


class CannotRunFull(RuntimeError):
    """This machine cannot run the notebook's full profile; the message says what to do instead."""

    def _render_traceback_(self) -> list[str]:  # IPython shows just the message, no deep traceback
        return [f"\x1b[31mCannot run the full profile here.\x1b[0m {self}"]


def offline() -> bool:
    """True when downloads are switched off (HF_HUB_OFFLINE or COURSE_OFFLINE set to 1/true)."""
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes", "on") for k in ("HF_HUB_OFFLINE", "COURSE_OFFLINE"))


def hf_home() -> Path:
    """Hugging Face's folder (HF_HOME, else XDG_CACHE_HOME/huggingface): the hub cache and prepared datasets."""
    return Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "huggingface").expanduser()


def hf_cache_dir() -> Path:
    """Hugging Face's hub cache folder, read from the environment now (HF_HUB_CACHE, else HF_HOME/hub)."""
    return Path(os.environ["HF_HUB_CACHE"]).expanduser() if os.environ.get("HF_HUB_CACHE") else hf_home() / "hub"


def datasets_cache_dir() -> Path:
    """Where ``datasets`` keeps prepared (Arrow) copies, the ones it loads offline: HF_DATASETS_CACHE or HF_HOME/datasets."""
    return Path(os.environ.get("HF_DATASETS_CACHE") or hf_home() / "datasets").expanduser()


def course_data_dir() -> Path:
    """The course's data folder (COURSE_DATA_DIR, else ~/.cache/dl12gb), without creating it."""
    return Path(os.environ.get("COURSE_DATA_DIR") or Path.home() / ".cache" / "dl12gb").expanduser()




@dataclass
class Check:
    """What is on disk for one download: present at all, complete, its size, and what is wrong."""

    spec: str
    present: bool = False
    complete: bool = False
    bytes: int = 0
    where: str = ""
    problems: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # relative name -> bytes on disk


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n} bytes"


def file_problem(path: Path, name: str) -> str | None:
    """Why a file is not whole, read from its own format (safetensors, JSON, Parquet, gzip); None if it looks whole."""
    try:
        size = path.stat().st_size
        if size == 0:
            return f"{name} is empty"
        with open(path, "rb") as fh:
            if name.endswith(".safetensors"):
                head = int.from_bytes(fh.read(8), "little")
                offsets = [t["data_offsets"][1] for k, t in json.loads(fh.read(head)).items() if k != "__metadata__"]
                want = 8 + head + max(offsets, default=0)
                return None if size == want else f"{name} is cut short: {_gb(size)} of {_gb(want)}"
            if name.endswith(".json") and size < 64e6:
                json.loads(fh.read())
            elif name.endswith(".pth") and fh.read(2) == b"PK" and not zipfile.is_zipfile(path):
                return f"{name} is cut short (not a whole zip archive)"
            elif name.endswith(".parquet"):
                head, _, tail = fh.read(4), fh.seek(-4, 2), fh.read(4)
                if head != b"PAR1" or tail != b"PAR1":
                    return f"{name} is not a whole Parquet file"
        if name.endswith(".gz") and size < 64e6:
            with gzip.open(path) as gz:
                gz.read()
    except (OSError, ValueError, KeyError, TypeError, EOFError) as err:
        return f"{name} is unreadable or cut short ({type(err).__name__})"
    return None


def _require(check: Check, names: list[str], required: tuple[str, ...]) -> None:
    """Add a problem for each required entry (name, glob, "a|b", "name=BYTES", "name>=BYTES") not met."""
    for entry in required:
        name, op, size = re.fullmatch(r"(.+?)(?:(>?=)(\d+))?", entry).groups()
        found = [m for alt in name.split("|") for m in fnmatch.filter(names, alt)]
        if not found:
            check.problems.append(f"{name.replace('|', ' or ')} is missing")
        elif op and (check.files[found[0]] != int(size) if op == "=" else check.files[found[0]] < int(size)):
            check.problems.append(f"{found[0]} is cut short: {_gb(check.files[found[0]])} of "
                                  f"{'' if op == '=' else 'at least '}{_gb(int(size))}")


def _scan(check: Check, root: Path, tops: tuple[str, ...] = ("",)) -> list[str]:
    """Record the files under ``root/top`` (following the hub cache's links) in ``check.files``; return their names."""
    for path in sorted(p for top in tops for p in ([root / top] if (root / top).is_file() else (root / top).rglob("*"))):
        name = path.relative_to(root).as_posix()
        if path.is_symlink() and not path.exists():
            check.problems.append(f"{name} points to a missing file (an interrupted download)")
        elif path.is_file():
            check.files[name] = path.stat().st_size
    check.bytes, check.present = sum(check.files.values()), bool(check.files)
    return list(check.files)


def _hub_repo(spec: str) -> tuple[str, str]:
    """("model" or "dataset", "org/name") of an "hf-model:org/name" or "hf-dataset:org/name" download."""
    kind, _, repo_id = spec.partition(":")
    if kind not in ("hf-model", "hf-dataset") or not repo_id:
        raise ValueError(f"Not a Hugging Face download: {spec!r}; write \"hf-model:org/name\" or \"hf-dataset:org/name\".")
    return kind.removeprefix("hf-"), repo_id


def hub_listing(spec: str) -> dict[str, int] | None:
    """{file: bytes} of the repo at the cached commit, from the listing huggingface_hub caches; None if none is cached."""
    repo_type, repo_id = _hub_repo(spec)
    try:
        from huggingface_hub import get_cached_repo_tree
        tree = get_cached_repo_tree(repo_id, repo_type=repo_type, cache_dir=str(hf_cache_dir()))
        return {f.path: f.size for f in tree}
    except Exception:  # noqa: BLE001 - an older huggingface_hub, or no listing cached: judge without it
        return None


def _check_hub(check: Check) -> None:
    repo_type, repo_id = _hub_repo(check.spec)
    root = hf_cache_dir() / f"{repo_type}s--{repo_id.replace('/', '--')}"
    files = FILES.get(check.spec) or Files(repo_id, (), ("config.json|model_index.json",) if repo_type == "model" else ())
    commit = (root / "refs" / "main").read_text().strip() if (root / "refs" / "main").is_file() else ""
    snapshot = root / "snapshots" / commit
    check.where = str(snapshot if commit else root)
    if not root.is_dir():
        return check.problems.append(f"not in the Hugging Face cache ({hf_cache_dir()})")
    if not commit or not snapshot.is_dir():
        check.present = any(root.rglob("*.incomplete"))
        return check.problems.append("the cache has no snapshot for its main branch (an interrupted download)")
    names = _scan(check, snapshot)
    if not names:
        return check.problems.append("its snapshot folder is empty (an interrupted download)")
    _require(check, names, files.required)
    listing = hub_listing(check.spec) or {}
    for name, size in listing.items():  # the Hub's own sizes, for every file this notebook loads
        if files.patterns and not any(fnmatch.fnmatch(name, p) for p in files.patterns):
            continue
        if name not in check.files and files.patterns:
            check.problems.append(f"{name} is missing")
        elif name in check.files and check.files[name] != size:
            check.problems.append(f"{name} is cut short: {_gb(check.files[name])} of {_gb(size)}")
    for index in fnmatch.filter(names, "*.safetensors.index.json"):
        try:
            shards = set(json.loads((snapshot / index).read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError, AttributeError):
            continue  # file_problem names it below
        folder = index.rpartition("/")[0]
        check.problems += [f"{s} is missing" for s in sorted(shards) if (f"{folder}/{s}" if folder else s) not in names]
    check.problems += [p for n in names if (p := file_problem(snapshot / n, n))]
    if files.prepared and not check.problems:  # `datasets` loads offline only from the copy it prepared
        owner, _, name = repo_id.rpartition("/")
        snake = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)).lower()
        prepared = datasets_cache_dir() / "___".join(p for p in (owner, snake) if p)
        if not any(prepared.glob("*/*/*/dataset_info.json")):
            check.problems.append(f"not prepared by `datasets` for offline use (no copy in {prepared})")


def _check_local(check: Check) -> None:
    kind, _, name = check.spec.partition(":")
    if kind == "torchvision" and "_Weights." in name:  # pretrained weights ("torchvision:ResNet18_Weights.IMAGENET1K_V1")
        from torch.hub import get_dir
        from torchvision.models import get_weight
        path = Path(get_dir()) / "checkpoints" / get_weight(name).url.rsplit("/", 1)[-1]
        check.where = str(path.parent)
        _scan(check, path.parent, (path.name,))
        return check.problems.append(file_problem(path, path.name) if check.present else f"not in {path.parent}")
    files = FILES.get(check.spec) or Files(name, folder={"torchvision": "torchvision", "pyg": "pyg"}.get(kind, kind))
    root = course_data_dir() / files.folder
    check.where = str(root)
    if not files.required:  # a data set the course has no file list for: never called complete
        return check.problems.append(f"no file list known for {check.spec}: add it to FILES in helpers/ready.py")
    tops = tuple(dict.fromkeys(re.split(r"[/>=]", r)[0] for r in files.required))
    names = _scan(check, root, tops)
    if not check.present:
        return check.problems.append(f"not in {root}")
    _require(check, names, files.required)
    if check.spec == "torchvision:OxfordIIITPet" and not check.problems:  # every image the splits list
        listed = {line.split()[0] for f in ("trainval", "test") for line in
                  (root / f"oxford-iiit-pet/annotations/{f}.txt").read_text().splitlines() if line.strip()}
        lost = sorted(n for n in listed if f"oxford-iiit-pet/images/{n}.jpg" not in check.files)
        check.problems += [f"{len(lost)} of {len(listed)} images are missing (e.g. {lost[0]}.jpg)"] if lost else []
    check.problems += [p for n in names if n.endswith((".gz", ".json")) and (p := file_problem(root / n, n))]


def check(spec: str) -> Check:
    """Everything :func:`is_cached` knows about one download: present, complete, size on disk, what is wrong."""
    kind = spec.partition(":")[0]
    if kind not in DOWNLOAD_KINDS or not spec.partition(":")[2]:
        raise ValueError(f"Unknown download {spec!r}: use {', '.join(k + ':' for k in DOWNLOAD_KINDS)} "
                         f"(data sets the course knows: {', '.join(s for s in FILES if not s.startswith('hf-'))}).")
    result = Check(spec)
    if kind == "url":
        result.problems.append("a url: download is not checked (its notebook falls back without it)")
    elif kind in ("hf-model", "hf-dataset"):
        _check_hub(result)
    else:
        _check_local(result)
    result.problems = [p for p in result.problems if p]
    result.complete = result.present and not result.problems
    return result


def is_cached(spec: str) -> bool:
    """True if a download is on this machine *complete*: every file its notebook loads, none of them cut short."""
    return check(spec).complete


def _not_here(spec: str) -> str:
    """Why a download is not usable offline, in a few words, with the command that fixes it."""
    found, name = check(spec), spec.split(":", 1)[1]
    what = f"{name} is " + (f"in the cache but incomplete ({'; '.join(found.problems[:2])})" if found.present
                            else "not in the local cache")
    return (f"{what} and downloads are off (HF_HUB_OFFLINE/COURSE_OFFLINE). Fetch it once online "
            f"(`{FETCH} {spec}`, or carry a fetched cache over: see docs/PARTICIPANTS.md).")


def hub_problem(spec: str) -> str | None:
    """Why a Hugging Face repo ("hf-model:org/name", "hf-dataset:org/name") cannot be had, or None (a local folder counts)."""
    repo_type, repo_id = _hub_repo(spec)
    if is_cached(spec) or Path(repo_id).expanduser().is_dir():
        return None
    if offline():
        return f"{repo_type} " + _not_here(spec)
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
                f"internet, or fetch it elsewhere and carry the cache over.")
    return None


def dataset_problem(spec: str) -> str | None:
    """Why a data set ("torchvision:MNIST", "pyg:Cora", ...) is out of reach: not complete here and downloads off; or None."""
    if spec.partition(":")[0] not in ("torchvision", "pyg", "sklearn", "openml"):
        raise ValueError(f"Unknown dataset {spec!r}: use one of {', '.join(s for s in FILES if not s.startswith('hf-'))}.")
    return None if not offline() or is_cached(spec) else _not_here(spec)


def data_missing(spec: str, otherwise: str) -> CannotRunFull:
    """The stop of a data loader offline: why ``spec`` cannot be had (``otherwise`` when the check finds nothing
    wrong yet the files are not there), and what to do instead."""
    return CannotRunFull((dataset_problem(spec) or otherwise).rstrip(".") + ". " + SMOKE_INSTEAD)


def download_problem(spec: str) -> str | None:
    """Why one download of the full profile cannot be had here, or None (sklearn/openml/url ones have a fallback)."""
    kind = spec.partition(":")[0]
    if kind in ("hf-model", "hf-dataset"):
        return hub_problem(spec)
    if kind in ("url", "sklearn", "openml"):
        return None  # the notebook falls back to data that ships with the course, and says so (fallback_note)
    return dataset_problem(spec)


def fallback_note(spec: str, why: str, instead: str) -> str:
    """Print (and return) the one line a notebook shows when its full profile uses its fallback instead of a download."""
    name = FILES[spec].name if spec in FILES else spec.split(":", 1)[1]
    line = (f"FALLBACK: not using {name} ({why}): this run uses {instead}, so its numbers differ from the full "
            f"profile's. `{FETCH} {spec}` caches it for next time.")
    print(line)
    return line


def require_full(profile: str, *, needs: tuple[str, ...] | list[str] = (), downloads: tuple[str, ...] | list[str] = (),
                 vram_gb: float | None = None, what: str = "this notebook") -> None:
    """In the full profile, stop at once with one clear message if this machine cannot run it (smoke: no-op).

    ``needs``: "gpu" (CUDA or Apple), "cuda-only" (NVIDIA: bitsandbytes, NVML), "network"; ``downloads``: each
    complete here (:func:`check`) or downloadable now; a local folder in place of "org/name" counts. ``vram_gb``:
    that much VRAM *free now*, plus a margin for the CUDA context (the message names who holds the rest).
    """
    unknown = [n for n in needs if n not in NEEDS]
    if unknown:
        raise ValueError(f"Unknown need {unknown[0]!r}: use {', '.join(NEEDS)}.")
    if profile not in ("smoke", "full"):
        raise ValueError(f"profile must be 'smoke' or 'full' (resolved by helpers.profiles.start), not {profile!r}.")
    if profile == "smoke":
        return
    import torch

    problems: list[str | None] = []
    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if "cuda-only" in needs and not has_cuda:
        problems.append(f"{what} needs an NVIDIA GPU with CUDA, and none is visible")
    elif "gpu" in needs and not (has_cuda or has_mps):
        problems.append(f"{what} needs a GPU, and none is visible")
    if vram_gb and has_cuda:  # free VRAM (NVML: what other programs hold too), less a margin
        from helpers.diagnose import vram_problem
        from helpers.machine import gather

        problems.append(vram_problem(vram_gb, gather(test_bnb=False), what))
    problems = [p for p in problems + list(map(download_problem, downloads)) if p]
    if problems:
        raise CannotRunFull("; ".join(p.rstrip(".") for p in problems) + ". " + SMOKE_INSTEAD)
    print(f"Full profile: this machine has what {what} needs.")
