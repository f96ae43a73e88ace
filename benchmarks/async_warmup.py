"""How an async sender's rate grows while PyPy compiles its waits.

    pypy3 benchmarks/async_warmup.py [--flavour asyncio|trio] [--phases 6]
                                     [--per-phase 1000000] [--pin 0,1]

The harness's async send rows (zmqffi-asyncio-send, zmqffi-trio-send) send 64 B frames
from an async PUSH to a blocking PULL in another process. The sender waits for room once
every few hundred messages (libzmq wakes it at the low-water mark), so on PyPy the wait
path runs a few thousand times in the first million messages and is compiled late. This
sends ``--phases`` phases of ``--per-phase`` messages each, over tcp, to a blocking
zmqffi PULL process (workers.py), and prints each phase's rate, how often the sender
waited, and the CPU each wait took (``time.thread_time()`` around the flavour's wait).
``--pin R,S``: the receiver on CPU R, the sender on CPU S (as run.py's ``--pin``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from common import HERE, free_port

import zmqffi


def instrument(socket_class: Any, stats: dict[str, float]) -> None:
    """Count the flavour's waits and the sender's CPU in them."""
    wait = socket_class._wait_readable

    async def counted(self: Any, timeout: float | None) -> None:
        started = time.thread_time()
        try:
            await wait(self, timeout)
        finally:
            stats["waits"] += 1
            stats["cpu"] += time.thread_time() - started
    socket_class._wait_readable = counted


async def send_phases(sock: Any, phases: int, per_phase: int, stats: dict[str, float]
                      ) -> None:
    data, send = b"x" * 64, sock.send
    for phase in range(phases):
        stats["waits"], stats["cpu"] = 0, 0.0
        started = time.perf_counter()
        for _ in range(per_phase):
            await send(data)
        elapsed = time.perf_counter() - started
        waits = int(stats["waits"])
        each = stats["cpu"] / waits * 1e6 if waits else 0.0
        print(f"phase {phase}: {per_phase / elapsed / 1e6:5.2f} M msg/s, a wait every "
              f"{per_phase // max(waits, 1):5d} messages, {each:6.1f} us CPU each",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flavour", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--phases", type=int, default=6)
    parser.add_argument("--per-phase", type=int, default=1_000_000)
    parser.add_argument("--pin", help="R,S: receiver on CPU R, sender on CPU S")
    args = parser.parse_args()
    total = args.phases * args.per_phase
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    receiver = [sys.executable, str(HERE / "workers.py"), "thr-recv", "--impl", "zmqffi",
                "--size", "64", "--count", str(total - 1), "--warmup", "1",
                "--endpoint", endpoint]
    if args.pin:
        recv_cpu, send_cpu = args.pin.split(",")
        receiver = ["taskset", "-c", recv_cpu, *receiver]
        # this thread, before the Context makes libzmq's I/O thread (which inherits it);
        # with taskset: PyPy 3.9's os has no sched_setaffinity
        subprocess.run(["taskset", "-p", "-c", send_cpu, str(os.getpid())], check=True,
                       stdout=subprocess.DEVNULL)
    server = subprocess.Popen(receiver, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and json.loads(server.stdout.readline())["ready"]
    print(f"{sys.implementation.name} {sys.version.split()[0]}, zmqffi.{args.flavour} "
          f"PUSH -> blocking PULL process, 64 B over tcp, {args.phases} x "
          f"{args.per_phase:,} messages", flush=True)
    stats = {"waits": 0.0, "cpu": 0.0}
    ctx = zmqffi.Context()
    try:
        if args.flavour == "asyncio":
            import asyncio
            from zmqffi import asyncio as zmq_asyncio
            instrument(zmq_asyncio.Socket, stats)
            sock: Any = zmq_asyncio.Socket(ctx, zmqffi.PUSH)
            sock.connect(endpoint)
            asyncio.run(send_phases(sock, args.phases, args.per_phase, stats))
        else:
            import trio
            from zmqffi import trio as zmq_trio
            instrument(zmq_trio.Socket, stats)
            sock = zmq_trio.Socket(ctx, zmqffi.PUSH)
            sock.connect(endpoint)
            trio.run(send_phases, sock, args.phases, args.per_phase, stats)
        sock.close(linger=-1)  # the receiver gets all of it, then exits
    finally:
        ctx.destroy(linger=0)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
