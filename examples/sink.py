#!/usr/bin/env python3
"""Task sink: binds a PULL socket and collects the workers' results.

The result sink of the ZeroMQ guide's parallel pipeline, written with zmqffi's Pythonic layer.
It waits for the ventilator's start-of-batch message, then for one (empty) result per task,
printing ":" every tenth result and "." otherwise, and finally the elapsed time.

    python examples/sink.py                       # binds tcp://*:5558, 100 tasks
    python examples/sink.py --bind 'tcp://127.0.0.1:*' --tasks 20 --timeout 5
"""

from __future__ import annotations

import argparse
import sys
import time

import zmqffi


def make_parser(description: str = __doc__) -> argparse.ArgumentParser:
    """The role's options (its async variant takes the same, and adds its own)."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--bind", default="tcp://*:5558", metavar="ENDPOINT",
                        help="where the workers send their results (default: %(default)s); "
                             "with a wildcard port the real endpoint is printed first")
    parser.add_argument("--tasks", type=int, default=100, help="results to collect (default: 100)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="once the batch has started, give up (exit 1) when no result "
                             "arrives for this long (default: wait forever)")
    return parser


def parse_args(argv: list[str] | None,
               parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    return (parser or make_parser()).parse_args(argv)


def announce(sock: zmqffi.Socket, endpoint: str) -> None:
    # With a wildcard port only the socket knows where it listens: say it, so that a
    # launcher (examples/pipeline.py, the tests) can tell the peers.
    if endpoint.endswith((":*", ":0")):
        print(f"Bound to {sock.last_endpoint}", flush=True)


# The progress lines, shared with async_sink.py: the launcher and the tests read them.
def report_result(task_nbr: int) -> None:
    print(":" if task_nbr % 10 == 0 else ".", end="", flush=True)


def report_timeout(received: int, tasks: int) -> int:
    print(f"\nTimed out: received {received} of {tasks} results", file=sys.stderr, flush=True)
    return 1


def report_total(start: float) -> None:
    elapsed_msec = int((time.monotonic() - start) * 1000)
    print(f"\nTotal elapsed time: {elapsed_msec} msec\n", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with zmqffi.Context() as context, context.socket(zmqffi.PULL) as receiver:
        receiver.bind(args.bind)
        announce(receiver, args.bind)

        # Wait for start of batch (its content does not matter).
        with receiver.recv_msg():
            pass

        # Start our clock now.
        start = time.monotonic()
        if args.timeout is not None:
            receiver.setsockopt(zmqffi.RCVTIMEO, int(args.timeout * 1000))

        for task_nbr in range(args.tasks):
            try:
                with receiver.recv_msg():
                    pass
            except zmqffi.Again:
                return report_timeout(task_nbr, args.tasks)
            report_result(task_nbr)

        report_total(start)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the `with` blocks above have closed everything already
        sys.exit(130)
