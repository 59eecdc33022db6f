"""What every benchmark shares: the result row, timing in fresh processes, and the CLI."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any


def row(name: str, value: float, unit: str, goal: str, ok: bool, **details: Any) -> dict[str, Any]:
    """One benchmark result: the measured value, the goal it is held to, and the details."""
    return {"benchmark": name, "value": round(value, 4), "unit": unit, "goal": goal, "ok": bool(ok),
            "details": details}


def machine() -> str:
    """A short description of this machine, for the README's figures."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def time_side_by_side(codes: Sequence[str], repeats: int = 5, env: dict[str, str] | None = None) -> list[float]:
    """Median wall seconds of each ``python -c CODE`` in new interpreters, the codes run in turn (a, b, a, b, ...)
    so that a change in the machine's load falls on all of them alike; the start-up of Python is subtracted."""
    def once(src: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", src], check=True, env={**os.environ, **(env or {})},
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - start

    for code in codes:
        once(code)  # warm the OS file cache
    rounds = [[once(code) for code in ("pass", *codes)] for _ in range(repeats)]
    base = statistics.median(r[0] for r in rounds)
    return [statistics.median(r[i] for r in rounds) - base for i in range(1, len(codes) + 1)]


def main(run: Callable[..., dict[str, Any]], argv: list[str] | None = None) -> int:
    """CLI for one benchmark module: prints its row, or JSON with --json."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):  # keep --json output pure
        result = run(quick=args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table([result])
    return 0


def print_table(rows: list[dict[str, Any]]) -> None:
    """Rows as an aligned table."""
    width = max(len(r["benchmark"]) for r in rows)
    print(f"{'benchmark':<{width}}  {'value':>10}  {'unit':<18}  {'goal':<22}  ok")
    for r in rows:
        print(f"{r['benchmark']:<{width}}  {r['value']:>10.4g}  {r['unit']:<18}  {r['goal']:<22}  "
              f"{'yes' if r['ok'] else 'NO'}")
    print(f"\nmachine: {machine()}")
