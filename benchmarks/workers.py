"""The measured side of the benchmark: one role of one implementation per process.

``run.py`` starts these (one process per role for tcp, one process with two threads for
inproc), exactly as libzmq's perf tools are laid out:

    thr-recv  (local_thr)  PULL, binds, times from the first to the last timed message
    thr-send  (remote_thr) PUSH, connects, sends warm-up + timed messages
    thr-inproc (inproc_thr) both of the above in one process, the sender in a thread
    lat-rep   (local_lat)  REP, binds, echoes
    lat-req   (remote_lat) REQ, connects, times the round trips
    lat-inproc (inproc_lat) both in one process, the REP side in a thread

Each prints one JSON line on stdout (the timing side: elapsed seconds of the timed part,
warm-up seconds). Throughput is ``count / elapsed`` as local_thr computes it (the clock
starts at the first timed message); latency is ``elapsed / count`` per round trip
(remote_lat prints half of that, "one-way").

Warm-up (``--warmup W``): W messages (or round trips) go through the same loop before
the timed ones, so that PyPy's JIT has compiled it; their time is reported separately.

Every implementation's loops are written out in full below (no per-message dispatch
through shared helpers), as a user of that API would write them.

The async rows (``*-asyncio-recv``, ``*-asyncio-send``, ``zmqffi-trio-*``) make one side
async and leave the other the same library's blocking socket: over tcp the async side is
its own process, over inproc its own thread (the receiver is the main thread, the sender
the other one, as above). Each runs its loop inside ``asyncio.run`` (the default event
loop) or ``trio.run`` and awaits every message, one at a time. Throughput only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time

perf_counter = time.perf_counter


class SizeError(RuntimeError):
    pass


def bad_size(got: int, want: int):
    raise SizeError(f"message of incorrect size received: {got} != {want}")


# ------------------------------------------------------------------------------------
# pyzmq: the everyday API (send(bytes) / recv() -> bytes)
# ------------------------------------------------------------------------------------

class Pyzmq:
    name = "pyzmq"

    def __init__(self):
        import zmq
        self.zmq = zmq
        self.ctx = zmq.Context()

    def socket(self, kind: str):
        return self.ctx.socket(getattr(self.zmq, kind))

    def bind(self, sock, endpoint):
        sock.bind(endpoint)

    def connect(self, sock, endpoint):
        sock.connect(endpoint)

    def close(self, sock):
        sock.close()

    def term(self):
        self.ctx.term()

    def recv_thr(self, s, size, count, warmup):
        recv = s.recv
        t_warm = perf_counter()
        for _ in range(warmup):
            if len(recv()) != size:
                bad_size(-1, size)
        if len(recv()) != size:
            bad_size(-1, size)
        start = perf_counter()
        for _ in range(count - 1):
            if len(recv()) != size:
                bad_size(-1, size)
        end = perf_counter()
        return start - t_warm, end - start

    def send_thr(self, s, size, total):
        data = b"x" * size
        send = s.send
        for _ in range(total):
            send(data)

    def rep(self, s, size, total):
        recv, send = s.recv, s.send
        for _ in range(total):
            m = recv()
            if len(m) != size:
                bad_size(len(m), size)
            send(m)

    def req(self, s, size, count, warmup):
        data = b"x" * size
        recv, send = s.recv, s.send
        t_warm = perf_counter()
        for _ in range(warmup):
            send(data)
            recv()
        start = perf_counter()
        for _ in range(count):
            send(data)
            if len(recv()) != size:
                bad_size(-1, size)
        end = perf_counter()
        return start - t_warm, end - start


class PyzmqNocopy(Pyzmq):
    """pyzmq's zero-copy API: send(copy=False), recv(copy=False) -> Frame."""
    name = "pyzmq-nocopy"

    def recv_thr(self, s, size, count, warmup):
        recv = s.recv
        t_warm = perf_counter()
        for _ in range(warmup):
            if len(recv(copy=False)) != size:
                bad_size(-1, size)
        if len(recv(copy=False)) != size:
            bad_size(-1, size)
        start = perf_counter()
        for _ in range(count - 1):
            if len(recv(copy=False)) != size:
                bad_size(-1, size)
        end = perf_counter()
        return start - t_warm, end - start

    def send_thr(self, s, size, total):
        data = b"x" * size
        send = s.send
        for _ in range(total):
            send(data, copy=False)

    def rep(self, s, size, total):
        recv, send = s.recv, s.send
        for _ in range(total):
            f = recv(copy=False)
            if len(f) != size:
                bad_size(len(f), size)
            send(f, copy=False)

    def req(self, s, size, count, warmup):
        data = b"x" * size
        recv, send = s.recv, s.send
        t_warm = perf_counter()
        for _ in range(warmup):
            send(data, copy=False)
            recv(copy=False)
        start = perf_counter()
        for _ in range(count):
            send(data, copy=False)
            if len(recv(copy=False)) != size:
                bad_size(-1, size)
        end = perf_counter()
        return start - t_warm, end - start


