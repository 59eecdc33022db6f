"""``python -m course run``: execute notebooks with papermill and check their recorded metrics.

Each notebook runs in a fresh kernel of this Python, with ``PROFILE`` injected into its
``parameters`` cell and ``COURSE_METRICS_FILE`` pointing at a sidecar JSON file where
``helpers.metrics.record`` writes its metrics and peak memory. The runner compares them with
the syllabus thresholds for the profile and writes the executed notebooks and summary.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from course import syllabus as syl
from course.errors import CourseError
from course.kernels import KERNEL_NAME, kernel_dir, kernel_manager_options
from helpers.metrics import is_measurement
from helpers.profiles import PROFILES

DEFAULT_CELL_TIMEOUT = {"smoke": 300, "full": -1}


@dataclass
class Result:
    """The outcome of one notebook run."""

    notebook: str
    status: str  # passed | failed (threshold missed) | error (cell raised) | timeout
    seconds: float
    run: int = 1
    metrics: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    output: str = ""


def check_metrics(nb: syl.Notebook, profile: str, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Compare recorded metrics with the syllabus thresholds; one dict per threshold."""
    checks = []
    for name, threshold in nb.profile(profile).metrics.items():
        value = metrics.get(name)
        ok = name in metrics and threshold.check(value)
        checks.append({"metric": name, "value": value, "expected": str(threshold), "ok": ok})
    return checks


def _prepare_out(out: Path) -> None:
    try:
        (out / "metrics").mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise CourseError(f"Cannot write to output folder {out} ({err.strerror or err}); "
                          "pass a writable folder with --out.") from None


