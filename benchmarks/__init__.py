"""Benchmarks: speed and memory targets measured as ratios side by side in one run.

Each module ``benchmarks/NAME.py`` has ``run(quick: bool = False) -> dict`` returning a row
(see :func:`benchmarks.common.row`) and is runnable as ``python -m benchmarks.NAME [--json]``.
``python -m benchmarks`` runs them all and prints one table.
"""
