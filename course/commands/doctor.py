"""``python -m course doctor``: this machine's report and, per notebook, whether its full profile can run.

A report, not a test: it exits 0 on a machine without a GPU and says what to do instead. What keeps a
GPU from working (driver too old for this PyTorch, a CPU-only PyTorch, VRAM held by other programs,
WSL2 and Windows notes, bitsandbytes' CUDA library, disk space for the downloads) comes from
``helpers.diagnose``, the same code notebook 00a runs; each finding says what it is, why it matters
and the one command that fixes it. Whether a download is cached and whether downloads are off are
``helpers.ready``'s answers, the ones the notebooks' ``require_full`` gives: "cached" means complete, every file.

``--json`` is the report an instructor collects from each machine of a room (its name, the time, the course
version, each download cached / complete / size); ``--summarise REPORT.json ...`` turns them into one
who-can-run-what table (``course.doctor_summary``).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import tomllib

from course import doctor_summary
from course import downloads as table
from course import syllabus as syl
from helpers import diagnose, machine, ready

PACKAGES = ("torch", "torchvision", "transformers", "peft", "bitsandbytes", "diffusers", "accelerate",
            "datasets", "scikit-learn", "jupyterlab", "ipywidgets", "papermill", "nbval")


def download_gb(download: str) -> float:
    """Recorded size of one syllabus download in GB (course.downloads), or a cautious 0.5 when it is unknown."""
    size = table.recorded_bytes(download)
    return size / 1e9 if size is not None else 0.5


def course_data_dir() -> Path:
    """The course's data folder (COURSE_DATA_DIR, default ~/.cache/dl12gb), without creating it."""
    return ready.course_data_dir()


def _existing(path: Path) -> Path:
    """The nearest folder that exists at or above ``path`` (where its disk's free space can be read)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.home()


# Disk kept free beyond the downloads: extraction, temporary files, checkpoints.
DISK_MARGIN_GB = 2.0


@dataclass
class DiskPlace:
    """A folder the course downloads into, the free space of its disk, and what is still to come."""

    label: str  # "Hugging Face cache", "course data"
    path: str
    free_gb: float
    need_gb: float
    disk: int | str = 0  # the filesystem (st_dev): two places on one disk share its free space


def check_disk(places: list[DiskPlace], env_var: dict[str, str] | None = None) -> diagnose.Finding | None:
    """The downloads still to come do not fit the free space (per disk, plus DISK_MARGIN_GB)."""
    by_disk: dict[int | str, list[DiskPlace]] = {}
    for place in places:
        by_disk.setdefault(place.disk, []).append(place)
    for group in by_disk.values():
        need = sum(p.need_gb for p in group)
        free = min(p.free_gb for p in group)
        if need and free < need + DISK_MARGIN_GB:
            names = " and ".join(f"the {p.label} ({p.path})" for p in group)
            var = (env_var or {}).get(max(group, key=lambda p: p.need_gb).label, "HF_HOME")
            return diagnose.Finding(
                "disk-low", "warning",
                f"{free:.1f} GB free on the disk holding {names}; the downloads still to come for the notebooks "
                f"this machine can run in full need about {need:.1f} GB (+{DISK_MARGIN_GB:g} GB to work in).",
                "A download that fills the disk stops half-way, and the notebook with it.",
                f"Free {need + DISK_MARGIN_GB - free:.1f} GB there, or move the cache to a bigger disk: "
                f"`export {var}=/path/on/a/bigger/disk`.")
    return None


def disk_places(notebooks: list[syl.Notebook], checks: dict[str, ready.Check] | None = None,
                loads: dict[str, list[str]] | None = None) -> list[DiskPlace]:
    """Free space where the downloads go, and what the given notebooks still have to download there (``loads``: what
    each loads on this machine, default its syllabus downloads)."""
    need = {"Hugging Face cache": 0.0, "course data": 0.0}
    seen: set[str] = set()
    for nb in notebooks:
        for d in (loads or {}).get(nb.id, nb.downloads):
            found = (checks or {}).get(d) or ready.check(d)
            if d in seen or found.complete:
                continue
            seen.add(d)
            left = max(0.0, download_gb(d) - found.bytes / 1e9)
            need["Hugging Face cache" if d.startswith("hf-") else "course data"] += left
    places = []
    for label, path in (("Hugging Face cache", ready.hf_cache_dir()), ("course data", course_data_dir())):
        where = _existing(path)
        places.append(DiskPlace(label, str(path), round(shutil.disk_usage(where).free / 1e9, 1),
                                round(need[label], 2), where.stat().st_dev))
    return places


DISK_VARS = {"Hugging Face cache": "HF_HOME", "course data": "COURSE_DATA_DIR"}


@dataclass
class Verdict:
    """Whether one notebook's full profile can run here, and what to do if not."""

    notebook: str
    full_ok: bool
    reason: str
    advice: str = ""
    rung: str | None = None  # the rung of the notebook's ladder this machine gets (None: no ladder, or none fits)


