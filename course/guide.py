"""The instructor's material, generated from the course so it never drifts: teaching minutes and tracks, the
troubleshooting page, the licence table.

``python -m course.guide`` rewrites the generated parts of ``docs/`` (``docs/TROUBLESHOOTING.md`` and
``docs/LICENCES.md`` whole, the blocks between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in
``docs/INSTRUCTORS.md`` and ``docs/PARTICIPANTS.md``); ``--check`` exits 1 when any of them is stale (a test runs it).

Teaching minutes are an *estimate* for a room, not machine time (the syllabus ``minutes`` are how long the code
runs): a notebook's ``teach_minutes`` in the syllabus when it has one, else :func:`estimate`'s rule.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from course import downloads as table
from course import syllabus as syl
from helpers import diagnose, ladders, ready
from helpers.machine import Facts, Process

DOCS = syl.REPO_ROOT / "docs"

# ---- teaching minutes -----------------------------------------------------------------------------------------
WORDS_PER_MINUTE = 100  # the instructor explains and the room reads the Markdown
MINUTES_PER_CODE_CELL = 1  # run it, read its output
MINUTES_PER_EXERCISE = 5  # try, check, hint, discuss
RUN_SHARE, RUN_CAP = 0.5, 20  # waiting on the full profile: half its run time (the rest overlaps the talk), at most 20


def notebook_size(nb: syl.Notebook) -> tuple[int, int]:
    """(words of Markdown, code cells) of a notebook's file."""
    import nbformat

    cells = nbformat.read(nb.path, as_version=4).cells
    words = sum(len(re.findall(r"\w+", c.source)) for c in cells if c.cell_type == "markdown")
    return words, sum(c.cell_type == "code" for c in cells)


def exercise_counts(course: syl.Syllabus) -> dict[str, int]:
    """Exercises per notebook id of this syllabus (from the exercise modules)."""
    from course.exercises import Exercise, modules

    ids = {nb.id for nb in course.notebooks}
    return {m.NOTEBOOK: sum(isinstance(v, Exercise) for v in vars(m).values()) for m in modules() if m.NOTEBOOK in ids}


def estimate(nb: syl.Notebook, exercises: int) -> int:
    """Teaching minutes by the rule: words / 100 + a minute per code cell + 5 per exercise + half the full run
    (at most 20), rounded to 5 minutes."""
    words, cells = notebook_size(nb)
    minutes = (words / WORDS_PER_MINUTE + cells * MINUTES_PER_CODE_CELL + exercises * MINUTES_PER_EXERCISE
               + min(RUN_CAP, RUN_SHARE * nb.full.minutes))
    return max(5, 5 * round(minutes / 5))


def teach_minutes(course: syl.Syllabus) -> dict[str, tuple[int, str]]:
    """{notebook id: (minutes, "syllabus" or "rule")}: the syllabus figure, else the rule's estimate."""
    counts = exercise_counts(course) if any(nb.teach_minutes is None for nb in course.notebooks) else {}
    return {nb.id: (int(nb.teach_minutes), "syllabus") if nb.teach_minutes is not None
            else (estimate(nb, counts.get(nb.id, 0)), "rule") for nb in course.notebooks}


# ---- tracks -------------------------------------------------------------------------------------------------------
DAY_MINUTES = 360  # six hours of teaching: 9:00 to about 16:45 with lunch and two coffee breaks
ONE_DAY = ("00a", "03a", "06a", "07a")  # from "what is in my machine" to fine-tuning a 7B model with QLoRA


def _by_prefix(course: syl.Syllabus, prefix: str) -> syl.Notebook:
    return next(nb for nb in course.notebooks if nb.id.split("-")[0] == prefix)


def five_days(course: syl.Syllabus, minutes: dict[str, tuple[int, str]], days: int = 5) -> list[list[syl.Notebook]]:
    """The course weeks in order, split into ``days`` days so that the longest day is as short as it can be."""
    core = [nb for nb in course.notebooks if not nb.is_extra]
    m = [minutes[nb.id][0] for nb in core]
    best: dict[tuple[int, int], tuple[int, list[int]]] = {}  # (start, days left) -> (longest day, cut points)

    def split(start: int, left: int) -> tuple[int, list[int]]:
        if left == 1 or start == len(core):
            return sum(m[start:]), []
        if (start, left) not in best:
            best[start, left] = min((max(sum(m[start:cut]), split(cut, left - 1)[0]), [cut, *split(cut, left - 1)[1]])
                                    for cut in range(start + 1, len(core) + 1))
        return best[start, left]

    cuts = [0, *split(0, days)[1]]
    cuts += [len(core)] * (days + 1 - len(cuts))
    return [core[a:b] for a, b in zip(cuts, cuts[1:])]