# ------------------------------------------------------------------------------------
# zmqffi, the Pythonic layer (API.md)
# ------------------------------------------------------------------------------------

class Zmqffi:
    """The normal path: send(bytes) / recv() -> bytes."""
    name = "zmqffi"

    def __init__(self):
        import zmqffi
        self.zmqffi = zmqffi
        self.ctx = zmqffi.Context()

    def socket(self, kind: str):
        return self.ctx.socket(getattr(self.zmqffi, kind))

    def bind(self, sock, endpoint):
        sock.bind(endpoint)

    def connect(self, sock, endpoint):
        sock.connect(endpoint)

    def close(self, sock):
        sock.close()

    def term(self):
        self.ctx.term()

    def recv_thr(self, s, size, count, warmup):
        recv = s.recv
        t_warm = perf_counter()
        for _ in range(warmup):
            if len(recv()) != size:
                bad_size(-1, size)
        if len(recv()) != size:
            bad_size(-1, size)
        start = perf_counter()
        for _ in range(count - 1):
            if len(recv()) != size:
                bad_size(-1, size)
        end = perf_counter()
        return start - t_warm, end - start

    def send_thr(self, s, size, total):
        data = b"x" * size
        send = s.send
        for _ in range(total):
            send(data)

    def rep(self, s, size, total):
        recv, send = s.recv, s.send
        for _ in range(total):
            m = recv()
            if len(m) != size:
                bad_size(len(m), size)
            send(m)

    def req(self, s, size, count, warmup):
        data = b"x" * size
        recv, send = s.recv, s.send
        t_warm = perf_counter()
        for _ in range(warmup):
            send(data)
            recv()
        start = perf_counter()
        for _ in range(count):
            send(data)
            if len(recv()) != size:
                bad_size(-1, size)
        end = perf_counter()
        return start - t_warm, end - start


class ZmqffiInto(Zmqffi):
    """Receive with recv_into(a preallocated bytearray); send(bytes)."""
    name = "zmqffi-recv_into"

    def recv_thr(self, s, size, count, warmup):
        buf = bytearray(max(size, 1))
        recv_into = s.recv_into
        t_warm = perf_counter()
        for _ in range(warmup):
            if recv_into(buf) != size:
                bad_size(-1, size)
        if recv_into(buf) != size:
            bad_size(-1, size)
        start = perf_counter()
        for _ in range(count - 1):
            if recv_into(buf) != size:
                bad_size(-1, size)
        end = perf_counter()
        return start - t_warm, end - start

    def rep(self, s, size, total):
        buf = bytearray(size)
        recv_into, send = s.recv_into, s.send
        for _ in range(total):
            n = recv_into(buf)
            if n != size:
                bad_size(n, size)
            send(buf)

    def req(self, s, size, count, warmup):
        data = b"x" * size
        buf = bytearray(max(size, 1))
        recv_into, send = s.recv_into, s.send
        t_warm = perf_counter()
        for _ in range(warmup):
            send(data)
            recv_into(buf)
        start = perf_counter()
        for _ in range(count):
            send(data)
            if recv_into(buf) != size:
                bad_size(-1, size)
        end = perf_counter()
        return start - t_warm, end - start


