#!/usr/bin/env python3
"""Request-reply broker: zmqffi.proxy between a ROUTER for clients and a DEALER for servers.

Clients and servers no longer need to know each other, only the broker; add either at will:

    python examples/msgbroker.py                                 # binds 5559 and 5560
    python examples/hwserver.py --connect tcp://localhost:5560   # as many as you like
    python examples/hwclient.py --connect tcp://localhost:5559   # as many as you like

Runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

import zmqffi


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frontend", default="tcp://*:5559", metavar="ENDPOINT",
                        help="where clients (REQ) connect (default: %(default)s)")
    parser.add_argument("--backend", default="tcp://*:5560", metavar="ENDPOINT",
                        help="where servers (REP) connect (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with zmqffi.Context() as context, \
            context.socket(zmqffi.ROUTER) as frontend, \
            context.socket(zmqffi.DEALER) as backend:
        for socket, endpoint in ((frontend, args.frontend), (backend, args.backend)):
            # A broker that stops drops what is in flight: the clients retry or time out.
            socket.setsockopt(zmqffi.LINGER, 0)
            socket.bind(endpoint)
            # With a wildcard port, tell the launcher where we are (frontend first).
            if endpoint.endswith((":*", ":0")):
                print(f"Bound to {socket.last_endpoint}", flush=True)
        zmqffi.proxy(frontend, backend)  # until the context is terminated, or Ctrl-C
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the `with` blocks above have closed everything already
        sys.exit(130)
