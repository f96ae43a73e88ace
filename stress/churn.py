#!/usr/bin/env python3
"""Churn: create and close things over and over; no leak (RSS), no hang (a watchdog).

  sockets    100,000 cycles: every socket type created and closed; with options set,
             bound to inproc and tcp, connected, one message exchanged; some left to
             the garbage collector (ResourceWarning, closed with linger 0)
  messages   100,000 cycles: copied and lent (zero-copy) Messages, views kept past
             close(), sent and received, some left to the garbage collector
  contexts     1,000 cycles: Context(), sockets over inproc and tcp, an exchange, then
             term(), destroy() with sockets open, or a `with` block

RSS is judged as in soak.py: median of the last 20% minus the median just after the
first 10%, under --bound MiB (default 20). Exit status 0 only if every phase is flat.

    python stress/churn.py            # the counts above
    python stress/churn.py --short    # 1/20 of them, for CI
"""

from __future__ import annotations

import argparse
import gc
import sys
import warnings
from typing import Any

import common

import zmqffi

TYPES = [zmqffi.PAIR, zmqffi.PUB, zmqffi.SUB, zmqffi.REQ, zmqffi.REP, zmqffi.DEALER,
         zmqffi.ROUTER, zmqffi.PULL, zmqffi.PUSH, zmqffi.XPUB, zmqffi.XSUB, zmqffi.STREAM]
WAIT_MS = 10_000


def exchange(ctx: zmqffi.Context, endpoint: str) -> None:
    with ctx.socket(zmqffi.PAIR) as a, ctx.socket(zmqffi.PAIR) as b:
        for s in (a, b):
            s.setsockopt(zmqffi.LINGER, 0)
            s.setsockopt(zmqffi.RCVTIMEO, WAIT_MS)
        a.bind(endpoint)
        b.connect(a.last_endpoint)
        a.send(b"ping")
        if b.recv() != b"ping":
            raise AssertionError("exchange failed")


def sockets(ctx: zmqffi.Context, cycles: int, bound: float) -> dict[str, Any]:
    memory = common.Memory(cycles, bound)
    collected = 0
    with common.Timer() as timer:
        for i in range(cycles):
            kind = i % 10
            if kind < 6:  # create and close
                sock = ctx.socket(TYPES[i % len(TYPES)])
                sock.close()
            elif kind == 6:  # options
                with ctx.socket(zmqffi.DEALER) as sock:
                    sock.setsockopt(zmqffi.LINGER, 0)
                    sock.setsockopt(zmqffi.SNDHWM, 10 + i % 100)
                    sock.setsockopt(zmqffi.ROUTING_ID, b"id-%d" % i)
                    sock.getsockopt(zmqffi.ROUTING_ID)
            elif kind == 7:  # inproc bind, connect, exchange
                exchange(ctx, f"inproc://churn-{i}")
            elif kind == 8:  # tcp bind and connect (every 100th: an exchange)
                if i % 100 == 8:
                    exchange(ctx, "tcp://127.0.0.1:*")
                else:
                    with ctx.socket(zmqffi.PULL) as sock:
                        sock.setsockopt(zmqffi.LINGER, 0)
                        sock.bind("tcp://127.0.0.1:*")
                        sock.connect(sock.last_endpoint)
            else:  # left open to the garbage collector, now and then
                sock = ctx.socket(zmqffi.PUSH)
                if i % 1000 == 9:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ResourceWarning)
                        del sock
                        gc.collect()
                    collected += 1
                else:
                    sock.close()
            memory.maybe(i)
    memory.sample(cycles)
    if ctx._sockets:
        raise AssertionError(f"{len(ctx._sockets)} sockets left open")
    return {"cycles": cycles, "collected_open": collected,
            "seconds": round(timer.seconds, 2),
            "cycles_per_s": round(cycles / timer.seconds), **memory.figures()}


