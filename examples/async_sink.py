#!/usr/bin/env python3
"""Async task sink: the pipeline's sink with zmqffi.asyncio.

Wire-compatible with examples/sink.py, and takes the same options: it binds a PULL socket,
waits for the ventilator's start-of-batch message, then awaits one (empty) result per task,
printing ":" every tenth result and "." otherwise, and finally the elapsed time.

    python examples/async_sink.py                 # binds tcp://*:5558, 100 tasks
    python examples/async_sink.py --bind 'tcp://127.0.0.1:*' --tasks 20 --timeout 5
"""

from __future__ import annotations

import asyncio
import sys
import time

import zmqffi
import zmqffi.asyncio
from sink import (announce, make_parser, parse_args, report_result, report_timeout,
                  report_total)


async def collect(receiver: zmqffi.asyncio.Socket, tasks: int, timeout: float | None) -> int:
    await receiver.recv()  # the start of the batch (its content does not matter)
    start = time.monotonic()

    for task_nbr in range(tasks):
        # The timeout by asyncio rather than RCVTIMEO: a receive cancelled by wait_for has
        # taken nothing from the socket.
        try:
            await asyncio.wait_for(receiver.recv(), timeout)
        except asyncio.TimeoutError:
            return report_timeout(task_nbr, tasks)
        report_result(task_nbr)

    report_total(start)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, make_parser(__doc__))
    # Made before the event loop runs, closed after it (as the other async roles).
    with zmqffi.asyncio.Context() as context, context.socket(zmqffi.PULL) as receiver:
        receiver.bind(args.bind)
        announce(receiver, args.bind)
        return asyncio.run(collect(receiver, args.tasks, args.timeout))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # asyncio.run cancelled the task: the `with` blocks closed all
        sys.exit(130)