def _hours(m: int) -> str:
    return f"{m // 60} h {m % 60:02d}"


def _rows(nbs: list[syl.Notebook], minutes: dict[str, tuple[int, str]]) -> list[str]:
    rows = ["| notebook | teaching minutes | full profile needs |", "|---|---|---|"]
    for nb in nbs:
        m, source = minutes[nb.id]
        needs = ", ".join(nb.needs) or "a CPU"
        rows.append(f"| `{nb.id}` {nb.title} | {m}{'' if source == 'syllabus' else ' (rule)'} | "
                    + (f"{needs}; {nb.full.vram_gb:g} GB VRAM |" if nb.full.vram_gb else f"{needs} |"))
    return rows


def tracks_md(course: syl.Syllabus) -> str:
    """The one-day and five-day tracks, with teaching minutes per notebook."""
    minutes = teach_minutes(course)
    one = [_by_prefix(course, p) for p in ONE_DAY]
    out = ["### One day: from your GPU to QLoRA", "",
           f"{_hours(sum(minutes[nb.id][0] for nb in one))} of teaching (of a {_hours(DAY_MINUTES)} day; the rest is "
           "for set-up problems and questions). Participants without a GPU follow in the smoke profile or on Colab.",
           "", *_rows(one, minutes), "", "### Five days: the whole course", ""]
    for i, day in enumerate(five_days(course, minutes), 1):
        total = sum(minutes[nb.id][0] for nb in day)
        room = DAY_MINUTES - total
        left = f"; {room} min left for questions or an extra" if room >= 30 else "" if room >= 0 else \
            f"; {-room} min over a {_hours(DAY_MINUTES)} day: move a notebook or set one as homework"
        out += [f"**Day {i}** ({_hours(total)} of teaching{left})", "", *_rows(day, minutes), ""]
    extras = [nb for nb in course.notebooks if nb.is_extra]
    out += ["**The extras**, for the time left on any day, or as follow-ups (each needs the weeks it names as "
            "prerequisites):", "", *_rows(extras, minutes), ""]
    out.append(f"Teaching minutes are estimates for a room: the syllabus `teach_minutes` where set, else the rule "
               f"(rule): Markdown words / {WORDS_PER_MINUTE} + {MINUTES_PER_CODE_CELL} min per code cell + "
               f"{MINUTES_PER_EXERCISE} min per exercise + half the full profile's run time (at most {RUN_CAP} min).")
    return "\n".join(out)


def fetch_md(course: syl.Syllabus) -> str:
    """What each track downloads on the reference card, on a laptop without a GPU, and for every rung."""
    def size(notebooks: list[syl.Notebook], free: float | None, all_rungs: bool = False) -> str:
        specs = {d for nb in notebooks for d in ladders.downloads_for(nb.id, nb.downloads, free, all_rungs)}
        return table.human(sum(table.recorded_bytes(d) or 0 for d in specs))

    one, every = [_by_prefix(course, p) for p in ONE_DAY], list(course.notebooks)
    rows = ["| track (recorded sizes) | command | a 12 GB card | no GPU (`--vram 0`) | every rung (`--all-rungs`) |",
            "|---|---|---|---|---|"]
    for name, nbs, selector in (("one day", one, " ".join(ONE_DAY)), ("five days", every, "all")):
        rows.append(f"| {name} | `python -m course fetch {selector}` | {size(nbs, ladders.REFERENCE_FREE_GIB)} | "
                    f"{size(nbs, None)} | {size(nbs, None, True)} |")
    return "\n".join(rows)


# ---- troubleshooting: the doctor's own checks on made-up machines ----------------------------------------------
def _desktop(**changes: object) -> Facts:
    facts = Facts(system="Linux", kernel="6.8.0-49-generic", device="cuda", torch_version="2.14.1+cu130",
                  torchvision_version="0.29.1", torch_cuda="13.0", cuda_available=True, nvidia=True,
                  driver_version="580.95.05", driver_cuda="13.0", gpu_name="NVIDIA GeForce RTX 4070 Ti",
                  capability=(8, 9), vram_total_gib=11.99, vram_free_gib=11.6, processes=[], bnb_version="0.50.2")
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