def ladder_rung(nb: syl.Notebook, facts: machine.Facts) -> tuple[str | None, str] | None:
    """(rung name or None, why) from the notebook's ladder for the VRAM free here; None for a notebook without one.

    The same choice the notebook makes (``helpers.ladders.choose``): NVML's free VRAM, read before this process made a
    CUDA context, less the context the notebook's own process will make.
    """
    from helpers import ladders

    try:
        ladders.ladder(nb.id)
    except KeyError:
        return None
    chosen, why = ladders.choose(nb.id, free_for_rungs(facts))
    return (chosen.name if chosen else None), why


def free_for_rungs(facts: machine.Facts) -> float | None:
    """GiB of VRAM a notebook's process will find free here: NVML's free VRAM less the CUDA context it will make."""
    from helpers import planner

    if facts.device == "cuda" and facts.vram_free_gib is not None:
        return max(facts.vram_free_gib - planner.CUDA_CONTEXT_BYTES / 2**30, 0.0)
    return None


def loads_here(course: syl.Syllabus, facts: machine.Facts) -> dict[str, list[str]]:
    """{notebook id: the downloads its full profile loads on this machine}: a laddered notebook's rung may name a
    smaller model than its syllabus entry (``helpers.ladders.downloads_for``)."""
    from helpers import ladders

    free = free_for_rungs(facts)
    return {nb.id: ladders.downloads_for(nb.id, nb.downloads, free) for nb in course.notebooks}


def judge(nb: syl.Notebook, facts: machine.Facts, checks: dict[str, ready.Check] | None = None,
          loads: list[str] | None = None) -> Verdict:
    """Decide whether the notebook's full profile fits this machine: its ladder's rung, else its syllabus figure.

    ``facts.vram_free_gib`` is the VRAM free now (from NVML before this process touched the GPU); a notebook that
    fits the card but not what is free now gets "close the other programs" advice. ``checks``: ready.check of
    each download, when the caller has them already; ``loads``: what the notebook loads here (default: its syllabus
    downloads, or for a laddered notebook its rung's).
    """
    if loads is None:
        from helpers import ladders

        loads = ladders.downloads_for(nb.id, nb.downloads, free_for_rungs(facts))
    has_cuda, free = facts.device == "cuda", facts.vram_free_gib
    total = facts.vram_total_gib or 0.0
    if facts.system == "Windows" and nb.windows != "native":
        return Verdict(nb.id, False, f"does not run on native Windows: {nb.windows.removeprefix('wsl2: ')}",
                       "run it in WSL2 (the README's 'Windows and WSL2' says how), or on Colab")
    rung = ladder_rung(nb, facts)
    if rung is not None:
        name, why = rung
        if name is None:
            advice = ("close the programs that hold VRAM, or open it on Colab" if has_cuda else
                      "run it with COURSE_PROFILE=smoke to learn the code path, or open it on Colab "
                      "(Runtime > Change runtime type > T4 GPU)")
            return Verdict(nb.id, False, why, advice)
        verdict = _downloads_verdict(nb, checks, why, loads)
        verdict.rung = name
        return verdict
    need = nb.full.vram_gb  # notebooks without a ladder: the syllabus figure (vram_source says where it comes from)
    margin = diagnose.VRAM_MARGIN_GIB
    if has_cuda and free is not None and need and need <= total + 0.25 and free - margin < need:
        return Verdict(nb.id, False, f"needs about {need:g} GiB; this GPU has {total:.1f} GiB but only {free:.1f} "
                       "free now", "close the browser tabs, the game or the other notebooks that use the GPU")
    if ("gpu" in nb.needs or "cuda-only" in nb.needs) and not has_cuda:
        advice = ("run it with COURSE_PROFILE=smoke to learn the code path, or open it on Colab "
                  "(Runtime > Change runtime type > T4 GPU)")
        if facts.device == "mps" and "cuda-only" not in nb.needs:
            return Verdict(nb.id, True, "Apple GPU: should run, slower than a CUDA card; 4-bit needs CUDA")
        return Verdict(nb.id, False, f"needs a CUDA GPU with about {need:g} GB", advice)
    if has_cuda and need > total + 0.25:
        return Verdict(nb.id, False, f"needs about {need:g} GB of VRAM, this GPU has {total:.1f} GiB",
                       "use the smaller option in its parameters cell, or Colab")
    reason = "ready" if has_cuda or not nb.needs else "runs on this machine"
    return _downloads_verdict(nb, checks, reason, loads)


