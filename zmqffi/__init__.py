"""zmqffi: ZeroMQ for CPython and PyPy through cffi.

Two layers: ``zmqffi.ffi`` / ``zmqffi.lib``, the raw C API generated from libzmq's
``zmq.h``; and the Pythonic layer (Context, Socket, Message, Poller, proxy), which
enforces ZeroMQ's rules: one Context per process, explicit close, sockets closed before
the context is terminated, one thread per socket.
"""

from __future__ import annotations

from zmqffi import _constants
from zmqffi._constants import *  # noqa: F403 (zmq.h's constants: PUSH, SNDHWM, ...)
from zmqffi._version import __version__
from zmqffi._zmq import ffi, lib
from zmqffi.constants import build_info
from zmqffi.context import Context
from zmqffi.devices import proxy, proxy_steerable
from zmqffi.errors import (Again, ClosedError, ContextTerminated, LifecycleError,
                           ZMQError)
from zmqffi.message import Message
from zmqffi.poll import Poller
from zmqffi.security import curve_keypair, curve_public, z85_decode, z85_encode
from zmqffi.monitor import MonitorEvent, recv_monitor_message
from zmqffi.socket import Socket


def zmq_version_info() -> tuple[int, int, int]:
    """libzmq's version as (major, minor, patch)."""
    parts = ffi.new("int[3]")
    lib.zmq_version(parts, parts + 1, parts + 2)
    return (parts[0], parts[1], parts[2])


def zmq_version() -> str:
    """libzmq's version, e.g. "4.3.4"."""
    return "%d.%d.%d" % zmq_version_info()


def has(capability: str) -> bool:
    """Whether libzmq has a capability: "curve", "ipc", "draft", ... (zmq_has)."""
    if not isinstance(capability, str):
        raise TypeError(f"has() takes a str, not {type(capability).__name__}")
    return bool(lib.zmq_has(capability.encode()))


__all__ = [
    "ffi", "lib", "build_info", "Context", "Socket", "Message", "Poller", "proxy",
    "proxy_steerable", "ZMQError", "Again", "ContextTerminated", "LifecycleError",
    "ClosedError", "curve_keypair", "curve_public", "z85_encode", "z85_decode",
    "MonitorEvent", "recv_monitor_message", "zmq_version", "zmq_version_info", "has",
    "__version__",
]
# (the form type checkers follow: they read the names from _constants.pyi)
__all__ += _constants.__all__