# One machine per check of helpers.diagnose.CHECKS (a test checks that each check has one and that it fires).
SCENARIOS: dict[str, tuple[str, Facts]] = {
    "check_driver": ("The driver is too old for this PyTorch", _desktop(
        driver_version="550.120", driver_cuda="12.4", cuda_available=False)),
    "check_cpu_only_torch": ("PyTorch cannot see the NVIDIA GPU: a CPU-only build", _desktop(
        torch_version="2.14.1+cpu", torch_cuda=None, cuda_available=False, device="cpu")),
    "check_cuda_unusable": ("The GPU is hidden from PyTorch", _desktop(
        cuda_available=False, device="cpu", env={"CUDA_VISIBLE_DEVICES": ""})),
    "check_arch": ("PyTorch has no kernels for this (older) GPU", _desktop(
        gpu_name="NVIDIA GeForce GTX 1080 Ti", capability=(6, 1))),
    "check_vram_in_use": ("Other programs hold the VRAM", _desktop(
        vram_free_gib=9.6, processes=[Process(4242, "firefox", 1.5), Process(1707, "Xorg", 0.8)])),
    "check_bitsandbytes": ("4-bit models fail: bitsandbytes cannot run on the GPU", _desktop(
        bnb_tested=True, bnb_error="libbitsandbytes_cuda130.so: cannot open shared object file")),
    "check_wsl": ("WSL2: the GPU is shared with Windows", _desktop(kernel="5.15.153.1-microsoft-standard-WSL2")),
    "check_windows": ("Native Windows", _desktop(system="Windows", kernel="10")),
}


def _finding_md(title: str, f: diagnose.Finding) -> list[str]:
    return [f"### {title} (`{f.id}`, {f.severity})", "", f"**The doctor says:** {f.message}", "",
            f"**Why it matters:** {f.why}", "", f"**Fix:** {f.fix}", ""]


def _download_messages() -> list[tuple[str, str]]:
    """What a notebook's first cell says offline about a model that is not here, and about one cut short."""
    import json

    spec = "hf-model:openai-community/gpt2"
    saved = {k: os.environ.get(k) for k in ("HF_HUB_CACHE", "HF_HUB_OFFLINE")}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            os.environ.update(HF_HUB_CACHE=tmp, HF_HUB_OFFLINE="1")
            absent = ready.hub_problem(spec)
            snap = Path(tmp, "models--openai-community--gpt2", "snapshots", "0" * 40)
            snap.mkdir(parents=True)
            (snap.parents[1] / "refs").mkdir()
            (snap.parents[1] / "refs" / "main").write_text("0" * 40)
            header = json.dumps({"w": {"dtype": "F32", "shape": [250], "data_offsets": [0, 1000]}}).encode()
            (snap / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(400))
            for name in ("config.json", "tokenizer.json"):
                (snap / name).write_text("{}")
            cut = ready.hub_problem(spec)
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return [("A model is not in the cache, and the notebook runs offline", absent or ""),
            ("A model is in the cache but cut short (an interrupted download or copy)", cut or "")]


def troubleshooting_md() -> str:
    """Every finding the doctor can report, as a learner would see it, with its fix; then the notebooks' own stops."""
    from course.commands.doctor import DISK_VARS, DiskPlace, check_disk

    out = ["# Troubleshooting", "",
           "Generated by `python -m course.guide` from the checks `python -m course doctor` runs (`helpers/diagnose.py`,"
           " `helpers/ready.py`): each entry is what the doctor prints on such a machine. Do not edit it by hand.", "",
           "First step, always: `python -m course doctor` (or `--json --name YOU > YOU.json` for the instructor).", "",
           "## The GPU and its software", ""]
    for name, (title, facts) in SCENARIOS.items():
        check = next(c for c in diagnose.CHECKS if c.__name__ == name)
        out += _finding_md(title, check(facts))
    disk = check_disk([DiskPlace("Hugging Face cache", "/home/you/.cache/huggingface/hub", 6.2, 14.5, 1),
                       DiskPlace("course data", "/home/you/.cache/dl12gb", 6.2, 0.4, 1)], DISK_VARS)
    out += ["## Disk and downloads", "", *_finding_md("Not enough disk for the downloads", disk)]
    for title, message in _download_messages():
        out += [f"### {title}", "", f"**The notebook says:** {message}", "",
                "**Fix:** online, `python -m course fetch` with the notebook's id (it resumes); offline, copy a "
                "fetched cache from another machine (docs/PARTICIPANTS.md). `python -m course fetch --verify` "
                "checks every file.", ""]
    vram = diagnose.vram_problem(9.1, _desktop(vram_free_gib=7.8, processes=[Process(4242, "firefox", 3.9)]),
                                 "07a-lora-and-qlora")
    out += ["## Memory", "", "### Not enough free VRAM when the notebook starts", "",
            f"**The notebook says:** {vram}.", "",
            "**Fix:** close what the message names; `nvidia-smi` lists every program on the GPU.", ""]
    return "\n".join(out).rstrip() + "\n"


