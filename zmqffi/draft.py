"""The draft API's socket types that a plain Socket cannot serve (built with drafts)."""

from __future__ import annotations

import errno as _errno
from collections.abc import Iterable
from typing import Any

from zmqffi._zmq import ffi
from zmqffi.errors import Again
from zmqffi.message import Message
from zmqffi.socket import DGRAM, Socket

__all__ = ["DgramSocket", "socket_class"]


class DgramSocket(Socket):
    """A DGRAM socket (draft API). libzmq 4.3.4's DGRAM, with no pipe to send to yet,
    closes the message and fails: zmq_send then closes it a second time and aborts the
    process (errno_assert), and a Message sent so would abort at its next use. So every
    frame goes out as a Message of zmqffi's own, through zmq_msg_send, whose caller
    closes the message (a second close there is a harmless EFAULT)."""

    __slots__ = ()
    _sends_dgram = True

    def send(self, data: Any, flags: int = 0, copy: bool | None = None) -> None:
        given = isinstance(data, Message)
        out = data._shared() if given else Message(data)
        try:
            ffi.errno = _errno.EAGAIN  # what that failure means; libzmq sets no errno
            Socket.send(self, out, flags)
        finally:
            out.close()
        if given:  # sent: the caller's Message is left empty, as a send leaves it
            data._sent_through_copy()

    def send_many(self, frames: Iterable[Any], flags: int = 0) -> int:
        sent = 0
        for frame in frames:
            try:
                self.send(frame, flags)
            except Again:
                if not sent:
                    raise
                break
            sent += 1
        return sent


def socket_class(socket_type: Any) -> type[Socket]:
    """The class Context.socket() makes for ``socket_type`` (Socket's constructor then
    checks the type)."""
    if DGRAM is not None and isinstance(socket_type, int) and socket_type == DGRAM:
        return DgramSocket
    return Socket
