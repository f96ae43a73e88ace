"""Context: at most one live per process, terminated explicitly (or by ``with``)."""

from __future__ import annotations

import atexit
import errno as _errno
import os
import resource
import threading
import warnings
import weakref
from typing import Any

from zmqffi._state import DESTROYED, SocketState, creation_site
from zmqffi._zmq import ffi, lib
from zmqffi.constants import SOCKET_TYPE_NAMES
from zmqffi.draft import socket_class
from zmqffi.errors import ClosedError, LifecycleError, raise_errno
from zmqffi.lending import release_lent
from zmqffi.socket import Socket
from zmqffi.validation import int_arg

__all__ = ["Context"]

# The process's live Context, if any. A weak reference: a live Context that nothing
# else references must be collectable (ResourceWarning, then destroy). Reentrant lock:
# collecting an old Context inside the lock runs its __del__, which takes the lock.
_live_ref: weakref.ref[Context] | None = None
_live_lock = threading.RLock()

MAX_IO_THREADS = 1024

#: The LINGER, in milliseconds, of a socket closed for the program: collected open, or
#: still open when its Context is collected or the interpreter exits. A socket whose own
#: LINGER is not -1 (infinite: libzmq's default) keeps its own. What was sent is still
#: delivered to peers that are there to take it (as closing it would), and collection
#: or exit waits at most about this long for peers that are not.
EXIT_LINGER_MS = 1000


