"""One rule decides the 16-bit type: ``helpers.gpu.precision``. No other notebook, helper or benchmark decides it.

Deciding means asking the hardware (``is_bf16_supported``, ``get_device_capability``, ``native_bf16``) or
choosing between dtypes on a condition about the machine (``torch.bfloat16 if ... else torch.float16``, or a
16-bit type against fp32 by device). A fixed dtype that a lesson is about (06b's "pure bf16" recipe, a 4-bit config's compute dtype
in an exercise) is not a decision and is allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from course import notebook_code

ROOT = Path(__file__).resolve().parents[1]
RULE = ROOT / "helpers" / "gpu.py"
DTYPES = {"bfloat16", "float16", "half", "float32", "float"}
HARDWARE_QUESTIONS = {"is_bf16_supported", "get_device_capability", "native_bf16"}
HARDWARE_WORDS = ("cuda", "cpu", "mps", "dev", "capab", "bf16", "native", "support", "gpu")  # a condition on the machine
ALLOWED_HARDWARE = {ROOT / "helpers" / "machine.py": {"get_device_capability"}}  # facts for the report, not a choice


def _sources() -> list[tuple[str, str]]:
    found = []
    for folder in ("helpers", "benchmarks", "course"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != RULE:
                found.append((str(path.relative_to(ROOT)), path.read_text()))
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        code = [notebook_code.python(c) for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        found.append((str(path.relative_to(ROOT)), "\n".join(code)))
    return found


def _dtypes(node: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr in DTYPES
            and isinstance(n.value, ast.Name) and n.value.id == "torch"}


def decisions(source: str, path: Path | None = None) -> list[str]:
    """Places in ``source`` that decide a 16-bit type themselves."""
    found = []
    allowed = ALLOWED_HARDWARE.get(path, set()) if path else set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in HARDWARE_QUESTIONS - allowed:
                found.append(f"line {node.lineno}: asks the hardware ({name})")
        if isinstance(node, ast.IfExp | ast.If):
            body = node.body if isinstance(node, ast.IfExp) else ast.Module(body=node.body, type_ignores=[])
            orelse = node.orelse if isinstance(node, ast.IfExp) else ast.Module(body=node.orelse, type_ignores=[])
            a, b = _dtypes(body), _dtypes(orelse)
            about_hardware = any(w in ast.unparse(node.test).lower() for w in HARDWARE_WORDS)
            if a and b and a != b and (a | b) & {"bfloat16", "float16", "half"} and about_hardware:
                found.append(f"line {node.lineno}: chooses between {sorted(a)} and {sorted(b)}")
    return found


@pytest.mark.parametrize("name, source", _sources(), ids=[n for n, _ in _sources()])
def test_only_the_course_rule_decides_the_16_bit_type(name, source):
    found = decisions(source, ROOT / name)
    assert not found, f"{name}: ask helpers.gpu.precision(device) instead: {found}"


def test_the_check_catches_a_hand_made_rule():
    assert decisions("import torch\ndtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16")
    assert decisions("import torch\nif dev == 'cuda':\n    d = torch.float16\nelse:\n    d = torch.float32")
    assert not decisions("import torch\nd = gpu.precision(dev).compute\ne = torch.bfloat16")
