"""``python -m course``: list, doctor, fetch, run, lab, plan, handouts, exercises, progress, reset. This file only parses and dispatches."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from course.errors import CourseError

# Each command is one module of ``course.commands``, named after it, with a ``main(args) -> int``.
COMMANDS = ("list", "doctor", "fetch", "run", "lab", "plan", "handouts", "exercises", "progress", "reset")


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line with exit code 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see `python -m course {self.prog.split()[-1]} --help`)\n"
                         if " " in self.prog else f"error: {message} (see `python -m course --help`)\n")
        raise SystemExit(2)


def _selectors(p: argparse.ArgumentParser) -> None:
    """The SELECTOR arguments that run, exercises and progress share."""
    p.add_argument("selectors", nargs="*", metavar="SELECTOR",
                   help="week number (3 or 03), notebook id, 'extras' or 'all' (default)")


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    parser = _Parser(prog="course", description="Deep Learning on 12 GB: the course's command line.")
    parser.add_argument("--syllabus", help="path of an alternative syllabus.toml")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("list", help="weeks and notebooks with objectives, minutes and peak VRAM")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("doctor", help="check this machine and say which notebooks can run in full")
    p.add_argument("--json", action="store_true", help="print JSON (what an instructor collects from each machine)")
    p.add_argument("--name", default=None, help="who or which machine this report is for (default: the host name)")
    p.add_argument("--summarise", "--summarize", nargs="+", metavar="REPORT.json", default=None,
                   help="combine the --json reports of a room into one who-can-run-what table")
    p.add_argument("--csv", metavar="FILE", default=None, help="with --summarise: also write the table as CSV")
    p.add_argument("--html", metavar="FILE", default=None, help="with --summarise: also write the table as HTML")

    p = sub.add_parser("fetch", help="download what the selected notebooks' full profile loads, sizes first")
    p.add_argument("selectors", nargs="*", metavar="SELECTOR",
                   help="week number, notebook id, 'extras', 'all' (default), or a download such as hf-model:org/name")
    p.add_argument("--dry-run", action="store_true", help="print the plan (files, sizes, total) and download nothing")
    p.add_argument("--verify", action="store_true", help="check every file is here and complete; download nothing")
    p.add_argument("--vram", type=float, default=None, metavar="GiB",
                   help="plan the laddered notebooks' rungs for this much free VRAM (0: no GPU; default: this machine)")
    p.add_argument("--all-rungs", dest="all_rungs", action="store_true",
                   help="every rung's downloads (a copy for a room of different machines)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("run", help="execute notebooks with papermill and check their metrics")
    _selectors(p)
    p.add_argument("--profile", default="smoke", help="smoke (CPU, tiny, offline) or full (default: smoke)")
    p.add_argument("--out", default=".course-runs/latest", help="folder for executed notebooks and summary.json")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per cell")
    p.add_argument("--shuffle", type=int, metavar="SEED", default=None,
                   help="run the notebooks in a random order drawn from SEED")
    p.add_argument("--repeat", type=int, default=1, help="run each notebook N times in fresh kernels")
    p.add_argument("--jobs", type=int, default=1, help="notebooks to run at once, each in its own kernel")

    p = sub.add_parser("lab", help="open the course in JupyterLab (127.0.0.1, with a token)")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    p.add_argument("--ip", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else exposes the kernel)")
    p.add_argument("--notebook", default=None, help="notebook id to open (default: the first)")

    p = sub.add_parser("plan", help="will a model fit in N GB? the VRAM planner")
    p.add_argument("model", nargs="?", help="a preset name (`course plan --list` shows them) or a path to a config.json")
    p.add_argument("--list", action="store_true", help="list the presets and GPU names")
    p.add_argument("--method", default="inference", help="inference, full, lora or qlora")
    p.add_argument("--bits", type=int, default=None, help="32, 16, 8 or 4 (default: 16; 4 for qlora)")
    p.add_argument("--seq", type=int, default=None, help="sequence length in tokens")
    p.add_argument("--batch", type=int, default=1, help="batch size")
    p.add_argument("--vram", type=float, default=None, help="card memory in GiB (default: 12)")
    p.add_argument("--gpu", default=None, help="a card name, e.g. rtx4070ti, t4, rtx4090")
    p.add_argument("--optimizer", default=None, help="adamw (default), adamw8bit or sgd")
    p.add_argument("--checkpointing", action=argparse.BooleanOptionalAction, default=None,
                   help="gradient checkpointing (default: on for qlora, as peft does; off otherwise)")
    p.add_argument("--lora-rank", dest="lora_rank", type=int, default=None, help="LoRA rank (default 16)")
    p.add_argument("--precision", default=None,
                   help="full fine-tune at 16 bits: mixed (default: fp32 master weights, 16 bytes a parameter) or pure (bf16)")
    p.add_argument("--ladder", metavar="NOTEBOOK", default=None,
                   help="a notebook's ladder of settings (07a, ...) and the rung --vram GiB free gets (0: no GPU)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("handouts", help="build the workshop handouts (HTML + PDF) from an executed run")
    p.add_argument("--from", dest="run_dirs", action="append", default=None, metavar="RUN_DIR",
                   help="folder written by `course run` (repeat it to combine runs; a later one wins; "
                        "default .course-runs/latest)")
    p.add_argument("--out", default=".course-runs/handouts", help="folder for the site")
    p.add_argument("--only", nargs="+", metavar="SELECTOR", default=None,
                   help="only these notebooks (week, notebook id, 'extras'): the index and the PDF hold just them")
    p.add_argument("--no-pdf", action="store_true", help="write the HTML only")

    p = sub.add_parser("exercises", help="every exercise: notebook, id, kind and the objective it practises")
    _selectors(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--verify", action="store_true", help="run every reference solution through its check")
    p.add_argument("--answers", action="store_true", help="the key, for instructors: each exercise's reference answer")

    p = sub.add_parser("progress", help="which exercises you have solved, per notebook, and what to open next")
    _selectors(p)
    p.add_argument("--json", action="store_true", help="print JSON (what an instructor collects)")
    p.add_argument("--reset", action="store_true", help="forget the progress of the selected notebooks")

    p = sub.add_parser("reset", help="restore a notebook to its committed state, keeping a copy of yours")
    p.add_argument("notebook", metavar="NOTEBOOK", help="notebook id or its short prefix (e.g. 03a)")
    p.add_argument("--keep-in", default=None, metavar="DIR",
                   help="where the copy of your version goes (default: my-copies/ beside notebooks/)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command not in COMMANDS:
        parser.error(f"unknown command {args.command!r}")
    try:
        module = importlib.import_module(f"course.commands.{args.command}")
        return module.main(args)
    except CourseError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    except OSError as err:  # a folder that cannot be written, a file that cannot be read: say which
        where = f" {err.filename}" if err.filename else ""
        sys.stderr.write(f"error: cannot use{where}: {err.strerror or err}. Check the path and its permissions.\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
