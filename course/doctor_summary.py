"""``python -m course doctor --summarise REPORT.json ...``: a room's doctor reports as one who-can-run-what table.

Each participant runs ``python -m course doctor --json --name NAME > NAME.json`` and hands the file in; this turns
the files into one table (a row per machine: its GPU, free VRAM, downloads complete, what to fix, and ok / -- for
each notebook's full profile) and a count per notebook, printed, and written as CSV (``--csv``) or as a page that
opens from disk (``--html``). A file that is not such a report gets one line saying why, and the exit code is 2.
"""

from __future__ import annotations

import csv
import html
import json
import sys
from pathlib import Path
from typing import Any

from course import syllabus as syl
from course.errors import CourseError, read_text

REPORT_KIND = "dl12gb-doctor-report"  # what a `course doctor --json` report says it is
REPORT_VERSION = 2  # 2: name, time, course version and downloads added (version 1 reports are read too)


def read_report(path: Path) -> dict[str, Any]:
    """One report, checked; raise CourseError naming the file and what is wrong with it."""
    text = read_text(path, "report")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CourseError(f"{path}: not JSON ({err.msg} at line {err.lineno}): was it saved from "
                          "`python -m course doctor --json`?") from None
    if not isinstance(data, dict) or not isinstance(data.get("notebooks"), list) or "machine" not in data:
        raise CourseError(f"{path}: not a `python -m course doctor --json` report (no machine and notebooks)")
    if data.get("kind", REPORT_KIND) != REPORT_KIND:
        raise CourseError(f"{path}: a {data.get('kind')!r} file, not a `course doctor --json` report")
    if not all(isinstance(v, dict) and isinstance(v.get("notebook"), str) and isinstance(v.get("full_ok"), bool)
               for v in data["notebooks"]):
        raise CourseError(f"{path}: its notebooks list is damaged (each needs notebook and full_ok)")
    verdicts = {v["notebook"]: v for v in data["notebooks"]}
    data["_verdicts"], data["_file"] = verdicts, str(path)
    data.setdefault("name", path.stem)
    return data


def _gpu(report: dict[str, Any]) -> tuple[str, str]:
    m = report.get("machine") or {}
    if m.get("device") != "cuda":
        return ("Apple GPU" if m.get("device") == "mps" else "CPU only"), "-"
    free, total = m.get("vram_free_gib"), m.get("vram_total_gib")
    name = (m.get("gpu_name") or "GPU").replace("NVIDIA ", "").replace("GeForce ", "")
    return name, (f"{free:.1f}/{total:.1f}" if free is not None and total else "?")


def _downloads(report: dict[str, Any]) -> str:
    rows = report.get("downloads")
    return f"{sum(bool(d.get('complete')) for d in rows)}/{len(rows)}" if isinstance(rows, list) else "?"


def _fix(report: dict[str, Any]) -> str:
    return ", ".join(f.get("id", "?") for f in report.get("findings") or [] if f.get("severity") in ("error", "warning"))


def table(reports: list[dict[str, Any]], notebooks: list[str]) -> list[dict[str, Any]]:
    """One row per machine: name, GPU, VRAM free/total, downloads complete, what to fix, and each notebook's verdict."""
    rows = []
    for r in reports:
        gpu, vram = _gpu(r)
        row = {"name": r["name"], "gpu": gpu, "vram_free_total_gib": vram, "downloads_complete": _downloads(r),
               "to_fix": _fix(r), "course_version": r.get("course_version", "?"), "time": r.get("time", "?")}
        for nb in notebooks:
            v = r["_verdicts"].get(nb)
            row[nb] = "" if v is None else "yes" if v["full_ok"] else "no"
            row[f"{nb} why"] = "" if v is None else v.get("reason", "")
        rows.append(row)
    return rows


def _short(nb_id: str) -> str:
    return nb_id.split("-", 1)[0]


