#!/usr/bin/env python3
"""Task ventilator: binds a PUSH socket and sends a batch of tasks to the workers.

The ventilator of the ZeroMQ guide's parallel pipeline, written with zmqffi's Pythonic layer.
It first tells the sink that the batch starts (a 2-byte "0\\0" message), then sends each task,
a random workload of 1..100 msec as a 10-byte NUL-padded decimal string, and prints the total
expected cost: what one worker alone would take.

    python examples/ventilator.py                 # binds tcp://*:5557, sink at tcp://localhost:5558
    python examples/ventilator.py --no-wait --seed 42 --tasks 20 --max-workload 5
"""

from __future__ import annotations

import argparse
import random
import sys

import zmqffi

# How long closing may wait to deliver the messages still queued (msec).
LINGER_MSEC = 5000
TASK_SIZE = 10  # bytes on the wire per task, NUL-padded


def make_parser(description: str = __doc__) -> argparse.ArgumentParser:
    """The role's options (its async variant takes the same, and adds its own)."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--bind", default="tcp://*:5557", metavar="ENDPOINT",
                        help="where the workers fetch tasks (default: %(default)s); "
                             "with a wildcard port the real endpoint is printed first")
    parser.add_argument("--sink", default="tcp://localhost:5558", metavar="ENDPOINT",
                        help="the sink to signal the start of the batch (default: %(default)s)")
    parser.add_argument("--tasks", type=int, default=100, help="tasks to send (default: 100)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed the workloads, for a reproducible batch (default: random)")
    parser.add_argument("--max-workload", type=int, default=100, metavar="MSEC",
                        help="workloads are drawn from 1..MSEC (default: 100)")
    wait = parser.add_mutually_exclusive_group()
    wait.add_argument("--no-wait", action="store_true",
                      help="do not ask for Enter before sending (for scripts)")
    wait.add_argument("--wait-workers", type=int, default=0, metavar="N",
                      help="instead of asking for Enter, wait until N workers are connected")
    return parser


def parse_args(argv: list[str] | None,
               parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    parser = parser or make_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.max_workload < 10 ** (TASK_SIZE - 1):
        parser.error(f"--max-workload must be 1..{10 ** (TASK_SIZE - 1) - 1}")
    return args


def bind(sender: zmqffi.Socket, endpoint: str) -> None:
    sender.bind(endpoint)
    # With a wildcard port only the socket knows where it listens: say it, so that a
    # launcher (examples/pipeline.py, the tests) can tell the workers.
    if endpoint.endswith((":*", ":0")):
        print(f"Bound to {sender.last_endpoint}", flush=True)


def bind_and_wait_for_workers(sender: zmqffi.Socket, endpoint: str, count: int) -> None:
    # PUSH deals tasks round-robin among the peers connected *when it sends*: start before
    # every worker is there and the first one gets most of the batch (hence the guide's
    # prompt). A monitor sees each worker's completed handshake; it is attached before the
    # bind so that no early worker is missed.
    with sender.get_monitor_socket(zmqffi.EVENT_HANDSHAKE_SUCCEEDED) as monitor:
        bind(sender, endpoint)
        print(f"Waiting for {count} workers…", flush=True)
        ready = 0
        while ready < count:
            if zmqffi.recv_monitor_message(monitor).event == zmqffi.EVENT_HANDSHAKE_SUCCEEDED:
                ready += 1
        sender.monitor(None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    with zmqffi.Context() as context, \
            context.socket(zmqffi.PUSH) as sender, \
            context.socket(zmqffi.PUSH) as sink:
        # Where the C++ sleeps one second "to give 0MQ time to deliver", we close with a
        # linger: close() and term() then wait until every queued message is sent, returning
        # as soon as it is, but never longer than LINGER_MSEC if a peer has vanished.
        sender.setsockopt(zmqffi.LINGER, LINGER_MSEC)
        sink.setsockopt(zmqffi.LINGER, LINGER_MSEC)

        if args.wait_workers:
            bind_and_wait_for_workers(sender, args.bind, args.wait_workers)
        else:
            bind(sender, args.bind)
            if not args.no_wait:
                print("Press Enter when the workers are ready: ", flush=True)
                sys.stdin.readline()
        print("Sending tasks to workers…\n", flush=True)

        # The first message is "0" and signals start of batch.
        sink.connect(args.sink)
        with zmqffi.Message(b"0\0") as message:
            sink.send(message)

        total_msec = 0  # total expected cost in msecs
        for _ in range(args.tasks):
            workload = rng.randint(1, args.max_workload)
            total_msec += workload
            with zmqffi.Message(str(workload).encode().ljust(TASK_SIZE, b"\0")) as message:
                sender.send(message)
        print(f"Total expected cost: {total_msec} msec", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the `with` blocks above have closed everything already
        sys.exit(130)
