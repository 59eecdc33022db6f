"""Every notebook opens with one call, and what its full profile needs is declared there, spelled as the syllabus.

The opening call is ``P, DEV = profiles.start(PROFILE, seed=SEED, needs=[...], downloads=[...], ...)``: the first
statement after the imports of the first code cell after the parameters cell, in every notebook. Its ``needs``
and ``downloads`` are read with ``ast`` and evaluated with the values of the parameters cell (a learner who changes
MODEL changes what is checked); they must equal the notebook's ``[[notebooks]]`` entry in course/syllabus.toml.

Offline, each downloading notebook's opening cells (run as papermill would, with ``PROFILE = "full"``) stop with
:class:`helpers.ready.CannotRunFull` naming every missing download: the same cells a kernel would run, checked in
this process instead of one kernel per notebook (``test_notebook_runs`` still checks one stop in a real kernel).
"""

from __future__ import annotations

import ast

import pytest

from course import notebook_code
from course import syllabus as syl
from helpers import ladders, ready

COURSE = syl.load()
OPENING = "P, DEV = profiles.start(PROFILE, seed=SEED"


def _opening_call(nb: syl.Notebook) -> ast.Call:
    """The ``profiles.start`` call of the notebook, checked to be where every notebook makes it."""
    params = notebook_code.parameters(nb.path)
    assert "SEED" in params, f"{nb.id}: the parameters cell sets SEED (the opening call seeds with it)"
    cells = notebook_code.cells(nb.path)
    at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    first = next(c for c in cells[at + 1:] if c.cell_type == "code")
    body = [n for n in ast.parse(first.source).body if not isinstance(n, ast.Import | ast.ImportFrom)]
    assert body and ast.get_source_segment(first.source, body[0]).startswith(OPENING), (
        f"{nb.id}: the first statement after the imports of the first code cell after the parameters must be "
        f"`{OPENING}, ...)`")
    calls = [n for c in cells if c.cell_type == "code" for n in ast.walk(ast.parse(notebook_code.python(c)))
             if isinstance(n, ast.Call) and ast.unparse(n.func) == "profiles.start"]
    assert len(calls) == 1, f"{nb.id}: one profiles.start call, not {len(calls)}"
    return body[0].value


def _strings(node: ast.expr, params: dict) -> str | tuple:
    """A list of string literals and f-strings of parameters, as the values the call will see."""
    if isinstance(node, ast.List | ast.Tuple):
        return tuple(_strings(e, params) for e in node.elts)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_strings(v, params) for v in node.values)
    if isinstance(node, ast.FormattedValue) and isinstance(node.value, ast.Name) and node.value.id in params:
        return str(params[node.value.id])
    raise AssertionError(f"write `needs` and `downloads` as lists of strings or f-strings of parameters-cell "
                         f"names, not {ast.unparse(node)}")


def _ladder_call(nb: syl.Notebook) -> ast.Call | None:
    """The ``ladders.pick`` call of a notebook with a ladder (its downloads depend on the rung it picks), or None."""
    calls = [n for c in notebook_code.cells(nb.path) if c.cell_type == "code"
             for n in ast.walk(ast.parse(notebook_code.python(c)))
             if isinstance(n, ast.Call) and ast.unparse(n.func) == "ladders.pick"]
    assert len(calls) <= 1, f"{nb.id}: one ladders.pick call, not {len(calls)}"
    return calls[0] if calls else None


def declared(nb: syl.Notebook, params: dict | None = None) -> dict[str, tuple]:
    """``{"needs": ..., "downloads": ...}`` of the notebook's opening call, and of its ladder call for a notebook
    whose rungs name their own models (the downloads are checked once the rung is known)."""
    params = notebook_code.parameters(nb.path) if params is None else params
    keywords = {k.arg: k.value for k in _opening_call(nb).keywords}
    found = {name: _strings(keywords[name], params) if name in keywords else () for name in ("needs", "downloads")}
    ladder = _ladder_call(nb)
    later = {k.arg: k.value for k in ladder.keywords} if ladder is not None else {}
    if "downloads" in later:
        assert not found["downloads"], f"{nb.id}: declare the downloads once, in profiles.start or in ladders.pick"
        found["downloads"] = _strings(later["downloads"], params)
    if ladder is not None and any(r.settings.get("model") for r in ladders.ladder(nb.id)):
        assert "downloads" in later or not nb.downloads, (
            f"{nb.id}: its rungs name their own models, so ladders.pick(..., downloads=[...]) checks what the rung loads")
    return found


@pytest.mark.parametrize("nb", COURSE.notebooks, ids=[nb.id for nb in COURSE.notebooks])
def test_the_opening_call_says_what_the_syllabus_entry_says(nb):
    call = declared(nb)
    assert call == {"needs": nb.needs, "downloads": nb.downloads}, (
        f"{nb.id}: profiles.start says {call}, course/syllabus.toml says needs={list(nb.needs)}, "
        f"downloads={list(nb.downloads)}")
    for download in call["downloads"]:
        ready.is_cached(download)  # raises ValueError for a download ready does not know


def test_a_parameter_changes_what_the_call_checks():
    nb = COURSE.by_id("08a-text-to-image")
    params = notebook_code.parameters(nb.path) | {"MODEL": "org/other"}
    assert declared(nb, params)["downloads"] == ("hf-model:org/other",)


# Notebooks with a `fallback` in the syllabus (weeks 1-2) run offline on data that ships with the course
# or scikit-learn and say so; every other downloader must stop.
DOWNLOADERS = [nb for nb in COURSE.notebooks if nb.downloads and not nb.fallback]


@pytest.mark.parametrize("nb", DOWNLOADERS, ids=[nb.id for nb in DOWNLOADERS])
def test_offline_the_full_profile_stops_in_the_opening_cell_naming_what_is_missing(nb, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(ready.CannotRunFull) as err:
        notebook_code.opening(nb.path, 1, PROFILE="full")
    for download in ladders.downloads_for(nb.id, nb.downloads, ladders.free_vram_gib()):  # what its rung loads here
        name = download.split(":", 1)[1]
        assert name.split("/")[-1].lower() in str(err.value).lower(), f"the message should name {name}"
