"""``python -m course fetch``: download, before the day, exactly what the selected notebooks' full profile loads.

``course fetch 7`` prints each download (its size, whether it is already here and complete) and the total first,
then downloads what is missing: Hub repos through ``huggingface_hub.snapshot_download`` with the file patterns of
``helpers.ready.FILES`` (only the weights format and variant each notebook loads: safetensors, SD 1.5's fp16
files, never ``original/*.pth``), which resumes an interrupted file; Hub data sets are then prepared by
``datasets`` once (it loads offline only from that copy); torchvision, PyG and scikit-learn data through their
own loaders, into the course data folder. ``--dry-run`` only prints the plan (offline it uses the cached Hub
listing, else the sizes recorded in ``course.downloads``); ``--verify`` checks every file (sizes, the SHA-256
the Hub cache names each weights file by, the libraries' own checksums) without downloading; ``--json`` prints
it all as JSON. A SELECTOR is a week, a notebook id, ``extras``, ``all``, or a download itself
(``hf-model:org/name``). A notebook with a ladder (``helpers.ladders``) loads what the rung this machine takes
loads (a laptop without a GPU: the CPU rung's small model, not the 7B one); ``--vram GiB`` plans for another machine
(0: none) and ``--all-rungs`` takes every rung's, for a copy that serves a whole room. Everything lands under two
folders, ``HF_HOME`` and ``COURSE_DATA_DIR``: set both to folders on one disk (or stick) and copy them to another
machine (docs/PARTICIPANTS.md says how).
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import gzip
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from course import downloads as table
from course import syllabus as syl
from course.errors import CourseError
from helpers import ladders, ready

GPU_NEEDS = {"gpu", "cuda-only"}


def chosen_notebooks(course: syl.Syllabus, selectors: list[str]) -> list[syl.Notebook]:
    """The notebooks the selectors name (none when they name only downloads; all when they name nothing)."""
    names = [s for s in selectors if ":" not in s]
    return [] if selectors and not names else syl.select(course, names)


def needs_a_gpu(course: syl.Syllabus, selectors: list[str]) -> list[str]:
    """The selected notebooks whose full profile needs a GPU: nothing to fetch for them on a machine without one."""
    return [nb.id for nb in chosen_notebooks(course, selectors) if GPU_NEEDS & set(nb.needs)]


def selected(course: syl.Syllabus, selectors: list[str], free_gib: float | None = None,
             all_rungs: bool = False, leave_out: tuple[str, ...] | list[str] = ()) -> dict[str, list[str]]:
    """{download: [notebook ids that load it]} for the selectors (a download spec selects itself), in course order.

    A notebook with a ladder loads what the rung a machine with ``free_gib`` of free VRAM takes (None: no GPU, so a
    CPU rung's small model), or with ``all_rungs`` what every rung loads (``helpers.ladders.downloads_for``).
    ``leave_out``: notebook ids not to fetch for (those that need a GPU, on a machine without one).
    """
    chosen: dict[str, list[str]] = {}
    specs = [s for s in selectors if ":" in s]
    for spec in specs:
        if spec.partition(":")[0] not in ready.DOWNLOAD_KINDS:
            raise CourseError(f"Unknown download {spec!r}: write {', '.join(k + ':...' for k in ready.DOWNLOAD_KINDS)}.")
        chosen[spec] = [nb.id for nb in course.notebooks
                        if spec in ladders.downloads_for(nb.id, nb.downloads, None, all_rungs=True)]
    for nb in chosen_notebooks(course, selectors):
        if nb.id in leave_out:
            continue
        for spec in ladders.downloads_for(nb.id, nb.downloads, free_gib, all_rungs):
            chosen.setdefault(spec, []).append(nb.id)
    return chosen


def rungs_taken(course: syl.Syllabus, selectors: list[str], free_gib: float | None) -> dict[str, str | None]:
    """{notebook id: the rung it takes with ``free_gib`` free (None: none fits)} for the selected notebooks with a
    ladder."""
    taken = {}
    for nb in chosen_notebooks(course, selectors):
        if nb.id.split("-", 1)[0] in ladders.LADDERS:
            rung, _why = ladders.choose(nb.id, free_gib)
            taken[nb.id] = rung.name if rung else None
    return taken


def machine_vram(vram: float | None) -> tuple[float | None, bool]:
    """(GiB of free VRAM to plan the rungs for, whether that machine has a GPU): ``--vram`` (0: no GPU), else this
    machine (free CUDA memory now; an Apple GPU counts as a GPU with no CUDA rung)."""
    if vram is not None:
        if vram < 0:
            raise CourseError(f"--vram {vram:g}: give the free VRAM in GiB, 0 for a machine without a GPU.")
        return vram or None, vram > 0
    from helpers import gpu

    return ladders.free_vram_gib(), gpu.device().type != "cpu"


def _repo(spec: str) -> tuple[str, str]:
    kind, _, repo_id = spec.partition(":")
    return kind.removeprefix("hf-"), repo_id


def planned_files(spec: str, online: bool) -> tuple[list[dict[str, Any]], str]:
    """([{file, bytes}], where the sizes come from): the Hub when online, its cached listing, else the table."""
    files = ready.FILES.get(spec)
    if spec.startswith("hf-") and files and online:
        try:
            from huggingface_hub import snapshot_download

            repo_type, repo_id = _repo(spec)
            infos = snapshot_download(repo_id, repo_type=repo_type, allow_patterns=list(files.patterns),
                                      cache_dir=str(ready.hf_cache_dir()), dry_run=True)
            return [{"file": i.filename, "bytes": i.file_size} for i in sorted(infos, key=lambda i: i.filename)], "hub"
        except Exception as err:  # noqa: BLE001 - no network, proxy, gated: fall back to what is known here
            print(f"note: could not ask the Hub about {spec} ({type(err).__name__}); using recorded sizes",
                  file=sys.stderr)
    listing = ready.hub_listing(spec) if spec.startswith("hf-") and files else None
    if listing:
        keep = sorted(n for n in listing if any(fnmatch.fnmatch(n, p) for p in files.patterns))
        return [{"file": n, "bytes": listing[n]} for n in keep], "cached listing"
    if spec in table.DOWNLOADS:
        return [{"file": f, "bytes": b} for f, b in table.DOWNLOADS[spec].files.items()], "recorded"
    return [], "unknown"


EXACT = ("hub", "cached listing")  # where sizes are the Hub's own, not the recorded table's


def describe(spec: str, notebooks: list[str], online: bool) -> dict[str, Any]:
    """One download as the plan shows it: what, files and sizes, and what is on disk now."""
    found = ready.check(spec)
    files, source = planned_files(spec, online)
    total = sum(f["bytes"] or 0 for f in files) if files else None
    for f in files:
        if f["file"] in found.files:
            f["cached_bytes"] = found.files[f["file"]]
    info = table.DOWNLOADS.get(spec)
    return {"download": spec, "notebooks": notebooks, "what": info.what if info else "",
            "known": table.known(spec), "files": files, "bytes": total, "sizes_from": source,
            "present": found.present, "complete": found.complete, "bytes_on_disk": found.bytes,
            "where": found.where, "problems": found.problems,
            "to_download": 0 if found.complete else max(0, (total or 0) - found.bytes)}


def status_word(item: dict[str, Any]) -> str:
    """'complete', 'incomplete', 'not here' or 'no file list'."""
    if not item["known"]:
        return "no file list"
    return "complete" if item["complete"] else "incomplete" if item["present"] else "not here"


def show_plan(items: list[dict[str, Any]], files_too: bool = False) -> None:
    """Each download with its size and state (and its files), then the total and what is still to download."""
    print(f"Hugging Face cache: {ready.hf_cache_dir()} (HF_HOME) · course data: {ready.course_data_dir()} "
          "(COURSE_DATA_DIR)\n")
    width = max((len(i["download"]) for i in items), default=10)
    for i in items:
        size = table.human(i["bytes"]) + ("" if i["sizes_from"] in EXACT else " ~")
        print(f"{i['download']:<{width}}  {size:>9}  {status_word(i):<12} {', '.join(i['notebooks'])}")
        if i["what"]:
            print(f"{'':<{width}}  {'':>9}  {i['what']}")
        if files_too:
            for f in i["files"]:
                print(f"{'':<{width}}  {table.human(f['bytes']):>9}    {f['file']}")
        if not i["known"]:
            print(f"{'':<{width}}  {'':>9}  {table.missing_line(i['download'])}")
        elif i["present"] and not i["complete"]:
            print(f"{'':<{width}}  {'':>9}  {'; '.join(i['problems'][:3])}")
    total = sum(i["bytes"] or 0 for i in items)
    todo = sum(i["to_download"] for i in items)
    exact = all(i["sizes_from"] in EXACT for i in items)
    print(f"\n{len(items)} downloads, {table.human(total)} in all{'' if exact else ' (~: recorded sizes)'}; "
          f"{table.human(todo)} still to download.")


# ---- --verify: every byte, not only sizes and headers ----------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def deep_problems(spec: str, found: ready.Check, online: bool) -> list[str]:
    """What a full read finds wrong beyond ready.check: hashes of weights, the Hub's sizes, the loaders' checksums."""
    problems: list[str] = []
    where = Path(found.where)
    if spec.startswith("hf-"):
        for name in found.files:
            blob = (where / name).resolve()
            if re.fullmatch(r"[0-9a-f]{64}", blob.name) and _sha256(blob) != blob.name:
                problems.append(f"{name} does not match its SHA-256 (corrupt: delete it and fetch again)")
        if online and spec in ready.FILES:
            files, source = planned_files(spec, online=True)
            for f in files if source == "hub" else []:
                if found.files.get(f["file"]) != f["bytes"]:
                    problems.append(f"{f['file']}: {table.human(found.files.get(f['file']))} here, "
                                    f"{table.human(f['bytes'])} on the Hub")
        return problems
    if "_Weights." in spec:  # torch.hub names each weights file by the start of its SHA-256
        for name in found.files:
            prefix = re.search(r"-([a-f0-9]{6,})\.", name)
            if prefix and not _sha256(where / name).startswith(prefix.group(1)):
                problems.append(f"{name} does not match the SHA-256 in its name (corrupt: delete it, fetch again)")
        return problems
    try:
        _open_locally(spec)
    except Exception as err:  # noqa: BLE001 - whatever the loader says is the problem to report
        problems.append(f"its loader refuses it: {type(err).__name__}: {str(err)[:160]}")
    return problems


def _open_locally(spec: str) -> None:
    """Open a local data set with its own loader and downloads off (CIFAR-10 checks the MD5 of every batch)."""
    kind, _, name = spec.partition(":")
    root = ready.course_data_dir()
    if kind == "torchvision" and name in ("MNIST", "CIFAR10", "OxfordIIITPet"):
        import torchvision.datasets as tvd

        getattr(tvd, name)(str(root / "torchvision"))
    elif spec == "pyg:Cora":
        from torch_geometric.datasets import Planetoid

        Planetoid(str(root / "pyg"), "Cora")
    elif spec == "sklearn:california_housing":
        from sklearn.datasets import fetch_california_housing

        fetch_california_housing(data_home=str(root / "scikit-learn"), download_if_missing=False)
    elif spec == "openml:titanic":  # every file the cached listing names, before sklearn may reach for the network
        site = root / "scikit-learn" / "openml" / "openml.org"
        listing = ready.FILES[spec].required[0].split("openml.org/")[1]
        data_id = json.loads(gzip.open(site / listing).read())["data"]["dataset"][0]["did"]
        info = json.loads(gzip.open(site / f"api/v1/json/data/{data_id}.gz").read())["data_set_description"]
        for part in (f"api/v1/json/data/features/{data_id}.gz", re.sub(r"^https?://[^/]+/", "", info["url"]) + ".gz"):
            gzip.open(site / part).read()


# ---- fetching ---------------------------------------------------------------------------------------------------
def fetch_one(spec: str) -> None:
    """Download one download into its cache, resuming where the Hub allows; the libraries draw the progress bars."""
    kind, _, name = spec.partition(":")
    data = ready.course_data_dir()
    if kind in ("hf-model", "hf-dataset"):
        from huggingface_hub import snapshot_download

        repo_type, repo_id = _repo(spec)
        snapshot_download(repo_id, repo_type=repo_type, allow_patterns=list(ready.FILES[spec].patterns),
                          cache_dir=str(ready.hf_cache_dir()))
        if ready.FILES[spec].prepared:  # the copy `datasets` loads offline
            import datasets

            config = table.DOWNLOADS[spec].config if spec in table.DOWNLOADS else None
            datasets.load_dataset(repo_id, config, cache_dir=str(ready.datasets_cache_dir()))
    elif kind == "torchvision" and "_Weights." in name:  # into torch.hub's folder (TORCH_HOME)
        from torchvision.models import get_weight

        get_weight(name).get_state_dict(progress=True)
    elif spec == "torchvision:PennFudanPed":
        from helpers import detection

        detection.penn_fudan("full")
    elif kind == "torchvision":
        import torchvision.datasets as tvd

        getattr(tvd, name)(str(data / "torchvision"), download=True)
    elif spec == "pyg:Cora":
        from torch_geometric.datasets import Planetoid

        Planetoid(str(data / "pyg"), "Cora")
    elif spec == "sklearn:california_housing":
        from sklearn.datasets import fetch_california_housing

        fetch_california_housing(data_home=str(data / "scikit-learn"))
    elif spec == "openml:titanic":
        from sklearn.datasets import fetch_openml

        fetch_openml("titanic", version=1, as_frame=True, parser="auto", data_home=str(data / "scikit-learn"))


def main(args: argparse.Namespace) -> int:
    """Plan, then fetch (or only plan, or verify); exit 0 when every known download is complete."""
    course = syl.load(args.syllabus)
    all_rungs = getattr(args, "all_rungs", False)
    selectors = list(args.selectors or [])
    free, has_gpu = machine_vram(getattr(args, "vram", None))
    left_out = [] if all_rungs or has_gpu else needs_a_gpu(course, selectors)
    chosen = selected(course, selectors, free, all_rungs, left_out)
    rungs = {} if all_rungs else rungs_taken(course, selectors, free)
    online = not ready.offline()
    if not args.dry_run and not args.verify and not online:
        raise CourseError("downloads are off (HF_HUB_OFFLINE or COURSE_OFFLINE is set): unset them to fetch; "
                          "--dry-run and --verify work offline.")
    items = [describe(spec, nbs, online and not args.verify) for spec, nbs in chosen.items()]
    if args.verify:
        for item in items:
            if item["complete"]:
                item["problems"] = deep_problems(item["download"], ready.check(item["download"]), online)
                item["complete"] = not item["problems"]
    if not args.json:
        if rungs:
            where = f"{free:.1f} GiB of VRAM free" if free else "no GPU"
            print(f"Rungs for {where}: " + ", ".join(f"{nb.split('-', 1)[0]} {r or 'none fits'}" for nb, r in rungs.items())
                  + " (--vram GiB plans for another machine; --all-rungs fetches every rung, for a room)")
        if left_out:
            print(f"Left out, as they need a GPU (on Colab they download what they need): {', '.join(left_out)}")
        if rungs or left_out:
            print()
        show_plan(items, files_too=args.dry_run)
    if args.dry_run or args.verify:
        if args.json:
            print(json.dumps(_report(items, args, free, rungs, left_out), indent=2))
        elif args.verify:
            bad = [i for i in items if i["known"] and not i["complete"]]
            for i in bad:
                print(f"incomplete: {i['download']}: {'; '.join(i['problems'][:4]) or 'not here'}")
            print("every download is complete" if not bad else
                  f"{len(bad)} incomplete: fetch them with `python -m course fetch {' '.join(i['download'] for i in bad)}`")
        return 0 if args.dry_run or all(i["complete"] for i in items if i["known"]) else 1
    say = functools.partial(print, file=sys.stderr if args.json else sys.stdout, flush=True)
    todo = [i for i in items if i["known"] and not i["complete"]]
    for n, item in enumerate(todo, 1):
        spec = item["download"]
        say(f"\n[{n}/{len(todo)}] {spec} ({table.human(item['to_download'])} to go)")
        try:
            fetch_one(spec)
        except Exception as err:  # noqa: BLE001 - a failed download must not stop the others
            say(f"failed: {type(err).__name__}: {str(err)[:300]} (run the same command again: it resumes)")
        found = ready.check(spec)
        item.update(complete=found.complete, present=found.present, problems=found.problems, bytes_on_disk=found.bytes)
        say(f"{spec}: {'complete' if found.complete else 'INCOMPLETE: ' + '; '.join(found.problems[:3])}"
            f" ({table.human(found.bytes)} on disk)")
    unknown = [i["download"] for i in items if not i["known"]]
    for spec in unknown:
        print(table.missing_line(spec), file=sys.stderr)
    if args.json:
        print(json.dumps(_report(items, args, free, rungs, left_out), indent=2))
    left = [i["download"] for i in items if i["known"] and not i["complete"]]
    say(f"\n{len(items) - len(left) - len(unknown)} of {len(items)} downloads complete"
        + (f"; incomplete: {', '.join(left)}" if left else "")
        + (f"; not fetched (no file list): {', '.join(unknown)}" if unknown else ""))
    return 0 if not left and not unknown else 1


def _report(items: list[dict[str, Any]], args: argparse.Namespace, free: float | None,
            rungs: dict[str, str | None], left_out: list[str]) -> dict[str, Any]:
    return {"mode": "verify" if args.verify else "dry-run" if args.dry_run else "fetch", "offline": ready.offline(),
            "vram_gib": free, "all_rungs": getattr(args, "all_rungs", False), "rungs": rungs, "left_out": left_out,
            "hf_cache": str(ready.hf_cache_dir()), "course_data": str(ready.course_data_dir()), "downloads": items,
            "total_bytes": sum(i["bytes"] or 0 for i in items),
            "to_download_bytes": sum(i["to_download"] for i in items if not i["complete"])}