class ZmqffiMsg(Zmqffi):
    """Receive with recv_msg() (no copy; closed after use); send(bytes).
    As REP it echoes the received Message itself, like local_lat."""
    name = "zmqffi-recv_msg"

    def recv_thr(self, s, size, count, warmup):
        recv_msg = s.recv_msg
        t_warm = perf_counter()
        for _ in range(warmup):
            m = recv_msg()
            if len(m) != size:
                bad_size(len(m), size)
            m.close()
        m = recv_msg()
        if len(m) != size:
            bad_size(len(m), size)
        m.close()
        start = perf_counter()
        for _ in range(count - 1):
            m = recv_msg()
            if len(m) != size:
                bad_size(len(m), size)
            m.close()
        end = perf_counter()
        return start - t_warm, end - start

    def rep(self, s, size, total):
        recv_msg, send = s.recv_msg, s.send
        for _ in range(total):
            m = recv_msg()
            if len(m) != size:
                bad_size(len(m), size)
            send(m)
            m.close()

    def req(self, s, size, count, warmup):
        data = b"x" * size
        recv_msg, send = s.recv_msg, s.send
        t_warm = perf_counter()
        for _ in range(warmup):
            send(data)
            recv_msg().close()
        start = perf_counter()
        for _ in range(count):
            send(data)
            m = recv_msg()
            if len(m) != size:
                bad_size(len(m), size)
            m.close()
        end = perf_counter()
        return start - t_warm, end - start


class ZmqffiZerocopy(ZmqffiMsg):
    """Send Message(data, copy=False) (libzmq borrows the buffer); receive recv_msg()."""
    name = "zmqffi-zerocopy"

    def send_thr(self, s, size, total):
        data = b"x" * size
        send, Message = s.send, self.zmqffi.Message
        for _ in range(total):
            m = Message(data, copy=False)
            send(m)
            m.close()

    def req(self, s, size, count, warmup):
        data = b"x" * size
        recv_msg, send, Message = s.recv_msg, s.send, self.zmqffi.Message
        t_warm = perf_counter()
        for _ in range(warmup):
            m = Message(data, copy=False)
            send(m)
            m.close()
            recv_msg().close()
        start = perf_counter()
        for _ in range(count):
            m = Message(data, copy=False)
            send(m)
            m.close()
            m = recv_msg()
            if len(m) != size:
                bad_size(len(m), size)
            m.close()
        end = perf_counter()
        return start - t_warm, end - start


class ZmqffiView(ZmqffiMsg):
    """Receive recv_msg() and read it through a msg.buffer view, as a zero-copy user
    does: the view is taken, checked, and dropped after the Message is closed (its
    memory is freed with the last view: on PyPy at a collection); send(bytes)."""
    name = "zmqffi-view"

    def recv_thr(self, s, size, count, warmup):
        recv_msg = s.recv_msg
        t_warm = perf_counter()
        for _ in range(warmup):
            m = recv_msg()
            v = m.buffer
            m.close()
            if len(v) != size:
                bad_size(len(v), size)
            del v
        start = perf_counter()
        for _ in range(count):
            m = recv_msg()
            v = m.buffer
            m.close()
            if len(v) != size:
                bad_size(len(v), size)
            del v
        end = perf_counter()
        return start - t_warm, end - start


class ZmqffiBatch(Zmqffi):
    """Batched small messages: send_many(a list of BATCH frames) / recv_many() -> list of
    bytes, each frame a message of its own; the loops over frames run in C. Throughput
    only (a batch has no meaning for REQ/REP's one message at a time)."""
    name = "zmqffi-batch"
    BATCH = 1000  # frames per send_many() call; recv_many() takes up to 1024 per call

    def recv_thr(self, s, size, count, warmup):
        # As the other rows: the warm-up messages, then the first timed message alone
        # (the clock starts once it is in), then the other count - 1. max_frames keeps
        # each batch within its phase. Every frame's size is checked (set(map(len, ...))
        # runs in C, as a user's bulk check would).
        recv_many, want = s.recv_many, {size}
        t_warm = perf_counter()
        left = warmup
        while left:
            frames = recv_many(min(left, 1024))
            if set(map(len, frames)) != want:
                bad_size(min(set(map(len, frames)) - want), size)
            left -= len(frames)
        frames = recv_many(1)
        if set(map(len, frames)) != want:
            bad_size(min(set(map(len, frames)) - want), size)
        start = perf_counter()
        left = count - 1
        while left:
            frames = recv_many(min(left, 1024))
            if set(map(len, frames)) != want:
                bad_size(min(set(map(len, frames)) - want), size)
            left -= len(frames)
        end = perf_counter()
        return start - t_warm, end - start

    def send_thr(self, s, size, total):
        data = b"x" * size
        send_many, n = s.send_many, self.BATCH
        batch = [data] * n
        full, rest = divmod(total, n)
        for _ in range(full):
            if send_many(batch) != n:
                raise RuntimeError("send_many() sent part of a batch (flags=0)")
        if rest and send_many(batch[:rest]) != rest:
            raise RuntimeError("send_many() sent part of a batch (flags=0)")

    def rep(self, s, size, total):
        raise SystemExit("zmqffi-batch has no latency loop (throughput cells only)")

    req = rep


