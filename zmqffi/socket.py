"""Socket: a ZeroMQ socket owned by one thread, closed explicitly (or by ``with``).

Every call first checks, with one integer compare, that the calling thread owns the
socket; a closed socket and one inherited across fork() have an impossible owner, so the
same compare catches them and the slow path says which rule was broken. On the hot paths
(send, recv, recv_into, recv_msg, the batches) that compare, and the count of calls in
progress, happen in C inside the one cffi call (``zmqffi_socket`` in build_ffi.py).

The state a Socket shares with its Context lives in a small ``_Core``: the Context holds
the cores (not the Sockets), so it can close what is left open even after the Socket
objects are gone, and garbage collection of a Socket is not prevented by its Context.
``busy`` counts the other calls in progress: ``Context.destroy()`` from another thread
marks the core closed, then waits for ``busy`` (and the C count) to drop to zero before
``zmq_close`` (with the GIL, either the caller sees the mark or destroy sees the call; in C,
atomics give the same promise). The other calls keep a Python count rather than calling
C's: ``busy += 1`` makes no call, so no signal handler (Ctrl-C) can run between counting
and the ``try`` that uncounts, where after a C call that counted one could.
"""

from __future__ import annotations

import errno as _errno
import itertools
import sys
import threading
import time
import traceback
import warnings
from array import array
from collections import namedtuple
from struct import unpack_from
from typing import TYPE_CHECKING, Any, Iterable

from zmqffi._zmq import ffi, lib
from zmqffi.constants import SOCKET_TYPE_NAMES
from zmqffi.errors import Again, LifecycleError, raise_errno
from zmqffi.message import Message, lend_failed, new_msg, pin, release_msg, release_spent
from zmqffi.options import c_buffer, c_value, py_value
from zmqffi.validation import bytes_like, check_endpoint, check_socket_type, int_arg

if TYPE_CHECKING:
    from zmqffi.context import Context

__all__ = ["Socket", "MonitorEvent", "recv_monitor_message"]

get_ident = threading.get_ident
# The hot path's C functions, looked up once (a lib attribute lookup per call shows in
# CPython profiles).
send_frame, recv_frame, recv_wait = lib.zmqffi_send, lib.zmqffi_recv, lib.zmqffi_recv_wait
NO_FLAGS = 0  # recv(flags) is recv_wait() when ``flags is NO_FLAGS``: not 0.0, not False
EINTR = _errno.EINTR
NOT_OWNER = lib.ZMQFFI_NOT_OWNER  # a hot C call refused: wrong thread, closed, shut down
NOT_LENT = lib.ZMQFFI_NOT_LENT  # send_lent: zmq_msg_init_data failed, nothing was sent
BAD_SIZES = lib.ZMQFFI_BAD_SIZES  # send_many's C loop: the sizes do not add up
CLOSED = -1  # owner of a closed socket: no thread has this ident
FORKED = -2  # owner of a socket inherited across fork()
# Owner of an open socket whose Context was shut down: every call but close() raises
# ContextTerminated. (libzmq alone does not promise it: a send shortly after another
# skips reading the socket's commands, so it would still queue the message.)
SHUT = -3

# Sends of immutable bytes at least this large lend the buffer to libzmq instead of
# copying it (zmq_msg_init_data). Below it, the bookkeeping costs more than the copy.
# Measured with benchmarks/zerocopy_breakeven.py (send + recv_msg, time per message):
# over inproc lending wins from 64 KiB on PyPy (0.33x the copy's time) and from 128 KiB
# on CPython (1.16x at 64 KiB, 0.62x at 128 KiB, 0.14x at 1 MiB); over tcp the kernel's
# copy dominates and both are within noise (0.9-1.1x) at every size.
ZERO_COPY_MIN = 64 * 1024
# recv() copies frames up to this size out of libzmq in its one C call (zmqffi_recv),
# and slicing that buffer makes the bytes (CPython: 68 ns for 100 B); a larger frame is
# copied from libzmq's memory through ffi.buffer(sock.data, size) (344 ns for 100 B).
SMALL = lib.ZMQFFI_SMALL
# recv_many() copies up to this many frames / bytes per call into libzmq.
BATCH_FRAMES = 1024
BATCH_BYTES = 256 * 1024
# recv_many() makes every bytes object in C, with struct.unpack_from and a format that
# its C loop wrote ("1s1s3s..."). Splitting 1,000-frame batches of 1 B / 64 B frames
# that the caller keeps: on CPython 3.11, 6-40 ns a frame, where a Python loop of slices
# costs 90-190 ns; on PyPy 7.3, 43-102 ns, where the JIT-compiled loop of slices costs
# 92-227 ns.
# send_many() passes the frames' sizes as an array of size_t: 16 (PyPy) / 35 (CPython)
# ns a frame to build, against 31 / 48 for struct.pack("1000N", ...).
SIZE_T = next(code for code in "LQI" if array(code).itemsize == ffi.sizeof("size_t"))

