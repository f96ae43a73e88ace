#!/usr/bin/env python3
"""Weather update client: a SUB socket collects the updates of one zip code and averages them.

    python examples/wuclient.py                   # zip code 10001 from tcp://localhost:5556
    python examples/wuclient.py --zipcode 7 --updates 20 --connect tcp://127.0.0.1:41000
"""

from __future__ import annotations

import argparse
import sys

import zmqffi


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", default="tcp://localhost:5556", metavar="ENDPOINT",
                        help="the weather server (default: %(default)s)")
    parser.add_argument("--zipcode", type=int, default=10001, help="(default: %(default)s)")
    parser.add_argument("--updates", type=int, default=100,
                        help="updates to average (default: 100)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="give up (exit 1) when no update comes for this long "
                             "(default: wait forever)")
    args = parser.parse_args(argv)
    if args.updates < 1:
        parser.error("--updates must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with zmqffi.Context() as context, context.socket(zmqffi.SUB) as subscriber:
        if args.timeout is not None:
            subscriber.setsockopt(zmqffi.RCVTIMEO, int(args.timeout * 1000))
        print("Collecting updates from weather server…", flush=True)
        subscriber.connect(args.connect)
        # The filter is a prefix of the message; the space stops 10001 matching 100010.
        subscriber.setsockopt(zmqffi.SUBSCRIBE, f"{args.zipcode:05d} ".encode())

        total_temp = 0
        for update_nbr in range(args.updates):
            try:
                update = subscriber.recv()
            except zmqffi.Again:
                print(f"Timed out after {update_nbr} updates", file=sys.stderr, flush=True)
                return 1
            _zipcode, temperature, _relhumidity = update.split()
            total_temp += int(temperature)
        print(f"Average temperature for zipcode '{args.zipcode:05d}' was "
              f"{total_temp / args.updates:.1f}F", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the `with` blocks above have closed everything already
        sys.exit(130)
