"""zmqffi vs pyzmq vs libzmq's C perf tools, measured side by side in one run.

    python benchmarks/run.py [--reps 5] [--short] [--pin 0,1] [--impls ...] [--cells ...]
    python benchmarks/run.py chart [results/*.json] [-o chart.png]

(``benchmarks/run.sh`` makes the venv and calls this.) Cells: PUSH/PULL throughput over
tcp and inproc for 1 B, 64 B, 1 KiB, 64 KiB, 1 MiB; REQ/REP round trip over tcp and
inproc for 1 B and 1 KiB. Every repetition runs every cell for every implementation, in
turn (the order rotates each repetition), with the same message counts for all.
Method as libzmq's perf tools (see workers.py): throughput = count / time at the
receiver from the first to the last timed message; latency = time per round trip.

This file is the command line: the measuring is in measure.py, the tables in report.py,
the chart in chart.py.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

import chart
import measure
import report
from common import ALL_IMPLS, RESULTS, latest_per_interpreter, log


def measure_and_report(args: argparse.Namespace) -> Path:
    """Run the benchmark, write and print its tables, draw its chart: the JSON's path."""
    data = measure.run(args)
    report.summarise(data["cells"])
    out = report.save(data, args.output)
    if chart.can_draw():
        chart.draw([out], out.with_suffix(".png"))
    else:
        log("[bench] no matplotlib under this interpreter: draw the chart with CPython: "
            f"python benchmarks/run.py chart {out}")
    return out


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["chart"]:
        p = argparse.ArgumentParser(prog="run.py chart",
                                    description="draw the chart from result JSON files")
        p.add_argument("files", nargs="*", type=Path,
                       help="default: the newest result of each interpreter")
        p.add_argument("-o", "--output", type=Path)
        a = p.parse_args(argv[1:])
        files = a.files or latest_per_interpreter()
        if not files:
            sys.exit("no result files")
        if a.output:
            out = a.output
        elif len(files) == 1:
            out = files[0].with_suffix(".png")
        else:
            out = RESULTS / f"combined-{_dt.date.today().isoformat()}.png"
        chart.draw(files, out)
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    p.add_argument("--short", action="store_true",
                   help=f"counts / {measure.SHORT_DIVISOR} (CI smoke run; numbers are noisy)")
    p.add_argument("--pin", metavar="CPU[,CPU]",
                   help="pin with sched_setaffinity: one CPU pins everything to it; "
                        "'A,B' puts tcp receivers on A and senders on B, and inproc "
                        "(one process, two threads) on both")
    p.add_argument("--impls", nargs="+", choices=ALL_IMPLS, metavar="IMPL",
                   help="subset of: " + ", ".join(ALL_IMPLS))
    p.add_argument("--cells", nargs="+", metavar="REGEX",
                   help="subset of cells by id, e.g. thr-tcp lat- 'thr-inproc-1$'")
    p.add_argument("--warmup", type=int,
                   help="warm-up messages per Python run (default: 10000 on PyPy, 1000 "
                        "on CPython, capped at the cell's count; a value given here is "
                        "not capped)")
    p.add_argument("--all-rows", action="store_true",
                   help="also run pyzmq-nocopy and zmqffi-zerocopy below 64 KiB and for "
                        "latency, and zmqffi-batch and the async rows above 1 KiB "
                        "(they have no latency loop)")
    p.add_argument("--timeout", type=float, default=300, help="per measurement, seconds")
    p.add_argument("-o", "--output", help="JSON path (default results/<interp>-<date>.json)")
    measure_and_report(p.parse_args(argv))


if __name__ == "__main__":
    main()
