"""Workshop handouts: a site built from a real smoke run opens from disk with every page and its plots.

Tests marked `notebooks` share one smoke run of notebook 00 (about 10 s); the others build from
hand-made run folders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
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
NB00 = syl.load().notebooks[0]
WEB_ASSET = re.compile(r"""(<script[^>]+src=|<link[^>]+href=|<img[^>]+src=|@import|url\()\s*["']?https?://""", re.I)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Notebook 00 executed by `course run --profile smoke`, as CI and a workshop would."""
    out = tmp_path_factory.mktemp("smoke-run")
    env = {**os.environ, "COURSE_PROFILE": "smoke", "HF_HUB_OFFLINE": "1"}
    env.pop("MPLBACKEND", None)  # with Agg the kernel draws no inline plots
    res = subprocess.run([sys.executable, "-m", "course", "run", NB00.id, "--profile", "smoke", "--out", str(out)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def site(smoke_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The handouts built from that run against the real syllabus (other notebooks: not in the run)."""
    return handouts.build(smoke_run, tmp_path_factory.mktemp("site") / "handouts", pdf=False)


@pytest.mark.notebooks
def test_site_has_an_index_and_a_page_per_executed_notebook_with_plots_inline(site):
    index = site["index"].read_text()
    page = (site["index"].parent / f"{NB00.id}.html").read_text()
    assert f'href="{NB00.id}.html"' in index and NB00.title in index
    for objective in NB00.objectives:
        assert objective.replace("'", "&#x27;") in index
    assert "passed" in index and "0.25 min" in index and "1.1 GB" in index  # time and VRAM per profile
    assert f'href="{syl.load().colab_url(NB00)}"' in index
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', page)) >= 2, "the two plots, embedded"
    assert 'class="handout-bar"' in page, "the memory gauge is drawn as static HTML"
    assert 'class="handout-badge"' in page and "Open In Colab" in page and "colab-badge.svg" not in page
    assert 'href="index.html"' in page


@pytest.mark.notebooks
def test_pages_fetch_nothing_from_the_web(site):
    for path in [site["index"], *site["pages"], *site["weeks"]]:
        text = path.read_text()
        assert not WEB_ASSET.findall(text), f"{path.name} loads something from the web"
        assert "<script src" not in text and "require.js" not in text and "mathjax" not in text.lower()


@pytest.mark.notebooks
def test_notebooks_missing_from_the_run_are_listed_as_missing(site):
    index = site["index"].read_text()
    others = [nb for nb in syl.load().notebooks if nb.id != NB00.id]
    assert set(site["missing"]) == {nb.id for nb in others}
    for nb in others:
        assert nb.id in index and f'href="{nb.id}.html"' not in index
    assert index.count("not in this run") == len(others)


@pytest.mark.notebooks
@pytest.mark.browser
def test_site_opens_from_disk_in_chromium_with_every_image_and_prints_week_pdfs(smoke_run, chromium, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    built = handouts.build(smoke_run, tmp_path / "handouts", pdf=True)
    assert [p.name for p in built["pdfs"]] == ["week-00.pdf"]
    assert built["pdfs"][0].read_bytes()[:5] == b"%PDF-" and built["pdfs"][0].stat().st_size > 50_000
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
        finally:
            browser.close()
    assert web_requests == []


def _write_syllabus(path: Path) -> syl.Syllabus:
    """A syllabus of notebook 00, a notebook that fails in the run, and one the run never reached."""
    entry = """
        [[notebooks]]
        id = "{id}"
        week = {week}
        title = "{title}"
        file = "{file}"
        objectives = ["{title} objective"]
        [notebooks.smoke]
        minutes = 0.5
        vram_gb = 0
        [notebooks.full]
        minutes = 10
        vram_gb = 7.5
    """
    text = '[course]\ntitle = "Test course"\nreference_gpu = "RTX 4070 Ti"\nreference_vram_gb = 12\n'
    for nb_id, week, title in [(NB00.id, 0, "Check"), ("01a-broken", 1, "Broken"), ("01b-absent", 1, "Absent")]:
        file = NB00.file if nb_id == NB00.id else f"notebooks/01-x/{nb_id}.ipynb"
        text += textwrap.dedent(entry.format(id=nb_id, week=week, title=title, file=file))
    path.write_text(text)
    return syl.load(path)


@pytest.mark.notebooks
def test_failed_and_missing_notebooks_are_shown_on_the_index_and_pages_link_in_order(smoke_run, tmp_path):
    course = _write_syllabus(tmp_path / "syllabus.toml")
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    broken = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Broken"),
                                             nbformat.v4.new_code_cell("1 / 0")])
    broken.cells[1].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                                      traceback=["ZeroDivisionError: division by zero"])]
    nbformat.write(broken, run / "01a-broken.ipynb")
    summary = json.loads((run / "summary.json").read_text())
    summary["results"].append({"notebook": "01a-broken", "status": "error", "seconds": 1.5, "run": 1,
                               "message": "cell 2: ZeroDivisionError: division by zero"})
    (run / "summary.json").write_text(json.dumps(summary))

    built = handouts.build(run, tmp_path / "site", course=course, pdf=False)
    index = built["index"].read_text()
    assert built["missing"] == ["01b-absent"] and built["problems"] == ["01a-broken"]
    assert "stopped with an error" in index and "ZeroDivisionError: division by zero" in index
    assert 'href="01a-broken.html"' in index and 'href="01b-absent.html"' not in index
    assert "not in this run" in index and "Absent" in index
    first = (tmp_path / "site" / f"{NB00.id}.html").read_text()
    second = (tmp_path / "site" / "01a-broken.html").read_text()
    assert 'href="01a-broken.html"' in first, "next link from notebook 00"
    assert f'href="{NB00.id}.html"' in second and "handout-banner problem" in second
    assert {p.name for p in built["weeks"]} == {"week-00.html", "week-01.html"}


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
    assert nb.cells[0].source == '<a class="handout-badge" href="https://colab/x">Open In Colab</a>'
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
