"""zmqffi for asyncio: Context, Socket and Poller whose blocking calls are coroutines.

    import zmqffi.asyncio

    async def main():
        with zmqffi.asyncio.Context() as ctx:
            with ctx.socket(zmqffi.PULL) as pull:
                pull.bind("tcp://127.0.0.1:5555")
                print(await pull.recv())

The waiting logic (and why cancelling never loses or splits a message) is in _async.py;
this module gives it asyncio's clock and the event loop's reader on ZMQ_FD.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import zmqffi
from zmqffi._async import POLLIN, POLLOUT, AsyncSocket
from zmqffi.poll import Pollable

__all__ = ["Context", "Socket", "Poller"]


class Socket(AsyncSocket):
    """An async socket for asyncio; ``Socket(ctx, zmqffi.PULL)`` from any live Context.
    It belongs to the thread that made it, and is awaited from that thread's loop."""

    __slots__ = ("_loop", "_waiting", "_fd", "_check_scheduled")

    def __init__(self, context: zmqffi.Context, socket_type: int) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop that waits on it
        self._waiting: set[asyncio.Future[None]] = set()
        self._fd = -1  # ZMQ_FD, while the loop's reader is on it
        self._check_scheduled = False
        super().__init__(context, socket_type)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def _wait_readable(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._add_waiter(loop, waiter)
        timer = None if timeout is None else loop.call_later(timeout, self._wake, waiter)
        try:
            await waiter
        finally:
            self._waiting.discard(waiter)
            if timer is not None:
                timer.cancel()

    def _add_waiter(self, loop: asyncio.AbstractEventLoop,
                    waiter: asyncio.Future[None]) -> None:
        """``waiter`` is done when the socket's fd is readable or the socket closes.
        Every waiter of the socket, its own tasks' and Pollers', goes through here: the
        loop keeps one reader per fd."""
        if self._loop is not loop:
            self._stop_reading()
            self._loop = loop
        if self._fd < 0:
            self._fd = int(zmqffi.Socket.getsockopt(self, zmqffi.FD))
            # (through a weak reference: the loop must not keep a dropped socket alive)
            loop.add_reader(self._fd, _readable, weakref.ref(self))
        self._waiting.add(waiter)

    @staticmethod
    def _wake(waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_result(None)

    def _wake_all(self) -> None:
        """The fd is readable, or the socket is closing: every waiter checks EVENTS
        again (and, once closed, gets the closed socket's error from that check). The
        reader stays on the fd between waits (adding and removing it costs two system
        calls a wait): with nobody waiting, reading EVENTS consumes the edge."""
        if self._waiting:
            for waiter in list(self._waiting):
                self._wake(waiter)
            return
        try:
            self._events()
        except zmqffi.ZMQError:  # closed or shut down: nothing more to read here
            self._stop_reading()

    def _stop_reading(self) -> None:
        if self._fd >= 0 and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        self._fd = -1

    def _touched(self) -> None:
        if self._waiting and not self._check_scheduled and self._loop is not None:
            self._check_scheduled = True
            self._loop.call_soon(self._check)

    def _check(self) -> None:
        """Wake the waiters if the socket is ready for something: an edge of ZMQ_FD may
        have been consumed by a call made since they started waiting."""
        self._check_scheduled = False
        try:
            ready = self._events()
        except zmqffi.ZMQError:
            ready = POLLIN | POLLOUT  # closed or shut down: the waiters get the error
        if ready:
            self._wake_all()

    def _closing(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._wake_all)
        except RuntimeError:  # the loop closed meanwhile: nobody waits on it
            pass

    def close(self, linger: int | None = None) -> None:
        if not self.closed:
            self._stop_reading()  # before libzmq closes the fd (in this thread)
        super().close(linger)


def _readable(ref: weakref.ref[Socket]) -> None:
    sock = ref()
    if sock is not None:
        sock._wake_all()


class Context(zmqffi.Context):
    """The process's Context (the one live Context, as zmqffi.Context), whose sockets
    are zmqffi.asyncio sockets."""

    def socket(self, socket_type: int) -> Socket:
        return Socket(self, socket_type)


class Poller(zmqffi.Poller):
    """register/modify/unregister as zmqffi.Poller; ``await poll(timeout)``."""

    async def poll(self, timeout: float | None = None  # type: ignore[override]
                   ) -> list[tuple[Pollable, int]]:
        """The ready (object, events) pairs; [] after ``timeout`` milliseconds (None:
        wait for ever). Sockets are waited on through their ZMQ_FD, file descriptors
        directly; every wake-up is checked by a zmq_poll that does not wait."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None or timeout < 0 else loop.time() + timeout / 1e3
        while True:
            ready = super().poll(0)  # (which tells the sockets' waiters: see there)
            left = None if deadline is None else deadline - loop.time()
            if ready or (left is not None and left <= 0):
                return ready
            await self._wait_any(loop, left)

    async def _wait_any(self, loop: asyncio.AbstractEventLoop, left: float | None) -> None:
        waiter: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        readers, writers, joined = [], [], []
        for obj, flags in self._registered.items():
            if isinstance(obj, Socket):  # waits with the socket's own waiters
                obj._add_waiter(loop, waiter)
                joined.append(obj)
                continue
            if isinstance(obj, zmqffi.Socket):  # readable fd: something to check
                readers.append(int(zmqffi.Socket.getsockopt(obj, zmqffi.FD)))
                continue
            fd = obj if isinstance(obj, int) else obj.fileno()
            if flags & POLLIN:
                readers.append(fd)
            if flags & POLLOUT:
                writers.append(fd)
        for fd in readers:
            loop.add_reader(fd, wake)
        for fd in writers:
            loop.add_writer(fd, wake)
        timer = None if left is None else loop.call_later(left, wake)
        try:
            await waiter
        finally:
            for sock in joined:
                sock._waiting.discard(waiter)
            for fd in readers:
                loop.remove_reader(fd)
            for fd in writers:
                loop.remove_writer(fd)
            if timer is not None:
                timer.cancel()


def __getattr__(name: str) -> Any:
    raise AttributeError(f"module 'zmqffi.asyncio' has no attribute {name!r}")
