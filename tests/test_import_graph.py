"""The house's shape: notebooks -> helpers, course -> helpers, nothing back (no import, no file read), no loop."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("helpers", "course")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every module of this repo that ``path`` imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    paths = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    known = {_module_name(p) for p in paths}
    graph = {}
    for p in paths:
        name = _module_name(p)
        parent = name.rpartition(".")[0]
        # importing a submodule runs its package's __init__; that edge is not a design choice
        graph[name] = {m for m in _imports(p, known) if m != name and m not in (parent, *PACKAGES)}
    return graph


def test_helpers_import_nothing_from_course():
    offenders = {m: sorted(i for i in deps if i.startswith("course")) for m, deps in _graph().items()
                 if m.startswith("helpers")}
    assert not {m: d for m, d in offenders.items() if d}, offenders


def test_no_module_of_helpers_or_course_is_part_of_an_import_loop():
    graph = _graph()
    loops = []

    def visit(node: str, path: list[str], seen: set[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                loops.append(" -> ".join([*path, nxt]))
            elif nxt not in seen and nxt > path[0]:  # each loop once, from its smallest module
                seen.add(nxt)
                visit(nxt, [*path, nxt], seen)
                seen.discard(nxt)

    for start in sorted(graph):
        visit(start, [start], {start})
    assert not loops, loops


EXERCISE_BANKS = ROOT / "course" / "exercises"


def test_no_module_is_over_400_lines():
    """The toolkit's modules stay readable in one sitting (STYLE: no module over ~400 lines). A notebook's exercise
    bank (course/exercises/) is held to 600: besides its questions and reference solutions it keeps every typical
    mistake found so far, each a small wrong implementation with its explanation, and it grows with each one."""
    long = {}
    for p in (path for pkg in (*PACKAGES, "benchmarks") for path in (ROOT / pkg).rglob("*.py")):
        limit = 600 if p.parent == EXERCISE_BANKS and p.name != "__init__.py" else 400
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > limit:
            long[str(p.relative_to(ROOT))] = f"{n} lines, over {limit}"
    assert not long, long


def _names_course_folder(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and (
        node.value == "course" or node.value.startswith(("course/", "course\\")))


def test_helpers_read_no_file_from_the_course_folder():
    """Data helpers load ships with helpers (package data): no ``files("course")``, no path through course/."""
    offenders = []
    for path in (ROOT / "helpers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                args = [node.left, node.right]  # Path(...) / "course"
            elif isinstance(node, ast.Call):
                args = [*node.args, *(k.value for k in node.keywords)]  # files("course"), os.path.join(.., "course")
            else:
                continue
            if any(_names_course_folder(a) for a in args):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_every_helpers_module_points_to_the_notebooks_that_teach_it():
    """d2l-style: a reader goes from a helper module to its lesson through one line of its docstring."""
    ids = {p.stem for p in (ROOT / "notebooks").rglob("*.ipynb")}
    missing = []
    for path in (ROOT / "helpers").rglob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if path.name != "__init__.py" or path.parent.name != "helpers":
            if "Taught in" not in doc or not any(nb_id in doc for nb_id in ids):
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, missing


def test_the_helpers_index_names_every_module_once():
    import helpers

    modules = sorted(p.stem for p in (ROOT / "helpers").glob("*.py") if p.stem != "__init__")
    assert sorted(helpers.__all__) == modules, "helpers.__all__ lists every module of helpers/"
    listed = [line.split()[0] for line in helpers.__doc__.splitlines() if line.startswith("    ") and line.split()]
    assert sorted(listed) == modules, "the index in helpers/__init__.py names every module, each once"


def test_the_import_cost_benchmark_imports_what_a_notebook_imports():
    """Its import line names real modules (a rename once left it importing helpers.profile, and the row broke)."""
    from benchmarks import import_cost

    exec(import_cost.NOTEBOOK_IMPORT, {})  # noqa: S102 - the benchmark's own line, as its fresh interpreter runs it
