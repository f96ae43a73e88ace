"""What reading large frames through views costs on PyPy as the program's heap grows.

    pypy3 benchmarks/view_heap.py [--count N] [--heaps 0 100 400]

One thread sends 1 MiB frames (copied, so each received view holds libzmq's memory of
its own) and receives them over inproc, reading each through ``msg.buffer`` and dropping
the view after ``close()``, as a zero-copy reader does. Before that it builds a heap of
about the given number of MiB of small live objects, as a program's own data would be.
It prints the rate, the collections that zmqffi asked for (``zmqffi.lending``'s view
budget), and what one full collection costs with that heap. On CPython views are freed
by reference counting and the heap does not matter.
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


class CountingGc:
    """Stands in for the gc module inside zmqffi.lending: counts its collections."""

    def __init__(self) -> None:
        self.collections = 0

    def collect(self) -> None:
        self.collections += 1
        gc.collect()

    def __getattr__(self, name: str) -> Any:
        return getattr(gc, name)


def run(heap_mib: int, count: int) -> None:
    heap = [[i, str(i)] for i in range(heap_mib * 10_000)]  # ~100 bytes an entry
    counting = CountingGc()
    zmqffi.lending.gc = counting  # type: ignore[assignment]
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
        counting.collections = 0
        start = time.perf_counter()
        for _ in range(count):
            one()
        elapsed = time.perf_counter() - start
        collections = counting.collections
        started = time.thread_time()
        gc.collect()
        one_collection = time.thread_time() - started
    finally:
        zmqffi.lending.gc = gc
        push.close()
        pull.close()
        ctx.term()
    budget = zmqffi.lending._view_budget
    print(f"heap ~{heap_mib:4d} MiB: {count / elapsed:8,.0f} msg/s, {collections:3d} "
          f"collections asked for, one full collection {one_collection * 1e3:6.1f} ms CPU, "
          f"view budget now {budget / MIB:,.0f} MiB")
    del heap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="frames per heap size")
    parser.add_argument("--heaps", type=int, nargs="+", default=[0, 100, 400],
                        help="MiB of live objects to hold while receiving")
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{args.count} x 1 MiB over inproc, read through views")
    for heap_mib in args.heaps:
        run(heap_mib, args.count)


if __name__ == "__main__":
    main()
