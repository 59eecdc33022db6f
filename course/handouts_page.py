"""The handouts' pages: nbconvert template, style sheets, widgets drawn as HTML, and the HTML of each page.

``course.commands.handouts`` decides what to build; this module writes one notebook's page, the page of the whole
selection (printed to one PDF whose outline has an entry per notebook) and the contents page. A page is the
participant's copy of an executed notebook: the runner's machinery is left out (papermill's injected parameters,
the Colab install cell, the tables of recorded metrics), the Colab badge is a working link, and in a smoke run
every output made by a tiny stand-in model or stand-in data is marked as such.
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
from helpers.ready import FILES

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
STATUS_TEXT = {"passed": "passed", "failed": "missed a threshold", "error": "stopped with an error",
               "timeout": "timed out", "missing": "not built"}
BADGE = re.compile(r"\[!\[([^\]]*)\]\([^)\s]*badge[^)\s]*\.svg\)\]\(([^)\s]+)\)")  # [![alt](..badge.svg)](url)
INSTALL_CELL = re.compile(r"""["']google\.colab["']\s+in\s+sys\.modules""")  # the Colab install cell's test
METRIC_TABLE = "<table><tr><th>metric</th><th>value</th></tr>"  # how helpers.metrics.record shows its numbers
COLAB = "https://colab.research.google.com/"
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
a[href^="https://colab.research.google.com/"] { display: inline-block; padding: .15em .6em; border-radius: 4px;
  background: #f9ab00; color: #202124; font: bold 13px sans-serif; text-decoration: none; }
.handout-standin { display: inline-block; margin: .2em 0; padding: .1em .5em; border-radius: 3px; background: #fff3cd;
  border: 1px solid #ffe08a; color: #6b4e00; font: 12px sans-serif; }
.handout-notebook-title { font: bold 1.6em sans-serif; margin: .5em 0; }
.handout-banner { padding: .8em 1em; border-radius: 6px; margin: 1em 0; font: 14px sans-serif; }
.handout-banner.smoke { background: #fff8e1; border: 1px solid #ffe082; }
.handout-banner.problem { background: #ffebee; border: 1px solid #ef9a9a; }
.handout-bar { display: inline-block; width: 12em; height: 1.1em; background: #e0e0e0; vertical-align: middle; }
.handout-bar > span { display: block; height: 100%; background: #2196f3; }
.handout-widget { display: flex; gap: .6em; align-items: center; font: 13px sans-serif; }
.handout-week-break { break-before: page; }
@media print {
  .handout-nav, a.anchor-link { display: none; }
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
    profile: str = "?"  # the profile of the run it comes from

    @property
    def page(self) -> str | None:
        """File name of its page, if the run left an executed notebook to show."""
        return f"{self.nb.id}.html" if self.executed else None

    @property
    def standin(self) -> str:
        """What made its outputs when they are not the real thing (smoke run of a notebook that downloads), or ""."""
        if self.profile != "smoke" or not self.nb.downloads:
            return ""
        names = [FILES[d].name if d in FILES else d.split(":", 1)[1] for d in self.nb.downloads]
        models = any(d.startswith("hf-model:") or "_Weights." in d for d in self.nb.downloads)
        made = "made by a tiny random stand-in model, not by " if models else "made from stand-in data, not from "
        return f"smoke run: {made}{', '.join(names)} (the full profile's)"


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
            # [![alt](badge.svg)](target) -> a link (styled by its address); ![alt](https://img) -> alt
            cell.source = BADGE.sub(r"[\1](\2)", cell.source)
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


def participant_copy(nb: Any, entry: Entry) -> Any:
    """The notebook as a participant reads it: no injected parameters, Colab install cell or metric tables;
    in a smoke run, each output of a notebook that downloads something marked as a stand-in's."""
    import nbformat

    cells = []
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "code":
            if INSTALL_CELL.search(cell.source):
                continue
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not str(o.get("data", {}).get("text/html", "")).startswith(METRIC_TABLE)]
            if entry.standin and cell.outputs:
                mark = f'<div class="handout-standin">{html.escape(entry.standin)}</div>'
                cell.outputs.insert(0, nbformat.v4.new_output("display_data", data={"text/html": mark,
                                                                                    "text/plain": entry.standin}))
        cells.append(cell)
    count = 0
    for cell in cells:  # number the cells a participant sees 1, 2, 3 (the dropped ones leave no gaps)
        if cell.cell_type == "code" and cell.get("execution_count"):
            count += 1
            cell.execution_count = count
            for out in cell.outputs:
                if out.get("output_type") == "execute_result":
                    out["execution_count"] = count
    nb.cells = cells
    return nb


def _note(entry: Entry) -> str:
    """The line above a page: which profile made its outputs, and where the run stopped if it did."""
    if entry.status not in ("passed", "missing"):
        stopped = f" This copy {STATUS_TEXT.get(entry.status, entry.status)}: {entry.message}." if entry.message else ""
        return f'<div class="handout-banner problem">{html.escape(stopped.strip())} Later cells may have no output.</div>'
    if entry.profile == "smoke":
        what = (" Outputs marked as a stand-in's are not what the full profile shows." if entry.standin else "")
        return ('<div class="handout-banner smoke">These outputs come from the <b>smoke</b> profile: small sizes on '
                f"a CPU.{html.escape(what)} On a GPU, <code>make handouts PROFILE=full</code> builds them for real.</div>")
    return ""


def _nav(prev: Entry | None, nxt: Entry | None) -> str:
    def link(e: Entry | None, fmt: str) -> str:
        return fmt.format(e.page, html.escape(f"{e.nb.week_label} · {e.nb.title}")) if e else "<span></span>"
    back, forward = link(prev, '<a href="{}">← {}</a>'), link(nxt, '<a href="{}">{} →</a>')
    return f'<nav class="handout-nav">{back}<a href="index.html">Contents</a>{forward}</nav>'


def _read(entry: Entry) -> Any:
    import nbformat

    return participant_copy(nbformat.read(entry.executed, as_version=4), entry)


def render_page(entry: Entry, prev: Entry | None, nxt: Entry | None, exporter: Any) -> str:
    """One notebook's page: the participant's copy of the executed notebook, with navigation."""
    nb = _read(entry)
    formulas = make_static(nb)
    nav = _nav(prev, nxt)
    resources = {"metadata": {"name": f"{entry.nb.week_label} · {entry.nb.title}", "path": str(entry.nb.path.parent)},
                 "handout_css": CSS, "handout_top": nav + _note(entry), "handout_bottom": nav}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return restore(body, formulas)


def render_all(title: str, entries: list[Entry], exporter: Any) -> str:
    """The selection on one page, each notebook from a new printed page: its headings make the PDF's outline."""
    import nbformat

    merged = nbformat.v4.new_notebook()
    state: dict[str, Any] = {}
    for i, entry in enumerate(entries):
        nb = _read(entry)
        state.update(nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {}))
        if i == 0:
            merged.metadata = copy.deepcopy(nb.metadata)
        else:
            merged.cells.append(nbformat.v4.new_markdown_cell('<div class="handout-week-break"></div>'))
        note = _note(entry)
        if note:
            merged.cells.append(nbformat.v4.new_markdown_cell(note))
        for cell in nb.cells:  # cell ids must stay unique in the merged notebook
            cell["id"] = f"n{i}-{cell.get('id') or len(merged.cells)}"[:64]
        merged.cells.extend(nb.cells)
    merged.metadata["widgets"] = {WIDGET_STATE: {"state": state}}
    formulas = make_static(merged)
    top = (f'<nav class="handout-nav"><a href="index.html">Contents</a></nav><div class="handout-notebook-title">'
           f'{html.escape(title)}</div><p>{len(entries)} notebook(s), built on {time.strftime("%Y-%m-%d")}.</p>')
    resources = {"metadata": {"name": title, "path": str(entries[0].nb.path.parent)},
                 "handout_css": CSS, "handout_top": top, "handout_bottom": ""}
    body, _ = exporter.from_notebook_node(merged, resources=resources)
    return restore(body, formulas)


def week_key(week: int | str) -> str:
    return "extras" if week == "extras" else f"week-{int(week):02d}"


def render_index(course: syl.Syllabus, entries: list[Entry], pdf: str | None, combined: str | None) -> str:
    """The contents page of the selection: weeks, objectives, time and VRAM per profile, which profile each shows."""
    rows = []
    for week in course.weeks():
        week_entries = [e for e in entries if e.nb.week == week]
        if not week_entries:
            continue
        rows.append(f'<h2 id="{week_key(week)}">{"Extras" if week == "extras" else f"Week {week}"}</h2>')
        rows.append('<table><colgroup><col style="width:22%"><col style="width:44%"><col style="width:10%">'
                    '<col style="width:12%"><col style="width:12%"></colgroup><tr><th>Notebook</th>'
                    '<th>You will</th><th>Smoke (CPU)</th><th>Full: time · peak VRAM</th><th>Outputs shown</th></tr>')
        for e in week_entries:
            nb = e.nb
            title = html.escape(nb.title)
            name = (f'<a href="{e.page}">{title}</a>' if e.page else title) + f"<br><code>{html.escape(nb.id)}</code>"
            if course.repository:
                name += f'<br><small><a href="{html.escape(course.colab_url(nb))}">Open in Colab</a></small>'
            objectives = "<ul>" + "".join(f"<li>{html.escape(o)}</li>" for o in nb.objectives) + "</ul>"
            smoke, full = (f"{p.minutes:g} min · " + (f"{p.vram_gb:g} GB" if p.vram_gb else "no GPU")
                           for p in (nb.smoke, nb.full))
            if nb.needs:
                full += f"<br><small>needs {html.escape(', '.join(nb.needs))}</small>"
            shown = ("not built" if not e.page else "full profile" if e.profile == "full"
                     else "smoke profile" + (" (stand-ins)" if e.standin else ""))
            if e.page and e.status not in ("passed", "missing"):
                shown += "<br><small>stopped early</small>"
            rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in (name, objectives, smoke, full, shown)) + "</tr>")
        rows.append("</table>")
    links = [f'<a href="{combined}">all of it on one page</a>'] if combined else []
    if pdf:
        links.append(f'<a href="{pdf}">one PDF</a>')
    smoke = any(e.profile == "smoke" and e.page for e in entries)
    warning = ('<p class="note">Some pages show the <b>smoke</b> profile: small sizes on a CPU, with tiny stand-in '
               "models and data where the notebook downloads something (each such output is marked). Their numbers "
               "are not what the full profile gives on a 12 GB GPU.</p>") if smoke else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(course.title)}: handouts</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; }} td, th {{ border: 1px solid #ddd; padding: .4em .6em; vertical-align: top; text-align: left; }}
th {{ background: #f3f5f7; }} ul {{ margin: 0; padding-left: 1.2em; }}
.note {{ background: #fff8e1; border: 1px solid #ffe082; padding: .6em 1em; border-radius: 6px; }}
</style></head><body>
<h1>{html.escape(course.title)}</h1>
<p>{sum(bool(e.page) for e in entries)} of {len(entries)} notebook(s) built, on {time.strftime('%Y-%m-%d')}. Reference card: {html.escape(course.reference_gpu)}.
{" · ".join(links)}</p>
{warning}
{"".join(rows)}
</body></html>
"""
