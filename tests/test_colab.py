"""Colab: every notebook opens with an "Open in Colab" link to its own file and an install cell that acts only there."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import types

import nbformat
import pytest

from course import syllabus as syl

COURSE = syl.load()
NOTEBOOKS = list(COURSE.notebooks)
IDS = [nb.id for nb in NOTEBOOKS]
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"'>]+")
GUARD = '"google.colab" in sys.modules'


def _read(nb: syl.Notebook):
    if not nb.path.is_file():
        pytest.fail(f"{nb.file} is in the syllabus but not on disk")
    return nbformat.read(nb.path, as_version=4)


def _install_cell(cells) -> tuple[int, str]:
    """Index and source of the first code cell that mentions google.colab."""
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and "google.colab" in cell.source:
            return i, cell.source
    return -1, ""


def _is_colab_guard(test: ast.expr) -> bool:
    """True for the test `"google.colab" in sys.modules`."""
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Constant) and test.left.value == "google.colab"
            and len(test.ops) == 1 and isinstance(test.ops[0], ast.In) and ast.unparse(test.comparators[0]) == "sys.modules")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_first_cell_links_to_this_very_notebook_on_colab(nb):
    first = _read(nb).cells[0]
    links = COLAB_LINK.findall(first.source) if first.cell_type == "markdown" else []
    assert links, f"{nb.file}: the first cell needs the Open in Colab badge linking to {COURSE.colab_url(nb)}"
    wrong = [link for link in links if link != COURSE.colab_url(nb)]
    assert not wrong, f"{nb.file}: Colab link points elsewhere: {wrong[0]} (expected {COURSE.colab_url(nb)})"
    alts = re.findall(r"!\[([^\]]*)\]\(", first.source)
    assert [a.lower() for a in alts] == ["open in colab"], f"{nb.file}: the badge image says {alts}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_the_colab_badge_is_a_local_image_that_shows_offline(nb):
    first = _read(nb).cells[0].source
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", first)
    assert images, f"{nb.file}: the first cell has no badge image"
    for image in images:
        assert not image.startswith(("http://", "https://")), f"{nb.file}: {image} needs a network to show"
        assert (nb.path.parent / image).is_file(), f"{nb.file}: {image} does not exist"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_install_cell_is_guarded_by_colab_and_comes_before_the_parameters(nb):
    cells = _read(nb).cells
    index, source = _install_cell(cells)
    assert index >= 0, f"{nb.file}: add the Colab install cell (copy it from notebook 00)"
    params = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    assert index < params, f"{nb.file}: the Colab install cell must come before the parameters cell"
    tree = ast.parse(source)
    assert any(isinstance(node, ast.If) and _is_colab_guard(node.test) for node in tree.body), \
        f"{nb.file}: the install cell needs `if {GUARD}:`"
    for node in tree.body:  # only imports and the guarded block: nothing runs off Colab
        assert isinstance(node, ast.Import | ast.ImportFrom) or (isinstance(node, ast.If) and _is_colab_guard(node.test)), \
            f"{nb.file}: the install cell does `{ast.unparse(node)[:60]}` outside `if {GUARD}:`"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_install_cell_installs_the_course_on_colab_and_does_nothing_elsewhere(nb, monkeypatch):
    _, source = _install_cell(_read(nb).cells)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, *a, **k: calls.append(cmd))
    monkeypatch.setattr(subprocess, "check_call", lambda cmd, *a, **k: calls.append(cmd))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(source, nb.file, "exec"), {})
    assert calls == [], f"{nb.file}: the install cell ran something off Colab"

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(compile(source, nb.file, "exec"), {})
    assert calls, f"{nb.file}: on Colab the install cell must install the course"
    command = " ".join(map(str, calls[0]))
    assert "pip" in command and "install" in command
    assert f"git+https://github.com/{COURSE.repository}" in command, \
        f"{nb.file}: install the course from its repository ({COURSE.repository}), as notebook 00 does"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_the_colab_install_is_pinned_to_this_release_with_the_tested_versions(nb, monkeypatch):
    import tomllib

    version = tomllib.loads((syl.REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    _, source = _install_cell(_read(nb).cells)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, *a, **k: calls.append(cmd))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(compile(source, nb.file, "exec"), {})
    command = " ".join(map(str, calls[0]))
    assert f"@v{version}" in command, f"{nb.file}: install release v{version} (pyproject.toml), not the main branch"
    assert f"-c https://raw.githubusercontent.com/{COURSE.repository}/v{version}/constraints.txt" in command, \
        f"{nb.file}: install with the release's constraints.txt"
