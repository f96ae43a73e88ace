#!/usr/bin/env python3
"""REP with a small SNDHWM drops replies: a libzmq 4.3.4 effect, shown with the raw layer.

A REQ and a REP over tcp loopback, one request in flight at a time, SNDHWM = RCVHWM = N
on both. Each run does --round-trips round trips; a run fails when a reply never comes
(RCVTIMEO). Only zmqffi.lib is used, call for call as in C, so zmqffi's Pythonic layer
is not involved.

It shows when the CPUs are busy (the credit then lags longer): --load N runs N busy
loops meanwhile, as many as there are CPUs by default.

    python stress/rep_small_hwm.py --hwm 1 --runs 10     # some runs lose a reply
    python stress/rep_small_hwm.py --hwm 1000 --runs 10  # the default HWM: none do
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading

from zmqffi import ffi, lib


def one_run(hwm: int, round_trips: int) -> int:
    """Round trips completed before a reply went missing (== round_trips if none did)."""
    ctx = lib.zmq_ctx_new()

    def make(kind: int) -> object:
        sock = lib.zmq_socket(ctx, kind)
        for option, value in ((lib.ZMQ_RCVTIMEO, 2000), (lib.ZMQ_LINGER, 0),
                              (lib.ZMQ_SNDHWM, hwm), (lib.ZMQ_RCVHWM, hwm)):
            assert lib.zmq_setsockopt(sock, option, ffi.new("int *", value), 4) == 0
        return sock

    rep = make(lib.ZMQ_REP)
    assert lib.zmq_bind(rep, b"tcp://127.0.0.1:*") == 0
    endpoint = ffi.new("char[256]")
    size = ffi.new("size_t *", 256)
    lib.zmq_getsockopt(rep, lib.ZMQ_LAST_ENDPOINT, endpoint, size)

    def serve() -> None:
        buf = ffi.new("char[64]")
        while True:
            n = lib.zmq_recv(rep, buf, 64, 0)
            if n < 0:
                return  # the client is gone (RCVTIMEO)
            lib.zmq_send(rep, buf, n, 0)

    server = threading.Thread(target=serve)
    server.start()
    req = make(lib.ZMQ_REQ)
    lib.zmq_connect(req, ffi.string(endpoint))
    buf = ffi.new("char[64]")
    done = 0
    for i in range(round_trips):
        data = i.to_bytes(8, "little")
        assert lib.zmq_send(req, data, 8, 0) == 8
        if lib.zmq_recv(req, buf, 64, 0) != 8:
            break
        done += 1
    lib.zmq_close(req)
    server.join()
    lib.zmq_close(rep)
    lib.zmq_ctx_term(ctx)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hwm", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--round-trips", type=int, default=20_000)
    parser.add_argument("--load", type=int, default=os.cpu_count() or 1,
                        help="busy loops running meanwhile (default: one per CPU)")
    args = parser.parse_args()
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(args.load)]
    lost = 0
    try:
        for run in range(args.runs):
            done = one_run(args.hwm, args.round_trips)
            if done < args.round_trips:
                lost += 1
                print(f"run {run}: reply {done} never came (after {done} round trips)")
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    print(f"SNDHWM={args.hwm}: {lost} of {args.runs} runs lost a reply "
          f"({args.round_trips:,} round trips each, {args.load} busy loops)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
