"""One GPU rehearsal of every GPU notebook, offline: its heaviest step at real size under a 12 GiB cap.

``python -m benchmarks.rehearse --notebooks [SELECTOR ...] [--json] [--out FILE]`` takes every notebook whose
syllabus entry says its full profile needs a GPU (``needs`` holds "gpu" or "cuda-only") or whose ladder
(``helpers.ladders``) has GPU rungs, builds the models of its heaviest step from their configs (real architecture and shapes, random weights, synthetic data, nothing
downloaded), caps the card at 12 GiB with ``torch.cuda.set_per_process_memory_fraction`` and runs the step.
Per notebook it reports the planner's estimate (its tensors, without the CUDA context and allocator reserve
that PyTorch's allocator peak does not see; none for CNNs and diffusers pipelines, whose activations it does
not model), the measured peak (allocated and reserved), the syllabus's peak-VRAM figure, and a verdict: within
max(10 %, 0.5 GB) of the planner (or, with no planner figure, of the rung's measured rule ``need_gib``, else of the
syllabus), or not; an out-of-memory is expected only where the planner says it does not fit. ``--list`` prints the
notebook ids it covers, each with its 12 GiB rung and/or its step (NO STEP where nothing rehearses one). Without
CUDA it says so and exits 0. A notebook with a ladder is rehearsed at its 12 GiB rung: the rung its ladder takes on a
12 GB card beside a desktop (``helpers.ladders.REFERENCE_FREE_GIB``): its ``plan`` (which its syllabus ``plan``
table repeats), or, for a rung with a measured rule (08a, 08b, e3), its step in STEPS, judged against the rule's
``need_gib``.

It runs from a bare GPU box: the repository folder on ``PYTHONPATH`` (no install), torch, transformers,
peft, accelerate (older versions than the course pins are fine), bitsandbytes and diffusers; it imports
nothing else the course pins (the syllabus is read with ``tomllib``). LLM notebooks take their step from
their 12 GiB rung or their syllabus ``plan = {...}`` table, read when this runs; the others from ``rehearse_steps.STEPS``, which mirrors
each notebook's full-profile defaults (keep them in step when a notebook changes).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

import tomllib

from benchmarks.rehearse_steps import STEPS, llm_step
from helpers.presets import GIB

REPO = Path(__file__).resolve().parents[1]
SYLLABUS = REPO / "course" / "syllabus.toml"
CAP_GIB = 12.0
BUDGET_S = 9 * 60  # a notebook is skipped (and says so) once this much time has passed
GB = 1e9


def _ladder(nb_id: str) -> tuple | None:
    from helpers import ladders

    try:
        return ladders.ladder(nb_id)
    except KeyError:
        return None


def twelve_gib_rung(nb_id: str):  # noqa: ANN201 - a helpers.ladders.Rung, or None
    """The rung a notebook's ladder takes on the reference 12 GB card beside a desktop (None: no ladder, or no fit)."""
    from helpers import ladders

    if _ladder(nb_id) is None:
        return None
    rung, _why = ladders.choose(nb_id, ladders.REFERENCE_FREE_GIB)
    return rung if rung is not None and not rung.cpu else None


def gpu_notebooks(source: Path = SYLLABUS) -> list[dict]:
    """The syllabus entries whose full profile needs a GPU or has GPU rungs, in course order (raw TOML tables)."""
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    return [e for e in data.get("notebooks", []) if {"gpu", "cuda-only"} & set(e.get("needs", []))
            or any(not r.cpu for r in _ladder(e["id"]) or ())]


def step_for(entry: dict):  # noqa: ANN201 - a step maker (device, tiny) -> (run, planner_bytes, what), or None
    """What rehearses a notebook: its 12 GiB rung's plan, its syllabus ``plan`` table, or its step in STEPS."""
    rung = twelve_gib_rung(entry["id"])
    if rung is not None and rung.plan is not None:
        return lambda d, t: llm_step(rung.plan, d, t)
    if isinstance(entry.get("plan"), dict):
        return lambda d, t: llm_step(entry["plan"], d, t)
    return STEPS.get(entry["id"])


def select(entries: list[dict], selectors: list[str]) -> list[dict]:
    """Entries matching selectors: "all", a week ("6"), an id or its prefix ("06b"), "extras"."""
    if not selectors or "all" in selectors:
        return entries
    chosen = []
    for e in entries:
        for s in (s.strip().lower() for s in selectors):
            week = str(e.get("week"))
            if s in (e["id"], e["id"].split("-", 1)[0]) or (s.isdigit() and week.isdigit() and int(s) == int(week)) \
                    or (s == "extras" and week == "extras"):
                chosen.append(e)
                break
    return chosen


