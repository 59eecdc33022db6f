"""What a notebook's full profile needs is declared once, in its `ready.require_full` call, spelled as the syllabus.

The call is read with `ast` from the notebook's JSON. Its `needs` and `downloads` are evaluated with the values of
the notebook's parameters cell (a learner who changes MODEL changes what is checked) and must equal the `needs`
and `downloads` of the notebook's `[[notebooks]]` entry in course/syllabus.toml. A notebook without the call
needs nothing that could stop it: no GPU, and only downloads with a `fallback`.
"""

from __future__ import annotations

import ast

import nbformat
import pytest

from course import syllabus as syl
from helpers import ready

COURSE = syl.load()


def _parameters_and_code(nb: syl.Notebook) -> tuple[dict, list[str]]:
    """The parameters cell's values, and the sources of the code cells after it."""
    cells = nbformat.read(nb.path, as_version=4).cells
    at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    params: dict = {}
    exec(cells[at].source, {}, params)  # noqa: S102 - literals and comments (CONTRIBUTING.md)
    return params, [c.source for c in cells[at + 1:] if c.cell_type == "code"]


def _require_full_calls(source: str) -> list[ast.Call]:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]  # magics
    return [node for node in ast.walk(ast.parse("\n".join(lines)))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "require_full"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "ready"]


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


def declared(nb: syl.Notebook) -> dict[str, tuple] | None:
    """``{"needs": ..., "downloads": ...}`` of the notebook's require_full call, or None without one."""
    params, sources = _parameters_and_code(nb)
    calls = [(i, call) for i, src in enumerate(sources) for call in _require_full_calls(src)]
    if not calls:
        return None
    assert len(calls) == 1, f"{nb.id}: one require_full call, not {len(calls)}"
    index, call = calls[0]
    assert index == 0, f"{nb.id}: call require_full in the first code cell after the parameters, before any work"
    keywords = {k.arg: k.value for k in call.keywords}
    return {name: _strings(keywords[name], params) if name in keywords else () for name in ("needs", "downloads")}


@pytest.mark.parametrize("nb", COURSE.notebooks, ids=[nb.id for nb in COURSE.notebooks])
def test_the_notebooks_require_full_call_says_what_its_syllabus_entry_says(nb):
    call = declared(nb)
    if call is None:
        assert not nb.needs, f"{nb.id}: the syllabus says it needs {nb.needs}; call ready.require_full(P, needs=...)"
        return
    assert call == {"needs": nb.needs, "downloads": nb.downloads}, (
        f"{nb.id}: ready.require_full says {call}, course/syllabus.toml says needs={list(nb.needs)}, "
        f"downloads={list(nb.downloads)}")
    assert all(ready.is_cached(d) in (True, False) for d in call["downloads"]), "every download is one ready knows"


def test_a_parameter_changes_what_the_call_checks():
    nb = COURSE.by_id("08a-text-to-image")
    params, sources = _parameters_and_code(nb)
    call = _require_full_calls(sources[0])[0]
    downloads = next(k.value for k in call.keywords if k.arg == "downloads")
    assert _strings(downloads, params | {"MODEL": "org/other"}) == ("hf-model:org/other",)