def creation_site() -> str:
    """'file:line in function' of the first caller outside zmqffi."""
    for frame in reversed(traceback.extract_stack()):
        if "/zmqffi/" not in frame.filename.replace("\\", "/"):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "<unknown>"


def thread_label(ident: int) -> str:
    for thread in threading.enumerate():
        if thread.ident == ident:
            return f"thread {thread.name!r} (ident {ident})"
    return f"thread (ident {ident}, no longer running)"


class _Core:
    """What a Socket and its Context share; see the module docstring."""

    __slots__ = ("handle", "owner", "busy", "sock", "type", "site", "endpoints", "rmsg",
                 "small", "batch", "context", "monitoring")

    def __init__(self, context: Context, handle: Any, socket_type: int) -> None:
        self.handle = handle
        self.busy = 0
        # the hot paths' C state (owner, busy count, reused message); its message is
        # closed when the struct is collected, after every call that could read it
        self.sock = ffi.gc(ffi.new("zmqffi_socket *"), lib.zmqffi_socket_release)
        lib.zmqffi_socket_init(self.sock, handle)
        self.set_owner(get_ident())
        self.rmsg = ffi.addressof(self.sock, "msg")  # recv()'s, reused for every frame
        self.small = ffi.buffer(self.sock.small)  # recv() copies small frames out here
        self.type = socket_type
        self.site = creation_site()
        self.endpoints: list[str] = []
        self.context = context
        self.batch: Any = None  # recv_many()'s buffers, made on first use
        self.monitoring: str | None = None  # the endpoint of the running monitor

    def set_owner(self, owner: int) -> None:
        """The one place the owner changes, in Python (the slow paths' checks and
        messages) and in C (the hot paths' check) together. Only the calling thread
        itself can become the owner; CLOSED, FORKED and SHUT let no thread call."""
        self.owner = owner
        lib.zmqffi_socket_own(self.sock, owner == get_ident())

    def describe(self) -> str:
        kind = SOCKET_TYPE_NAMES.get(self.type, str(self.type))
        where = f" {', '.join(self.endpoints)}" if self.endpoints else ""
        return f"{kind} socket{where}"

    def refuse(self, what: str) -> None:
        """Raise the LifecycleError for a call from a thread that may not make it."""
        if self.owner == CLOSED:
            raise LifecycleError(_errno.ENOTSOCK, f"{what}: the {self.describe()} is closed")
        if self.owner == FORKED:
            raise LifecycleError(0, f"{what}: this {self.describe()} was inherited across "
                                    "fork(); the child must create its own Context")
        if self.owner == SHUT:
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

    def again(self, rc: int, what: str, fn: Any, *args: Any) -> int:
        """The slow path of a hot call ``fn(self.sock, *args)`` that returned ``rc`` < 0:
        refuse a thread that may not call, raise the error, or on EINTR (after Python's
        signal handlers ran, at the call of fail()) call again. Returns the result of
        the call that succeeded."""
        while rc < 0:
            if rc == NOT_OWNER:
                self.refuse(what)
            self.fail(what)
            rc = fn(self.sock, *args)
        return rc

    def call(self, what: str, fn: Any, *args: Any, failed: str | None = None) -> None:
        """``fn(handle, *args)`` from the owner thread, retried on EINTR, raising on
        failure (saying ``failed``, default ``what``): the frame of every call but the
        hot paths, which inline it."""
        self.busy += 1
        try:
            if get_ident() != self.owner:
                self.refuse(what)
            while fn(self.handle, *args) < 0:
                self.fail(failed or what)
        finally:
            self.busy -= 1

    def close(self, linger: int | None) -> None:
        """Close the libzmq socket; safe from any thread once the owner is out of it."""
        if self.owner in (CLOSED, FORKED):
            self.set_owner(CLOSED)
            return
        if linger is not None:  # a bad one must not leave the socket half closed
            int_arg(linger, "close() linger")
        by_owner = self.owner == get_ident()
        self.set_owner(CLOSED)  # from here, every new call is refused
        deadline = time.monotonic() + 10.0
        # a call in another thread; shutdown() makes it return
        while self.busy or lib.zmqffi_socket_busy(self.sock):
            if time.monotonic() > deadline:
                raise LifecycleError(0, f"{self.describe()} is still in a call in "
                                        "another thread; cannot close it")
            time.sleep(0.001)
        if linger is not None:
            lib.zmq_setsockopt(self.handle, lib.ZMQ_LINGER, ffi.new("int *", linger),
                               ffi.sizeof("int"))
        lib.zmq_close(self.handle)
        if by_owner:  # release a held frame now; from another thread, the owner may
            lib.zmqffi_msg_reset(self.rmsg)  # still be reading it: then at collection
        self.context._forget(self)