# ------------------------------------------------------------------------------------------- the harness
def rehearse_one(entry: dict, device: str = "cuda", tiny: bool = False, cap_gib: float = CAP_GIB) -> dict:
    """Run one notebook's heaviest step (capped on CUDA) and judge it; never raises for an OOM."""
    import torch

    from helpers import vram

    nb_id, full = entry["id"], entry.get("full", {})
    row = {"notebook": nb_id, "syllabus_gb": full.get("vram_gb"), "syllabus_source": full.get("vram_source", "")}
    rung = twelve_gib_rung(nb_id)
    if rung is not None:
        row["rung"] = rung.name
        if rung.plan is None and rung.need_gib is not None:
            row["rung_need_gib"] = rung.need_gib  # its measured rule, what the notebook states for this rung
    make = step_for(entry)
    if make is None:
        return row | {"status": "no step", "verdict": "no 12 GiB rung plan, no plan table in the syllabus and no step "
                                                      "in STEPS"}
    cuda = device == "cuda"
    t0 = time.perf_counter()
    try:
        run, planned, what = make(device, tiny)
    except (ValueError, TypeError) as err:
        return row | {"status": "bad plan", "verdict": f"the planner refused the plan: {err}"}
    row |= {"step": what, "planner_bytes": planned}
    if cuda:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, cap_gib * GIB / total))
        gc.collect()
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    status = "ok"
    try:
        out = run()
        if isinstance(out, dict) and out.get("status") == "oom":
            status = "oom"
        if cuda:
            torch.cuda.synchronize()
            row |= {"peak_allocated": torch.cuda.max_memory_allocated() - base,
                    "peak_reserved": torch.cuda.max_memory_reserved()}
    except Exception as err:  # noqa: BLE001 - an OOM under the cap is a result
        if not vram.is_oom(err):
            raise
        status = "oom"
    finally:
        run = None
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.set_per_process_memory_fraction(1.0)
    row |= {"status": status, "seconds": round(time.perf_counter() - t0, 1)}
    return row | judge(row, cap_gib)


def judge(row: dict, cap_gib: float = CAP_GIB) -> dict:
    """The verdict: within max(10 %, 0.5 GB) of the planner (else the rung's measured rule, else the syllabus), or not."""
    planned = row.get("planner_bytes")
    if planned is not None:
        reference, against = planned, "planner"
    elif row.get("rung_need_gib"):
        reference, against = row["rung_need_gib"] * GIB, "rung's need_gib"
    else:
        reference, against = (row["syllabus_gb"] * GB if row.get("syllabus_gb") else None), "syllabus"
    if row["status"] == "oom":
        should_fit = reference is None or reference <= cap_gib * GIB
        return {"agrees": not should_fit, "verdict": "OUT OF MEMORY where it should fit" if should_fit
                else f"out of memory, as the {against} predicts"}
    measured = row.get("peak_allocated")
    if measured is None:
        return {"agrees": None, "verdict": "ran (no CUDA peak to compare on this device)"}
    if reference is None:
        return {"agrees": None, "verdict": "measured; nothing to compare with"}
    error = measured - reference
    ok = abs(error) <= max(0.10 * reference, 0.5 * GB)
    out = {"agrees": ok, "error_bytes": error,
           "verdict": f"{'within' if ok else 'OUTSIDE'} max(10 %, 0.5 GB) of the {against} ({error / GIB:+.2f} GiB)"}
    if planned is not None and row.get("syllabus_gb"):
        out["syllabus_ok"] = measured <= row["syllabus_gb"] * GB * 1.1 + 0.5 * GB
    return out


def _line(r: dict) -> str:
    def gib(v: float | None) -> str:
        return f"{v / GIB:6.2f}" if isinstance(v, int | float) else "     -"

    return (f"{r['notebook'] + (' ' + r['rung'] if r.get('rung') else ''):<28} planner {gib(r.get('planner_bytes'))}  allocated {gib(r.get('peak_allocated'))}  "
            f"reserved {gib(r.get('peak_reserved'))} GiB  syllabus {r.get('syllabus_gb')} GB  "
            f"{r.get('status')}: {r.get('verdict')}")


def main(argv: list[str] | None = None) -> int:
    """CLI: list or rehearse the GPU notebooks; print a table or JSON; exit 0 without CUDA, saying so."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="*", default=[], metavar="SELECTOR",
                        help="notebook ids, prefixes (06b), weeks (6) or 'extras' (default: every GPU notebook)")
    parser.add_argument("--list", action="store_true", help="print the notebook ids it covers and exit")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON to this file")
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)  # tests: cpu
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests: tiny replicas
    args = parser.parse_args(argv)
    entries = select(gpu_notebooks(), args.notebooks)
    if args.list:
        for e in entries:
            rung, make = twelve_gib_rung(e["id"]), step_for(e)
            how = [f"12 GiB rung: {rung.name}"] if rung else []
            how += [f"step: {make.__name__}"] if make is not None and make is STEPS.get(e["id"]) else []
            how += [] if make is not None else ["NO STEP: add one to benchmarks/rehearse_steps.py"]
            print(e["id"] + (f"  ({'; '.join(how)})" if how else ""))
        return 0
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("benchmarks.rehearse needs a CUDA GPU (it measures real peaks under a 12 GiB cap); none is visible "
              "here, so nothing ran. `--list` shows what it covers; tests/test_rehearse.py runs its code on the CPU.")
        return 0
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    rows = []
    for entry in entries:
        if time.perf_counter() - t0 > BUDGET_S:
            rows.append({"notebook": entry["id"], "status": "skipped", "agrees": None,
                         "verdict": f"time budget of {BUDGET_S // 60} minutes spent; rerun with --notebooks {entry['id']}"})
        else:
            rows.append(rehearse_one(entry, args.device, args.tiny))
        print(_line(rows[-1]), file=sys.stderr if args.json else sys.stdout, flush=True)
    result = {"gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else args.device, "cap_gib": CAP_GIB,
              "torch": torch.__version__, "seconds": round(time.perf_counter() - t0, 1), "notebooks": rows}
    try:
        import transformers

        result["transformers"] = transformers.__version__
    except ImportError:
        pass
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.json:
        print(text)
    else:
        ran = [r for r in rows if r.get("agrees") is not None]
        print(f"\n{sum(bool(r['agrees']) for r in ran)} of {len(ran)} judged notebooks agree "
              f"({result['gpu']}, capped at {CAP_GIB:g} GiB, {result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