# ------------------------------------------------------------------------------------
# zmqffi's raw layer: cffi calls only, the ceiling for any binding over it
# ------------------------------------------------------------------------------------

class Raw:
    """lib.zmq_send / lib.zmq_recv on preallocated cffi buffers."""
    name = "zmqffi-raw"

    def __init__(self):
        from zmqffi import ffi, lib
        self.ffi, self.lib = ffi, lib
        self.ctx = lib.zmq_ctx_new()
        if self.ctx == ffi.NULL:
            self.fail("zmq_ctx_new")

    def fail(self, what):
        errno = self.lib.zmq_errno()
        raise OSError(errno, f"{what}: {self.ffi.string(self.lib.zmq_strerror(errno)).decode()}")

    def socket(self, kind: str):
        s = self.lib.zmq_socket(self.ctx, getattr(self.lib, "ZMQ_" + kind))
        if s == self.ffi.NULL:
            self.fail("zmq_socket")
        return s

    def bind(self, sock, endpoint):
        if self.lib.zmq_bind(sock, endpoint.encode()) != 0:
            self.fail(f"zmq_bind {endpoint}")

    def connect(self, sock, endpoint):
        if self.lib.zmq_connect(sock, endpoint.encode()) != 0:
            self.fail(f"zmq_connect {endpoint}")

    def close(self, sock):
        self.lib.zmq_close(sock)

    def term(self):
        self.lib.zmq_ctx_term(self.ctx)

    def recv_thr(self, s, size, count, warmup):
        lib = self.lib
        zmq_recv = lib.zmq_recv
        cap = max(size, 1)
        buf = self.ffi.new("char[]", cap)
        t_warm = perf_counter()
        for _ in range(warmup):
            if zmq_recv(s, buf, cap, 0) != size:
                self.fail("zmq_recv")
        if zmq_recv(s, buf, cap, 0) != size:
            self.fail("zmq_recv")
        start = perf_counter()
        for _ in range(count - 1):
            if zmq_recv(s, buf, cap, 0) != size:
                self.fail("zmq_recv")
        end = perf_counter()
        return start - t_warm, end - start

    def send_thr(self, s, size, total):
        zmq_send = self.lib.zmq_send
        buf = self.ffi.new("char[]", max(size, 1))
        for _ in range(total):
            if zmq_send(s, buf, size, 0) != size:
                self.fail("zmq_send")

    def rep(self, s, size, total):
        zmq_send, zmq_recv = self.lib.zmq_send, self.lib.zmq_recv
        cap = max(size, 1)
        buf = self.ffi.new("char[]", cap)
        for _ in range(total):
            if zmq_recv(s, buf, cap, 0) != size:
                self.fail("zmq_recv")
            if zmq_send(s, buf, size, 0) != size:
                self.fail("zmq_send")

    def req(self, s, size, count, warmup):
        zmq_send, zmq_recv = self.lib.zmq_send, self.lib.zmq_recv
        cap = max(size, 1)
        out = self.ffi.new("char[]", cap)
        buf = self.ffi.new("char[]", cap)
        t_warm = perf_counter()
        for _ in range(warmup):
            zmq_send(s, out, size, 0)
            zmq_recv(s, buf, cap, 0)
        start = perf_counter()
        for _ in range(count):
            if zmq_send(s, out, size, 0) != size:
                self.fail("zmq_send")
            if zmq_recv(s, buf, cap, 0) != size:
                self.fail("zmq_recv")
        end = perf_counter()
        return start - t_warm, end - start


