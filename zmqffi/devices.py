"""proxy and proxy_steerable: the built-in devices (zmq_proxy, zmq_proxy_steerable)."""

from __future__ import annotations

import errno as _errno
from typing import Any

from zmqffi._zmq import ffi, lib
from zmqffi.errors import raise_errno
from zmqffi._state import SHUT, get_ident
from zmqffi.socket import Socket

__all__ = ["proxy", "proxy_steerable"]


def _run(name: str, call: Any, sockets: list[Socket | None]) -> None:
    used = [s for s in sockets if s is not None]
    for s in used:
        if not isinstance(s, Socket):
            raise TypeError(f"{name}() takes zmqffi.Socket objects, not {type(s).__name__}")
    states = [s._state for s in used]
    counted = 0  # (no signal handler runs between a count and this one: no call)
    try:
        for state in states:
            state.busy += 1
            counted += 1
        for state in states:
            if state.owner == SHUT:
                return  # the context was shut down: the proxy's normal end, as on ETERM
            if get_ident() != state.owner:
                state.refuse(name)
        zmq_sockets = [ffi.NULL if s is None else s._state.zmq_socket for s in sockets]
        while call(*zmq_sockets) != 0:
            errnum = ffi.errno
            if errnum == lib.ETERM:
                return  # the context was terminated: the proxy's normal end
            if errnum != _errno.EINTR:  # on EINTR, the loop lets handlers run
                raise_errno(name, errnum)
    finally:
        for state in states[:counted]:
            state.busy -= 1


def proxy(frontend: Socket, backend: Socket, capture: Socket | None = None) -> None:
    """Shuttle messages between frontend and backend (copying them to capture) until
    the context is terminated or shut down."""
    _run("proxy", lib.zmq_proxy, [frontend, backend, capture])


def proxy_steerable(frontend: Socket, backend: Socket, capture: Socket | None = None,
                    control: Socket | None = None) -> None:
    """Like proxy; a b"TERMINATE" on ``control`` makes it return (also b"PAUSE",
    b"RESUME", b"STATISTICS")."""
    _run("proxy_steerable", lib.zmq_proxy_steerable, [frontend, backend, capture, control])
