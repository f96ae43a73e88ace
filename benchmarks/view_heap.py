"""What reading large frames through views costs on PyPy as the program's heap grows.

    pypy3 benchmarks/view_heap.py [--count N] [--heaps 0 100 400] [--budgets 64]

One thread sends 1 MiB frames (copied, so each received view holds libzmq's memory of
its own) and receives them over inproc, reading each through ``msg.buffer`` and dropping
the view after ``close()``, as a zero-copy reader does. Before that it builds a heap of
about the given number of MiB of small live objects, as a program's own data would be.
It prints the rate, the collections that zmqffi asked for (``zmqffi.lending``'s view
budget) and the CPU each took in the loop, and what a full collection costs with that heap
when nothing ran since the last one (warm caches: in the loop, the frames that passed
between two collections have evicted the heap from the caches). ``--budgets`` runs each
heap with other view budgets (MiB; zmqffi's is 64): memory traded for collections. On
CPython views are freed by reference counting and neither matters.
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
from typing import Any

import zmqffi
import zmqffi.lending

MIB = 1024 * 1024
VIEW_BUDGET = zmqffi.lending.VIEW_BUDGET


class CountingGc:
    """Stands in for the gc module inside zmqffi.lending: counts its collections."""

    def __init__(self) -> None:
        self.collections = 0
        self.cpu = 0.0

    def collect(self) -> None:
        self.collections += 1
        started = time.thread_time()
        gc.collect()
        self.cpu += time.thread_time() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(gc, name)


def run(heap_mib: int, count: int, budget_mib: int) -> None:
    heap = [[i, str(i)] for i in range(heap_mib * 10_000)]  # ~100 bytes an entry
    counting = CountingGc()
    zmqffi.lending.gc = counting  # type: ignore[assignment]
    zmqffi.lending.VIEW_BUDGET = zmqffi.lending._view_budget = budget_mib * MIB
    ctx = zmqffi.Context()
    pull = ctx.socket(zmqffi.PULL)
    push = ctx.socket(zmqffi.PUSH)
    try:
        pull.bind("inproc://view-heap")
        push.connect("inproc://view-heap")
        data = bytearray(MIB)

        def one() -> None:
            push.send(data)
            msg = pull.recv_msg()
            view = msg.buffer
            msg.close()
            if len(view) != MIB:
                raise SystemExit(f"received {len(view)} bytes, sent {MIB}")

        for _ in range(min(count, 300)):  # warm-up (PyPy's JIT, the budget's first step)
            one()
        counting.collections, counting.cpu = 0, 0.0
        start, start_cpu = time.perf_counter(), time.thread_time()
        for _ in range(count):
            one()
        elapsed, cpu = time.perf_counter() - start, time.thread_time() - start_cpu
        collections, in_loop = counting.collections, counting.cpu
        gc.collect()
        started = time.thread_time()
        gc.collect()
        warm_collection = time.thread_time() - started
    finally:
        zmqffi.lending.gc = gc
        zmqffi.lending.VIEW_BUDGET = zmqffi.lending._view_budget = VIEW_BUDGET
        push.close()
        pull.close()
        ctx.term()
    each = in_loop / collections * 1e3 if collections else 0.0
    print(f"heap ~{heap_mib:4d} MiB, budget {budget_mib:4d} MiB: {count / elapsed:8,.0f} "
          f"msg/s, {cpu / count * 1e6:5.0f} us CPU a frame, {collections:3d} collections "
          f"asked for, {each:6.1f} ms CPU each; warm, one takes {warm_collection * 1e3:6.1f} ms")
    del heap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="frames per heap size")
    parser.add_argument("--heaps", type=int, nargs="+", default=[0, 100, 400],
                        help="MiB of live objects to hold while receiving")
    parser.add_argument("--budgets", type=int, nargs="+", default=[VIEW_BUDGET // MIB],
                        help="view budgets to run each heap with, MiB")
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{args.count} x 1 MiB over inproc, read through views")
    for heap_mib in args.heaps:
        for budget_mib in args.budgets:
            run(heap_mib, args.count, budget_mib)


if __name__ == "__main__":
    main()