class RawMsg(Raw):
    """The C perf tools' own calls through cffi: zmq_msg_init_size + zmq_msg_send per
    message, zmq_msg_recv into one reused zmq_msg_t (no copy at all)."""
    name = "zmqffi-raw_msg"

    def recv_thr(self, s, size, count, warmup):
        lib = self.lib
        msg_recv, msg_size = lib.zmq_msg_recv, lib.zmq_msg_size
        msg = self.ffi.new("zmq_msg_t *")
        lib.zmq_msg_init(msg)
        t_warm = perf_counter()
        for _ in range(warmup):
            if msg_recv(msg, s, 0) < 0:
                self.fail("zmq_msg_recv")
        if msg_recv(msg, s, 0) < 0 or msg_size(msg) != size:
            self.fail("zmq_msg_recv")
        start = perf_counter()
        for _ in range(count - 1):
            if msg_recv(msg, s, 0) < 0:
                self.fail("zmq_msg_recv")
            if msg_size(msg) != size:
                bad_size(msg_size(msg), size)
        end = perf_counter()
        lib.zmq_msg_close(msg)
        return start - t_warm, end - start

    def send_thr(self, s, size, total):
        lib = self.lib
        init_size, msg_send = lib.zmq_msg_init_size, lib.zmq_msg_send
        msg = self.ffi.new("zmq_msg_t *")
        for _ in range(total):
            if init_size(msg, size) != 0:
                self.fail("zmq_msg_init_size")
            if msg_send(msg, s, 0) < 0:
                self.fail("zmq_msg_send")
            # a sent message is empty: zmq_msg_close is a no-op libzmq still wants
            lib.zmq_msg_close(msg)

    def rep(self, s, size, total):
        lib = self.lib
        msg_recv, msg_send, msg_size = lib.zmq_msg_recv, lib.zmq_msg_send, lib.zmq_msg_size
        msg = self.ffi.new("zmq_msg_t *")
        lib.zmq_msg_init(msg)
        for _ in range(total):
            if msg_recv(msg, s, 0) < 0:
                self.fail("zmq_msg_recv")
            if msg_size(msg) != size:
                bad_size(msg_size(msg), size)
            if msg_send(msg, s, 0) < 0:
                self.fail("zmq_msg_send")
        lib.zmq_msg_close(msg)

    def req(self, s, size, count, warmup):
        lib = self.lib
        msg_recv, msg_send, msg_size = lib.zmq_msg_recv, lib.zmq_msg_send, lib.zmq_msg_size
        msg = self.ffi.new("zmq_msg_t *")
        lib.zmq_msg_init_size(msg, size)
        t_warm = perf_counter()
        for _ in range(warmup):
            msg_send(msg, s, 0)
            msg_recv(msg, s, 0)
        start = perf_counter()
        for _ in range(count):
            if msg_send(msg, s, 0) < 0:
                self.fail("zmq_msg_send")
            if msg_recv(msg, s, 0) < 0:
                self.fail("zmq_msg_recv")
            if msg_size(msg) != size:
                bad_size(msg_size(msg), size)
        end = perf_counter()
        lib.zmq_msg_close(msg)
        return start - t_warm, end - start


# ------------------------------------------------------------------------------------
# one side async: the async socket awaits each message, one at a time, inside asyncio.run
# (the default event loop) or trio.run; the peer is the same library's blocking socket
# (throughput rows only: the PULL side is async in the -recv rows, PUSH in the -send rows)
# ------------------------------------------------------------------------------------

def no_latency_loop(self, *args):
    raise SystemExit(f"{self.name} has no latency loop (throughput cells only)")


class PyzmqAsyncioRecv(Pyzmq):
    """zmq.asyncio PULL (await recv()); blocking pyzmq PUSH."""
    name = "pyzmq-asyncio-recv"
    rep = req = no_latency_loop

    def socket(self, kind: str):
        if kind != "PULL":
            return super().socket(kind)
        import zmq.asyncio
        return zmq.asyncio.Socket(self.ctx, self.zmq.PULL)

    def recv_thr(self, s, size, count, warmup):
        return asyncio.run(self.recv_thr_async(s, size, count, warmup))

    async def recv_thr_async(self, s, size, count, warmup):
        recv = s.recv
        t_warm = perf_counter()
        for _ in range(warmup):
            if len(await recv()) != size:
                bad_size(-1, size)
        if len(await recv()) != size:
            bad_size(-1, size)
        start = perf_counter()
        for _ in range(count - 1):
            if len(await recv()) != size:
                bad_size(-1, size)
        end = perf_counter()
        return start - t_warm, end - start