def _downloads_verdict(nb: syl.Notebook, checks: dict[str, ready.Check] | None, reason: str,
                      loads: list[str]) -> Verdict:
    """The verdict once the machine fits: what the downloads say (offline and not cached, a fallback, or to come)."""
    missing = [d for d in loads if not ((checks or {}).get(d) or ready.check(d)).complete]
    if missing and ready.offline() and not nb.fallback:
        return Verdict(nb.id, False, f"downloads are off (HF_HUB_OFFLINE/COURSE_OFFLINE) and not cached complete: "
                       f"{', '.join(missing)}", f"unset HF_HUB_OFFLINE and COURSE_OFFLINE and run "
                       f"`python -m course fetch {nb.id.split('-')[0]}` once online (or carry a fetched cache over)")
    if missing and ready.offline():  # a fallback: it runs, on other data than the instructor's screen shows
        reason += f"; FALLBACK: {', '.join(missing)} not cached and downloads are off, so it uses {nb.fallback}"
    elif missing:
        reason += f"; first run downloads {', '.join(missing)}"
    return Verdict(nb.id, True, reason)


def course_version() -> str:
    """The course's version: pyproject.toml's in a checkout, else the installed package's."""
    try:
        return tomllib.loads((syl.REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        try:
            return md.version("dl12gb")
        except md.PackageNotFoundError:
            return "unknown"


def download_rows(course: syl.Syllabus, checks: dict[str, ready.Check],
                  loads: dict[str, list[str]] | None = None) -> list[dict]:
    """Per download: the notebooks that load it (``loads``: on this machine; default: the syllabus), cached
    (anything here), complete, size."""
    loads = loads or {nb.id: list(nb.downloads) for nb in course.notebooks}
    return [{"download": spec, "notebooks": [nb.id for nb in course.notebooks if spec in loads.get(nb.id, ())],
             "cached": c.present, "complete": c.complete, "bytes": c.bytes,
             "expected_bytes": table.recorded_bytes(spec), "problems": c.problems[:5]} for spec, c in checks.items()]


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
        "disk_free_gb": round(free_gb, 1), "hf_cache": str(ready.hf_cache_dir()), "hf_offline": ready.offline(),
        "profile_env": os.environ.get("COURSE_PROFILE"),
    }


def main(args: argparse.Namespace) -> int:
    """Print the environment report and a verdict per notebook (exit 0: it is a report); or summarise reports."""
    summarise, csv_out, html_out, name = (getattr(args, k, None) for k in ("summarise", "csv", "html", "name"))
    if summarise:
        return doctor_summary.main(summarise, args.syllabus, csv_out=csv_out, html_out=html_out)
    if csv_out or html_out:
        from course.errors import CourseError

        raise CourseError("--csv and --html go with --summarise REPORT.json ... (they write the room's table)")
    course = syl.load(args.syllabus)
    facts = machine.gather()  # NVML first, before PyTorch's own CUDA context takes VRAM
    env = environment()
    loads = loads_here(course, facts)
    checks = {d: ready.check(d) for nb in course.notebooks for d in loads[nb.id]}
    verdicts = [judge(nb, facts, checks, loads[nb.id]) for nb in course.notebooks]
    found = diagnose.findings(facts)
    runnable = [nb for nb, v in zip(course.notebooks, verdicts, strict=True) if v.full_ok]
    disk = check_disk(disk_places(runnable, checks, loads), DISK_VARS)
    if disk:
        found.append(disk)
    if args.json:
        print(json.dumps({"kind": doctor_summary.REPORT_KIND, "version": doctor_summary.REPORT_VERSION, "name": name or facts.hostname,
                          "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "course_version": course_version(),
                          "machine": facts.to_dict(), "environment": env, "verdict": machine.verdict(facts),
                          "findings": [f.__dict__ for f in found], "downloads": download_rows(course, checks, loads),
                          "notebooks": [v.__dict__ for v in verdicts]}, indent=2))
        return 0
    print("== This machine ==" + (f" ({name})" if name else ""))
    machine.show(facts)
    if found:
        print("\n== What to fix ==")
        diagnose.show(found)
    print(f"\npython {env['python']} on {env['platform']}; {env['disk_free_gb']} GB free in your home folder")
    missing = [k for k, v in env["packages"].items() if v is None]
    print("packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v))
    if missing:
        print(f"missing: {', '.join(missing)} (run `make setup`)")
    print(f"Hugging Face cache: {env['hf_cache']}" + (" (offline mode)" if env["hf_offline"] else ""))
    print("\n== Downloads of the full profile (`python -m course fetch` gets them; --verify reads every byte) ==")
    width = max((len(d) for d in checks), default=10)
    for spec, c in checks.items():
        state = "complete" if c.complete else "INCOMPLETE" if c.present else "not here"
        detail = f"{table.human(c.bytes)} here" + (f"; {'; '.join(c.problems[:2])}" if c.present and c.problems else "")
        print(f"{state:<10} {spec:<{width}}  {detail if c.present else table.human(table.recorded_bytes(spec))}")
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
    if any(f.severity == "error" for f in found):
        print("Fix the errors under 'What to fix' first: more notebooks can run in full once the GPU works.")
    return 0
