"""Poller: wait for events on several sockets and file descriptors (zmq_poll)."""

from __future__ import annotations

import errno as _errno
import time
from collections.abc import Callable
from typing import Any, Union

from zmqffi._zmq import ffi, lib
from zmqffi._state import NOT_OWNER, SocketState, get_ident
from zmqffi.errors import raise_errno
from zmqffi.socket import Socket
from zmqffi.validation import int_arg

__all__ = ["Poller"]

Pollable = Union[Socket, int, Any]  # a Socket, an fd, or an object with fileno()


def _fd_of(obj: Any) -> int:
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj
    fileno = getattr(obj, "fileno", None)
    if fileno is None:
        raise TypeError(f"Poller takes a zmqffi.Socket, a file descriptor or an object "
                        f"with fileno(), not {type(obj).__name__}")
    return int(fileno())


# what a Poller polls with: zmq_pollitem_t[], zmqffi_socket *[], their states, and what
# to tell after a poll
Built = tuple[Any, Any, list[SocketState], list[Callable[[], None]]]


class Poller:
    """Register sockets or fds with event flags (POLLIN, POLLOUT, POLLERR), then poll."""

    def __init__(self) -> None:
        self._registered: dict[Any, int] = {}  # object -> flags, in registration order
        self._items: Built | None = None  # rebuilt after a change

    def register(self, obj: Pollable, flags: int = lib.ZMQ_POLLIN) -> None:
        """Watch ``obj`` for ``flags``; flags 0 unregisters, like pyzmq (and, like
        pyzmq, does nothing for an object that is not registered)."""
        int_arg(flags, "Poller flags", "short")  # zmq_pollitem_t.events is a short
        if not flags:
            if obj in self._registered:
                self.unregister(obj)
            return
        if not isinstance(obj, Socket):
            _fd_of(obj)  # refuse what cannot be polled now, not at poll()
        self._registered[obj] = flags
        self._items = None

    def modify(self, obj: Pollable, flags: int = lib.ZMQ_POLLIN) -> None:
        if obj not in self._registered:
            raise KeyError(f"{obj!r} is not registered with this Poller")
        self.register(obj, flags)

    def unregister(self, obj: Pollable) -> None:
        if self._registered.pop(obj, None) is None:
            raise KeyError(f"{obj!r} is not registered with this Poller")
        self._items = None

    def _build(self) -> Built:
        """The zmq_pollitem_t array, the sockets' C states that zmqffi_poll enters
        (checks and counts) around zmq_poll, and what to tell after it: an async
        socket's waiters must hear that their edge of ZMQ_FD may have been consumed
        (zmqffi._async's sockets have a ``_touched``)."""
        items = ffi.new("zmq_pollitem_t[]", len(self._registered))
        states = []
        for item, (obj, flags) in zip(items, self._registered.items()):
            if isinstance(obj, Socket):
                states.append(obj._state)
                item.socket = obj._state.zmq_socket
            else:
                item.fd = _fd_of(obj)
            item.events = flags
        cstates = ffi.new("zmqffi_socket *[]", [state.cstate for state in states])
        tell = [obj._touched for obj in self._registered if hasattr(obj, "_touched")]
        self._items = items, cstates, states, tell
        return self._items

    def poll(self, timeout: float | None = None) -> list[tuple[Pollable, int]]:
        """Wait up to ``timeout`` milliseconds (None: forever) and return the
        ``(object, events)`` pairs that are ready."""
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError(f"poll() timeout must be milliseconds (int or float) or "
                                f"None, not {type(timeout).__name__}")
            if not timeout < 2 ** 62:  # also NaN; beyond it zmq_poll's long overflows
                raise ValueError(f"poll() timeout: {timeout} ms is out of range "
                                 "(None waits forever)")
        if timeout is None or timeout < 0:
            deadline = None
        else:
            deadline = time.monotonic() + timeout / 1000.0
        items, cstates, states, tell = self._items or self._build()
        count = NOT_OWNER
        try:
            while True:
                wait = -1 if deadline is None else \
                    max(0, int((deadline - time.monotonic()) * 1000))
                count = lib.zmqffi_poll(cstates, len(states), items, len(items), wait)
                if count >= 0:
                    break
                if count == NOT_OWNER:
                    for state in states:
                        if get_ident() != state.owner:
                            state.refuse("poll")
                elif ffi.errno != _errno.EINTR:  # on EINTR, the loop lets handlers run
                    raise_errno("poll")
        finally:  # zmq_poll read the sockets' EVENTS: async sockets tell their waiters
            if count != NOT_OWNER:  # (it ran: in the thread that owns them all)
                for touched in tell:
                    touched()
        if count == 0:
            return []
        return [(obj, item.revents)
                for obj, item in zip(self._registered, items) if item.revents]
