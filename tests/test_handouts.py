"""Participants' handouts: a two-notebook build from a real smoke run is a participant's copy, opens from disk, and
prints to one PDF with an outline entry per notebook.

Tests marked `notebooks` share one smoke run of notebooks 00a and 01a (about 20 s); the others build from
hand-made run folders.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest
from test_browser import chromium  # noqa: F401 - the session fixture that installs Chromium when missing

from course import handouts_page, mathml
from course import syllabus as syl
from course.chromium import CHROMIUM_ARGS
from course.commands import handouts

ROOT = Path(__file__).resolve().parents[1]
COURSE = syl.load()
NB00, NB01 = COURSE.notebooks[0], COURSE.by_id("01a-the-ml-workflow")
PAIR = [NB00, NB01]
WEB_ASSET = re.compile(r"""(<script[^>]+src=|<link[^>]+href=|<img[^>]+src=|@import|url\()\s*["']?https?://""", re.I)


@pytest.fixture(scope="module")
def site(smoke_run, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The handouts of the two notebooks (00a and 01a, run by the shared fixture), built with --only."""
    return handouts.build(smoke_run[0], tmp_path_factory.mktemp("site") / "handouts", pdf=False,
                          only=[NB00.id, "01a"])


def _pages(site: dict) -> list[Path]:
    return [site["index"], site["combined"], *site["pages"]]


@pytest.mark.notebooks
def test_the_index_lists_the_selection_only_with_objectives_time_vram_and_colab_links(site):
    index = site["index"].read_text()
    for nb in PAIR:
        assert f'href="{nb.id}.html"' in index and nb.title in index
        assert f'href="{COURSE.colab_url(nb)}">Open in Colab</a>' in index
        for objective in nb.objectives:
            assert objective.replace("'", "&#x27;") in index
    assert "0.25 min" in index and "1.1 GB" in index  # time and VRAM per profile
    others = [nb for nb in COURSE.notebooks if nb not in PAIR]
    assert not any(nb.id in index for nb in others), "notebooks outside --only stay out of the index"
    assert site["missing"] == [] and "not built" not in index and 'href="handouts.html"' in index


@pytest.mark.notebooks
def test_pages_leave_out_the_runner_machinery_and_temporary_paths(site, smoke_run):
    for path in _pages(site):
        text = path.read_text()
        assert str(smoke_run[0]) not in text and "/tmp/" not in text, f"{path.name} shows a temporary path"
        assert "celltag_injected-parameters" not in text, f"{path.name} shows papermill's injected cell"
        assert "google.colab" not in text, f"{path.name} shows the Colab install cell"
        assert "<th>metric</th>" not in text, f"{path.name} shows a metric table"
        assert "passed in the" not in text and "peak RAM" not in text, f"{path.name} shows a pass banner"
    page = (site["index"].parent / f"{NB00.id}.html").read_text()
    assert "celltag_parameters" in page, "the parameters cell a participant edits stays"
    assert re.search(r"In\W+\[1\]:", page), "cells are numbered from 1, with no gaps"


@pytest.mark.notebooks
def test_pages_show_plots_inline_a_working_colab_link_and_say_which_profile_made_them(site):
    page = (site["index"].parent / f"{NB00.id}.html").read_text()
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', page)) >= 2, "the two plots, embedded"
    assert 'class="handout-bar"' in page, "the memory gauge is drawn as static HTML"
    assert f'<a href="{COURSE.colab_url(NB00)}">Open In Colab</a>' in page and "colab-badge.svg" not in page
    assert "handout-banner smoke" in page and "make handouts PROFILE=full" in page
    assert 'href="index.html"' in page and f'href="{NB01.id}.html"' in page


@pytest.mark.notebooks
def test_pages_fetch_nothing_from_the_web(site):
    for path in _pages(site):
        text = path.read_text()
        assert not WEB_ASSET.findall(text), f"{path.name} loads something from the web"
        assert "<script src" not in text and "require.js" not in text and "mathjax" not in text.lower()


def pdf_outline(data: bytes) -> list[str]:
    """The titles of a PDF's outline (bookmark) entries, as Chromium writes them (plain objects, no streams)."""
    titles = []
    for body in re.findall(rb"\d+ 0 obj(.*?)endobj", data, re.S):
        found = re.search(rb"/Title\s*(<[0-9A-Fa-f]+>|\((?:[^()\\]|\\.)*\))", body)
        if b"/Parent" in body and found:
            raw = found.group(1)
            if raw.startswith(b"<"):
                text = bytes.fromhex(raw[1:-1].decode())
                titles.append(text[2:].decode("utf-16-be") if text[:2] == b"\xfe\xff" else text.decode("latin-1"))
            else:
                titles.append(re.sub(rb"\\(.)", rb"\1", raw[1:-1]).decode("latin-1"))
    return titles


@pytest.mark.notebooks
@pytest.mark.browser
def test_one_pdf_with_an_outline_entry_per_notebook_and_the_site_opens_from_disk_in_chromium(
        smoke_run, chromium, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    built = handouts.build(smoke_run[0], tmp_path / "handouts", pdf=True, only=["0", "1"])
    assert built["pdf"] == tmp_path / "handouts" / "handouts.pdf" and not list((tmp_path / "handouts").glob("week-*"))
    data = built["pdf"].read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 50_000
    outline = pdf_outline(data)
    for nb in PAIR:
        assert f"{nb.week_label} · {nb.title}" in outline, outline
    assert 'href="handouts.pdf"' in built["index"].read_text()
    web_requests = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda r: web_requests.append(r.url) if r.url.startswith("http") else None)
            page.goto(built["index"].resolve().as_uri())
            page.click(f'a[href="{NB00.id}.html"]')
            page.wait_for_load_state("load")
            assert page.url.endswith(f"{NB00.id}.html")
            sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth)")
            assert len(sizes) >= 2 and all(sizes), f"images that did not load: {sizes}"
            assert page.locator(".handout-bar").count() >= 1
            badge = page.locator('a[href^="https://colab.research.google.com/"]').first
            box = badge.bounding_box()
            assert badge.inner_text().strip() == "Open In Colab" and box and box["width"] > 40, "a visible link"
            assert page.locator(".celltag_injected-parameters").count() == 0
        finally:
            browser.close()
    assert web_requests == []


def _write_syllabus(path: Path) -> syl.Syllabus:
    """A syllabus of notebook 00, a notebook that fails in the run, one the run never reached, and one that
    downloads a model (its smoke outputs come from a stand-in)."""
    entry = """
        [[notebooks]]
        id = "{id}"
        week = {week}
        title = "{title}"
        file = "{file}"
        objectives = ["{title} objective"]
        downloads = {downloads}
        needs = {needs}
        [notebooks.smoke]
        minutes = 0.5
        vram_gb = 0
        [notebooks.full]
        minutes = 10
        vram_gb = 7.5
    """
    text = '[course]\ntitle = "Test course"\nreference_gpu = "RTX 4070 Ti"\nreference_vram_gb = 12\n'
    rows = [(NB00.id, 0, "Check", "[]", "[]"), ("01a-broken", 1, "Broken", "[]", "[]"),
            ("01b-absent", 1, "Absent", "[]", "[]"),
            ("01c-llm", 1, "LLM", '["hf-model:openai-community/gpt2"]', '["network"]')]
    for nb_id, week, title, downloads, needs in rows:
        file = NB00.file if nb_id == NB00.id else f"notebooks/01-x/{nb_id}.ipynb"
        text += textwrap.dedent(entry.format(id=nb_id, week=week, title=title, file=file, downloads=downloads,
                                             needs=needs))
    path.write_text(text)
    return syl.load(path)


def _fake_run(folder: Path, profile: str, notebooks: dict[str, nbformat.NotebookNode],
              statuses: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for nb_id, nb in notebooks.items():
        nbformat.write(nb, folder / f"{nb_id}.ipynb")
    results = [{"notebook": n, "status": statuses.get(n, "passed"), "seconds": 1.5, "run": 1,
                "message": "cell 2: ZeroDivisionError: division by zero" if statuses.get(n) == "error" else ""}
               for n in notebooks]
    (folder / "summary.json").write_text(json.dumps({"profile": profile, "results": results}))
    return folder


def _executed(*sources: str) -> nbformat.NotebookNode:
    """A small executed notebook: a heading, then code cells each with a printed output."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Week 1 · Something")])
    for i, source in enumerate(sources, 1):
        cell = nbformat.v4.new_code_cell(source, execution_count=i)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"output {i}\n")]
        nb.cells.append(cell)
    return nb


def test_smoke_outputs_of_a_notebook_that_downloads_are_marked_as_a_stand_ins_and_full_ones_are_not(tmp_path):
    course = _write_syllabus(tmp_path / "syllabus.toml")
    llm = _executed("print('tokens')", "print('answer')")
    smoke = _fake_run(tmp_path / "smoke", "smoke", {"01c-llm": llm}, {})
    built = handouts.build(smoke, tmp_path / "site", course=course, pdf=False, only=["01c"])
    page = (tmp_path / "site" / "01c-llm.html").read_text()
    assert page.count('<div class="handout-standin">') == 2, "one mark per output"
    assert "tiny random stand-in model, not by GPT-2 small" in page
    assert "smoke profile (stand-ins)" in built["index"].read_text()
    full = _fake_run(tmp_path / "full", "full", {"01c-llm": llm}, {})
    handouts.build([smoke, full], tmp_path / "site", course=course, pdf=False, only=["01c"])  # the later run wins
    page = (tmp_path / "site" / "01c-llm.html").read_text()
    assert '<div class="handout-standin">' not in page and '"handout-banner smoke"' not in page


def test_the_install_cell_injected_parameters_and_metric_tables_are_left_out_by_what_they_are():
    nb = _executed("import sys\nif \"google.colab\" in sys.modules:\n    pass", "PROFILE = 'smoke'", "x = 1")
    nb.cells[2].metadata["tags"] = ["injected-parameters"]
    nb.cells[3].outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": "<table><tr><th>metric</th><th>value</th></tr><tr><td>acc</td><td>1</td></tr></table>"})]
    entry = handouts_page.Entry(NB00, status="passed", profile="full")
    kept = handouts_page.participant_copy(nb, entry)
    assert [c.source for c in kept.cells[1:]] == ["x = 1"]
    assert kept.cells[1].outputs == [] and kept.cells[1].execution_count == 1


def test_failed_and_missing_notebooks_are_said_on_the_index_and_pages_link_in_order(tmp_path):
    course = _write_syllabus(tmp_path / "syllabus.toml")
    broken = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Broken"),
                                             nbformat.v4.new_code_cell("1 / 0")])
    broken.cells[1].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                                      traceback=["ZeroDivisionError: division by zero"])]
    run = _fake_run(tmp_path / "run", "smoke", {NB00.id: _executed("print(1)"), "01a-broken": broken},
                    {"01a-broken": "error"})
    built = handouts.build(run, tmp_path / "site", course=course, pdf=False, only=["0", "1"])
    index = built["index"].read_text()
    assert built["missing"] == ["01b-absent", "01c-llm"] and built["problems"] == ["01a-broken"]
    assert "stopped early" in index and 'href="01a-broken.html"' in index and 'href="01b-absent.html"' not in index
    assert index.count("not built") == 2 and "Absent" in index and "2 of 4 notebook(s) built" in index
    first = (tmp_path / "site" / f"{NB00.id}.html").read_text()
    second = (tmp_path / "site" / "01a-broken.html").read_text()
    assert 'href="01a-broken.html"' in first, "next link from notebook 00"
    assert f'href="{NB00.id}.html"' in second and "handout-banner problem" in second
    assert "ZeroDivisionError: division by zero" in second


def test_widgets_are_drawn_without_javascript_and_unknown_ones_fall_back_to_text():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("gauge")
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "box", "version_major": 2, "version_minor": 0}}
    cell.outputs = [nbformat.v4.new_output("display_data", data={**view, "text/plain": "HBox(...)"}),
                    nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {
                        "model_id": "slider"}, "text/plain": "IntSlider(value=3)"})]
    nb.cells = [nbformat.v4.new_markdown_cell("[![Open In Colab](https://x/badge.svg)](https://colab/x)"), cell]
    state = {"box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_bar", "IPY_MODEL_label"]}},
             "bar": {"model_name": "FloatProgressModel", "state": {"value": 6, "min": 0, "max": 12,
                                                                   "description": "memory"}},
             "label": {"model_name": "LabelModel", "state": {"value": "6 / 12 GiB <GPU>"}},
             "slider": {"model_name": "IntSliderModel", "state": {"value": 3}}}
    nb.metadata["widgets"] = {handouts_page.WIDGET_STATE: {"state": state}}
    handouts_page.make_static(nb)
    gauge, slider = nb.cells[1].outputs
    assert "width: 50.0%" in gauge["data"]["text/html"] and "6 / 12 GiB &lt;GPU&gt;" in gauge["data"]["text/html"]
    assert set(slider["data"]) == {"text/plain"}
    assert nb.cells[0].source == "[Open In Colab](https://colab/x)", "the badge becomes a plain, working link"
    assert "widgets" not in nb.metadata


def test_formulas_render_as_mathml_in_the_page_and_prices_code_and_shell_variables_stay_as_written():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        "LoRA adds $\\frac{\\alpha}{r} BA$ to $W$; it costs $5 or $10; `$x$` is code; $HOME too.\n\n"
        "$$x_t = \\sqrt{\\bar\\alpha_t}\\,x_0$$")]
    formulas = handouts_page.make_static(nb)
    resources = {"handout_css": "", "handout_top": "", "handout_bottom": ""}
    body, _ = handouts_page.html_exporter().from_notebook_node(nb, resources=resources)
    page = mathml.restore(body, formulas)
    assert len(formulas) == 3 and "dlmathtoken" not in page
    # nested as MathML (a renderer that closes each tag at once would leave <mfrac></mfrac> empty)
    assert "<mfrac><mrow><mi>" in page and "<msqrt>" in page and "<mfrac></mfrac>" not in page
    assert page.count('display="inline"') == 2 and page.count('display="block"') == 1
    assert "$5 or $10" in page and "$x$" in page and "$HOME" in page
    assert "\\frac" not in page and "\\sqrt" not in page


def test_cli_says_what_to_do_without_a_run_and_never_overwrites_a_foreign_folder(cli, tmp_path):
    res = cli("handouts", "--from", str(tmp_path / "nothing"), "--out", str(tmp_path / "site"), timeout=120)
    assert res.returncode == 2 and "No summary.json" in res.stderr and "course run" in res.stderr
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"profile": "smoke", "results": []}))
    res = cli("handouts", "--from", str(run), "--out", str(foreign), timeout=120)
    assert res.returncode == 2 and "not made by `course handouts`" in res.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"
    shutil.rmtree(foreign)
