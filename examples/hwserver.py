#!/usr/bin/env python3
"""Hello World server: a REP socket answers each "Hello" with "World" (request-reply).

Binds like the guide's hwserver, or connects to a broker's backend (examples/msgbroker.py):

    python examples/hwserver.py                                  # binds tcp://*:5555
    python examples/hwserver.py --connect tcp://localhost:5560   # a worker behind the broker
"""

from __future__ import annotations

import argparse
import sys
import time

import zmqffi


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--bind", default="tcp://*:5555", metavar="ENDPOINT",
                       help="where clients connect (default: %(default)s); with a wildcard "
                            "port the real endpoint is printed first")
    where.add_argument("--connect", metavar="ENDPOINT",
                       help="connect to a broker's backend instead of binding")
    parser.add_argument("--work", type=int, default=1000, metavar="MSEC",
                        help="time spent on each request (default: 1000)")
    parser.add_argument("--requests", type=int, default=None,
                        help="exit after this many requests (default: serve forever)")
    parser.add_argument("--reply", default="World", help="the answer (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with zmqffi.Context() as context, context.socket(zmqffi.REP) as socket:
        # A reply still queued when we stop is dropped after a second, not waited for forever.
        socket.setsockopt(zmqffi.LINGER, 1000)
        if args.connect:
            socket.connect(args.connect)
        else:
            socket.bind(args.bind)
            if args.bind.endswith((":*", ":0")):
                print(f"Bound to {socket.last_endpoint}", flush=True)

        served = 0
        while args.requests is None or served < args.requests:
            request = socket.recv()
            print(f"Received {request.decode(errors='replace')}", flush=True)
            time.sleep(args.work / 1000)  # do some 'work'
            socket.send(args.reply.encode())
            served += 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the `with` blocks above have closed everything already
        sys.exit(130)