def check_io_threads(count: int, what: str) -> None:
    """Refuse an I/O thread count libzmq could not start. It starts them at the first
    socket, and aborts the process when it cannot: each takes two file descriptors (its
    epoll and its mailbox), and epoll_create's EMFILE is an assertion (found by the fuzz
    run: IO_THREADS=924593 then a socket). The limit: MAX_IO_THREADS, and two
    descriptors each within the soft RLIMIT_NOFILE, less 64 for everything else."""
    if count < 0:
        raise ValueError(f"{what} must be >= 0, not {count}")
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    limit = MAX_IO_THREADS
    if soft != resource.RLIM_INFINITY:
        limit = max(1, min(limit, (soft - 64) // 2))
    if count > limit:
        raise ValueError(f"{what}: {count} I/O threads are more than this process can "
                         f"start (at most {limit} here: two file descriptors each, "
                         f"within RLIMIT_NOFILE {soft}); libzmq would abort the process")


def _live() -> Context | None:
    return _live_ref() if _live_ref is not None else None


class Context:
    """The container of a process's sockets. ZeroMQ wants one per process: a second
    ``Context()`` while one is live raises LifecycleError; use ``Context.instance()``."""

    # where it was created; declared for type checkers, as __init__ reads the live
    # Context's before it sets its own
    _site: str

    def __init__(self, io_threads: int = 1) -> None:
        global _live_ref
        self._closed = True  # until set up: __del__ must do nothing
        self._forked = False
        # Held by term(), shutdown(), destroy() and socket creation: ending happens once,
        # whoever calls, and no socket is made while the context is being destroyed
        # (destroy would miss it, and terminating would wait for it forever).
        # Reentrant: garbage collection may run a Socket's __del__ in a holding thread.
        self._lock = threading.RLock()
        check_io_threads(int_arg(io_threads, "io_threads"), "io_threads")
        site = creation_site()
        with _live_lock:
            live = _live()
            if live is not None and not live._closed:
                raise LifecycleError(
                    0, f"a Context is already live in this process (created at "
                       f"{live._site}); use one Context per process: "
                       "Context.instance() returns it, or terminate it first")
            handle = lib.zmq_ctx_new()
            if handle == ffi.NULL:
                raise_errno("zmq_ctx_new")
            if io_threads != 1 and lib.zmq_ctx_set(handle, lib.ZMQ_IO_THREADS,
                                                   io_threads) != 0:
                lib.zmq_ctx_term(handle)
                raise_errno(f"Context(io_threads={io_threads})")
            self._handle = handle
            self._site = site
            # the states of the open sockets, in creation order
            self._sockets: dict[SocketState, None] = {}
            self._closed = False
            _live_ref = weakref.ref(self)

    @classmethod
    def instance(cls, io_threads: int = 1) -> Context:
        """The process's live Context, created if there is none."""
        with _live_lock:
            live = _live()
            if live is not None and not live._closed:
                return live
        return cls(io_threads)

    # --- state -----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def handle(self) -> Any:
        """The raw ``void *`` context, for ``zmqffi.lib`` calls."""
        return self._open("handle")

    def _open(self, what: str) -> Any:
        if self._forked:
            raise LifecycleError(0, f"{what}: this Context was inherited across fork(); "
                                    "the child must create its own Context")
        if self._closed:
            raise ClosedError(lib.ETERM, f"{what}: the Context is terminated")
        return self._handle

    def _add_socket(self, socket_type: int) -> SocketState:
        """A new libzmq socket and its state, known to this context (Socket.__init__)."""
        with self._lock:
            zmq_socket = lib.zmq_socket(self._open("socket"), socket_type)
            if zmq_socket == ffi.NULL:
                raise_errno(f"socket({SOCKET_TYPE_NAMES.get(socket_type, socket_type)})")
            state = SocketState(self, zmq_socket, socket_type)
            self._sockets[state] = None
            return state

    def _forget(self, state: SocketState) -> None:
        self._sockets.pop(state, None)

    def __repr__(self) -> str:
        state = "terminated" if self._closed else f"{len(self._sockets)} open sockets"
        return f"<zmqffi.Context {state}, created at {self._site}>"

    # --- sockets and options ---------------------------------------------------------

    def socket(self, socket_type: int) -> Socket:
        """A new socket of ``socket_type`` (zmqffi.PUSH, zmqffi.REQ, ...)."""
        return socket_class(socket_type)(self, socket_type)

    def get(self, option: int) -> int:
        int_arg(option, "Context.get() option")
        value: int = lib.zmq_ctx_get(self._open("get"), option)
        if value < 0:
            raise_errno(f"Context.get({option})")
        return value

    def set(self, option: int, value: int) -> None:
        int_arg(option, "Context.set() option")
        int_arg(value, f"Context.set({option}) value")
        if option == lib.ZMQ_IO_THREADS:
            check_io_threads(value, f"Context.set(IO_THREADS, {value})")
        if lib.zmq_ctx_set(self._open("set"), option, value) != 0:
            raise_errno(f"Context.set({option}, {value})")

    # --- ending ----------------------------------------------------------------------

    def term(self) -> None:
        """Terminate. Refuses (LifecycleError, nothing changed) while sockets are open:
        zmq_ctx_term would wait for them forever. Idempotent; from any thread."""
        with self._lock:
            if self._ended():
                return
            if self._sockets:
                raise LifecycleError(
                    0, f"term() with {len(self._sockets)} socket(s) still open; close "
                       f"them first (or use destroy()):\n{self._listing()}")
            self._terminate()

    def _listing(self) -> str:
        """The open sockets, one a line, each with where it was created."""
        return "\n".join(f"  - {state.describe()}, created at {state.site}"
                         for state in list(self._sockets))

    def _ended(self) -> bool:
        """True if there is nothing left to end: terminated, or inherited across fork()
        (then marked terminated: the child never touches the parent's libzmq state)."""
        if self._forked:
            self._closed = True
        return self._closed

    def _terminate(self, within_ms: int | None = None) -> None:
        """zmq_ctx_term: it waits while closed sockets flush their queues (LINGER);
        Ctrl-C interrupts. With ``within_ms``, give up after that long (with a
        ResourceWarning): the context is then left to the process's exit."""
        global _live_ref
        gave_up = False
        if within_ms is None:
            while lib.zmq_ctx_term(self._handle) != 0:
                if ffi.errno != _errno.EINTR:
                    raise_errno("zmq_ctx_term")
        elif lib.zmqffi_ctx_term_within(self._handle, within_ms) != 0:
            if ffi.errno != _errno.ETIMEDOUT:
                raise_errno("zmq_ctx_term")
            gave_up = True
        self._closed = True
        with _live_lock:
            if _live() is self:
                _live_ref = None
        release_lent()
        if gave_up:  # last: under -W error it raises
            warnings.warn(f"{self!r}: gave up waiting for zmq_ctx_term after {within_ms} "
                          "ms; a socket that has seen a shutdown() refuses a new LINGER, "
                          "and what such sockets still queue for absent peers is dropped",
                          ResourceWarning, stacklevel=1, source=self)

    def shutdown(self) -> None:
        """From any thread: every blocked call on this context's sockets returns with
        ContextTerminated, and so does every later call but close()."""
        with self._lock:
            if self._closed or self._forked:
                return
            lib.zmq_ctx_shutdown(self._handle)
            for state in list(self._sockets):
                state.mark_shut()

    def destroy(self, linger: int | None = None) -> None:
        """Shut down, close every open socket (with ``linger`` if given), terminate.
        From any thread; when several call it at once, one does the work and the
        others wait for it. The owner of a socket closed here gets ContextTerminated
        from its next call (or the call it is blocked in)."""
        if linger is not None:  # a bad one must not leave the context half destroyed
            int_arg(linger, "destroy() linger")
        self._destroy(linger, None)

    def _destroy(self, linger: int | None, bound: int | None) -> None:
        """destroy(); ``bound``: the linger of the sockets whose own is infinite (see
        SocketState.set_linger)."""
        with self._lock:
            if self._ended():
                return
            lingers = [state.before_shutdown(linger, bound)  # before the shutdown: see
                       for state in list(self._sockets)]     # there
            lib.zmq_ctx_shutdown(self._handle)
            for state in list(self._sockets):
                state.close(None, DESTROYED)
            if bound is None:
                self._terminate()
            else:  # a socket that refused the bound (-1) would make it wait for ever
                longest = max([bound, *(ms for ms in lingers if ms is not None)])
                self._terminate(within_ms=longest + bound)

    def _close_collected(self, state: SocketState) -> None:
        """A Socket collected open: closed with EXIT_LINGER_MS, unless it has its own
        finite LINGER, so that what it sent still goes out."""
        state.close(None, bound=EXIT_LINGER_MS)

    def __enter__(self) -> Context:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        if exc_type is None:
            self.term()
        else:
            self.destroy(linger=0)  # don't hang, don't mask the exception

    def __del__(self) -> None:
        if getattr(self, "_closed", True) or self._forked:
            return
        self._abandoned("unterminated")

    def _abandoned(self, why: str) -> None:
        """Collected live, or live at exit: warn, then destroy, every open socket closed
        with its own LINGER or EXIT_LINGER_MS (see there)."""
        listing = f"; closing:\n{self._listing()}" if self._sockets else ""
        try:  # clean up even where warnings are errors (-W error::ResourceWarning)
            warnings.warn(f"{why} {self!r}{listing}", ResourceWarning, stacklevel=1,
                          source=self)
        finally:
            self._destroy(None, EXIT_LINGER_MS)


def _after_fork_in_child() -> None:
    """The child must never touch the parent's libzmq state: mark it all dead. Locks a
    parent thread held at the fork would never be released here: make new ones."""
    global _live_ref, _live_lock
    _live_lock = threading.RLock()
    ctx, _live_ref = _live(), None
    if ctx is not None:
        ctx._forked = True
        ctx._lock = threading.RLock()
        for state in list(ctx._sockets):
            state.after_fork_in_child()


def _at_exit() -> None:
    """The Context still live when the interpreter exits is destroyed here, while the
    interpreter is whole, so that what was sent reaches the peers that are there.
    Otherwise it would be destroyed at the modules' teardown, if at all: PyPy's
    collector need not run __del__ at exit; then libzmq's I/O threads, holding the
    queued messages, die with the process. atexit runs after the non-daemon threads are
    joined; a daemon thread may still be in a call: destroy() shuts the context down
    first, so that call returns. In a fork()'s child there is no live Context here: the
    parent's was marked FORKED, and the child has nothing of libzmq to end."""
    ctx = _live()
    if ctx is not None and not ctx._closed and not ctx._forked:
        ctx._abandoned("unterminated at exit:")


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