class _Batch:
    """recv_many()'s buffers, made on a socket's first recv_many()."""

    __slots__ = ("out", "view", "format", "pending")

    def __init__(self) -> None:
        self.out = ffi.new("char[]", BATCH_BYTES)  # the frames, back to back
        self.view = ffi.buffer(self.out)
        self.format = ffi.new("char[]", 21 * BATCH_FRAMES + 1)  # how to split them
        self.pending = ffi.new("long long *")


MonitorEvent = namedtuple("MonitorEvent", ["event", "value", "endpoint"])
_monitor_ids = itertools.count()


class Socket:
    """A ZeroMQ socket. Create it with ``ctx.socket(zmqffi.PUSH)``."""

    __slots__ = ("_core", "context", "__weakref__")

    def __init__(self, context: Context, socket_type: int) -> None:
        check_socket_type(socket_type)
        self.context = context
        handle = lib.zmq_socket(context._open("socket"), socket_type)
        if handle == ffi.NULL:
            raise_errno(f"socket({SOCKET_TYPE_NAMES.get(socket_type, socket_type)})")
        self._core = _Core(context, handle, socket_type)
        context._remember(self._core)
        if socket_type == getattr(lib, "ZMQ_DGRAM", None):
            self.__class__ = _DgramSocket

    # --- lifecycle -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._core.owner == CLOSED

    @property
    def type(self) -> int:
        return self._core.type

    @property
    def handle(self) -> Any:
        """The raw ``void *`` socket, for ``zmqffi.lib`` calls."""
        c = self._core
        if get_ident() != c.owner:
            c.refuse("handle")
        return c.handle

    def close(self, linger: int | None = None) -> None:
        """Close the socket (with ``linger`` ms if given). Idempotent."""
        c = self._core
        if c.owner in (CLOSED, FORKED):
            c.set_owner(CLOSED)
            return
        if get_ident() != c.owner and c.owner != SHUT:  # after shutdown, from any thread
            c.refuse("close")
        c.close(linger)

    def adopt(self) -> None:
        """Make the calling thread the owner (after a hand-over through a queue)."""
        c = self._core
        if c.owner == SHUT:
            return  # nothing to own: every call but close() raises ContextTerminated
        if c.owner in (CLOSED, FORKED):
            c.refuse("adopt")
        if c.busy or lib.zmqffi_socket_busy(c.sock):
            raise LifecycleError(0, f"adopt: the {c.describe()} is in a call in "
                                    f"{thread_label(c.owner)}")
        c.set_owner(get_ident())

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        # Left by an exception: drop what is queued (linger 0), as Context's __exit__
        # does, so that terminating the context cannot hang on it.
        self.close(None if exc_type is None else 0)

    def __del__(self) -> None:
        c = getattr(self, "_core", None)
        if c is None or c.owner in (CLOSED, FORKED):
            return
        try:  # close even where warnings are errors (-W error::ResourceWarning)
            warnings.warn(f"unclosed {self!r} (created at {c.site})", ResourceWarning,
                          source=self)
        finally:
            c.close(linger=0)

    def __repr__(self) -> str:
        c = self._core
        state = " closed" if c.owner == CLOSED else ""
        return f"<zmqffi.Socket {c.describe()}{state}>"

    # --- endpoints -------------------------------------------------------------------

    def _endpoint_call(self, fn: Any, what: str, endpoint: str) -> None:
        check_endpoint(what, endpoint)
        self._core.call(what, fn, endpoint.encode(), failed=f"{what}({endpoint!r})")

    def bind(self, endpoint: str) -> None:
        self._endpoint_call(lib.zmq_bind, "bind", endpoint)
        self._core.endpoints.append(self.last_endpoint or endpoint)

    def connect(self, endpoint: str) -> None:
        self._endpoint_call(lib.zmq_connect, "connect", endpoint)
        self._core.endpoints.append(endpoint)

    def unbind(self, endpoint: str) -> None:
        self._endpoint_call(lib.zmq_unbind, "unbind", endpoint)
        if endpoint in self._core.endpoints:
            self._core.endpoints.remove(endpoint)

    def disconnect(self, endpoint: str) -> None:
        self._endpoint_call(lib.zmq_disconnect, "disconnect", endpoint)
        if endpoint in self._core.endpoints:
            self._core.endpoints.remove(endpoint)

    @property
    def last_endpoint(self) -> str:
        """The endpoint last bound or connected, with a wildcard port resolved."""
        value = self.getsockopt(lib.ZMQ_LAST_ENDPOINT)
        assert isinstance(value, str)
        return value

    # --- sending ---------------------------------------------------------------------

    def send(self, data: Any, flags: int = 0, copy: bool | None = None) -> None:
        """Send one frame: bytes-like ``data`` or a Message (then emptied by libzmq).

        ``copy=None`` copies small data and lends immutable ``bytes`` of at least
        ZERO_COPY_MIN bytes to libzmq; ``copy=False`` always lends (do not mutate the
        buffer until libzmq is done with it); ``copy=True`` always copies.
        """
        c = self._core
        if type(data) is bytes and copy is None and len(data) < ZERO_COPY_MIN:
            try:  # the hot path: one C call checks the thread, sends, counts itself
                rc = send_frame(c.sock, data, len(data), flags)
            except (TypeError, OverflowError):  # from cffi, before the C call
                int_arg(flags, "send() flags")  # says what was wrong, if flags was
                raise
            if rc:
                c.again(rc, "send", send_frame, data, len(data), flags)
            return
        self._send_other(c, data, flags, copy)

    def _send_other(self, c: _Core, data: Any, flags: int, copy: bool | None) -> None:
        """send() of anything but small bytes: a Message, a lent or a copied buffer."""
        int_arg(flags, "send() flags")  # before a buffer is lent or a view copied
        if isinstance(data, Message):
            rc = data._send(c.sock, flags)
            if rc:
                c.again(rc, "send", data._send, flags)
            return
        if copy is False or (copy is None and type(data) is bytes):
            pinned, ticket = pin(data)
            msg = new_msg()
            sent = False
            try:  # lent and sent by one call
                rc = lib.zmqffi_send_lent(c.sock, msg, pinned, len(pinned), ticket, flags)
                if rc == NOT_LENT:
                    lend_failed(ticket)
                if rc:
                    c.again(rc, "send", lib.zmqffi_msg_send, msg, flags)
                sent = True
            finally:  # sent, libzmq left it empty; not sent, the lent buffer is released
                (release_spent if sent else release_msg)(msg)
            return
        buf = bytes_like(data, "send() data")
        rc = send_frame(c.sock, buf, len(buf), flags)
        if rc:
            c.again(rc, "send", send_frame, buf, len(buf), flags)

    def send_multipart(self, parts: Iterable[Any], flags: int = 0,
                       copy: bool | None = None) -> None:
        """Send a multipart message atomically (every frame but the last with SNDMORE)."""
        parts = list(parts)
        int_arg(flags, "send_multipart() flags")
        if not parts:
            raise ValueError("send_multipart() needs at least one frame")
        for i, part in enumerate(parts):  # refuse bad input before sending anything
            if isinstance(part, Message):
                if part.closed:  # else the frames before it would be left half-sent
                    raise LifecycleError(_errno.EFAULT, f"send_multipart() frame {i}: "
                                                        "the Message is closed")
            elif not isinstance(part, bytes):
                bytes_like(part, f"send_multipart() frame {i}")
        more, last, sent = flags | lib.ZMQ_SNDMORE, len(parts) - 1, 0
        try:
            for i, part in enumerate(parts):
                self.send(part, more if i < last else flags, copy)
                sent = i + 1  # (a signal handler runs at the loop, after this line)
        except BaseException:
            if 0 < sent <= last:
                self._finish_multipart(parts, sent, flags, copy)
            raise

    def _finish_multipart(self, parts: list[Any], sent: int, flags: int,
                          copy: bool | None) -> None:
        """After an exception (Ctrl-C) part way through a multipart message: send the
        rest, or the socket's next send would continue this message. Once its first
        frame is in, libzmq takes the others without waiting for the high-water mark."""
        last = len(parts) - 1
        try:
            for i in range(sent, last + 1):
                self.send(parts[i], (flags | lib.ZMQ_SNDMORE if i < last else flags)
                          | lib.ZMQ_DONTWAIT, copy)
        except Exception:  # e.g. the context was shut down meanwhile: the first error wins
            pass

    # --- receiving -------------------------------------------------------------------

    def recv(self, flags: int = 0) -> bytes:
        """Receive one frame as bytes."""
        c = self._core
        try:  # the hot path: one C call checks the thread, receives, copies a small frame
            size = recv_wait(c.sock) if flags is NO_FLAGS else recv_frame(c.sock, flags)
        except (TypeError, OverflowError):  # from cffi, before the C call
            int_arg(flags, "recv() flags")  # says what was wrong, if flags was
            raise
        if 0 <= size <= SMALL:
            return c.small[:size]  # slicing the cffi buffer: the cheapest bytes maker
        return self._recv_other(c, size, flags)

    def _recv_other(self, c: _Core, size: int, flags: int) -> bytes:
        """recv() after a failure (retried on EINTR) or of a frame larger than SMALL."""
        if size < 0:
            size = c.again(size, "recv", recv_frame, flags)
            if size <= SMALL:
                return c.small[:size]
        return self._held(c, size)

    def _held(self, c: _Core, size: int) -> bytes:
        """A copy of the frame of ``size`` bytes in the socket's reused message."""
        sock = c.sock  # (its data and more fields: read without a call)
        data = ffi.buffer(sock.data, size)[:]
        if size >= ZERO_COPY_MIN and not sock.more:
            # don't hold a large frame (over inproc, maybe the sender's lent
            # buffer) until this socket's next recv: release it now
            lib.zmqffi_msg_reset(c.rmsg)
        return data

    def recv_multipart(self, flags: int = 0) -> list[bytes]:
        """Receive every frame of one multipart message."""
        sock = self._core.sock  # its more field, set by every recv(): no call to read
        try:
            parts = [self.recv(flags)]
            while sock.more:
                parts.append(self.recv(flags))
        except BaseException:
            self._drop_rest_of_message()
            raise
        return parts

    def _drop_rest_of_message(self) -> None:
        """After an exception (Ctrl-C) part way through recv_multipart: receive and drop
        the rest of the message, or the next receive would return its tail as a message
        of its own. The interrupted call loses this one message, as Ctrl-C just after
        its last frame would, and the socket stays at a message boundary. Once the first
        frame is in, libzmq has the others: nothing here waits."""
        try:  # RCVMORE, not rmsg: the last frame may have come through recv_msg
            while self.getsockopt(lib.ZMQ_RCVMORE):
                if recv_frame(self._core.sock, lib.ZMQ_DONTWAIT) < 0:
                    break  # e.g. the context was shut down meanwhile
        except Exception:  # the first error wins
            pass

    def recv_msg(self, flags: int = 0) -> Message:
        """Receive one frame as a Message, without copying; the caller closes it."""
        c = self._core
        msg = Message._empty()
        try:  # the whole retry: a signal handler raises in it, and msg must be closed
            size = lib.zmqffi_msg_recv(c.sock, msg._msg, flags)
            if size < 0:
                size = c.again(size, "recv_msg", lib.zmqffi_msg_recv, msg._msg, flags)
        except BaseException as exc:
            msg.close()
            if isinstance(exc, (TypeError, OverflowError)):  # from cffi, before the call
                int_arg(flags, "recv_msg() flags")  # says what was wrong, if flags was
            raise
        msg._size = size
        return msg

    def recv_into(self, buffer: Any, flags: int = 0) -> int:
        """Receive one frame into a writable buffer; return the frame's full size
        (larger than the buffer when the frame was truncated, like zmq_recv)."""
        try:
            # positional: a keyword argument costs a parse on every call (CPython)
            target = ffi.from_buffer("char[]", buffer, True)
        except (TypeError, BufferError):  # CPython says BufferError for read-only
            raise TypeError(f"recv_into() needs a writable buffer (bytearray, writable "
                            f"memoryview), not {type(buffer).__name__}") from None
        c = self._core
        try:
            size = lib.zmqffi_recv_into(c.sock, target, len(target), flags)
        except (TypeError, OverflowError):  # from cffi, before the C call
            int_arg(flags, "recv_into() flags")  # says what was wrong, if flags was
            raise
        if size < 0:
            size = c.again(size, "recv_into", lib.zmqffi_recv_into, target, len(target),
                           flags)
        return size

    # --- batches of small messages ---------------------------------------------------

    def send_many(self, frames: Iterable[Any], flags: int = 0) -> int:
        """Send each of ``frames`` (bytes-like) as a message of one frame, looping in C:
        one call into libzmq per batch instead of one per message.

        Returns how many were sent: all, unless a non-blocking send (DONTWAIT) or a
        send timeout stopped the batch at the high-water mark part way; Again is raised
        only when not even the first could be sent. A frame that is not bytes-like is
        refused before anything is sent.
        """
        frames = list(frames)
        flags = int_arg(flags, "send_many() flags")
        try:  # the frames back to back, and their sizes: C loops, no Python per frame
            blob = b"".join(frames)
        except TypeError:
            for i, frame in enumerate(frames):
                bytes_like(frame, f"send_many() frame {i}")
            raise
        count = len(frames)
        sizes = ffi.from_buffer("size_t[]", array(SIZE_T, map(len, frames)))
        c = self._core
        sent = 0
        while sent < count:
            n = lib.zmqffi_send_many(c.sock, blob, len(blob), sizes, count, sent, flags)
            if n == BAD_SIZES:  # a view whose len() counts items, not bytes
                sizes = ffi.from_buffer("size_t[]", array(SIZE_T, [memoryview(f).nbytes
                                                                   for f in frames]))
                continue
            if n == NOT_OWNER:
                c.refuse("send_many")
            sent += n
            if sent < count and (sent == 0 or ffi.errno == EINTR):
                c.fail("send_many")  # EINTR: retry after the signal handlers
            elif sent < count:
                break
        return sent

    def recv_many(self, max_frames: int = 1024, flags: int = 0) -> list[bytes]:
        """Receive up to ``max_frames`` frames in one call into libzmq: the first waits
        as ``flags`` says, the others only if already queued. Frames of multipart
        messages come one by one, as recv() would return them."""
        max_frames = int_arg(max_frames, "recv_many() max_frames")
        if max_frames < 1:
            raise ValueError(f"recv_many() max_frames must be >= 1, not {max_frames}")
        flags = int_arg(flags, "recv_many() flags")
        c = self._core
        if c.batch is None:
            c.batch = _Batch()
        b = c.batch
        args = (b.out, BATCH_BYTES, b.format, min(max_frames, BATCH_FRAMES), flags,
                b.pending)
        n = lib.zmqffi_recv_many(c.sock, *args)
        if n < 0:
            c.again(n, "recv_many", lib.zmqffi_recv_many, *args)
        frames = list(unpack_from(ffi.string(b.format), b.view))  # all made in C
        if b.pending[0] >= 0:  # a frame too large for the batch buffer, still in rmsg
            frames.append(self._held(c, b.pending[0]))
        return frames

    # --- options ---------------------------------------------------------------------

    def setsockopt(self, option: int, value: Any) -> None:
        """Set a socket option; ``value`` has the option's type (int, bytes or str)."""
        name, value, raw, size = c_value(option, value)
        self._core.call(f"setsockopt({name})", lib.zmq_setsockopt, option, raw, size,
                        failed=f"setsockopt({name}, {value!r})")

    def getsockopt(self, option: int) -> int | bytes | str:
        """Read a socket option, as its C type: int, bytes (keys as Z85) or str."""
        name, kind, raw, size = c_buffer(option)
        self._core.call(f"getsockopt({name})", lib.zmq_getsockopt, option, raw, size)
        return py_value(kind, raw, size)

    set = setsockopt
    get = getsockopt

    # --- monitoring ------------------------------------------------------------------

    def monitor(self, endpoint: str | None, events: int = lib.ZMQ_EVENT_ALL) -> None:
        """Publish this socket's events on a PAIR ``endpoint`` (inproc); None stops."""
        if endpoint is not None and not isinstance(endpoint, str):
            raise TypeError(f"monitor() takes the endpoint as str or None, "
                            f"not {type(endpoint).__name__}")
        int_arg(events, "monitor() events")
        addr = ffi.NULL if endpoint is None else endpoint.encode()
        self._core.call("monitor", lib.zmq_socket_monitor, addr, events,
                        failed=f"monitor({endpoint!r})")
        self._core.monitoring = endpoint

    def get_monitor_socket(self, events: int = lib.ZMQ_EVENT_ALL) -> Socket:
        """Start monitoring and return a PAIR socket connected to the events. Closing
        that socket stops the monitor first (when this thread owns both)."""
        # a new endpoint each time: the previous monitor's is released asynchronously
        endpoint = f"inproc://zmqffi.monitor.{id(self._core):x}.{next(_monitor_ids)}"
        self.monitor(endpoint, events)
        pair = _MonitorReader(self.context, lib.ZMQ_PAIR)
        pair._monitored, pair._endpoint = self._core, endpoint
        pair.connect(endpoint)
        return pair


