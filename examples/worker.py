#!/usr/bin/env python3
"""Task worker: pulls workloads from the ventilator, "works", pushes a result to the sink.

The worker of the ZeroMQ guide's parallel pipeline, written with zmqffi's Pythonic layer.
Each task is a workload in msec (a NUL-padded decimal string); the worker sleeps that long,
answers with an empty message and prints "." for the viewer. Like the C++ worker it runs
forever unless told otherwise; start as many as you like, in any order.

    python examples/worker.py                     # tcp://localhost:5557 -> tcp://localhost:5558
    python examples/worker.py --ventilator tcp://host-a:5557 --sink tcp://host-b:5558 --tasks 25
"""

from __future__ import annotations

import argparse
import re
import sys
import time

import zmqffi

# How long closing may wait to flush results still queued for the sink (msec).
LINGER_MSEC = 5000


def make_parser(description: str = __doc__) -> argparse.ArgumentParser:
    """The role's options (its async variant takes the same, and adds its own)."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--ventilator", default="tcp://localhost:5557", metavar="ENDPOINT",
                        help="where the tasks come from (default: %(default)s)")
    parser.add_argument("--sink", default="tcp://localhost:5558", metavar="ENDPOINT",
                        help="where the results go (default: %(default)s)")
    parser.add_argument("--tasks", type=int, default=None,
                        help="exit after this many tasks (default: run forever)")
    parser.add_argument("--idle-timeout", type=float, default=None, metavar="SECONDS",
                        help="exit when no task arrives for this long (default: wait forever)")
    return parser


def parse_args(argv: list[str] | None,
               parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    return (parser or make_parser()).parse_args(argv)


def parse_workload(data: bytes) -> int:
    # Read it as C++'s `istringstream >> int` does: leading digits, the NUL padding ignored.
    match = re.match(rb"\s*(\d+)", data)
    return int(match.group(1)) if match else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with zmqffi.Context() as context, \
            context.socket(zmqffi.PULL) as receiver, \
            context.socket(zmqffi.PUSH) as sender:
        receiver.connect(args.ventilator)
        sender.connect(args.sink)
        # The C++ worker runs until killed; one that exits must not lose its last results:
        # close() with a linger waits (at most this long) until queued messages are sent.
        sender.setsockopt(zmqffi.LINGER, LINGER_MSEC)
        if args.idle_timeout is not None:
            receiver.setsockopt(zmqffi.RCVTIMEO, int(args.idle_timeout * 1000))

        done = 0
        while args.tasks is None or done < args.tasks:
            try:
                with receiver.recv_msg() as message:
                    workload = parse_workload(message.bytes)
            except zmqffi.Again:
                break  # idle for --idle-timeout: the batch is over

            time.sleep(workload / 1000)  # do the work
            sender.send(b"")  # send the (empty) result to the sink
            print(".", end="", flush=True)  # simple progress indicator for the viewer
            done += 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the `with` blocks above have closed everything already
        sys.exit(130)
