"""Argument checks: refuse, with an error that names the argument, what cffi would answer
confusingly and what libzmq would silently misread. Each runs before anything is changed
or allocated."""

from __future__ import annotations

import errno as _errno
import re
from typing import Any

from zmqffi._zmq import ffi
from zmqffi.constants import SOCKET_TYPE_NAMES
from zmqffi.errors import raise_errno

__all__ = ["int_arg", "bytes_like", "check_socket_type", "check_endpoint"]

# (lowest, highest) value of the C integer types that calls take
_C_RANGES = {
    ctype: ((0, 2 ** (8 * ffi.sizeof(ctype)) - 1) if ctype.startswith("u")
            else (-2 ** (8 * ffi.sizeof(ctype) - 1), 2 ** (8 * ffi.sizeof(ctype) - 1) - 1))
    for ctype in ("short", "int", "long", "int64_t", "uint64_t")
}


def int_arg(value: object, what: str, ctype: str = "int") -> int:
    """``value`` if it is an int that a C ``ctype`` holds, else a TypeError or
    ValueError naming ``what`` (instead of cffi's OverflowError or "an integer is
    required"). Check before anything is changed or allocated."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    low, high = _C_RANGES[ctype]
    if not low <= value <= high:
        raise ValueError(f"{what}: {value} is out of range for a C {ctype} "
                         f"({low}..{high})")
    return value


def bytes_like(data: Any, what: str = "data") -> Any:
    """``data``'s memory as a cffi ``char[]`` (no copy), or a clear TypeError."""
    try:
        return ffi.from_buffer(data)
    except TypeError:
        pass
    if isinstance(data, str):
        raise TypeError(f"{what} must be bytes-like, not str: ZeroMQ carries bytes; "
                        "encode the text first (e.g. text.encode())")
    raise TypeError(f"{what} must be a bytes-like object (bytes, bytearray, memoryview) "
                    f"or a Message, not {type(data).__name__}")


def check_socket_type(socket_type: Any) -> None:
    """Refuse what is not a socket type of this build."""
    if isinstance(socket_type, bool) or not isinstance(socket_type, int):
        raise TypeError(f"socket type must be an int such as zmqffi.PUSH, "
                        f"not {type(socket_type).__name__}")
    int_arg(socket_type, "socket type")
    if socket_type not in SOCKET_TYPE_NAMES:
        # libzmq 4.3.4 makes the draft types (SERVER .. CHANNEL) in a stable build
        # too, with no stable API to use them -- and DGRAM's send aborts the process
        raise_errno(f"socket({socket_type}): not a socket type of this build "
                    f"(zmqffi.PAIR .. zmqffi.{SOCKET_TYPE_NAMES[max(SOCKET_TYPE_NAMES)]})",
                    _errno.EINVAL)


_PORT = re.compile(r"[+-]?[0-9]+")


def check_endpoint(what: str, endpoint: Any) -> None:
    """Refuse an endpoint that is not a str, and what libzmq would silently misread: a
    NUL (C stops reading there) and a port outside 0..65535 (libzmq 4.3.4 wraps it:
    'tcp://*:99999' binds port 34463)."""
    if not isinstance(endpoint, str):
        raise TypeError(f"{what}() takes the endpoint as str "
                        f"(e.g. 'tcp://127.0.0.1:5555'), not {type(endpoint).__name__}")
    if "\0" in endpoint:
        raise ValueError(f"{what}({endpoint!r}): an endpoint cannot contain NUL")
    transport, _, address = endpoint.partition("://")
    if transport in ("tcp", "udp", "ws", "wss"):
        for part in address.split(";"):  # connect's "source;destination"
            port = part.split("/", 1)[0].rpartition(":")[2]  # ws://host:port/path
            if _PORT.fullmatch(port) and not 0 <= int(port) <= 65535:
                raise_errno(f"{what}({endpoint!r}): port {port} is out of range "
                            "0..65535", _errno.EINVAL)
