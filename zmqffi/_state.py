"""SocketState: what a Socket shares with its Context, and who may change it.

The Context holds the states (not the Sockets), so it can close what is left open even
after the Socket objects are gone, and garbage collection of a Socket is not prevented
by its Context.

The owner, ``SocketState.owner``, is one of:

* the ident of a thread: the socket is open, and only that thread may call it;
* CLOSED: the socket is closed; every call but close() (which does nothing) raises;
* DESTROYED: the socket was closed by Context.destroy(); every call raises
  ContextTerminated (a worker loop that stops on it stops cleanly), close() does nothing;
* FORKED: the socket was inherited across fork(); the child can only close() it, which
  touches nothing of the parent's libzmq state;
* SHUT: its Context was shut down; every call but close() raises ContextTerminated, and
  close() is allowed from any thread.

THE RULE of who changes it:

* Only ``set_owner`` changes the owner: in Python (the slow paths' checks and messages)
  and in C (``cstate.owner``, the hot paths' check) together; and only with
  ``self.lock`` held, so that a change that depends on the current owner (close,
  shutdown's mark, adopt) happens exactly once, whichever threads race for it, with or
  without the GIL.
* Only the calling thread can make itself the owner: at creation, and by
  ``Socket.adopt()`` after a hand-over through a queue. No thread makes another the
  owner.
* CLOSED, DESTROYED, FORKED and SHUT let no thread call, and are set from any thread:
  CLOSED by ``close`` (Socket.close in the owner thread, or in any once SHUT; garbage
  collection wherever it runs), DESTROYED by Context.destroy(), FORKED by Context's fork
  handler in the child, SHUT by Context.shutdown() (only over an open socket). A closed
  socket is never owned again (adopt() refuses it).

Calls in progress: every call into libzmq on the socket (the hot paths and the others:
options, bind/connect, monitor, poll, proxy) is one C call that counts itself in
``cstate.busy`` and checks the owner, with atomics (``zmqffi_enter`` in
src/zmqffi_helpers.c). A close from another thread (Context.destroy) sets the owner
first, then waits for the count to drop to zero before ``zmq_close``: either the caller
sees the new owner, or the closer sees the count. Counting inside the C call also means
no signal handler (Ctrl-C) can run between counting and uncounting. adopt() refuses
while the count is non-zero.
"""

from __future__ import annotations

import errno as _errno
import functools
import os
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable

from zmqffi._zmq import ffi, lib
from zmqffi.constants import SOCKET_TYPE_NAMES
from zmqffi.errors import ClosedError, LifecycleError, raise_errno
from zmqffi.lending import release_lent
from zmqffi.validation import int_arg

if TYPE_CHECKING:
    from typing import Protocol

    from zmqffi.context import Context

    class CBuffer(Protocol):
        """An ``ffi.buffer()`` over C memory, as used here: a slice is a bytes copy."""

        def __getitem__(self, index: slice, /) -> bytes: ...

get_ident = threading.get_ident
EINTR = _errno.EINTR
NOT_OWNER = lib.ZMQFFI_NOT_OWNER  # a hot C call refused: wrong thread, closed, shut down
CLOSED = -1  # owner of a closed socket: no thread has this ident
FORKED = -2  # owner of a socket inherited across fork()
# Owner of an open socket whose Context was shut down: every call but close() raises
# ContextTerminated. (libzmq alone does not promise it: a send shortly after another
# skips reading the socket's commands, so it would still queue the message.)
SHUT = -3
DESTROYED = -4  # owner of a socket closed by Context.destroy()
GONE = (CLOSED, DESTROYED, FORKED)  # no libzmq socket left to close

# recv_many()'s batch buffers: up to this many frames / bytes per call into libzmq.
BATCH_FRAMES = 1024
BATCH_BYTES = 256 * 1024


# zmqffi's own directory, as a real path: creation_site() skips the frames in it (and
# only those: a program may well live in a folder named zmqffi too)
PACKAGE_DIR = os.path.join(os.path.realpath(os.path.dirname(__file__)), "")


@functools.lru_cache(maxsize=1024)  # a file name is resolved once
def in_package(filename: str) -> bool:
    return os.path.realpath(filename).startswith(PACKAGE_DIR)


def creation_site() -> str:
    """'file:line in function' of the first caller outside zmqffi."""
    for frame in reversed(traceback.extract_stack()):
        if not in_package(frame.filename):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "<unknown>"


def thread_label(ident: int) -> str:
    for thread in threading.enumerate():
        if thread.ident == ident:
            return f"thread {thread.name!r} (ident {ident})"
    return f"thread (ident {ident}, no longer running)"


