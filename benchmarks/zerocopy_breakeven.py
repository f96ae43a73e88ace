"""Where lending a buffer to libzmq (send(copy=False)) starts to beat copying it.

    python benchmarks/zerocopy_breakeven.py [--count N]

One thread sends one message and receives it (recv_msg: no copy on the receiving side)
over inproc and tcp, for a range of sizes, with copy=True and copy=False, and prints the
time per message of each and their ratio. zmqffi.socket.ZERO_COPY_MIN is set from this.
"""

from __future__ import annotations

import argparse
import platform
import time

import zmqffi

SIZES = [1024, 4096, 16384, 32768, 65536, 131072, 262144, 1048576]


def per_message(push: zmqffi.Socket, pull: zmqffi.Socket, data: bytes, copy: bool,
                count: int) -> float:
    for _ in range(min(count, 200)):  # warm-up (PyPy's JIT, libzmq's allocator)
        push.send(data, copy=copy)
        pull.recv_msg().close()
    start = time.perf_counter()
    for _ in range(count):
        push.send(data, copy=copy)
        pull.recv_msg().close()
    return (time.perf_counter() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{args.count} messages per cell, median of 3")
    print(f"{'transport':9} {'size':>8} {'copy µs':>9} {'lend µs':>9} {'lend/copy':>9}")
    with zmqffi.Context() as ctx:
        for endpoint in ("inproc://breakeven", "tcp://127.0.0.1:*"):
            with ctx.socket(zmqffi.PUSH) as push, ctx.socket(zmqffi.PULL) as pull:
                pull.bind(endpoint)
                push.connect(pull.last_endpoint)
                for size in SIZES:
                    data = bytes(size)
                    copy = sorted(per_message(push, pull, data, True, args.count)
                                  for _ in range(3))[1]
                    lend = sorted(per_message(push, pull, data, False, args.count)
                                  for _ in range(3))[1]
                    print(f"{endpoint.split(':')[0]:9} {size:>8} {copy * 1e6:>9.2f} "
                          f"{lend * 1e6:>9.2f} {lend / copy:>9.2f}")


if __name__ == "__main__":
    main()