def show(rows: list[dict[str, Any]], notebooks: list[str]) -> None:
    """Print the table and, per notebook, how many machines can run its full profile and who cannot."""
    mark = {"yes": "ok", "no": "--", "": " ."}
    head = ["name", "GPU", "VRAM free/total", "downloads", "to fix"]
    cells = [[r["name"], r["gpu"], r["vram_free_total_gib"], r["downloads_complete"], r["to_fix"] or "-"] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(head, widths, strict=True))
    print(line + "  " + " ".join(f"{_short(nb):>4}" for nb in notebooks))
    for r, c in zip(rows, cells, strict=True):
        print("  ".join(f"{x:<{w}}" for x, w in zip(c, widths, strict=True)) + "  "
              + " ".join(f"{mark[r[nb]]:>4}" for nb in notebooks))
    print("\nok: runs its full profile there; --: it does not (the smoke profile runs everywhere); .: not in that report")
    print("\nnotebook  full profile possible on")
    for nb in notebooks:
        yes = [r["name"] for r in rows if r[nb] == "yes"]
        no = [r["name"] for r in rows if r[nb] == "no"]
        print(f"{_short(nb):<8}  {len(yes)} of {len(yes) + len(no)}" + (f"; not on: {', '.join(no)}" if no else ""))
    versions = sorted({r["course_version"] for r in rows})
    if len(versions) > 1:
        print(f"\nnote: the reports come from course versions {', '.join(versions)}: ask everyone to update first")


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """The table as CSV: a row per machine, a yes/no column and a reason column per notebook."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_html(path: Path, rows: list[dict[str, Any]], notebooks: list[str], title: str) -> None:
    """The table as one page that opens from disk: green/red cells, the reason on hover, a count per notebook."""
    e = html.escape
    head = "".join(f"<th title='{e(nb)}'>{e(_short(nb))}</th>" for nb in notebooks)
    body = []
    for r in rows:
        cells = "".join(f"<td class='{r[nb] or 'none'}' title='{e(r[nb + ' why'])}'>"
                        f"{ {'yes': 'ok', 'no': '--'}.get(r[nb], '.')}</td>" for nb in notebooks)
        body.append(f"<tr><th>{e(r['name'])}</th><td>{e(r['gpu'])}</td><td>{e(r['vram_free_total_gib'])}</td>"
                    f"<td>{e(r['downloads_complete'])}</td><td>{e(r['to_fix'] or '-')}</td>{cells}</tr>")
    counts = "".join(f"<td>{sum(r[nb] == 'yes' for r in rows)}/{sum(bool(r[nb]) for r in rows)}</td>" for nb in notebooks)
    path.write_text(f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body {{ font: 14px system-ui, sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: .25em .5em; text-align: left; }} td.yes {{ background: #c8e6c9; }}
td.no {{ background: #ffcdd2; }} td.none {{ color: #999; }}</style></head><body>
<h1>{e(title)}</h1><p>{len(rows)} machines. ok: the notebook's full profile runs there; --: it does not (hover for
why; the smoke profile runs everywhere).</p>
<table><tr><th>name</th><th>GPU</th><th>VRAM free/total GiB</th><th>downloads complete</th><th>to fix</th>{head}</tr>
{"".join(body)}<tr><th colspan="5">machines that can run it</th>{counts}</tr></table></body></html>
""", encoding="utf-8")


def main(files: list[str], syllabus_path: str | None, csv_out: str | None = None, html_out: str | None = None) -> int:
    """Read every report (one line per bad file), print the room's table, write CSV/HTML; exit 2 if a file was bad."""
    course = syl.load(syllabus_path)
    reports, bad = [], []
    for name in files:
        try:
            reports.append(read_report(Path(name)))
        except CourseError as err:
            bad.append(str(err))
    seen: dict[str, int] = {}
    for r in reports:  # two reports with one name (two machines called "laptop"): tell them apart by file
        seen[r["name"]] = seen.get(r["name"], 0) + 1
    for r in reports:
        if seen[r["name"]] > 1:
            r["name"] = f"{r['name']} ({Path(r['_file']).name})"
    if reports:
        ids = [nb.id for nb in course.notebooks]
        extra = sorted({nb for r in reports for nb in r["_verdicts"]} - set(ids))
        notebooks = ids + extra
        rows = table(reports, notebooks)
        show(rows, notebooks)
        if csv_out:
            write_csv(Path(csv_out), rows)
            print(f"\nwrote {csv_out}")
        if html_out:
            write_html(Path(html_out), rows, notebooks, f"{course.title}: who can run what")
            print(f"wrote {html_out}")
    for line in bad:
        sys.stderr.write(f"error: {line}\n")
    if not reports and not bad:
        sys.stderr.write("error: no reports given\n")
    return 2 if bad or not reports else 0
