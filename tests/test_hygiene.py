"""Notebook and repository hygiene: what CI or a learner would trip over."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import tomllib
import yaml

from course import notebook_code, readme
from course import syllabus as syl

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [nb.path for nb in syl.load().notebooks]
IDS = [p.stem for p in NOTEBOOKS]


def _cells(path: Path):
    return nbformat.read(path, as_version=4).cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_valid_and_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs (nbstripout)"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "kernelspec python3 avoids a kernel dialog"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_has_one_parameters_cell_with_profile_auto(path):
    tagged = [c for c in _cells(path) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert notebook_code.parameters(path)["PROFILE"] == "auto", 'the parameters cell sets PROFILE = "auto"'


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_opens_with_objectives_time_and_vram_and_ends_with_exercises_and_next(path):
    cells = _cells(path)
    first = cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "first cell: a title"
    opening = "\n".join(c.source for c in cells[:3] if c.cell_type == "markdown").lower()
    for word in ("what you will learn", "smoke", "full", "vram", "prerequisites"):
        assert word in opening, f"the opening should mention {word!r}"
    headings = [line.strip().lower() for c in cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## ")]
    assert "## exercises" in headings, "end with exercises"
    assert headings[-1] == "## what next", "end with a pointer to what comes next"


def _code_files():
    for pattern in ("helpers/**/*.py", "course/**/*.py", "benchmarks/**/*.py", "notebooks/**/*.ipynb"):
        yield from ROOT.glob(pattern)


def test_no_tokens_remote_code_or_unsafe_torch_load_in_the_code():
    token = re.compile(r"hf_[A-Za-z0-9]{30,}")
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        assert not token.search(text), f"{path}: looks like a Hugging Face token"
        assert "trust_remote_code=True" not in text, f"{path}: never trust_remote_code=True"
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path}: torch.load without weights_only=True: {call}"


def test_readme_syllabus_table_is_fresh():
    text = (ROOT / "README.md").read_text()
    assert readme.render(text) == text, "README table is stale: run `python -m course.readme`"


def test_environment_yml_installs_the_project_from_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = env["dependencies"]
    assert "conda-forge" in env["channels"] and "pytorch" not in env["channels"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    major_minor = python.split("=")[1]
    low = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, major_minor.split("."))) >= tuple(map(int, low.split(".")))
    pip = next(d for d in deps if isinstance(d, dict))["pip"]
    assert "-e .[test]" in pip and "-c constraints.txt" in pip, "pip installs the project, not a second list"
    strings = [d for d in deps if isinstance(d, str)]
    assert set(strings) <= {python, "pip"}, "no dependency listed twice: keep them in pyproject.toml"


def test_constraints_pin_every_dependency():
    pins = {line.split("==")[0].lower().replace("_", "-")
            for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["test"]
    names = {re.split(r"[<>=\[ ;]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps}
    assert names - pins == set(), "pin these in constraints.txt (`make constraints`)"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_last_cell_shows_this_notebooks_exercise_progress(path):
    cells = _cells(path)
    assert cells[-1].cell_type == "code" and "show_progress(ex.NOTEBOOK)" in cells[-1].source, \
        "end with the progress cell: `show_progress(ex.NOTEBOOK)` (copy it from notebook 00)"
    namespace: dict = {}
    imports = [c.source for c in cells if c.cell_type == "code" and "from course.exercises import" in c.source
               and " as ex" in c.source]
    assert imports, "import this notebook's exercises as ex"
    line = next(line for src in imports for line in src.splitlines() if " as ex" in line)
    exec(line, namespace)  # noqa: S102 - an import line of the course's own notebook
    assert namespace["ex"].NOTEBOOK == path.stem, f"{path.stem} imports the exercises of {namespace['ex'].NOTEBOOK}"


@pytest.mark.parametrize("nb", [nb for nb in syl.load().notebooks if nb.windows != "native"],
                         ids=[nb.id for nb in syl.load().notebooks if nb.windows != "native"])
def test_a_notebook_that_needs_wsl2_on_windows_says_so_in_its_first_cells(nb):
    opening = "\n".join(c.source for c in _cells(nb.path)[:3] if c.cell_type == "markdown")
    assert "WSL2" in opening and "Windows" in opening, f"{nb.id}: say up front that native Windows needs WSL2, and why"
