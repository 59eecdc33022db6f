"""The handouts' pages: nbconvert template, style sheets, widgets drawn as HTML, and the HTML of each page.

``course.commands.handouts`` decides what to build; this module writes one notebook's page, one week's page and
the contents page.
"""

from __future__ import annotations

import copy
import html
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course import syllabus as syl
from course.mathml import restore

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
STATUS_TEXT = {"passed": "passed", "failed": "missed a threshold", "error": "stopped with an error",
               "timeout": "timed out", "missing": "not in this run"}
BADGE = re.compile(r"\[!\[([^\]]*)\]\([^)\s]*badge[^)\s]*\.svg\)\]\(([^)\s]+)\)")  # [![alt](..badge.svg)](url)
BAR_COLOURS = {"success": "#4caf50", "danger": "#f44336", "warning": "#ff9800", "info": "#00bcd4"}

# A page = nbconvert's "lab" template without its web scripts (require.js, MathJax, mermaid,
# the widget manager), plus our navigation and print rules.
PAGE_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}<style>{{ resources.handout_css }}</style>{%- endblock html_head_css -%}
{%- block body_header -%}{{ super() }}{{ resources.handout_top }}{%- endblock body_header -%}
{%- block body_footer -%}{{ resources.handout_bottom }}{{ super() }}{%- endblock body_footer -%}
"""

CSS = """
.handout-nav { display: flex; justify-content: space-between; gap: 1em; padding: .6em 1em;
  background: #f3f5f7; border: 1px solid #d8dde3; border-radius: 6px; margin: 1em 0; font: 14px sans-serif; }
.handout-nav a { text-decoration: none; color: #1565c0; }
a.handout-badge { display: inline-block; padding: .15em .6em; border-radius: 4px; background: #f9ab00;
  color: #202124; font: bold 13px sans-serif; text-decoration: none; }
.handout-banner { padding: .8em 1em; border-radius: 6px; margin: 1em 0; font: 14px sans-serif; }
.handout-banner.passed { background: #e8f5e9; border: 1px solid #a5d6a7; }
.handout-banner.problem { background: #ffebee; border: 1px solid #ef9a9a; }
.handout-bar { display: inline-block; width: 12em; height: 1.1em; background: #e0e0e0; vertical-align: middle; }
.handout-bar > span { display: block; height: 100%; background: #2196f3; }
.handout-widget { display: flex; gap: .6em; align-items: center; font: 13px sans-serif; }
.handout-week-break { break-before: page; }
@media print {
  .handout-nav { display: none; }
  pre { white-space: pre-wrap; overflow-wrap: anywhere; }
  .jp-Cell { break-inside: avoid-page; }
}
"""


@dataclass
class Entry:
    """One syllabus notebook and what the run made of it."""

    nb: syl.Notebook
    status: str = "missing"
    seconds: float | None = None
    message: str = ""
    memory: dict[str, float] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    executed: Path | None = None

    @property
    def page(self) -> str | None:
        """File name of its page, if the run left an executed notebook to show."""
        return f"{self.nb.id}.html" if self.executed else None


def _widget_html(state: dict[str, Any], model_id: str, depth: int = 0) -> str | None:
    """Static HTML for a saved ipywidgets model (boxes, progress bars, labels); None if unknown."""
    model = state.get(model_id.removeprefix("IPY_MODEL_"))
    if model is None or depth > 8:
        return None
    name, s = model.get("model_name", ""), model.get("state", {})
    desc = f"<span>{html.escape(str(s.get('description') or ''))}</span>" if s.get("description") else ""
    if name in ("HBoxModel", "VBoxModel", "BoxModel", "GridBoxModel"):
        parts = [_widget_html(state, child, depth + 1) for child in s.get("children", [])]
        column = ' style="flex-direction: column; align-items: flex-start"' if name == "VBoxModel" else ""
        return f'<div class="handout-widget"{column}>{"".join(p for p in parts if p)}</div>'
    if name in ("FloatProgressModel", "IntProgressModel"):
        low, high, value = float(s.get("min", 0)), float(s.get("max", 100)), float(s.get("value", 0))
        pct = 0.0 if high <= low else max(0.0, min(100.0, 100 * (value - low) / (high - low)))
        colour = BAR_COLOURS.get(s.get("bar_style") or "", "#2196f3")
        return (f'{desc}<span class="handout-bar" title="{value:g} of {high:g}">'
                f'<span style="width: {pct:.1f}%; background: {colour}"></span></span>')
    if name == "LabelModel":
        return f"{desc}<span>{html.escape(str(s.get('value', '')))}</span>"
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"{desc}<span>{s.get('value', '')}</span>"
    return None


def make_static(nb: Any) -> dict[str, str]:
    """Draw widgets as plain HTML and web images and badges as links, in place; formulas become tokens.

    Returns the formulas' MathML by token: pass the rendered HTML through ``mathml.restore`` with it.
    """
    from course.mathml import protect

    formulas: dict[str, str] = {}
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            # [![alt](badge.svg)](target) -> a styled link; ![alt](https://img) -> alt
            cell.source = BADGE.sub(r'<a class="handout-badge" href="\2">\1</a>', cell.source)
            cell.source = re.sub(r"!\[([^\]]*)\]\(https?://[^)\s]+[^)]*\)", r"\1", cell.source)
            cell.source = protect(cell.source, formulas)
            continue
        for out in cell.get("outputs", []):
            view = out.get("data", {}).pop(WIDGET_VIEW, None)
            if view is not None:
                static = _widget_html(state, view.get("model_id", ""))
                if static:
                    out["data"]["text/html"] = static
    nb.metadata.pop("widgets", None)
    return formulas


def html_exporter() -> Any:
    """nbconvert's HTML exporter with images embedded and no web scripts."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"handout.html.j2": PAGE_TEMPLATE})],
                            embed_images=True, theme="light")
    exporter.template_file = "handout.html.j2"
    return exporter


def _run_facts(entry: Entry) -> list[str]:
    """What the run measured: ['17.2 s', 'peak RAM 0.67 GB', ...]."""
    facts = [f"{entry.seconds:.1f} s"] if entry.seconds is not None else []
    for key, label in (("peak_rss_mb", "peak RAM"), ("peak_vram_mb", "peak VRAM")):
        if entry.memory.get(key):
            facts.append(f"{label} {entry.memory[key] / 1024:.2f} GB")
    return facts


def _run_line(entry: Entry, profile: str) -> str:
    """'passed in the smoke profile (17.2 s, peak RAM 0.67 GB)' and friends."""
    facts = _run_facts(entry)
    return (f"{STATUS_TEXT.get(entry.status, entry.status)} in the {profile} profile"
            + (f" ({', '.join(facts)})" if facts else ""))


def _nav(prev: Entry | None, nxt: Entry | None) -> str:
    def link(e: Entry | None, fmt: str) -> str:
        return fmt.format(e.page, html.escape(f"{e.nb.week_label} · {e.nb.title}")) if e else "<span></span>"
    back, forward = link(prev, '<a href="{}">← {}</a>'), link(nxt, '<a href="{}">{} →</a>')
    return f'<nav class="handout-nav">{back}<a href="index.html">Contents</a>{forward}</nav>'


def render_page(entry: Entry, profile: str, prev: Entry | None, nxt: Entry | None, exporter: Any) -> str:
    """One notebook's page: the executed notebook with navigation and how it ran."""
    import nbformat

    nb = nbformat.read(entry.executed, as_version=4)
    formulas = make_static(nb)
    kind = "passed" if entry.status == "passed" else "problem"
    detail = f": {html.escape(entry.message)}" if entry.message and kind == "problem" else ""
    banner = (f'<div class="handout-banner {kind}">This copy {html.escape(_run_line(entry, profile))}{detail}. '
              f'The notebook itself is <code>{html.escape(entry.nb.file)}</code>.</div>')
    nav = _nav(prev, nxt)
    resources = {"metadata": {"name": f"{entry.nb.week_label} · {entry.nb.title}", "path": str(entry.nb.path.parent)},
                 "handout_css": CSS, "handout_top": nav + banner, "handout_bottom": nav}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return restore(body, formulas)


def render_week(label: str, entries: list[Entry], profile: str, exporter: Any) -> str:
    """All of a week's executed notebooks on one page, each starting on a new printed page."""
    import nbformat

    merged = nbformat.v4.new_notebook()
    state: dict[str, Any] = {}
    for i, entry in enumerate(entries):
        nb = nbformat.read(entry.executed, as_version=4)
        state.update(nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {}))
        if i == 0:
            merged.metadata = copy.deepcopy(nb.metadata)
        else:
            merged.cells.append(nbformat.v4.new_markdown_cell('<div class="handout-week-break"></div>'))
        merged.cells.extend(nb.cells)
    merged.metadata["widgets"] = {WIDGET_STATE: {"state": state}}
    formulas = make_static(merged)
    nav = '<nav class="handout-nav"><a href="index.html">Contents</a></nav>'
    note = (f'<div class="handout-banner passed"><b>{html.escape(label)}</b>: {len(entries)} notebook(s) as executed '
            f'in the <b>{html.escape(profile)}</b> profile on {time.strftime("%Y-%m-%d")}'
            + (" (tiny models and stand-in data on a CPU; the full profile on a 12 GB GPU gives the real numbers)"
               if profile == "smoke" else "") + ".</div>")
    resources = {"metadata": {"name": label, "path": str(entries[0].nb.path.parent)},
                 "handout_css": CSS, "handout_top": nav + note, "handout_bottom": ""}
    body, _ = exporter.from_notebook_node(merged, resources=resources)
    return restore(body, formulas)


def week_key(week: int | str) -> str:
    return "extras" if week == "extras" else f"week-{int(week):02d}"


def render_index(course: syl.Syllabus, summary: dict[str, Any], entries: list[Entry], run_dir: Path,
                 pdfs: dict[str, str]) -> str:
    """The contents page: weeks, objectives, time and VRAM per profile, and this run's outcome."""
    profile = str(summary.get("profile", "?"))
    ran = [e for e in entries if e.status != "missing"]
    ok = [e for e in entries if e.status == "passed"]
    rows = []
    for week in course.weeks():
        week_entries = [e for e in entries if e.nb.week == week]
        label = "Extras" if week == "extras" else f"Week {week}"
        key = week_key(week)
        links = [f'<a href="{key}.html">whole week on one page</a>'] if any(e.page for e in week_entries) else []
        if key in pdfs:
            links.append(f'<a href="{pdfs[key]}">PDF</a>')
        rows.append(f'<h2 id="{key}">{label} <small>{" · ".join(links)}</small></h2>')
        rows.append('<table><colgroup><col style="width:19%"><col style="width:41%"><col style="width:11%">'
                    '<col style="width:13%"><col style="width:16%"></colgroup><tr><th>Notebook</th>'
                    '<th>You will</th><th>Smoke (CPU)</th><th>Full: time · peak VRAM</th><th>In this run</th></tr>')
        for e in week_entries:
            nb = e.nb
            title = html.escape(nb.title)
            name = f'<a href="{e.page}">{title}</a>' if e.page else f"{title}"
            name += f'<br><code>{html.escape(nb.id)}</code>'
            if course.repository:
                name += f'<br><small><a href="{html.escape(course.colab_url(nb))}">open in Colab</a></small>'
            objectives = "<ul>" + "".join(f"<li>{html.escape(o)}</li>" for o in nb.objectives) + "</ul>"
            smoke, full = (f"{p.minutes:g} min · " + (f"{p.vram_gb:g} GB" if p.vram_gb else "no GPU")
                           for p in (nb.smoke, nb.full))
            if nb.needs:
                full += f"<br><small>needs {html.escape(', '.join(nb.needs))}</small>"
            outcome = f'<span class="status {e.status}">{html.escape(STATUS_TEXT.get(e.status, e.status))}</span>'
            if e.status == "missing":
                outcome += "<br><small>no executed copy in the run folder</small>"
            else:
                outcome += f"<br><small>{html.escape(' · '.join(_run_facts(e)))}</small>"
            if e.message and e.status != "passed":
                outcome += f"<br><small>{html.escape(e.message)}</small>"
            rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in (name, objectives, smoke, full, outcome)) + "</tr>")
        rows.append("</table>")
    warning = ""
    if profile == "smoke":
        warning = ('<p class="note">These copies ran in the <b>smoke</b> profile: tiny models and stand-in data '
                   "on a CPU, to show every cell working. Their numbers are not what the full profile gives on a "
                   "12 GB GPU; for those, run <code>python -m course run all --profile full</code> and build again.</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(course.title)}: handouts</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; }} td, th {{ border: 1px solid #ddd; padding: .4em .6em; vertical-align: top; text-align: left; }}
th {{ background: #f3f5f7; }} ul {{ margin: 0; padding-left: 1.2em; }} h2 small {{ font-weight: normal; font-size: 60%; }}
.status {{ font-weight: bold; padding: 0 .3em; border-radius: 3px; }} .status.passed {{ background: #c8e6c9; }}
.status.failed, .status.error, .status.timeout {{ background: #ffcdd2; }} .status.missing {{ background: #e0e0e0; }}
.note {{ background: #fff8e1; border: 1px solid #ffe082; padding: .6em 1em; border-radius: 6px; }}
</style></head><body>
<h1>{html.escape(course.title)}</h1>
<p>Handouts built from the <b>{html.escape(profile)}</b> run in <code>{html.escape(str(run_dir))}</code>
on {time.strftime('%Y-%m-%d %H:%M')}: {len(ok)} of {len(entries)} notebooks passed, {len(entries) - len(ran)} not run.
Reference card: {html.escape(course.reference_gpu)}.</p>
{warning}
{"".join(rows)}
</body></html>
"""