def run_one(nb: syl.Notebook, profile: str, out: Path, timeout: float | None = None, run: int = 1) -> Result:
    """Execute one notebook in a fresh kernel and check its metrics."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    suffix = "" if run == 1 else f".run{run}"
    metrics_file = out / "metrics" / f"{nb.id}{suffix}.json"
    metrics_file.unlink(missing_ok=True)
    output = out / f"{nb.id}{suffix}.ipynb"
    cell_timeout = DEFAULT_CELL_TIMEOUT[profile] if timeout is None else timeout
    env_backup = {k: os.environ.get(k) for k in ("COURSE_METRICS_FILE", "COURSE_PROFILE", "JUPYTER_PATH",
                                                 "MPLBACKEND")}
    os.environ["COURSE_METRICS_FILE"] = str(metrics_file)
    os.environ["COURSE_PROFILE"] = profile
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # plots inline in the executed copy
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(kernel_dir()), env_backup["JUPYTER_PATH"]]))
    start = time.perf_counter()
    status, message = "passed", ""
    try:
        papermill.execute_notebook(
            str(nb.path), str(output), parameters={"PROFILE": profile}, kernel_name=KERNEL_NAME,
            cwd=str(nb.path.parent), progress_bar=False, log_output=False,
            execution_timeout=None if cell_timeout is None or cell_timeout < 0 else cell_timeout,
            **kernel_manager_options(),
        )
    except PapermillExecutionError as err:
        status, message = "error", f"cell {err.exec_count}: {err.ename}: {err.evalue}".strip()
    except Exception as err:  # noqa: BLE001 - a timeout or a dead kernel is a result, not a crash
        name = type(err).__name__
        status = "timeout" if "Timeout" in name else "error"
        message = f"{name}: {err}".splitlines()[0][:300]
    finally:
        for key, value in env_backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - start
    saved = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    result = Result(notebook=nb.id, status=status, seconds=round(seconds, 2), run=run,
                    metrics=saved.get("metrics", {}), memory=saved.get("memory", {}), message=message,
                    output=str(output))
    result.checks = check_metrics(nb, profile, result.metrics)
    if status == "passed":
        missed = [c for c in result.checks if not c["ok"]]
        if missed:
            result.status = "failed"
            result.message = "; ".join(
                f"{c['metric']} = {c['value']} (expected {c['expected']})" if c["value"] is not None
                else f"{c['metric']} not recorded" for c in missed)
    return result


def compare_runs(results: list[Result]) -> list[str]:
    """Seeded metrics (not timings or memory) that differ between runs of the same notebook."""
    first: dict[str, Result] = {}
    problems = []
    for res in results:
        if res.status != "passed":
            continue
        if res.notebook not in first:
            first[res.notebook] = res
            continue
        base = first[res.notebook]
        for name, value in res.metrics.items():
            if not is_measurement(name) and base.metrics.get(name) != value:
                problems.append(f"{res.notebook}: {name} was {base.metrics.get(name)} in run {base.run}, "
                                f"{value} in run {res.run}")
    return problems


def _fmt_metrics(res: Result) -> str:
    checked = {c["metric"]: c for c in res.checks}
    parts = []
    for name, value in res.metrics.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        if name in checked:
            mark = "ok" if checked[name]["ok"] else "MISSED"
            parts.append(f"{name}={shown} [{checked[name]['expected']} {mark}]")
        else:
            parts.append(f"{name}={shown}")
    return ", ".join(parts)


def print_table(results: list[Result]) -> None:
    """A summary table: notebook, status, seconds, peak memory, metrics against thresholds."""
    width = max([len(r.notebook) for r in results] + [8])
    print(f"\n{'notebook':<{width}}  {'status':<7}  {'seconds':>7}  {'peak RAM':>9}  {'peak VRAM':>9}  metrics")
    for r in results:
        rss = f"{r.memory.get('peak_rss_mb', 0) / 1024:.2f} GB" if r.memory.get("peak_rss_mb") else "-"
        vram = f"{r.memory['peak_vram_mb'] / 1024:.2f} GB" if r.memory.get("peak_vram_mb") else "-"
        print(f"{r.notebook:<{width}}  {r.status:<7}  {r.seconds:>7.1f}  {rss:>9}  {vram:>9}  {_fmt_metrics(r)}")
        if r.message:
            print(f"{'':<{width}}  -> {r.message}")


def run(notebooks: list[syl.Notebook], profile: str, out: Path, timeout: float | None = None,
        shuffle: int | None = None, repeat: int = 1, jobs: int = 1) -> dict[str, Any]:
    """Run notebooks (optionally shuffled, repeated, several at once); write and return the summary."""
    from tqdm.auto import tqdm

    out = Path(out).resolve()  # kernels run in their notebook's folder: a relative path would land there
    _prepare_out(out)
    plan = [(nb, k + 1) for k in range(repeat) for nb in notebooks]
    if shuffle is not None:
        random.Random(shuffle).shuffle(plan)
        print(f"Running {len(plan)} notebook runs in a random order (seed {shuffle}).")
    results: list[Result] = []
    bar = tqdm(total=len(plan), desc=f"{profile} run", unit="notebook", file=sys.stderr, disable=None)
    if jobs <= 1:
        for nb, k in plan:
            bar.set_postfix_str(nb.id)
            results.append(run_one(nb, profile, out, timeout=timeout, run=k))
            bar.update()
    else:  # each worker is its own process, so each has its own environment variables
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [pool.submit(run_one, nb, profile, out, timeout, k) for nb, k in plan]
            for fut in as_completed(futures):
                res = fut.result()
                bar.set_postfix_str(res.notebook)
                results.append(res)
                bar.update()
        position = {(nb.id, k): i for i, (nb, k) in enumerate(plan)}
        results.sort(key=lambda r: position[(r.notebook, r.run)])
    bar.close()
    drift = compare_runs(results) if repeat > 1 else []
    summary = {
        "profile": profile, "shuffle_seed": shuffle, "repeat": repeat,
        "passed": all(r.status == "passed" for r in results) and not drift,
        "results": [asdict(r) for r in results], "differences_between_runs": drift,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print_table(results)
    for line in drift:
        print(f"not repeatable: {line}")
    return summary


def main(args: argparse.Namespace) -> int:
    """CLI entry: validate arguments, run, print the table; exit 1 if anything failed."""
    profile = args.profile.strip().lower()
    if profile not in PROFILES:
        raise CourseError(f"Unknown profile {args.profile!r}: use one of {', '.join(PROFILES)}.")
    if args.repeat < 1:
        raise CourseError("--repeat must be 1 or more.")
    if args.timeout is not None and args.timeout <= 0:
        raise CourseError("--timeout must be a positive number of seconds.")
    course = syl.load(args.syllabus)
    notebooks = syl.select(course, args.selectors)
    missing = [nb.file for nb in notebooks if not nb.path.exists()]
    if missing:
        raise CourseError(f"Notebook file not found: {', '.join(missing)} (is the syllabus out of date?).")
    out = Path(args.out)
    if args.jobs < 1:
        raise CourseError("--jobs must be 1 or more.")
    summary = run(notebooks, profile, out, timeout=args.timeout, shuffle=args.shuffle, repeat=args.repeat,
                  jobs=args.jobs)
    print(f"\nExecuted notebooks and summary.json are in {out}/")
    return 0 if summary["passed"] else 1
