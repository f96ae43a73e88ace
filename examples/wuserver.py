#!/usr/bin/env python3
"""Weather update server: a PUB socket publishes random "zipcode temperature humidity" lines.

    python examples/wuserver.py                   # binds tcp://*:5556, forever
    python examples/wuserver.py --bind 'tcp://127.0.0.1:*' --zipcodes 10 --seed 1

Publish-subscribe: updates go to every subscriber that wants them, and nobody waits: with no
subscriber (or a slow one) updates are simply dropped. Runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import random
import sys

import zmqffi


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="tcp://*:5556", metavar="ENDPOINT",
                        help="where subscribers connect (default: %(default)s); with a "
                             "wildcard port the real endpoint is printed first")
    parser.add_argument("--zipcodes", type=int, default=100000, metavar="N",
                        help="zip codes are drawn from 0..N-1 (default: 100000)")
    parser.add_argument("--seed", type=int, default=None, help="seed the random updates")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    with zmqffi.Context() as context, context.socket(zmqffi.PUB) as publisher:
        publisher.setsockopt(zmqffi.LINGER, 0)  # updates still queued at exit are worthless
        publisher.bind(args.bind)
        if args.bind.endswith((":*", ":0")):
            print(f"Bound to {publisher.last_endpoint}", flush=True)

        while True:
            zipcode = rng.randrange(args.zipcodes)
            temperature = rng.randrange(215) - 80
            relhumidity = rng.randrange(50) + 10
            publisher.send(f"{zipcode:05d} {temperature} {relhumidity}".encode())


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the `with` blocks above have closed everything already
        sys.exit(130)
