"""zmqffi for trio: Context, Socket and Poller whose blocking calls are async functions.

    import trio, zmqffi, zmqffi.trio

    async def main():
        with zmqffi.trio.Context() as ctx:
            with ctx.socket(zmqffi.PULL) as pull:
                pull.bind("tcp://127.0.0.1:5555")
                print(await pull.recv())

    trio.run(main)

The waiting logic is _async.py's, shared with zmqffi.asyncio; this module gives it trio's
clock and ``trio.lowlevel.wait_readable`` on ZMQ_FD. Importing it imports trio.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import trio

import zmqffi
from zmqffi._async import POLLIN, POLLOUT, AsyncSocket
from zmqffi.poll import Pollable

__all__ = ["Context", "Socket", "Poller"]


class Socket(AsyncSocket):
    """An async socket for trio; ``Socket(ctx, zmqffi.PULL)`` from any live Context. It
    belongs to the thread that made it, and is awaited from that thread's trio run.

    trio lets one task wait on a file descriptor at a time: the first waiter waits on
    ZMQ_FD, the others on an event that it sets when it returns (woken, cancelled or
    timed out); each then checks EVENTS again, and one of them waits on the fd next.
    A waiter is poked (trio.lowlevel.notify_closing) when the edge may have been
    consumed by another call, and when the socket closes."""

    __slots__ = ("_fd", "_waiting", "_followers", "_token")

    def __init__(self, context: zmqffi.Context, socket_type: int) -> None:
        self._fd = -1
        self._waiting = False
        self._followers = trio.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        super().__init__(context, socket_type)

    def _now(self) -> float:
        return trio.current_time()

    async def _wait_readable(self, timeout: float | None) -> None:
        if self._fd < 0:
            self._fd = int(zmqffi.Socket.getsockopt(self, zmqffi.FD))
        self._token = trio.lowlevel.current_trio_token()
        if timeout is None:  # (the usual case: no cancel scope to enter and leave)
            await self._wait_fd()
            return
        with trio.move_on_after(timeout):
            await self._wait_fd()

    async def _wait_fd(self) -> None:
        if self._waiting:
            await self._followers.wait()
            return
        self._waiting = True
        try:
            await trio.lowlevel.wait_readable(self._fd)
        except trio.ClosedResourceError:
            pass  # poked (see _poke): check EVENTS again
        finally:
            self._waiting = False
            followers, self._followers = self._followers, trio.Event()
            followers.set()

    def _poke(self) -> None:
        """Wake the task waiting on the fd (and so the others), in the trio thread."""
        if self._waiting and self._fd >= 0:
            trio.lowlevel.notify_closing(self._fd)

    def _touched(self) -> None:
        if self._waiting:
            try:
                ready = self._events()
            except zmqffi.ZMQError:
                ready = POLLIN | POLLOUT  # closed or shut down: the waiters get the error
            if ready:
                self._poke()

    def _closing(self) -> None:
        token = self._token
        if token is None:
            return
        try:
            token.run_sync_soon(self._poke)
        except trio.RunFinishedError:  # nobody waits any more
            pass

    def close(self, linger: int | None = None) -> None:
        if not self.closed:
            self._poke()  # before libzmq closes the fd (in this thread)
        super().close(linger)


class Context(zmqffi.Context):
    """The process's Context (the one live Context, as zmqffi.Context), whose sockets
    are zmqffi.trio sockets."""

    def socket(self, socket_type: int) -> Socket:
        return Socket(self, socket_type)


class Poller(zmqffi.Poller):
    """register/modify/unregister as zmqffi.Poller; ``await poll(timeout)``."""

    async def poll(self, timeout: float | None = None  # type: ignore[override]
                   ) -> list[tuple[Pollable, int]]:
        """The ready (object, events) pairs; [] after ``timeout`` milliseconds (None:
        wait for ever). Waits on every socket's ZMQ_FD and on the file descriptors in
        child tasks; every wake-up is checked by a zmq_poll that does not wait."""
        deadline = math.inf if timeout is None or timeout < 0 else \
            trio.current_time() + timeout / 1e3
        while True:
            ready = super().poll(0)  # (which tells the sockets' waiters: see there)
            if ready or trio.current_time() >= deadline:
                return ready
            with trio.move_on_at(deadline):
                async with trio.open_nursery() as nursery:
                    for obj, flags in self._registered.items():
                        if isinstance(obj, Socket):  # with the socket's own waiters
                            nursery.start_soon(self._until_socket, nursery, obj)
                            continue
                        if isinstance(obj, zmqffi.Socket):
                            fd = int(zmqffi.Socket.getsockopt(obj, zmqffi.FD))
                            nursery.start_soon(self._until, nursery,
                                               trio.lowlevel.wait_readable, fd)
                            continue
                        fd = obj if isinstance(obj, int) else obj.fileno()
                        if flags & POLLIN:
                            nursery.start_soon(self._until, nursery,
                                               trio.lowlevel.wait_readable, fd)
                        if flags & POLLOUT:
                            nursery.start_soon(self._until, nursery,
                                               trio.lowlevel.wait_writable, fd)

    @staticmethod
    async def _until(nursery: trio.Nursery, wait: Callable[[int], Awaitable[None]],
                     fd: int) -> None:
        await wait(fd)
        nursery.cancel_scope.cancel()

    @staticmethod
    async def _until_socket(nursery: trio.Nursery, sock: Socket) -> None:
        await sock._wait_readable(None)
        nursery.cancel_scope.cancel()