# ---- licences -------------------------------------------------------------------------------------------------------
def licences_md(course: syl.Syllabus) -> str:
    """The table of each download's licence and whether a copy may go on a USB stick."""
    loads = {nb.id: ladders.downloads_for(nb.id, nb.downloads, None, all_rungs=True) for nb in course.notebooks}
    used = list(dict.fromkeys(d for nb in course.notebooks for d in loads[nb.id]))
    rows = ["| download | what | size | licence | on a USB stick? | used by |", "|---|---|---|---|---|---|"]
    for spec in used:
        d = table.DOWNLOADS.get(spec)
        users = ", ".join(nb.id.split("-")[0] for nb in course.notebooks if spec in loads[nb.id])
        if d is None:
            rows.append(f"| `{spec}` | not in course/downloads.py yet | ? | check its page | check first | {users} |")
            continue
        note = f" {d.note[0].upper()}{d.note[1:]}." if d.note else ""
        rows.append(f"| [`{spec}`]({d.url}) | {d.what} | {table.human(d.bytes)} | {d.licence} | "
                    f"{table.USB[d.usb]}.{note} | {users} |")
    return "\n".join([
        "# Licences", "",
        "Generated by `python -m course.guide` from `course/downloads.py`. Do not edit it by hand.", "",
        "## The course", "",
        "- Code (Python in `helpers/`, `course/`, `tests/`, `benchmarks/`, and the code cells of the notebooks): "
        "MIT, see `LICENSE`.",
        "- Prose and figures (the notebooks' Markdown, the images the notebooks draw, `docs/`, the README): "
        "Creative Commons Attribution 4.0 (CC BY 4.0), see `LICENSE`. Reuse them, with credit to "
        "\"Deep Learning on 12 GB\" and a link to the repository.",
        "- Data that ships with the course (`helpers/coursedata/`): `helpers/coursedata/README.md` gives each "
        "file's source and licence (`titanic.csv` is derived from GPL-2+ R data sets).", "",
        "## What the full profile downloads", "",
        "Transcribed from each card into `course/downloads.py` (sizes marked \"~\" by `course fetch --dry-run` until "
        "it asks the Hub); licences change, so read the card (linked) before handing out copies. Every rung of every "
        "ladder is listed: a smaller card or a laptop loads a smaller model. \"On a USB stick\" answers whether an instructor may give participants a "
        "pre-fetched copy (`python -m course fetch`, then copy `HF_HOME` and `COURSE_DATA_DIR`).", "", *rows, ""])


# ---- writing docs ---------------------------------------------------------------------------------------------------
def _blocks(course: syl.Syllabus) -> dict[str, str]:
    return {"TRACKS": tracks_md(course), "FETCH": fetch_md(course)}


def render(course: syl.Syllabus) -> dict[Path, str]:
    """{docs file: its text as it should be}."""
    pages = {DOCS / "TROUBLESHOOTING.md": troubleshooting_md(), DOCS / "LICENCES.md": licences_md(course)}
    blocks = _blocks(course)
    for name in ("INSTRUCTORS.md", "PARTICIPANTS.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        for key, body in blocks.items():
            text = re.sub(rf"(<!-- BEGIN {key} -->\n).*?(<!-- END {key} -->)",
                          lambda m, body=body: m[1] + body + "\n" + m[2], text, flags=re.S)
        pages[DOCS / name] = text
    return pages


def main(argv: list[str] | None = None) -> int:
    """Write the generated docs, or with --check say which are stale (exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m course.guide", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated doc is stale; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render(syl.load()).items():
        if (path.read_text(encoding="utf-8") if path.exists() else None) != text:
            stale.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"stale: {', '.join(str(p.relative_to(syl.REPO_ROOT)) for p in stale)}: run `python -m course.guide`",
              file=sys.stderr)
        return 1
    print("wrote " + ", ".join(str(p.relative_to(syl.REPO_ROOT)) for p in stale) if stale else "docs are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