class PyzmqAsyncioSend(Pyzmq):
    """zmq.asyncio PUSH (await send(bytes)); blocking pyzmq PULL."""
    name = "pyzmq-asyncio-send"
    rep = req = no_latency_loop

    def socket(self, kind: str):
        if kind != "PUSH":
            return super().socket(kind)
        import zmq.asyncio
        return zmq.asyncio.Socket(self.ctx, self.zmq.PUSH)

    def send_thr(self, s, size, total):
        asyncio.run(self.send_thr_async(s, size, total))

    async def send_thr_async(self, s, size, total):
        data = b"x" * size
        send = s.send
        for _ in range(total):
            await send(data)


class ZmqffiAsyncioRecv(Zmqffi):
    """zmqffi.asyncio PULL (await recv()); blocking zmqffi PUSH."""
    name = "zmqffi-asyncio-recv"
    rep = req = no_latency_loop

    def socket(self, kind: str):
        if kind != "PULL":
            return super().socket(kind)
        import zmqffi.asyncio
        return zmqffi.asyncio.Socket(self.ctx, self.zmqffi.PULL)

    def recv_thr(self, s, size, count, warmup):
        return asyncio.run(self.recv_thr_async(s, size, count, warmup))

    async def recv_thr_async(self, s, size, count, warmup):
        recv = s.recv
        t_warm = perf_counter()
        for _ in range(warmup):
            if len(await recv()) != size:
                bad_size(-1, size)
        if len(await recv()) != size:
            bad_size(-1, size)
        start = perf_counter()
        for _ in range(count - 1):
            if len(await recv()) != size:
                bad_size(-1, size)
        end = perf_counter()
        return start - t_warm, end - start


class ZmqffiAsyncioSend(Zmqffi):
    """zmqffi.asyncio PUSH (await send(bytes)); blocking zmqffi PULL."""
    name = "zmqffi-asyncio-send"
    rep = req = no_latency_loop

    def socket(self, kind: str):
        if kind != "PUSH":
            return super().socket(kind)
        import zmqffi.asyncio
        return zmqffi.asyncio.Socket(self.ctx, self.zmqffi.PUSH)

    def send_thr(self, s, size, total):
        asyncio.run(self.send_thr_async(s, size, total))

    async def send_thr_async(self, s, size, total):
        data = b"x" * size
        send = s.send
        for _ in range(total):
            await send(data)


class ZmqffiTrioRecv(Zmqffi):
    """zmqffi.trio PULL (await recv()); blocking zmqffi PUSH."""
    name = "zmqffi-trio-recv"
    rep = req = no_latency_loop

    def socket(self, kind: str):
        if kind != "PULL":
            return super().socket(kind)
        import zmqffi.trio
        return zmqffi.trio.Socket(self.ctx, self.zmqffi.PULL)

    def recv_thr(self, s, size, count, warmup):
        import trio
        return trio.run(self.recv_thr_async, s, size, count, warmup)

    async def recv_thr_async(self, s, size, count, warmup):
        recv = s.recv
        t_warm = perf_counter()
        for _ in range(warmup):
            if len(await recv()) != size:
                bad_size(-1, size)
        if len(await recv()) != size:
            bad_size(-1, size)
        start = perf_counter()
        for _ in range(count - 1):
            if len(await recv()) != size:
                bad_size(-1, size)
        end = perf_counter()
        return start - t_warm, end - start


class ZmqffiTrioSend(Zmqffi):
    """zmqffi.trio PUSH (await send(bytes)); blocking zmqffi PULL."""
    name = "zmqffi-trio-send"
    rep = req = no_latency_loop

    def socket(self, kind: str):
        if kind != "PUSH":
            return super().socket(kind)
        import zmqffi.trio
        return zmqffi.trio.Socket(self.ctx, self.zmqffi.PUSH)

    def send_thr(self, s, size, total):
        import trio
        trio.run(self.send_thr_async, s, size, total)

    async def send_thr_async(self, s, size, total):
        data = b"x" * size
        send = s.send
        for _ in range(total):
            await send(data)


