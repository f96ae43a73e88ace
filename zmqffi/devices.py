"""proxy and proxy_steerable: the built-in devices (zmq_proxy, zmq_proxy_steerable)."""

from __future__ import annotations

import errno as _errno

from zmqffi._zmq import ffi, lib
from zmqffi.errors import raise_errno
from zmqffi._state import DESTROYED, SHUT, get_ident
from zmqffi.socket import Socket

__all__ = ["proxy", "proxy_steerable"]


def _run(name: str, sockets: list[Socket | None], steerable: bool) -> None:
    for s in sockets:
        if s is not None and not isinstance(s, Socket):
            raise TypeError(f"{name}() takes zmqffi.Socket objects, not {type(s).__name__}")
    states = [None if s is None else s._state for s in sockets]
    states += [None] * (4 - len(states))
    used = [state for state in states if state is not None]
    cstates = [ffi.NULL if state is None else state.cstate for state in states]
    while lib.zmqffi_proxy(*cstates, steerable) != 0:
        errnum = ffi.errno
        if any(state.owner in (SHUT, DESTROYED) for state in used):
            return  # the context was shut down: the proxy's normal end, as on ETERM
        for state in used:
            if get_ident() != state.owner:
                state.refuse(name)
        if errnum == lib.ETERM:
            return  # the context was terminated: the proxy's normal end
        if errnum != _errno.EINTR:  # on EINTR, the loop lets handlers run
            raise_errno(name, errnum)


def proxy(frontend: Socket, backend: Socket, capture: Socket | None = None) -> None:
    """Shuttle messages between frontend and backend (copying them to capture) until
    the context is terminated or shut down."""
    _run("proxy", [frontend, backend, capture], False)


def proxy_steerable(frontend: Socket, backend: Socket, capture: Socket | None = None,
                    control: Socket | None = None) -> None:
    """Like proxy; a b"TERMINATE" on ``control`` makes it return (also b"PAUSE",
    b"RESUME", b"STATISTICS")."""
    _run("proxy_steerable", [frontend, backend, capture, control], True)
