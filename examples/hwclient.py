#!/usr/bin/env python3
"""Hello World client: a REQ socket sends "Hello" and waits for each answer (request-reply).

    python examples/hwclient.py                                  # to tcp://localhost:5555
    python examples/hwclient.py --connect tcp://localhost:5559   # through examples/msgbroker.py
"""

from __future__ import annotations

import argparse
import sys

import zmqffi


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", default="tcp://localhost:5555", metavar="ENDPOINT",
                        help="the server, or the broker's frontend (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=10, help="requests to send (default: 10)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="give up (exit 1) when an answer takes longer (default: wait forever)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with zmqffi.Context() as context, context.socket(zmqffi.REQ) as socket:
        # On the way out, a request nobody took is dropped at once rather than keeping us alive.
        socket.setsockopt(zmqffi.LINGER, 0)
        if args.timeout is not None:
            socket.setsockopt(zmqffi.RCVTIMEO, int(args.timeout * 1000))
        print("Connecting to hello world server…", flush=True)
        socket.connect(args.connect)

        for request_nbr in range(args.requests):
            print(f"Sending Hello {request_nbr}…", flush=True)
            socket.send(b"Hello")
            try:
                reply = socket.recv()
            except zmqffi.Again:
                print(f"No answer to request {request_nbr} within {args.timeout} s",
                      file=sys.stderr, flush=True)
                return 1
            print(f"Received {reply.decode(errors='replace')} {request_nbr}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the `with` blocks above have closed everything already
        sys.exit(130)