def messages(ctx: zmqffi.Context, cycles: int, bound: float) -> dict[str, Any]:
    memory = common.Memory(cycles, bound)
    big = b"B" * (128 * 1024)
    views_alive = 0
    with ctx.socket(zmqffi.PAIR) as a, ctx.socket(zmqffi.PAIR) as b, \
            common.Timer() as timer:
        for s in (a, b):
            s.setsockopt(zmqffi.LINGER, 0)
            s.setsockopt(zmqffi.RCVTIMEO, WAIT_MS)
        a.bind("inproc://churn-messages")
        b.connect("inproc://churn-messages")
        for i in range(cycles):
            kind = i % 5
            if kind == 0:
                with zmqffi.Message(b"m%d" % i) as msg:
                    if msg.bytes != b"m%d" % i:
                        raise AssertionError("content")
            elif kind == 1:  # lent: libzmq releases the buffer later
                with zmqffi.Message(bytearray(big), copy=False) as msg:
                    len(msg)
            elif kind == 2:  # a view outlives close()
                msg = zmqffi.Message(big)
                view = msg.buffer
                msg.close()
                if view[-1] != ord("B"):
                    raise AssertionError("view")
                view.release()
            elif kind == 3:  # through a socket, received without a copy
                if i % 2:
                    a.send(big)
                else:
                    with zmqffi.Message(b"x" * 100) as out:  # emptied by send, still open
                        a.send(out)
                with b.recv_msg() as msg:
                    views_alive += len(msg.buffer) > 0
            else:  # left open to the garbage collector, now and then
                msg = zmqffi.Message(b"gc")
                if i % 1000 == 4:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ResourceWarning)
                        del msg
                        gc.collect()
                else:
                    msg.close()
            memory.maybe(i)
    memory.sample(cycles)
    return {"cycles": cycles, "seconds": round(timer.seconds, 2),
            "cycles_per_s": round(cycles / timer.seconds), **memory.figures()}


def contexts(cycles: int, bound: float) -> dict[str, Any]:
    memory = common.Memory(cycles, bound)
    with common.Timer() as timer:
        for i in range(cycles):
            kind = i % 3
            if kind == 0:  # term() after closing
                ctx = zmqffi.Context()
                exchange(ctx, f"inproc://ctx-{i}")
                exchange(ctx, "tcp://127.0.0.1:*")
                ctx.term()
            elif kind == 1:  # destroy() with sockets open and a message queued
                ctx = zmqffi.Context()
                push = ctx.socket(zmqffi.PUSH)
                push.connect("tcp://127.0.0.1:1")  # nobody there: it stays queued
                push.send(b"queued", zmqffi.DONTWAIT)
                pull = ctx.socket(zmqffi.PULL)
                pull.bind("tcp://127.0.0.1:*")
                ctx.destroy(linger=0)
                if not (push.closed and pull.closed):
                    raise AssertionError("destroy() left a socket open")
            else:  # with
                with zmqffi.Context(io_threads=2) as ctx:
                    exchange(ctx, f"inproc://ctx-{i}")
            memory.maybe(i)
    memory.sample(cycles)
    return {"cycles": cycles, "seconds": round(timer.seconds, 2),
            "cycles_per_s": round(cycles / timer.seconds, 1), **memory.figures()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="1/20 of the counts (CI)")
    parser.add_argument("--sockets", type=int, help="socket cycles (100,000)")
    parser.add_argument("--messages", type=int, help="message cycles (100,000)")
    parser.add_argument("--contexts", type=int, help="context cycles (1,000)")
    parser.add_argument("--bound", type=float, default=20.0, metavar="MIB",
                        help="allowed RSS growth after warm-up, per phase (default 20)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="a hang: give up after this many seconds (default 1800)")
    args = parser.parse_args(argv)
    scale = 20 if args.short else 1
    n_sockets = args.sockets or 100_000 // scale
    n_messages = args.messages or 100_000 // scale
    n_contexts = args.contexts or 1_000 // scale
    common.watchdog(args.timeout)
    results = []
    with zmqffi.Context() as ctx:
        results.append(("churn sockets", sockets(ctx, n_sockets, args.bound)))
        results.append(("churn messages", messages(ctx, n_messages, args.bound)))
    results.append(("churn contexts", contexts(n_contexts, args.bound)))
    failed = 0
    for name, figures in results:
        ok = bool(figures["memory_flat"])
        common.report(name, ok, crashes=0, **figures)
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
