"""The error classes (pyzmq's names) and the one place that turns errno into them."""

from __future__ import annotations

import errno as _errno
from typing import NoReturn

from zmqffi._zmq import ffi, lib

__all__ = ["ZMQError", "Again", "ContextTerminated", "LifecycleError", "raise_errno"]


def strerror(errnum: int) -> str:
    text: bytes = ffi.string(lib.zmq_strerror(errnum))
    return text.decode("utf-8", "replace")


class ZMQError(Exception):
    """An error from libzmq (or from zmqffi's rules); ``.errno`` and ``.strerror``."""

    errno: int
    strerror: str

    def __init__(self, errnum: int = 0, message: str | None = None) -> None:
        self.errno = errnum
        self.strerror = strerror(errnum) if errnum else ""
        if message is None:
            message = self.strerror
        elif self.strerror:
            message = f"{message}: {self.strerror}"
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.strerror


class Again(ZMQError):
    """EAGAIN: a non-blocking call would block, or a send/receive timeout expired."""


class ContextTerminated(ZMQError):
    """ETERM: the context was terminated or shut down."""


class LifecycleError(ZMQError):
    """A rule of ZeroMQ's lifecycle was broken (second Context, use after close, a
    socket used from a thread that does not own it, objects inherited across fork)."""


_BY_ERRNO = {_errno.EAGAIN: Again, lib.ETERM: ContextTerminated}


def raise_errno(what: str, errnum: int | None = None) -> NoReturn:
    """Raise the error for ``errnum`` (default: errno of the last C call in this thread),
    saying ``what`` failed."""
    if errnum is None:
        errnum = ffi.errno
    raise _BY_ERRNO.get(errnum, ZMQError)(errnum, what)

