"""The waiting logic of the async sockets, written once for asyncio and trio.

Every operation is first tried without blocking (DONTWAIT), in the awaiting task: when it
succeeds, nothing is awaited at all. When libzmq says EAGAIN, the task reads ZMQ_EVENTS:
if the socket is ready after all it tries again at once, else it waits for the socket's
ZMQ_FD to become readable, then tries again. ZMQ_FD is edge-triggered: reading EVENTS,
or any call that makes libzmq process the socket's commands (the failed try too),
consumes the edge. So EVENTS is always read *before* waiting, and after every
operation made through the async socket (another task's send or receive, an EVENTS read,
bind, ...) the waiters are told to check again: no wake-up is lost to a consumed edge.

Cancellation can only land while waiting, where nothing has been taken or sent: a
receive takes a whole message (its first frame by a non-blocking call, the others are
already there), and a send_multipart puts a whole message in (libzmq takes the other
frames without waiting once the first is in). A cancelled call has taken or sent nothing.

A flavour (zmqffi.asyncio, zmqffi.trio) provides the clock and the wait for the file
descriptor: ``_now()`` and ``_wait_readable(timeout)`` (return when the fd may be
readable, when ``_wake_all`` is called, or after ``timeout`` seconds; None: no timeout).
"""

from __future__ import annotations

import errno as _errno
from typing import Any, TypeVar
from collections.abc import Callable, Collection, Iterable, Sequence

from zmqffi._state import SocketState
from zmqffi._zmq import ffi, lib
from zmqffi.conveniences import (check_deserialize, decode_json, decode_string, encode_json,
                                 encode_string, serialized)
from zmqffi.errors import Again
from zmqffi.message import Message
from zmqffi.socket import SMALL, ZERO_COPY_MIN, Socket, recv_frame, send_frame

__all__ = ["AsyncSocket"]

DONTWAIT, POLLIN, POLLOUT = lib.ZMQ_DONTWAIT, lib.ZMQ_POLLIN, lib.ZMQ_POLLOUT
EVENTS, RCVTIMEO, SNDTIMEO = lib.ZMQ_EVENTS, lib.ZMQ_RCVTIMEO, lib.ZMQ_SNDTIMEO
EAGAIN = _errno.EAGAIN
INT_SIZE = ffi.sizeof("int")
T = TypeVar("T")


class Blocking(Socket):
    """The blocking calls of an async socket, on the same libzmq socket: its multipart
    calls send and receive frames with its own (blocking) send and recv."""

    __slots__ = ()

    def __del__(self) -> None:
        pass  # the async socket owns the libzmq socket, and closes it


