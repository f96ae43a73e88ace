"""Instructions per message on a hot path, counted by callgrind: repeatable whatever else
the machine is doing, so a before/after comparison needs no quiet machine.

    python benchmarks/instructions.py [--size 64] [--kind send+recv|recv_msg|asyncio]
                                      [--counts 10000,30000]

One thread, PUSH -> PULL over inproc (``asyncio``: ``await send()`` and ``await recv()``
of zmqffi.asyncio sockets, with nothing to wait for, in one coroutine). The script runs
itself under ``valgrind --tool=callgrind`` with 10,000 and with 30,000 messages; the
difference over 20,000 is the count per message, start-up and import excluded. On PyPy a
major collection that falls between the two counts in one build and not in another shows
as a difference per message: compare several ``--counts``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
from typing import Any



async def awaited(send: Any, recv: Any, data: bytes, count: int) -> None:
    for _ in range(count):
        await send(data)
        await recv()


def loop(count: int, size: int, kind: str) -> None:
    import zmqffi
    import zmqffi.asyncio

    ctx = zmqffi.Context()
    if kind == "asyncio":
        def make(socket_type: int) -> Any:
            return zmqffi.asyncio.Socket(ctx, socket_type)
    else:
        make = ctx.socket
    pull = make(zmqffi.PULL)
    pull.setsockopt(zmqffi.RCVHWM, 0)
    pull.bind("inproc://instructions")
    push = make(zmqffi.PUSH)
    push.setsockopt(zmqffi.SNDHWM, 0)
    push.connect("inproc://instructions")
    data = b"x" * size
    send, recv, recv_msg = push.send, pull.recv, pull.recv_msg
    if kind == "asyncio":  # nothing to wait for: each await is the try that succeeds
        asyncio.run(awaited(send, recv, data, count))
    elif kind == "send+recv":
        for _ in range(count):
            send(data)
            recv()
    else:
        for _ in range(count):
            send(data)
            recv_msg().close()
    push.close()
    pull.close()
    ctx.term()


def collected(count: int, size: int, kind: str) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         __file__, "--run", str(count), "--size", str(size), "--kind", kind],
        check=True, stderr=subprocess.PIPE, text=True).stderr
    return int(re.search(r"Collected : (\d+)", out).group(1))  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--kind", choices=("send+recv", "recv_msg", "asyncio"),
                        default="send+recv")
    parser.add_argument("--counts", default="10000,30000",
                        help="the two message counts whose difference is measured")
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)  # under valgrind
    args = parser.parse_args()
    if args.run:
        loop(args.run, args.size, args.kind)
        return
    small, large = (int(count) for count in args.counts.split(","))
    per_message = (collected(large, args.size, args.kind)
                   - collected(small, args.size, args.kind)) / (large - small)
    print(f"{args.kind} {args.size} B: {per_message:,.0f} instructions per message")


if __name__ == "__main__":
    main()