IMPLS = {cls.name: cls for cls in (
    Pyzmq, PyzmqNocopy, Zmqffi, ZmqffiInto, ZmqffiMsg, ZmqffiZerocopy, ZmqffiView,
    ZmqffiBatch, Raw, RawMsg, PyzmqAsyncioRecv, PyzmqAsyncioSend, ZmqffiAsyncioRecv,
    ZmqffiAsyncioSend, ZmqffiTrioRecv, ZmqffiTrioSend)}


# ------------------------------------------------------------------------------------
# roles
# ------------------------------------------------------------------------------------

def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def role_thr_recv(impl, a):
    s = impl.socket("PULL")
    impl.bind(s, a.endpoint)
    emit(ready=True)
    warm, elapsed = impl.recv_thr(s, a.size, a.count, a.warmup)
    impl.close(s)
    impl.term()
    emit(elapsed=elapsed, warmup_seconds=warm)


def role_thr_send(impl, a):
    s = impl.socket("PUSH")
    impl.connect(s, a.endpoint)
    impl.send_thr(s, a.size, a.warmup + a.count)
    impl.close(s)  # default linger: waits until everything is delivered
    impl.term()


def _in_thread(target, *args):
    """Run target(*args) in a thread; re-raise its exception at join."""
    box = {}

    def run():
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001 - carried to the main thread
            box["error"] = exc

    t = threading.Thread(target=run, name="peer", daemon=True)
    t.start()

    def join():
        t.join()
        if "error" in box:
            raise box["error"]
    return join


def role_thr_inproc(impl, a):
    # as inproc_thr: the receiver binds in the main thread, the sender is a thread
    # that creates, uses and closes its own socket (sockets belong to their thread)
    endpoint = "inproc://thr"
    s = impl.socket("PULL")
    impl.bind(s, endpoint)

    def sender():
        p = impl.socket("PUSH")
        impl.connect(p, endpoint)
        impl.send_thr(p, a.size, a.warmup + a.count)
        impl.close(p)

    join = _in_thread(sender)
    warm, elapsed = impl.recv_thr(s, a.size, a.count, a.warmup)
    join()
    impl.close(s)
    impl.term()
    emit(elapsed=elapsed, warmup_seconds=warm)


def role_lat_rep(impl, a):
    s = impl.socket("REP")
    impl.bind(s, a.endpoint)
    emit(ready=True)
    impl.rep(s, a.size, a.warmup + a.count)
    impl.close(s)
    impl.term()


def role_lat_req(impl, a):
    s = impl.socket("REQ")
    impl.connect(s, a.endpoint)
    warm, elapsed = impl.req(s, a.size, a.count, a.warmup)
    impl.close(s)
    impl.term()
    emit(elapsed=elapsed, warmup_seconds=warm)


def role_lat_inproc(impl, a):
    # as inproc_lat: the timed REQ binds in the main thread, the REP worker thread
    # creates, connects, uses and closes its own socket
    endpoint = "inproc://lat"
    s = impl.socket("REQ")
    impl.bind(s, endpoint)

    def server():
        r = impl.socket("REP")
        impl.connect(r, endpoint)
        impl.rep(r, a.size, a.warmup + a.count)
        impl.close(r)

    join = _in_thread(server)
    warm, elapsed = impl.req(s, a.size, a.count, a.warmup)
    join()
    impl.close(s)
    impl.term()
    emit(elapsed=elapsed, warmup_seconds=warm)


ROLES = {
    "thr-recv": role_thr_recv, "thr-send": role_thr_send, "thr-inproc": role_thr_inproc,
    "lat-rep": role_lat_rep, "lat-req": role_lat_req, "lat-inproc": role_lat_inproc,
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("role", choices=sorted(ROLES))
    p.add_argument("--impl", required=True, choices=sorted(IMPLS))
    p.add_argument("--endpoint", default="")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--warmup", type=int, default=0)
    a = p.parse_args(argv)
    impl = IMPLS[a.impl]()
    profile_to = os.environ.get("ZMQFFI_BENCH_VMPROF")  # set by profile.py on PyPy
    if profile_to:
        import vmprof
        out = open(f"{profile_to}-{a.role}.vmprof", "w+b")
        vmprof.enable(out.fileno(), 0.0002)
    try:
        ROLES[a.role](impl, a)
    finally:
        if profile_to:
            vmprof.disable()
            out.close()


if __name__ == "__main__":
    main()
