#!/usr/bin/env python3
"""Async task worker: the pipeline's worker with zmqffi.asyncio, working on N tasks at once.

Wire-compatible with examples/worker.py, and takes the same options: it pulls workloads from
the ventilator, "works" (here an `await asyncio.sleep`, so the event loop is free meanwhile),
pushes an empty result to the sink and prints "." for each task. With `--concurrency N`, N
loops share the two sockets, each awaiting its own task: up to N workloads are slept through
at the same time. The default, 1, is the guide's worker, one task after the other.

    python examples/async_worker.py --concurrency 8        # tcp://localhost:5557 -> :5558
    python examples/async_worker.py --ventilator tcp://host-a:5557 --sink tcp://host-b:5558
"""

from __future__ import annotations

import asyncio
import sys

import zmqffi
import zmqffi.asyncio
from worker import LINGER_MSEC, make_parser, parse_args, parse_workload


async def work(receiver: zmqffi.asyncio.Socket, sender: zmqffi.asyncio.Socket,
               tasks: int | None, concurrency: int) -> None:
    taken = 0  # tasks received (or being awaited) by all the loops together

    async def one_loop() -> None:
        nonlocal taken
        while tasks is None or taken < tasks:
            taken += 1  # before the await: another loop must not wait for one task too many
            try:
                data = await receiver.recv()
            except zmqffi.Again:
                return  # idle for --idle-timeout: the batch is over
            await asyncio.sleep(parse_workload(data) / 1000)  # do the work
            await sender.send(b"")  # send the (empty) result to the sink
            print(".", end="", flush=True)  # simple progress indicator for the viewer

    # Many tasks may await one async socket: each receive gets its own whole message.
    await asyncio.gather(*(one_loop() for _ in range(concurrency)))


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="tasks worked on at once (default: 1, as the guide's worker)")
    args = parse_args(argv, parser)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    # Made before the event loop runs, closed after it: closing waits (LINGER) for the last
    # results to leave, which must not hold up a running loop.
    with zmqffi.asyncio.Context() as context, \
            context.socket(zmqffi.PULL) as receiver, \
            context.socket(zmqffi.PUSH) as sender:
        receiver.connect(args.ventilator)
        sender.connect(args.sink)
        sender.setsockopt(zmqffi.LINGER, LINGER_MSEC)
        if args.idle_timeout is not None:  # each loop ends when no task comes for this long
            receiver.setsockopt(zmqffi.RCVTIMEO, int(args.idle_timeout * 1000))
        asyncio.run(work(receiver, sender, args.tasks, args.concurrency))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # asyncio.run cancelled the tasks: the `with` blocks closed all
        sys.exit(130)
