"""``python -m benchmarks [--json] [--quick]``: every benchmark, one table."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import pkgutil
import sys
import traceback

import benchmarks
from benchmarks.common import machine, print_table, row

SKIP = {"common", "rehearse"}  # rehearse needs a CUDA GPU: run it on its own


def main() -> int:
    """Run each benchmark module's run() and print the rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, week 0 only for smoke seconds")
    args = parser.parse_args()
    rows = []
    for mod in sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)):
        if mod in SKIP or mod.startswith("_"):
            continue
        module = importlib.import_module(f"benchmarks.{mod}")
        if not hasattr(module, "run"):
            continue
        try:
            with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):  # keep --json output pure
                rows.append(module.run(quick=args.quick))
        except Exception as err:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc(file=sys.stderr)
            rows.append(row(mod, float("nan"), "error", str(err)[:60], False))
    if args.json:
        print(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    else:
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
