"""``python -m course handouts``: participants' handouts (HTML that opens from disk, and one PDF) from executed runs.

It reads folders written by ``python -m course run`` (executed ``.ipynb`` files and ``summary.json``; with several
``--from`` a later folder wins for a notebook in both, so the weeks that run in full on a CPU can come from a full
run and the rest from a smoke run) and writes, for the notebooks selected with ``--only`` (default: every one):
``index.html`` (generated from the syllabus: weeks, objectives, time and VRAM per profile, which profile each page
shows), one page per notebook with previous/next links, ``handouts.html`` (the selection on one page) and, when
Chromium is installed, ``handouts.pdf``, printed from it with an outline entry per notebook. Pages are the
participant's copy: the runner's machinery is left out and stand-in outputs are marked (``course.handouts_page``).
Images are embedded, widgets drawn as plain HTML, formulas written as MathML: nothing is fetched from the web.

``make handouts`` builds them here (smoke, except the CPU weeks, run in full); ``make handouts PROFILE=full`` on a
GPU machine builds them with every notebook's real outputs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from course import syllabus as syl
from course.chromium import chromium_path, print_pdfs
from course.errors import CourseError
from course.handouts_page import Entry, html_exporter, render_all, render_index, render_page

MARKER = ".dl12gb-handouts"
PLOTS = re.compile(r"plt\.|\.plot\(|\bplots\.")  # notebooks that draw something
EMBEDDED_IMAGE = re.compile(r'<img[^>]+src="data:image/')
PDF = "handouts.pdf"
COMBINED = "handouts.html"


def read_runs(run_dirs: list[Path], notebooks: list[syl.Notebook]) -> list[Entry]:
    """One Entry per selected notebook, in course order, from the last run folder that has it (missing ones too)."""
    entries = {nb.id: Entry(nb) for nb in notebooks}
    for run_dir in run_dirs:
        summary_file = run_dir / "summary.json"
        if not summary_file.is_file():
            raise CourseError(f"No summary.json in {run_dir}: execute the notebooks first, e.g. "
                              f"`python -m course run all --profile smoke --out {run_dir}`, then pass --from {run_dir}.")
        try:
            summary = json.loads(summary_file.read_text(encoding="utf-8"))
            results = {r["notebook"]: r for r in summary.get("results", []) if r.get("run", 1) == 1}
            profile = str(summary.get("profile", "?"))
        except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as err:
            raise CourseError(f"{summary_file} is not a summary written by `course run` ({err}); run it again.") from None
        for nb in notebooks:
            executed = run_dir / f"{nb.id}.ipynb"
            if not executed.is_file():
                continue
            res = results.get(nb.id) or {"status": "error", "message": "the run left this notebook without a result"}
            entry = Entry(nb, status=res.get("status", "error"), seconds=res.get("seconds"),
                          message=res.get("message", ""), memory=res.get("memory") or {},
                          checks=res.get("checks") or [], executed=executed, profile=profile)
            entries[nb.id] = entry
    return list(entries.values())


def _prepare_out(out: Path) -> None:
    """Create the output folder, or clear the files a previous build left there; never anything else."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise CourseError(f"{out} already exists and was not made by `course handouts`; "
                          "pass an empty or new folder with --out.")
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("*.html")) + list(out.glob("*.pdf")):
        old.unlink()
    (out / MARKER).write_text("built by `python -m course handouts`; rebuilding replaces the .html and .pdf here\n")


def build(run_dirs: Path | str | list[Path | str], out: Path | str, course: syl.Syllabus | None = None,
          pdf: bool = True, only: list[str] | None = None) -> dict[str, Any]:
    """Write the site for the selection; return what was written and which notebooks are missing or had problems."""
    from tqdm.auto import tqdm

    dirs = [Path(d) for d in (run_dirs if isinstance(run_dirs, list) else [run_dirs])]
    out = Path(out)
    course = course or syl.load()
    entries = read_runs(dirs, syl.select(course, only or ["all"]))
    _prepare_out(out)
    exporter = html_exporter()
    shown = [e for e in entries if e.page]
    no_plots = []
    for i, entry in enumerate(tqdm(shown, desc="pages", unit="notebook", file=sys.stderr, disable=None)):
        text = render_page(entry, shown[i - 1] if i else None, shown[i + 1] if i + 1 < len(shown) else None, exporter)
        if not EMBEDDED_IMAGE.search(text) and PLOTS.search(entry.executed.read_text(encoding="utf-8")):
            no_plots.append(entry.nb.id)
        (out / entry.page).write_text(text, encoding="utf-8")
    combined = pdf_name = None
    note = ""
    if shown:
        combined = COMBINED
        (out / combined).write_text(render_all(f"{course.title}: handouts", shown, exporter), encoding="utf-8")
        chromium = chromium_path()
        if pdf and chromium:
            pdf_name = print_pdfs(out, {"handouts": out / combined}, chromium)["handouts"]
        elif pdf:
            note = ("No PDF: Chromium is not installed (on Debian/Ubuntu: `sudo apt-get install chromium`; or set "
                    "COURSE_CHROMIUM to a Chromium binary). The HTML pages are complete without it.")
    (out / "index.html").write_text(render_index(course, entries, pdf_name, combined), encoding="utf-8")
    if no_plots:
        note += (f"\nNo plots in {', '.join(no_plots)}, though they draw some: the run was probably made with "
                 "MPLBACKEND=Agg set, which stops the kernel drawing inline. Run `course run` again without it.")
    return {"index": out / "index.html", "pages": [out / e.page for e in shown],
            "combined": out / combined if combined else None, "pdf": out / pdf_name if pdf_name else None,
            "missing": [e.nb.id for e in entries if e.status == "missing"],
            "problems": [e.nb.id for e in entries if e.status not in ("passed", "missing")], "note": note.strip()}


def main(args: argparse.Namespace) -> int:
    """CLI entry: build the site and say where it is and what is missing from it."""
    course = syl.load(args.syllabus)
    site = build(args.run_dirs or [".course-runs/latest"], args.out, course, pdf=not args.no_pdf, only=args.only)
    print(f"Handouts: {len(site['pages'])} notebook pages" + (", one PDF" if site["pdf"] else "")
          + f".\nOpen {site['index'].resolve().as_uri()}")
    if site["missing"]:
        print(f"Not in the run(s), listed on the index as not built: {', '.join(site['missing'])}")
    if site["problems"]:
        print(f"Did not pass in the run (their pages say where they stopped): {', '.join(site['problems'])}")
    if site["note"]:
        print(site["note"], file=sys.stderr)
    return 0
