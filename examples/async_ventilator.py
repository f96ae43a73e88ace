#!/usr/bin/env python3
"""Async task ventilator: the pipeline's ventilator with zmqffi.asyncio.

Wire-compatible with examples/ventilator.py, and takes the same options: it tells the sink
that the batch starts (a 2-byte "0\\0" message), then sends each task, a random workload of
1..100 msec as a 10-byte NUL-padded decimal string, and prints the total expected cost. Its
sends are awaited: a full queue (no worker yet, or slow ones) never blocks the event loop.

    python examples/async_ventilator.py           # binds tcp://*:5557, sink at tcp://localhost:5558
    python examples/async_ventilator.py --no-wait --seed 42 --tasks 20 --max-workload 5
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

import zmqffi
import zmqffi.asyncio
from ventilator import LINGER_MSEC, TASK_SIZE, bind, make_parser, parse_args


async def bind_and_wait_for_workers(sender: zmqffi.asyncio.Socket, endpoint: str,
                                    count: int) -> None:
    # As the blocking ventilator does, and for the same reason (PUSH deals only to the
    # workers connected when it sends). The asyncio Context makes the monitor socket: async.
    with sender.get_monitor_socket(zmqffi.EVENT_HANDSHAKE_SUCCEEDED) as monitor:
        bind(sender, endpoint)
        print(f"Waiting for {count} workers…", flush=True)
        ready = 0
        while ready < count:
            # A monitor event is two frames, as zmqffi.recv_monitor_message reads them (from
            # a blocking socket): the event number in the first 2 bytes, then the endpoint.
            head, _endpoint = await monitor.recv_multipart()
            if int.from_bytes(head[:2], sys.byteorder) == zmqffi.EVENT_HANDSHAKE_SUCCEEDED:
                ready += 1
        sender.monitor(None)


async def send_batch(args: argparse.Namespace, sender: zmqffi.asyncio.Socket,
                     sink: zmqffi.asyncio.Socket) -> None:
    if args.wait_workers:
        await bind_and_wait_for_workers(sender, args.bind, args.wait_workers)
    print("Sending tasks to workers…\n", flush=True)

    # The first message is "0" and signals start of batch.
    sink.connect(args.sink)
    await sink.send(b"0\0")

    rng = random.Random(args.seed)
    total_msec = 0  # total expected cost in msecs
    for _ in range(args.tasks):
        workload = rng.randint(1, args.max_workload)
        total_msec += workload
        await sender.send(str(workload).encode().ljust(TASK_SIZE, b"\0"))
    print(f"Total expected cost: {total_msec} msec", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, make_parser(__doc__))
    # Made before the event loop runs (async sockets may be), closed after it: closing
    # waits (LINGER) for the last tasks to leave, which must not hold up a running loop.
    with zmqffi.asyncio.Context() as context, \
            context.socket(zmqffi.PUSH) as sender, \
            context.socket(zmqffi.PUSH) as sink:
        sender.setsockopt(zmqffi.LINGER, LINGER_MSEC)
        sink.setsockopt(zmqffi.LINGER, LINGER_MSEC)
        if not args.wait_workers:
            bind(sender, args.bind)
            if not args.no_wait:
                # Before the event loop starts: a plain read of the terminal holds up no
                # task, and Ctrl-C interrupts it.
                print("Press Enter when the workers are ready: ", flush=True)
                sys.stdin.readline()
        asyncio.run(send_batch(args, sender, sink))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the `with` blocks in main() have closed everything already
        sys.exit(130)