class AsyncSocket(Socket):
    """A Socket whose blocking calls are coroutines (see the module docstring)."""

    __slots__ = ("_timeouts", "_blocking", "_events_value", "_events_size")

    # The flavour's record of the tasks waiting on this socket, truthy while there are
    # any: only then can an edge that a call consumed be missed by someone (_touched).
    _waiting: Collection[object] | bool

    def __init__(self, context: Any, socket_type: int) -> None:
        super().__init__(context, socket_type)
        self._timeouts = {RCVTIMEO: -1, SNDTIMEO: -1}  # ms, as set through setsockopt
        # EVENTS is read at every wait: by one C call into buffers kept for it, not through
        # getsockopt's generic path (on PyPy the wait path mostly runs before the JIT
        # compiles it, so every Python call in it counts)
        self._events_value = ffi.new("int *")
        self._events_size = ffi.new("size_t *")
        blocking = self._blocking = Blocking.__new__(Blocking)
        blocking._state, blocking.context = self._state, self.context
        self._state.on_close = self._closing

    # --- what a flavour provides ------------------------------------------------------

    def _now(self) -> float:
        raise NotImplementedError

    async def _wait_readable(self, timeout: float | None) -> None:
        raise NotImplementedError

    def _closing(self) -> None:
        """Run by whichever thread closes the socket (SocketState.on_close)."""
        raise NotImplementedError

    def _touched(self) -> None:
        """After a call that may have consumed the fd's edge: waiters check again."""
        raise NotImplementedError

    # --- the waiting logic ------------------------------------------------------------

    def _events(self) -> int:
        """ZMQ_EVENTS (raises once the socket is closed or its context shut down)."""
        size = self._events_size
        size[0] = INT_SIZE
        self._state.call("getsockopt(EVENTS)", lib.zmqffi_getsockopt, EVENTS,
                         self._events_value, size)
        events: int = self._events_value[0]
        return events

    async def _wait(self, events: int, timeout_ms: int) -> int:
        """For poll(): the socket's events among ``events`` once there are some; 0 after
        ``timeout_ms`` (negative: never)."""
        deadline = None if timeout_ms < 0 else self._now() + timeout_ms / 1000.0
        while True:
            ready = self._events() & events
            if ready:
                return ready
            left = None if deadline is None else deadline - self._now()
            if left is not None and left <= 0:
                return 0
            await self._wait_readable(left)

    async def _sleep(self, deadline: float | None, option: int, what: str
                     ) -> float | None:
        """For the waiting loops, once EVENTS said "not ready": wait for the fd until
        the call's ``deadline`` (None: from the socket's ``option`` timeout, now), and
        return it for the call's next wait. Raise Again for ``what`` once it has passed."""
        timeout_ms = self._timeouts[option]
        if timeout_ms < 0:
            await self._wait_readable(None)
            return None
        now = self._now()
        if deadline is None:
            deadline = now + timeout_ms / 1000.0
        if deadline <= now:
            raise Again(EAGAIN, f"{what} on {self._state.describe()}: "
                                       f"timed out after {timeout_ms} ms")
        await self._wait_readable(deadline - now)
        return deadline

    async def _retry(self, events: int, option: int, what: str, attempt: Any,
                     flags: int) -> Any:
        """``attempt(flags | DONTWAIT)`` until it does not raise Again, waiting for
        ``events`` in between (for up to the socket's ``option`` timeout)."""
        if flags & DONTWAIT:
            try:
                return attempt(flags)
            finally:
                self._touched()
        flags |= DONTWAIT
        try:
            result = attempt(flags)
        except Again:
            pass
        else:
            self._touched()
            return result
        return await self._wait_and_retry(events, option, what, attempt, flags)

    async def _wait_and_retry(self, events: int, option: int, what: str, attempt: Any,
                              flags: int) -> Any:
        """_retry after ``attempt(flags)`` raised Again. That failed try may have
        consumed the fd's edge: EVENTS says whether to try again at once or to wait
        first; once woken, the try itself is the check."""
        deadline = None
        while True:
            if not self._events() & events:
                deadline = await self._sleep(deadline, option, what)
            try:
                result = attempt(flags)
            except Again:
                continue  # (the await above is not in an except block: no chained error)
            self._touched()
            return result

    # --- coroutines ---------------------------------------------------------------------

    def _send_now(self, data: Any, copy: bool | None) -> bool:
        """send(data, DONTWAIT, copy); False where it would raise Again. Small bytes
        (the common case) go to the C call at once, and EAGAIN is a return value: on
        PyPy, raising and catching Again at every wait makes the JIT trace all of it."""
        if type(data) is bytes and copy is None and len(data) < ZERO_COPY_MIN:
            c = self._state
            rc = send_frame(c.cstate, data, len(data), DONTWAIT)
            if not rc:
                return True
            if rc == -1 and ffi.errno == EAGAIN:
                return False
        try:  # anything else, and the errors (or a retry after EINTR)
            self._blocking.send(data, DONTWAIT, copy)
        except Again:
            return False
        return True

    def _recv_now(self) -> bytes | None:
        """recv(DONTWAIT); None where it would raise Again (see _send_now)."""
        c = self._state
        size = recv_frame(c.cstate, DONTWAIT)
        if 0 <= size <= SMALL:
            return c.small[:size]
        return self._received(c, size)

    def _received(self, c: SocketState, size: int) -> bytes | None:
        """_recv_now after recv_frame returned ``size``, not a small frame: a large frame
        (held by the socket), or a failure."""
        if size == -1 and ffi.errno == EAGAIN:
            return None
        try:  # a large frame, or an error (or a retry after EINTR)
            return self._recv_other(c, size, DONTWAIT)
        except Again:
            return None

    # send() and recv() with no flags wait in loops of their own (_wait_and_retry's, with
    # the calls above): one small function each, no closure, no exception per wait

    async def _send_waiting(self, data: Any, copy: bool | None) -> None:
        deadline = None
        while True:
            if not self._events() & POLLOUT:
                if self._timeouts[SNDTIMEO] < 0:  # (the usual case: one coroutine less)
                    await self._wait_readable(None)
                else:
                    deadline = await self._sleep(deadline, SNDTIMEO, "send")
            if self._send_now(data, copy):
                self._touched()
                return

    async def _recv_waiting(self) -> bytes:
        deadline = None
        while True:
            if not self._events() & POLLIN:
                if self._timeouts[RCVTIMEO] < 0:
                    await self._wait_readable(None)
                else:
                    deadline = await self._sleep(deadline, RCVTIMEO, "recv")
            frame = self._recv_now()
            if frame is not None:
                self._touched()
                return frame

    async def send(self, data: Any, flags: int = 0,  # type: ignore[override]
                   copy: bool | None = None) -> None:
        """Send one frame; waits (without blocking the loop) while the queue is full."""
        if not flags:  # the common case, tried inline: no closure, no second coroutine
            if type(data) is bytes and copy is None and len(data) < ZERO_COPY_MIN \
                    and not send_frame(self._state.cstate, data, len(data), DONTWAIT):
                if self._waiting:  # (small bytes sent: the hot path, no call more)
                    self._touched()
                return
            if not self._send_now(data, copy):  # (tries again after a failure above)
                await self._send_waiting(data, copy)
                return
            self._touched()
            return
        await self._retry(POLLOUT, SNDTIMEO, "send",
                          lambda f: self._blocking.send(data, f, copy), flags)

    async def send_multipart(self, parts: Iterable[Any],  # type: ignore[override]
                             flags: int = 0, copy: bool | None = None) -> None:
        """Send a whole multipart message, or (cancelled, timed out) none of it."""
        parts = list(parts)
        await self._retry(POLLOUT, SNDTIMEO, "send_multipart",
                          lambda f: self._blocking.send_multipart(parts, f, copy), flags)

    async def recv(self, flags: int = 0) -> bytes:  # type: ignore[override]
        """Receive one frame as bytes."""
        if not flags:  # the common case, tried inline (see send)
            c = self._state
            size = recv_frame(c.cstate, DONTWAIT)
            if 0 <= size <= SMALL:
                if self._waiting:
                    self._touched()
                return c.small[:size]
            frame = self._received(c, size)
            if frame is None:
                return await self._recv_waiting()
            self._touched()
            return frame
        received: bytes = await self._retry(POLLIN, RCVTIMEO, "recv", self._blocking.recv,
                                            flags)
        return received

    async def recv_multipart(self, flags: int = 0) -> list[bytes]:  # type: ignore[override]
        """Receive every frame of one multipart message."""
        parts: list[bytes] = await self._retry(POLLIN, RCVTIMEO, "recv_multipart",
                                               self._blocking.recv_multipart, flags)
        return parts

    async def recv_msg(self, flags: int = 0) -> Message:  # type: ignore[override]
        """Receive one frame as a Message, without copying; the caller closes it."""
        msg: Message = await self._retry(POLLIN, RCVTIMEO, "recv_msg",
                                         self._blocking.recv_msg, flags)
        return msg

    async def recv_into(self, buffer: Any, flags: int = 0) -> int:  # type: ignore[override]
        """Receive one frame into a writable buffer; its full size."""
        size: int = await self._retry(POLLIN, RCVTIMEO, "recv_into",
                                      lambda f: self._blocking.recv_into(buffer, f), flags)
        return size

    # pyzmq's conveniences (conveniences.py), awaiting send/recv and their multipart forms

    async def send_string(self, text: str, flags: int = 0,  # type: ignore[override]
                          encoding: str = "utf-8", *, copy: bool | None = None) -> None:
        await self.send(encode_string(text, encoding), flags, copy)

    async def recv_string(self, flags: int = 0,  # type: ignore[override]
                          encoding: str = "utf-8") -> str:
        return decode_string(await self.recv(flags), encoding)

    async def send_json(self, obj: Any, flags: int = 0,  # type: ignore[override]
                        **dumps_kwargs: Any) -> None:
        await self.send(encode_json(obj, dumps_kwargs), flags)

    async def recv_json(self, flags: int = 0, **loads_kwargs: Any) -> Any:
        return decode_json(await self.recv(flags), loads_kwargs)

    async def send_serialized(self, obj: Any,  # type: ignore[override]
                              serialize: Callable[[Any], Sequence[Any]], flags: int = 0,
                              *, copy: bool | None = None) -> None:
        await self.send_multipart(serialized(obj, serialize), flags, copy)

    async def recv_serialized(self,  # type: ignore[override]
                              deserialize: Callable[[list[bytes]], T], flags: int = 0) -> T:
        check_deserialize(deserialize)
        return deserialize(await self.recv_multipart(flags))

    async def poll(self, timeout: float | None = None,  # type: ignore[override]
                   flags: int = POLLIN) -> int:
        """The socket's events among ``flags`` once there are some; 0 after ``timeout``
        milliseconds (None: wait for ever)."""
        wait_ms = -1 if timeout is None or timeout < 0 else int(timeout)
        try:
            return await self._wait(flags, wait_ms)
        finally:
            self._touched()

    # --- the plain calls that can consume the fd's edge -----------------------------------

    def getsockopt(self, option: int) -> int | bytes | str:
        try:
            return super().getsockopt(option)
        finally:
            self._touched()

    def setsockopt(self, option: int, value: Any) -> None:
        super().setsockopt(option, value)
        if option in self._timeouts:  # kept here: a receive must not ask each time
            self._timeouts[option] = int(value)
        self._touched()

    get = getsockopt
    set = setsockopt

    def bind(self, endpoint: str) -> None:
        try:
            super().bind(endpoint)
        finally:  # (libzmq processes the socket's commands first, failing or not)
            self._touched()

    def connect(self, endpoint: str) -> None:
        try:
            super().connect(endpoint)
        finally:
            self._touched()

    def unbind(self, endpoint: str) -> None:
        try:
            super().unbind(endpoint)
        finally:
            self._touched()

    def disconnect(self, endpoint: str) -> None:
        try:
            super().disconnect(endpoint)
        finally:
            self._touched()

    def send_many(self, frames: Iterable[Any], flags: int = 0) -> int:
        try:
            return super().send_many(frames, flags)
        finally:
            self._touched()

    def recv_many(self, max_frames: int = 1024, flags: int = 0) -> list[bytes]:
        try:
            return super().recv_many(max_frames, flags)
        finally:
            self._touched()
