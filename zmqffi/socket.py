"""Socket: a ZeroMQ socket owned by one thread, closed explicitly (or by ``with``).

Every call first checks, with one integer compare, that the calling thread owns the
socket; a closed socket and one inherited across fork() have an impossible owner, so the
same compare catches them and the slow path says which rule was broken. On the hot paths
(send, recv, recv_into, recv_msg, the batches) that compare, and the count of calls in
progress, happen in C inside the one cffi call (``zmqffi_socket`` in src/zmqffi_helpers.h).
The state a Socket shares with its Context, and the rule of who owns it: _state.py.
"""

from __future__ import annotations

import errno as _errno
import warnings
from array import array
from struct import unpack_from
from typing import TYPE_CHECKING, Any

from zmqffi._state import (BATCH_BYTES, BATCH_FRAMES, CLOSED, DESTROYED, EINTR, GONE,
                           NOT_OWNER, SHUT, Batch, SocketState, get_ident)
from zmqffi._zmq import ffi, lib
from zmqffi.errors import ClosedError
from zmqffi.lending import lend_failed, pin, release_lent
from zmqffi.message import Message, new_msg, release_msg, release_spent
from zmqffi.monitor import monitor_endpoint, stop_monitor
from zmqffi.conveniences import Conveniences
from zmqffi.sockopts import SocketOptions
from zmqffi.validation import bytes_like, check_endpoint, check_socket_type, int_arg

if TYPE_CHECKING:
    from collections.abc import Iterable
    from zmqffi.context import Context

__all__ = ["Socket"]

# The hot path's C functions, looked up once (a lib attribute lookup per call shows in
# CPython profiles).
send_frame, recv_frame, recv_wait = lib.zmqffi_send, lib.zmqffi_recv, lib.zmqffi_recv_wait
NO_FLAGS = 0  # recv(flags) is recv_wait() when ``flags is NO_FLAGS``: not 0.0, not False
NOT_LENT = lib.ZMQFFI_NOT_LENT  # send_lent: zmq_msg_init_data failed, nothing was sent
BAD_SIZES = lib.ZMQFFI_BAD_SIZES  # send_many's C loop: the sizes do not add up
DGRAM = getattr(lib, "ZMQ_DGRAM", None)  # its sockets are draft.DgramSocket: see there

# Sends of immutable bytes at least this large lend the buffer to libzmq instead of
# copying it (zmq_msg_init_data): over inproc, lending wins from this size on PyPy (from
# twice it on CPython); over tcp the kernel's copy dominates either way
# (benchmarks/zerocopy_breakeven.py). Below it, the bookkeeping costs more than the copy.
ZERO_COPY_MIN = 64 * 1024
# recv() copies frames up to this size out of libzmq in its one C call (zmqffi_recv),
# and slicing that buffer is the cheapest way to make the bytes; a larger frame is
# copied from libzmq's memory through ffi.buffer(cstate.data, size).
SMALL = lib.ZMQFFI_SMALL
# recv_many() makes every bytes object in C (struct.unpack_from, with a format its C loop
# wrote: "1s1s3s..."), cheaper than slicing in a loop; send_many() passes the sizes as
# an array of size_t, cheaper to build than struct.pack (benchmarks/RESULTS.md).
SIZE_T = next(code for code in "LQI" if array(code).itemsize == ffi.sizeof("size_t"))