class _MonitorReader(Socket):
    """The PAIR that get_monitor_socket() returns.

    libzmq 4.3.4 emits monitor events with blocking sends: once the reader of a running
    monitor is closed, the next event (a bind, a connection, stopping or replacing the
    monitor) waits forever, in the caller's thread or in an I/O thread. So closing the
    reader first stops its monitor, while the reader can still take MONITOR_STOPPED --
    if this thread owns the monitored socket; if not, stop it (sock.monitor(None)) in
    the thread that does, before closing the reader."""

    __slots__ = ("_monitored", "_endpoint")

    def close(self, linger: int | None = None) -> None:
        m = getattr(self, "_monitored", None)
        if m is not None and not self.closed and get_ident() == self._core.owner \
                and m.monitoring == self._endpoint and get_ident() == m.owner:
            lib.zmq_socket_monitor(m.handle, ffi.NULL, 0)
            m.monitoring = None
        super().close(linger)


class _DgramSocket(Socket):
    """A DGRAM socket (draft API). libzmq 4.3.4's DGRAM, with no pipe to send to yet,
    closes the message and fails: zmq_send then closes it a second time and aborts the
    process (errno_assert), and a Message sent so would abort at its next use. So every
    frame goes out as a Message of zmqffi's own, through zmq_msg_send, whose caller
    closes the message (a second close there is a harmless EFAULT)."""

    __slots__ = ()

    def send(self, data: Any, flags: int = 0, copy: bool | None = None) -> None:
        given = isinstance(data, Message)
        if given:
            out = Message._empty()
            lib.zmq_msg_copy(out._msg, data._open())  # shares the content
        else:
            out = Message(data)
        try:
            ffi.errno = _errno.EAGAIN  # what that failure means; libzmq sets no errno
            Socket.send(self, out, flags)
        finally:
            out.close()
        if given:  # sent: the caller's Message is left empty, as a send leaves it
            data.close()
            Message.__init__(data)

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


def recv_monitor_message(socket: Socket, flags: int = 0) -> MonitorEvent:
    """Read one event from a monitor PAIR socket: (event, value, endpoint)."""
    head, endpoint = socket.recv_multipart(flags)
    event = int.from_bytes(head[:2], sys.byteorder)  # libzmq writes host byte order
    value = int.from_bytes(head[2:6], sys.byteorder)
    return MonitorEvent(event, value, endpoint.decode("utf-8", "replace"))
