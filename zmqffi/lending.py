"""Memory lent across the boundary with libzmq, both ways.

* Python's memory lent to libzmq (``send`` of large ``bytes``, ``Message(data,
  copy=False)``): libzmq calls the free function in its own I/O thread, where taking the
  GIL could deadlock; the C helper only records the buffer's ticket, and Python drops its
  reference when it drains the record (``release_lent``).
* libzmq's memory lent to Python through ``msg.buffer`` views: on PyPy only a collection
  frees a dropped view, and this module decides when to ask for one (``collect_views``).
"""

from __future__ import annotations

import gc
import sys
from typing import Any

from zmqffi._zmq import ffi, lib
from zmqffi.errors import raise_errno
from zmqffi.validation import bytes_like

# ticket -> the Python objects libzmq is reading from (kept alive until released). A
# ticket is the id() of the cffi object that pins the buffer: unique while it is lent,
# and taken without a shared counter (threads may lend at once, without a GIL too).
_lent: dict[int, Any] = {}
DRAIN_MAX = 256

lib.zmqffi_init()  # the release record's fork handlers


# On PyPy a dropped view is freed only by a collection, and PyPy's collector cannot see
# the libzmq memory it holds: left alone, dropped views of large messages pile up (and
# telling PyPy each view's size makes it collect every few messages, which costs more
# than the messages). So a collection is asked for once the views made since the last
# one add up to the budget: VIEW_BUDGET bytes, or the size of the heap that the last
# collection left, if that is larger. A full collection's cost grows with the heap: with
# a fixed budget, a program holding a large heap would spend its time collecting; with
# this one, the dead views at most double the memory, as PyPy's own policy allows.
# A view of a buffer this process lent several times at once (inproc: the receiver's
# frame is the sender's bytes, sent again and again) holds no memory of its own and is
# not counted: _lent_at keeps, for each address lent, the lends outstanding there and
# the object if it is a ``bytes``. A view of a lent ``bytes`` (inproc) is a memoryview of
# that object itself: the collector sees it, and it needs no finalizer, the costly part
# of a view on PyPy. (CPython frees a view's memory with its last reference.)
COLLECTS_VIEWS = sys.implementation.name == "pypy"
VIEW_BUDGET = 64 * 1024 * 1024
_view_budget = VIEW_BUDGET
NOT_LENT: tuple[int, bytes | None] = (0, None)
_viewed_since_collect = 0
_lent_at: dict[int, tuple[int, bytes | None]] = {}


def heap_bytes() -> int:
    """The memory PyPy's collector manages (0 where the interpreter does not say)."""
    stats = getattr(gc, "_get_stats", None)  # PyPy's; gc.get_stats() formats it as text
    return int(getattr(stats(), "total_gc_memory", 0)) if stats is not None else 0


def collect_views(address: int, size: int) -> None:
    """Count a new view of ``size`` bytes at ``address``; collect when the budget is
    spent. (Counted without a lock: two threads may both collect, or one count be lost;
    either only moves the moment of a collection.)"""
    global _viewed_since_collect, _view_budget
    if _lent_at.get(address, NOT_LENT)[0] > 1:
        return
    _viewed_since_collect += size
    if _viewed_since_collect >= _view_budget:
        _viewed_since_collect = 0
        gc.collect()
        _view_budget = max(VIEW_BUDGET, heap_bytes())


def lent_bytes_at(address: int, size: int) -> bytes | None:
    """The ``bytes`` object this process lent at ``address``, if it is ``size`` bytes
    long: a frame with that content may be viewed through the object itself."""
    lent_bytes = _lent_at.get(address, NOT_LENT)[1]
    return lent_bytes if lent_bytes is not None and len(lent_bytes) == size else None


def release_lent() -> None:
    """Drop our references to the buffers libzmq has finished with. Each drain has its
    own buffer (the call releases the GIL, and another thread may drain meanwhile), kept
    for the next drain: allocating one a drain made PyPy collect more often."""
    while lib.zmqffi_released_pending:
        try:
            out = _drain_buffers.pop()
        except IndexError:
            out = ffi.new("uintptr_t[]", DRAIN_MAX)
        try:
            for i in range(lib.zmqffi_drain_released(out, DRAIN_MAX)):
                unpin(_lent.pop(out[i], None))
        finally:
            _drain_buffers.append(out)


_drain_buffers: list[Any] = []  # list.pop and append are atomic: threads may share it


def unpin(pinned: Any) -> None:
    """Let go of a buffer libzmq has finished with, now: on PyPy the cffi object would
    keep it pinned, and alive, until a collection that nothing asks for."""
    if pinned is not None:
        if COLLECTS_VIEWS:
            address = int(ffi.cast("uintptr_t", pinned))
            count, lent_bytes = _lent_at.pop(address, NOT_LENT)
            if count > 1:
                _lent_at[address] = (count - 1, lent_bytes)
        ffi.release(pinned)


def pin(data: Any) -> tuple[Any, int]:
    """``data``'s memory as a cffi ``char[]``, kept alive (and pinned on PyPy) under a
    new ticket until libzmq gives the ticket back (or ``lend_failed``)."""
    if lib.zmqffi_released_pending:  # (a variable: reading it calls nothing)
        release_lent()
    pinned = bytes_like(data)
    ticket = id(pinned)
    _lent[ticket] = pinned
    if COLLECTS_VIEWS:
        address = int(ffi.cast("uintptr_t", pinned))
        count = _lent_at.get(address, NOT_LENT)[0]
        _lent_at[address] = (count + 1, data if type(data) is bytes else None)
    return pinned, ticket


def lend_failed(ticket: int) -> None:
    """zmq_msg_init_data failed: drop ``ticket`` (libzmq will never give it back), and
    raise its error."""
    errnum = ffi.errno
    unpin(_lent.pop(ticket))
    raise_errno("zmq_msg_init_data", errnum)


def lend(msg: Any, data: Any) -> int:
    """Initialise ``msg`` to point at ``data``'s memory without copying; its size."""
    pinned, ticket = pin(data)
    size = len(pinned)
    if lib.zmqffi_msg_init_lent(msg, pinned, size, ticket) != 0:
        lend_failed(ticket)
    return size