class Socket(SocketOptions, Conveniences):
    """A ZeroMQ socket. Create it with ``ctx.socket(zmqffi.PUSH)``.

    Its options, as calls and as attributes (``sock.linger = 0``): sockopts.py; pyzmq's
    send_string/json/serialized and poll: conveniences.py."""

    __slots__ = ("_state", "context", "__weakref__")
    _sends_dgram = False  # draft.DgramSocket: True

    def __init__(self, context: Context, socket_type: int) -> None:
        check_socket_type(socket_type)
        if socket_type == DGRAM and not self._sends_dgram:
            raise TypeError("a DGRAM socket needs its own class (a plain Socket's send "
                            "would abort the process): make it with ctx.socket()")
        self.context = context
        self._state = context._add_socket(socket_type)

    # --- lifecycle -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._state.owner in (CLOSED, DESTROYED)

    @property
    def type(self) -> int:
        return self._state.type

    @property
    def handle(self) -> Any:
        """The raw ``void *`` socket, for ``zmqffi.lib`` calls."""
        c = self._state
        if get_ident() != c.owner:
            c.refuse("handle")
        return c.zmq_socket

    def close(self, linger: int | None = None) -> None:
        """Close the socket (with ``linger`` ms if given). Idempotent."""
        c = self._state
        owner = c.owner
        if owner in GONE:
            c.close(linger)  # (a FORKED socket becomes CLOSED; nothing else happens)
            return
        if get_ident() != owner:
            if owner != SHUT:  # after shutdown, from any thread
                c.refuse("close")
        elif c.before_close is not None:
            c.before_close()
        c.close(linger)

    def adopt(self) -> None:
        """Make the calling thread the owner (after a hand-over through a queue)."""
        self._state.adopt()

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        # Left by an exception: drop what is queued (linger 0), as Context's __exit__
        # does, so that terminating the context cannot hang on it.
        self.close(None if exc_type is None else 0)

    def __del__(self) -> None:
        c = getattr(self, "_state", None)
        if c is None or c.owner in GONE:
            return
        try:  # close even where warnings are errors (-W error::ResourceWarning)
            warnings.warn(f"unclosed {self!r} (created at {c.site})", ResourceWarning,
                          stacklevel=1, source=self)
        finally:
            self.context._close_collected(c)

    def __repr__(self) -> str:
        c = self._state
        closed = " closed" if c.owner in (CLOSED, DESTROYED) else ""
        return f"<zmqffi.Socket {c.describe()}{closed}>"

    # --- endpoints -------------------------------------------------------------------

    def _endpoint_call(self, fn: Any, what: str, endpoint: str) -> None:
        check_endpoint(what, endpoint)
        self._state.call(what, fn, endpoint.encode(), failed=f"{what}({endpoint!r})")

    def bind(self, endpoint: str) -> None:
        self._endpoint_call(lib.zmqffi_bind, "bind", endpoint)
        self._state.endpoints.append(self.last_endpoint or endpoint)

    def connect(self, endpoint: str) -> None:
        self._endpoint_call(lib.zmqffi_connect, "connect", endpoint)
        self._state.endpoints.append(endpoint)

    def unbind(self, endpoint: str) -> None:
        self._endpoint_call(lib.zmqffi_unbind, "unbind", endpoint)
        if endpoint in self._state.endpoints:
            self._state.endpoints.remove(endpoint)

    def disconnect(self, endpoint: str) -> None:
        self._endpoint_call(lib.zmqffi_disconnect, "disconnect", endpoint)
        if endpoint in self._state.endpoints:
            self._state.endpoints.remove(endpoint)

    # --- sending ---------------------------------------------------------------------

    def send(self, data: Any, flags: int = 0, copy: bool | None = None) -> None:
        """Send one frame: bytes-like ``data`` or a Message (then emptied by libzmq).

        ``copy=None`` copies small data and lends immutable ``bytes`` of at least
        ZERO_COPY_MIN bytes to libzmq; ``copy=False`` always lends (do not mutate the
        buffer until libzmq is done with it); ``copy=True`` always copies.
        """
        c = self._state
        if type(data) is bytes and copy is None and len(data) < ZERO_COPY_MIN:
            try:  # the hot path: one C call checks the thread, sends, counts itself
                rc = send_frame(c.cstate, data, len(data), flags)
            except (TypeError, OverflowError):  # from cffi, before the C call
                int_arg(flags, "send() flags")  # says what was wrong, if flags was
                raise
            if rc:
                c.slow_path(rc, "send", send_frame, data, len(data), flags)
            return
        self._send_other(c, data, flags, copy)

    def _send_other(self, c: SocketState, data: Any, flags: int, copy: bool | None) -> None:
        """send() of anything but small bytes: a Message, a lent or a copied buffer."""
        int_arg(flags, "send() flags")  # before a buffer is lent or a view copied
        if isinstance(data, Message):
            rc = data._send(c.cstate, flags)
            if rc:
                c.slow_path(rc, "send", data._send, flags)
            return
        if copy is False or (copy is None and type(data) is bytes):
            pinned, ticket = pin(data)
            msg = new_msg()
            sent = False
            try:  # lent and sent by one call
                rc = lib.zmqffi_send_lent(c.cstate, msg, pinned, len(pinned), ticket, flags)
                if rc == NOT_LENT:
                    lend_failed(ticket)
                if rc:
                    c.slow_path(rc, "send", lib.zmqffi_msg_send, msg, flags)
                sent = True
            finally:  # sent, libzmq left it empty; not sent, the lent buffer is released
                (release_spent if sent else release_msg)(msg)
            return
        # bytes are passed as they are: on PyPy, ffi.from_buffer pins the object, which
        # then lives until a major collection (memory grows with every send); another
        # buffer's cffi view is released as soon as it is sent
        buf = data if type(data) is bytes else bytes_like(data, "send() data")
        try:
            rc = send_frame(c.cstate, buf, len(buf), flags)
            if rc:
                c.slow_path(rc, "send", send_frame, buf, len(buf), flags)
        finally:
            if buf is not data:
                ffi.release(buf)

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
                    raise ClosedError(_errno.EFAULT, f"send_multipart() frame {i}: "
                                                     "the Message is closed")
            elif not isinstance(part, bytes):  # (released at once: PyPy would pin it)
                ffi.release(bytes_like(part, f"send_multipart() frame {i}"))
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
        c = self._state
        try:  # the hot path: one C call checks the thread, receives, copies a small frame
            size = recv_wait(c.cstate) if flags is NO_FLAGS else recv_frame(c.cstate, flags)
        except (TypeError, OverflowError):  # from cffi, before the C call
            int_arg(flags, "recv() flags")  # says what was wrong, if flags was
            raise
        if 0 <= size <= SMALL:
            return c.small[:size]  # slicing the cffi buffer: the cheapest bytes maker
        return self._recv_other(c, size, flags)

    def _recv_other(self, c: SocketState, size: int, flags: int) -> bytes:
        """recv() after a failure (retried on EINTR) or of a frame larger than SMALL."""
        if size < 0:
            size = c.slow_path(size, "recv", recv_frame, flags)
            if size <= SMALL:
                return c.small[:size]
        return self._held(c, size)

    def _held(self, c: SocketState, size: int) -> bytes:
        """A copy of the frame of ``size`` bytes in the socket's reused message."""
        cstate = c.cstate  # (its data and more fields: read without a call)
        data: bytes = ffi.buffer(cstate.data, size)[:]
        if size >= ZERO_COPY_MIN and not cstate.more:
            # don't hold a large frame (over inproc, maybe the sender's lent
            # buffer) until this socket's next recv: release it now, and drop what
            # libzmq gave back (an idle sender would hold it until its next send)
            lib.zmqffi_msg_reset(c.held_msg)
            if lib.zmqffi_released_pending:
                release_lent()
        return data

    def recv_multipart(self, flags: int = 0) -> list[bytes]:
        """Receive every frame of one multipart message."""
        cstate = self._state.cstate  # its more field, set by every recv(): no call to read
        try:
            parts = [self.recv(flags)]
            while cstate.more:
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
        try:  # RCVMORE, not held_msg: the last frame may have come through recv_msg
            while self.getsockopt(lib.ZMQ_RCVMORE):
                if recv_frame(self._state.cstate, lib.ZMQ_DONTWAIT) < 0:
                    break  # e.g. the context was shut down meanwhile
        except Exception:  # the first error wins
            pass

    def recv_msg(self, flags: int = 0) -> Message:
        """Receive one frame as a Message, without copying; the caller closes it."""
        c = self._state
        msg = Message._empty()
        try:  # the whole retry: a signal handler raises in it, and msg must be closed
            size = lib.zmqffi_msg_recv(c.cstate, msg._msg, flags)
            if size < 0:
                size = c.slow_path(size, "recv_msg", lib.zmqffi_msg_recv, msg._msg, flags)
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
        c = self._state
        with target:  # released at once (on PyPy it would stay pinned until collected)
            try:
                size: int = lib.zmqffi_recv_into(c.cstate, target, len(target), flags)
            except (TypeError, OverflowError):  # from cffi, before the C call
                int_arg(flags, "recv_into() flags")  # says what was wrong, if flags was
                raise
            if size < 0:
                size = c.slow_path(size, "recv_into", lib.zmqffi_recv_into, target,
                                   len(target), flags)
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
        c = self._state
        sent = 0
        while sent < count:
            n = lib.zmqffi_send_many(c.cstate, blob, len(blob), sizes, count, sent, flags)
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
        c = self._state
        if c.batch is None:
            c.batch = Batch()
        b = c.batch
        args = (b.out, BATCH_BYTES, b.format, min(max_frames, BATCH_FRAMES), flags,
                b.pending)
        n = lib.zmqffi_recv_many(c.cstate, *args)
        if n < 0:
            c.slow_path(n, "recv_many", lib.zmqffi_recv_many, *args)
        frames = list(unpack_from(ffi.string(b.format), b.view))  # all made in C
        if b.pending[0] >= 0:  # a frame too large for the batch buffer, still in held_msg
            frames.append(self._held(c, b.pending[0]))
        return frames

    # --- monitoring ------------------------------------------------------------------

    def monitor(self, endpoint: str | None, events: int = lib.ZMQ_EVENT_ALL) -> None:
        """Publish this socket's events on a PAIR ``endpoint`` (inproc); None stops."""
        if endpoint is not None and not isinstance(endpoint, str):
            raise TypeError(f"monitor() takes the endpoint as str or None, "
                            f"not {type(endpoint).__name__}")
        int_arg(events, "monitor() events")
        addr = ffi.NULL if endpoint is None else endpoint.encode()
        self._state.call("monitor", lib.zmqffi_socket_monitor, addr, events,
                         failed=f"monitor({endpoint!r})")
        self._state.monitoring = endpoint

    def get_monitor_socket(self, events: int = lib.ZMQ_EVENT_ALL) -> Socket:
        """Start monitoring and return a PAIR socket connected to the events. Closing
        that socket stops the monitor first (when this thread owns both; see
        monitor.py)."""
        endpoint = monitor_endpoint(self._state)
        self.monitor(endpoint, events)
        pair = self.context.socket(lib.ZMQ_PAIR)
        pair._state.before_close = stop_monitor(self._state, endpoint)
        pair.connect(endpoint)
        return pair
