"""``python -m course handouts``: a static site (HTML, and a PDF per week) from executed notebooks.

It reads a folder written by ``python -m course run`` (executed ``.ipynb`` files and
``summary.json``) and writes ``index.html`` (generated from the syllabus: weeks, objectives,
time and VRAM per profile, and how each notebook fared in the run), one page per notebook with
its outputs and plots inline and previous/next links, one page per week, and, when Chromium is
installed, that week page printed to PDF. Every page works opened straight from disk: images are
embedded, widgets are drawn as plain HTML, formulas are written as MathML at build time, and no
script or style is fetched from the web.
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
from course.handouts_page import Entry, html_exporter, render_index, render_page, render_week, week_key

MARKER = ".dl12gb-handouts"
PLOTS = re.compile(r"plt\.|\.plot\(|\bplots\.")  # notebooks that draw something
EMBEDDED_IMAGE = re.compile(r'<img[^>]+src="data:image/')


def read_run(run_dir: Path, course: syl.Syllabus) -> tuple[dict[str, Any], list[Entry]]:
    """The run's summary and one Entry per syllabus notebook, in course order (missing ones included)."""
    summary_file = run_dir / "summary.json"
    if not summary_file.is_file():
        raise CourseError(f"No summary.json in {run_dir}: execute the notebooks first, e.g. "
                          f"`python -m course run all --profile smoke --out {run_dir}`, then pass --from {run_dir}.")
    try:
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        results = {r["notebook"]: r for r in summary.get("results", []) if r.get("run", 1) == 1}
    except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as err:
        raise CourseError(f"{summary_file} is not a summary written by `course run` ({err}); run it again.") from None
    entries = []
    for nb in course.notebooks:
        entry = Entry(nb)
        res = results.get(nb.id)
        if res is not None:
            entry.status = res.get("status", "error")
            entry.seconds, entry.message = res.get("seconds"), res.get("message", "")
            entry.memory, entry.checks = res.get("memory") or {}, res.get("checks") or []
        executed = run_dir / f"{nb.id}.ipynb"
        if executed.is_file():
            entry.executed = executed
            if res is None:  # an executed file with no result: the run was cut short
                entry.status, entry.message = "error", "the run left this notebook without a result"
        entries.append(entry)
    return summary, entries


def _prepare_out(out: Path) -> None:
    """Create the output folder, or clear the files a previous build left there; never anything else."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise CourseError(f"{out} already exists and was not made by `course handouts`; "
                          "pass an empty or new folder with --out.")
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("*.html")) + list(out.glob("*.pdf")):
        old.unlink()
    (out / MARKER).write_text("built by `python -m course handouts`; rebuilding replaces the .html and .pdf here\n")


def build(run_dir: Path | str, out: Path | str, course: syl.Syllabus | None = None,
          pdf: bool = True) -> dict[str, Any]:
    """Write the site; return what was written (pages, week pages, PDFs) and which notebooks are missing."""
    from tqdm.auto import tqdm

    run_dir, out = Path(run_dir), Path(out)
    course = course or syl.load()
    summary, entries = read_run(run_dir, course)
    _prepare_out(out)
    exporter = html_exporter()
    shown = [e for e in entries if e.page]
    profile = str(summary.get("profile", "?"))
    no_plots = []
    for i, entry in enumerate(tqdm(shown, desc="pages", unit="notebook", file=sys.stderr, disable=None)):
        text = render_page(entry, profile, shown[i - 1] if i else None, shown[i + 1] if i + 1 < len(shown) else None,
                           exporter)
        if not EMBEDDED_IMAGE.search(text) and PLOTS.search(entry.executed.read_text(encoding="utf-8")):
            no_plots.append(entry.nb.id)
        (out / entry.page).write_text(text, encoding="utf-8")
    weeks: dict[str, Path] = {}
    for week in course.weeks():
        week_entries = [e for e in shown if e.nb.week == week]
        if week_entries:
            key = week_key(week)
            label = "Extras" if week == "extras" else f"Week {week}"
            weeks[key] = out / f"{key}.html"
            weeks[key].write_text(render_week(f"{course.title}: {label}", week_entries, profile,
                                                    exporter), encoding="utf-8")
    pdfs: dict[str, str] = {}
    chromium = chromium_path()
    pdf_note = ""
    if pdf and weeks and chromium:
        pdfs = print_pdfs(out, weeks, chromium)
    elif pdf and weeks:
        pdf_note = ("No PDFs: Chromium is not installed (on Debian/Ubuntu: `sudo apt-get install chromium`; "
                    "or set COURSE_CHROMIUM to a Chromium binary). The HTML pages are complete without it.")
    (out / "index.html").write_text(render_index(course, summary, entries, run_dir, pdfs), encoding="utf-8")
    if no_plots:
        pdf_note += (f"\nNo plots in {', '.join(no_plots)}, though they draw some: the run was probably made with "
                     "MPLBACKEND=Agg set, which stops the kernel drawing inline. Run `course run` again without it.")
    return {"index": out / "index.html", "pages": [out / e.page for e in shown], "weeks": list(weeks.values()),
            "pdfs": [out / p for p in pdfs.values()], "missing": [e.nb.id for e in entries if e.status == "missing"],
            "problems": [e.nb.id for e in entries if e.status not in ("passed", "missing")], "note": pdf_note.strip()}


def main(args: argparse.Namespace) -> int:
    """CLI entry: build the site and say where it is and what is missing from it."""
    course = syl.load(args.syllabus)
    site = build(args.run_dir, args.out, course)
    print(f"Handouts: {len(site['pages'])} notebook pages, {len(site['weeks'])} week pages, "
          f"{len(site['pdfs'])} PDFs.\nOpen {site['index'].resolve().as_uri()}")
    if site["missing"]:
        print(f"Not in this run (listed on the index as such): {', '.join(site['missing'])}")
    if site["problems"]:
        print(f"Did not pass in this run (their pages show where they stopped): {', '.join(site['problems'])}")
    if site["note"]:
        print(site["note"], file=sys.stderr)
    return 0