class SocketState:
    """What a Socket and its Context share; see the module docstring."""

    __slots__ = ("zmq_socket", "owner", "lock", "cstate", "type", "site", "endpoints",
                 "held_msg", "small", "batch", "context", "monitoring", "before_close",
                 "on_close")

    def __init__(self, context: Context, zmq_socket: Any, socket_type: int) -> None:
        self.zmq_socket = zmq_socket  # libzmq's void *
        # held to change the owner (THE RULE). Reentrant: garbage collection may run a
        # Socket's __del__, which closes, in a thread already holding it.
        self.lock = threading.RLock()
        # the hot paths' C state (owner, busy count, reused message); its message is
        # closed when the struct is collected, after every call that could read it
        self.cstate = ffi.gc(ffi.new("zmqffi_socket *"), lib.zmqffi_socket_release)
        lib.zmqffi_socket_init(self.cstate, zmq_socket)
        with self.lock:
            self.set_owner(get_ident())
        # recv()'s message, reused for every frame: the last frame received is held here
        self.held_msg = ffi.addressof(self.cstate, "msg")
        # recv() copies small frames out here
        self.small: CBuffer = ffi.buffer(self.cstate.small)
        self.type = socket_type
        self.site = creation_site()
        self.endpoints: list[str] = []
        self.context = context
        self.batch: Batch | None = None  # recv_many()'s buffers, made on first use
        self.monitoring: str | None = None  # the endpoint of the running monitor
        # run by Socket.close() in the owner thread before closing (a monitor reader's
        # stops its monitor: see monitor.py)
        self.before_close: Callable[[], None] | None = None
        # run by close() in whichever thread closes (the owner, Context.destroy(),
        # garbage collection), before zmq_close: an async socket wakes its waiters
        self.on_close: Callable[[], None] | None = None

    def set_owner(self, owner: int) -> None:
        """The one place the owner changes, in Python and in C together (see THE RULE
        in the module docstring)."""
        self.owner = owner
        lib.zmqffi_socket_own(self.cstate, owner == get_ident())

    def describe(self) -> str:
        kind = SOCKET_TYPE_NAMES.get(self.type, str(self.type))
        where = f" {', '.join(self.endpoints)}" if self.endpoints else ""
        return f"{kind} socket{where}"

    def refuse(self, what: str) -> None:
        """Raise the error for a call from a thread that may not make it: ClosedError,
        LifecycleError, or ContextTerminated once the context was shut down."""
        if self.owner == CLOSED:
            raise ClosedError(_errno.ENOTSOCK, f"{what}: the {self.describe()} is closed")
        if self.owner == FORKED:
            raise LifecycleError(0, f"{what}: this {self.describe()} was inherited across "
                                    "fork(); the child must create its own Context")
        if self.owner in (SHUT, DESTROYED):
            raise_errno(f"{what} on {self.describe()}", lib.ETERM)
        here = get_ident()
        raise LifecycleError(
            0, f"{what}: the {self.describe()} belongs to {thread_label(self.owner)}, "
               f"but was used from {thread_label(here)}. ZeroMQ sockets are not "
               "thread-safe: hand the socket over through a queue and call "
               "sock.adopt() in the new thread")

    def fail(self, what: str) -> None:
        """After a failed C call: return on EINTR (the caller retries, and Python's
        signal handlers run first, at its loop), else raise the error."""
        errnum = ffi.errno
        if errnum != EINTR:
            raise_errno(f"{what} on {self.describe()}", errnum)

    def slow_path(self, rc: int, what: str, fn: Any, *args: Any,
                  failed: str | None = None) -> int:
        """After a call ``fn(self.cstate, *args)`` returned ``rc`` < 0: refuse a
        thread that may not call, raise the error (saying ``failed``, default
        ``what``), or on EINTR (after Python's signal handlers ran, at the call of
        fail()) call again. Returns the result of the call that succeeded."""
        while rc < 0:
            if rc == NOT_OWNER:
                self.refuse(what)
            self.fail(failed or what)
            rc = fn(self.cstate, *args)
        return rc

    def call(self, what: str, fn: Any, *args: Any, failed: str | None = None) -> int:
        """``fn(self.cstate, *args)`` for the calls other than the hot paths: one of the
        C helpers that check the owner and count the call (zmqffi_setsockopt,
        zmqffi_bind, ...), with the slow path's refusals, errors and retries."""
        rc: int = fn(self.cstate, *args)
        return rc if rc >= 0 else self.slow_path(rc, what, fn, *args, failed=failed)

    def mark_shut(self) -> None:
        """Context.shutdown(): an open socket refuses every call but close()."""
        with self.lock:
            if self.owner not in GONE:
                self.set_owner(SHUT)

    def adopt(self) -> None:
        """Make the calling thread the owner; see Socket.adopt()."""
        with self.lock:
            if self.owner == SHUT:
                return  # nothing to own: every call but close() raises ContextTerminated
            if self.owner in GONE:
                self.refuse("adopt")
            if lib.zmqffi_socket_busy(self.cstate):
                raise LifecycleError(0, f"adopt: the {self.describe()} is in a call in "
                                        f"{thread_label(self.owner)}")
            self.set_owner(get_ident())

    def set_linger(self, linger: int | None, bound: int | None) -> int | None:
        """Give the libzmq socket the LINGER it is to be closed with: ``linger`` if
        given; else its own, unless that is -1 (infinite) and ``bound`` is given: then
        ``bound``. Read at this moment: the program may have set LINGER any time.
        Return the LINGER it now has (None: its own, not read): -1 where libzmq refused
        to say or to change it, as a socket that has seen a shutdown does."""
        if linger is None and bound is not None:
            own = self.own_linger()
            if own != -1:
                return own
            linger = bound
        if linger is None:
            return None
        if lib.zmq_setsockopt(self.zmq_socket, lib.ZMQ_LINGER, ffi.new("int *", linger),
                              ffi.sizeof("int")) != 0:
            return -1
        return linger

    def before_shutdown(self, linger: int | None, bound: int | None) -> int | None:
        """Context.destroy(), before zmq_ctx_shutdown: set_linger() now, even while the
        owner is in a call. After the shutdown, a socket that has seen it (its owner's
        blocked call returned ETERM) refuses every setsockopt, and zmq_ctx_term would
        wait forever on an infinite linger. Before it, reading or setting LINGER touches
        nothing of the socket but libzmq's atomic linger value (which its reaper thread
        reads too): safe beside the owner's call."""
        with self.lock:
            if self.owner in GONE:
                return None
            return self.set_linger(linger, bound)

    def own_linger(self) -> int:
        """The socket's LINGER now (-1, infinite, if libzmq cannot say)."""
        value = ffi.new("int *", -1)
        lib.zmq_getsockopt(self.zmq_socket, lib.ZMQ_LINGER, value,
                           ffi.new("size_t *", ffi.sizeof("int")))
        return int(value[0])

    def close(self, linger: int | None, closed: int = CLOSED,
              bound: int | None = None) -> None:
        """Close the libzmq socket, once, whoever calls (the owner, Context.destroy(),
        garbage collection); safe from any thread once the owner is out of libzmq.
        ``closed`` is the owner it leaves: CLOSED, or DESTROYED for destroy().
        ``linger`` and ``bound``: see set_linger()."""
        with self.lock:
            if self.owner in GONE:
                if self.owner == FORKED:
                    self.set_owner(CLOSED)
                return
            if linger is not None:  # a bad one must not leave the socket half closed
                int_arg(linger, "close() linger")
            by_owner = self.owner == get_ident()
            self.set_owner(closed)  # from here, every new call is refused
            if self.on_close is not None:
                self.on_close()
            deadline = time.monotonic() + 10.0
            # a call in another thread; shutdown() makes it return
            while lib.zmqffi_socket_busy(self.cstate):
                if time.monotonic() > deadline:
                    raise LifecycleError(0, f"{self.describe()} is still in a call in "
                                            "another thread; cannot close it")
                time.sleep(0.001)
            self.set_linger(linger, bound)
            lib.zmq_close(self.zmq_socket)
            if by_owner:  # release a held frame now; from another thread, the owner may
                lib.zmqffi_msg_reset(self.held_msg)  # still read it: then at collection
        self.context._forget(self)
        release_lent()  # what libzmq gave back: lent buffers are held until drained

    def after_fork_in_child(self) -> None:
        """In a fork()'s child: the socket is the parent's. A parent thread may have
        held the lock at the fork; no thread of the child will release it."""
        self.lock = threading.RLock()
        with self.lock:
            self.set_owner(FORKED)
        # the parent's frame, if one is held: never release it here (its content may
        # be shared with the parent's libzmq state), just forget it
        lib.zmq_msg_init(self.held_msg)


class Batch:
    """recv_many()'s buffers, made on a socket's first recv_many() and kept in its
    state: one set per socket, reused by every batch."""

    __slots__ = ("out", "view", "format", "pending")

    def __init__(self) -> None:
        self.out = ffi.new("char[]", BATCH_BYTES)  # the frames, back to back
        self.view = ffi.buffer(self.out)
        self.format = ffi.new("char[]", 21 * BATCH_FRAMES + 1)  # how to split them
        self.pending = ffi.new("long long *")
