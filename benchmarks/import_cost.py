"""``import helpers`` (what a notebook imports) vs ``import torch``, in fresh interpreters. Goal <= 1.1x."""

from __future__ import annotations

import sys

from benchmarks.common import main, row, time_side_by_side

NOTEBOOK_IMPORT = "import helpers; from helpers import gpu, metrics, plots, profiles, vram"  # what every notebook opens with


def run(quick: bool = False) -> dict:
    """Measure both imports side by side and return the ratio."""
    repeats = 3 if quick else 7
    torch_s, helpers_s = time_side_by_side(("import torch", NOTEBOOK_IMPORT), repeats)
    ratio = helpers_s / torch_s
    return row("import helpers / import torch", ratio, "x (ratio)", "<= 1.1", ratio <= 1.1,
               torch_s=round(torch_s, 3), helpers_s=round(helpers_s, 3), helpers_import=NOTEBOOK_IMPORT)


if __name__ == "__main__":
    sys.exit(main(run))
