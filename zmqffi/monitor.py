"""Socket monitoring: the events a monitored socket publishes, and closing their reader.

Socket.get_monitor_socket() starts a monitor and returns a PAIR socket connected to it:
the reader. libzmq 4.3.4 emits monitor events with blocking sends: once the reader of a
running monitor is closed, the next event (a bind, a connection, stopping or replacing
the monitor) waits forever, in the caller's thread or in an I/O thread. So closing the
reader first stops its monitor, while the reader can still take MONITOR_STOPPED -- if
this thread owns the monitored socket; if not, stop it (sock.monitor(None)) in the
thread that does, before closing the reader.
"""

from __future__ import annotations

import itertools
import sys
from collections import namedtuple
from typing import TYPE_CHECKING, Callable

from zmqffi._state import SocketState, get_ident
from zmqffi._zmq import ffi, lib

if TYPE_CHECKING:
    from zmqffi.socket import Socket

__all__ = ["MonitorEvent", "recv_monitor_message"]

MonitorEvent = namedtuple("MonitorEvent", ["event", "value", "endpoint"])
_monitor_ids = itertools.count()


def monitor_endpoint(monitored: SocketState) -> str:
    """A new inproc endpoint for a monitor of ``monitored``: a new one each time, as the
    previous monitor's is released asynchronously."""
    return f"inproc://zmqffi.monitor.{id(monitored):x}.{next(_monitor_ids)}"


def stop_monitor(monitored: SocketState, endpoint: str) -> Callable[[], None]:
    """The reader's ``before_close`` (run by Socket.close in the thread that owns the
    reader): stop ``monitored``'s monitor if it still publishes on ``endpoint`` and this
    thread owns ``monitored`` too."""

    def stop() -> None:
        if monitored.monitoring == endpoint and get_ident() == monitored.owner:
            lib.zmqffi_socket_monitor(monitored.cstate, ffi.NULL, 0)
            monitored.monitoring = None

    return stop


def recv_monitor_message(socket: Socket, flags: int = 0) -> MonitorEvent:
    """Read one event from a monitor PAIR socket: (event, value, endpoint)."""
    head, endpoint = socket.recv_multipart(flags)
    event = int.from_bytes(head[:2], sys.byteorder)  # libzmq writes host byte order
    value = int.from_bytes(head[2:6], sys.byteorder)
    return MonitorEvent(event, value, endpoint.decode("utf-8", "replace"))
