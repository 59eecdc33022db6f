"""Import a notebook's code into a test, as the notebook tests of LLMs-from-scratch do.

``definitions(nb)`` reads the notebook's code cells with nbformat and executes, in a fresh namespace,
only what defines something: imports, ``def`` and ``class`` statements and ``NAME = literal`` constants.
Nothing that trains, downloads or plots runs, so a test can call the notebook's own functions on small
inputs and check what they do. ``opening(nb, cells, **parameters)`` runs the first code cells after the
parameters cell as papermill would (the given parameters injected), for tests of how a notebook starts.
"""

from __future__ import annotations

import ast
import re
import types
from pathlib import Path

import nbformat

from course import syllabus

_MAGIC = re.compile(r"^\s*[%!].*$", re.M)  # IPython magics and shell lines are not Python
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def path(nb: str | Path) -> Path:
    """A notebook id of the syllabus (``"04a-cnns-on-cifar10"``, or a prefix such as ``"04a"``), or a path."""
    if isinstance(nb, Path):
        return nb
    matches = [n.path for n in syllabus.load().notebooks if n.id == nb or n.id.startswith(f"{nb}-")]
    if len(matches) != 1:
        raise KeyError(f"{nb!r} names {len(matches)} notebooks of the syllabus")
    return matches[0]


def cells(nb: str | Path) -> list:
    """The notebook's cells, read with nbformat."""
    return nbformat.read(path(nb), as_version=4).cells


def python(cell) -> str:
    """The Python source of a code cell: IPython magics and shell lines removed."""
    return _MAGIC.sub("", cell.source)


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _constant_names(node: ast.stmt) -> list[str]:
    """The names ``NAME = literal`` binds (upper-case names only), else []."""
    if isinstance(node, ast.Assign) and _literal(node.value):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign) and node.value is not None and _literal(node.value):
        targets = [node.target]
    else:
        return []
    names = [t.id for t in targets if isinstance(t, ast.Name)]
    return names if len(names) == len(targets) and all(n.isupper() for n in names) else []


def _bound(node: ast.stmt) -> set[str]:
    """The names an import, ``def`` or ``class`` statement binds."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    return {node.name}


def parameters(nb: str | Path) -> dict:
    """The literal assignments of the cell tagged ``parameters``."""
    (cell,) = [c for c in cells(nb) if "parameters" in c.metadata.get("tags", [])]
    namespace: dict = {}
    exec(compile(python(cell), f"<{path(nb).name}>", "exec", dont_inherit=True), namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def definitions(nb: str | Path, *names: str, **given) -> types.SimpleNamespace:
    """The notebook's imports, functions, classes and literal constants, executed in a fresh namespace.

    ``given`` values are set first and win over the notebook's constants: pass what a definition needs
    that the notebook computes (``definitions("03a", C1=8, C2=16)`` for ``def small_cnn(c1=C1, c2=C2)``).
    A definition that cannot be made (a default argument the notebook computes at run time) is skipped,
    unless it is one of ``names``: then the error says what to pass.
    """
    kept = []  # (statement, names it binds), in notebook order
    for cell in cells(nb):
        if cell.cell_type != "code":
            continue
        for node in ast.parse(python(cell)).body:
            constants = _constant_names(node)
            if constants and not all(n in given for n in constants):
                kept.append((node, set(constants)))
            elif isinstance(node, _KEEP):
                kept.append((node, _bound(node)))
    if names:  # only what the named definitions need, so unrelated heavy imports stay out
        needed, size = set(names), 0
        while size != len(needed):
            size = len(needed)
            for node, bound in kept:
                if bound & needed:
                    needed |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        kept = [(node, bound) for node, bound in kept if bound & needed]
    namespace: dict = {"__name__": "notebook"} | given
    source = f"<{path(nb).name}>"  # not the .ipynb itself: a traceback would print its JSON
    for node, _ in kept:
        try:
            exec(compile(ast.Module(body=[node], type_ignores=[]), source, "exec", dont_inherit=True), namespace)
        except NameError as err:
            if getattr(node, "name", None) in names:
                raise NameError(f"{node.name} needs {err.name}: pass it, e.g. definitions(..., "
                                f"{err.name}=...)") from err
    missing = [n for n in names if n not in namespace]
    if missing:
        raise AttributeError(f"{path(nb).name} defines no {', '.join(missing)}")
    return types.SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})


def opening(nb: str | Path, code_cells: int, **injected) -> dict:
    """Run the first ``code_cells`` code cells after the parameters cell, with ``injected`` parameters.

    As papermill does: the parameters cell runs, then the injected values replace its own. Cells before
    the parameters cell (the Colab install cell) run too; off Colab they do nothing. Returns the namespace;
    an exception of a cell propagates, so ``pytest.raises`` tells where a notebook stops.
    """
    namespace: dict = {"__name__": "__main__"}
    source = f"<{path(nb).name}>"
    after = None
    for cell in cells(nb):
        if cell.cell_type != "code":
            continue
        if after is not None:
            if after == code_cells:
                break
            after += 1
        exec(compile(python(cell), source, "exec", dont_inherit=True), namespace)
        if "parameters" in cell.metadata.get("tags", []):
            namespace.update(injected)
            after = 0
    return namespace
