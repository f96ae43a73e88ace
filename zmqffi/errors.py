"""The error classes (pyzmq's names, and zmqffi's LifecycleError and ClosedError for
the lifecycle rules) and the one place that turns errno into them."""

from __future__ import annotations

import errno as _errno
from typing import NoReturn

from zmqffi._zmq import ffi, lib

__all__ = ["ZMQError", "Again", "ContextTerminated", "LifecycleError", "ClosedError",
           "raise_errno"]


def strerror(errnum: int) -> str:
    text: bytes = ffi.string(lib.zmq_strerror(errnum))
    return text.decode("utf-8", "replace")


class _Failure(Exception):
    """What every zmqffi error carries: ``.errno`` (0 where libzmq has nothing to say)
    and ``.strerror``, and a message naming what failed."""

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


class ZMQError(_Failure):
    """An error from libzmq; ``.errno`` and ``.strerror``."""


class Again(ZMQError):
    """EAGAIN: a non-blocking call would block, or a send/receive timeout expired."""


class ContextTerminated(ZMQError):
    """ETERM: the context was terminated or shut down."""


class LifecycleError(_Failure):
    """A rule of ZeroMQ's lifecycle was broken: a programming bug (a second Context,
    term() with sockets open, a socket used from a thread that does not own it, objects
    inherited across fork()).

    Not a ZMQError: a retry loop written ``except ZMQError: continue`` (common with
    pyzmq, around a non-blocking recv) must stop on a bug, not spin on it forever."""


class ClosedError(LifecycleError, ZMQError):
    """Use of a closed socket (errno ENOTSOCK), a closed Message (EFAULT) or a
    terminated Context (ETERM). Also a ZMQError, as pyzmq's error for a closed socket
    is: loops that stop on ``except ZMQError`` with ``e.errno == ENOTSOCK`` still do."""


_BY_ERRNO = {_errno.EAGAIN: Again, lib.ETERM: ContextTerminated}


def raise_errno(what: str, errnum: int | None = None) -> NoReturn:
    """Raise the error for ``errnum`` (default: errno of the last C call in this thread),
    saying ``what`` failed."""
    if errnum is None:
        errnum = ffi.errno
    raise _BY_ERRNO.get(errnum, ZMQError)(errnum, what)

