"""The devices: proxy and proxy_steerable (libzmq's zmq_proxy, zmq_proxy_steerable), and
pyzmq's monitored_queue."""

from __future__ import annotations

import errno as _errno

from zmqffi._zmq import ffi, lib
from zmqffi.errors import Again, ContextTerminated, raise_errno
from zmqffi._state import DESTROYED, SHUT, get_ident
from zmqffi.poll import Poller
from zmqffi.socket import Socket
from zmqffi.validation import bytes_like

# monitored_queue relays at most this many messages from one side per poll
QUEUE_BATCH = 256

__all__ = ["proxy", "proxy_steerable", "monitored_queue"]


def _check_sockets(name: str, sockets: list[Socket | None]) -> None:
    for s in sockets:
        if s is not None and not isinstance(s, Socket):
            raise TypeError(f"{name}() takes zmqffi.Socket objects, not {type(s).__name__}")


def _run(name: str, sockets: list[Socket | None], steerable: bool) -> None:
    _check_sockets(name, sockets)
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


def monitored_queue(in_socket: Socket, out_socket: Socket, mon_socket: Socket,
                    in_prefix: bytes = b"in", out_prefix: bytes = b"out") -> None:
    """Relay messages both ways between ``in_socket`` and ``out_socket``, and send each
    one also on ``mon_socket``, with ``in_prefix`` (it came in on ``in_socket``) or
    ``out_prefix`` (on ``out_socket``) as an extra first frame -- pyzmq's
    monitored_queue. Between two ROUTER sockets the first two frames (the sender's
    routing id and the one it addressed) are swapped, so the message goes to the peer
    it names and the reply finds its way back; the monitor sees it as it is sent on.
    Returns when the context is terminated or shut down.

    Unlike pyzmq's, it returns (does not raise ContextTerminated) at the end, as proxy
    does. Written in Python over Poller and recv_multipart/send_multipart rather than
    in C beside zmqffi_proxy: it keeps their rules on every interpreter (the calling
    thread must own the three sockets; Ctrl-C raises KeyboardInterrupt at once and
    splits no message), for a Python loop per message; each poll is followed by
    relaying up to QUEUE_BATCH queued messages from each side that is ready.
    """
    _check_sockets("monitored_queue", [in_socket, out_socket, mon_socket])
    routes = [(in_socket, out_socket, _prefix(in_prefix, "in_prefix")),
              (out_socket, in_socket, _prefix(out_prefix, "out_prefix"))]
    swap = in_socket.type == out_socket.type == lib.ZMQ_ROUTER
    poller = Poller()
    poller.register(in_socket)
    poller.register(out_socket)
    try:
        while True:
            ready = [sock for sock, _ in poller.poll()]
            for source, target, prefix in routes:  # in_socket's first, as pyzmq
                if source in ready:
                    _relay(source, target, mon_socket, prefix, swap)
    except ContextTerminated:
        return  # shut down or terminated: the queue's normal end, as proxy's


def _relay(source: Socket, target: Socket, mon_socket: Socket, prefix: bytes,
           swap: bool) -> None:
    """monitored_queue's relay of what ``source`` has queued, up to QUEUE_BATCH messages
    (then the other side's turn): one poll for many messages."""
    for _ in range(QUEUE_BATCH):
        try:
            msg = source.recv_multipart(lib.ZMQ_DONTWAIT)
        except Again:
            return
        if swap:
            msg[:2] = msg[1::-1]
        target.send_multipart(msg)
        mon_socket.send_multipart([prefix, *msg])


def _prefix(prefix: bytes, what: str) -> bytes:
    ffi.release(bytes_like(prefix, f"monitored_queue() {what}"))  # a clear TypeError
    return bytes(prefix)
