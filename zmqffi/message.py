"""Message: one ``zmq_msg_t``, owned by Python, closed explicitly (or by ``with``).

Memory rules kept here:
* ``msg.buffer`` lends libzmq's memory to Python without a copy. Once a view exists, the
  ``zmq_msg_t`` is owned by a cffi ``gc`` object that the view keeps alive, so closing
  the Message (or sending it) never frees memory a view can still read.
* ``Message(data, copy=False)`` lends Python's memory to libzmq (``zmq_msg_init_data``);
  lending.py keeps it alive until libzmq gives it back.
"""

from __future__ import annotations

import sys
import threading
import warnings
from typing import Any

from zmqffi._zmq import ffi, lib
from zmqffi.errors import ClosedError, LifecycleError, raise_errno
from zmqffi.lending import COLLECTS_VIEWS, collect_views, lend, lent_bytes_at
from zmqffi.validation import bytes_like, int_arg

__all__ = ["Message"]

EFAULT = 14


def _close_msg(msg: Any) -> None:
    lib.zmq_msg_close(msg)


# zmq_msg_t storage, reused: a Message's on close(), a lent send's once sent. Allocating
# each one (ffi.new) cost ~300 ns on CPython and, with its free, most of a Message's
# life on PyPy. Entries are initialised empty messages: ready to receive into, and an
# init_size/init_data may overwrite them (an empty message holds nothing to free).
# Storage that a send left empty goes back without a call. Fewer cffi calls matter
# beyond their own cost: each one releases the GIL, and two Python threads on inproc
# pay a hand-over for it. list.pop and append are atomic, so threads may share the pool.
MSG_T = ffi.typeof("zmq_msg_t *")
_pool: list[Any] = []
POOL_MAX = 64


def new_msg() -> Any:
    """Storage for one zmq_msg_t, initialised empty."""
    try:
        return _pool.pop()
    except IndexError:
        msg = ffi.new(MSG_T)
        lib.zmq_msg_init(msg)
        return msg


def release_msg(msg: Any) -> None:
    """Close ``msg`` and keep its storage for new_msg()."""
    if len(_pool) < POOL_MAX:
        lib.zmqffi_msg_reset(msg)
        _pool.append(msg)
    else:
        lib.zmq_msg_close(msg)


def release_spent(msg: Any) -> None:
    """Keep for new_msg() the storage of a message that a send left empty."""
    if len(_pool) < POOL_MAX:
        _pool.append(msg)


class Message:
    """A ZeroMQ message frame. ``Message(data)`` copies ``data`` once;
    ``Message(data, copy=False)`` lends ``data`` to libzmq (do not mutate it meanwhile).

    A Message may be handed from one thread to another, but not used from two at once:
    each operation that touches the ``zmq_msg_t`` claims the Message for its duration,
    and one that finds it claimed raises LifecycleError instead of racing on memory that
    the other may be freeing, sending or handing back to the pool."""

    # _size: the content's size, known without a call; -1 when closed, or when the raw
    # handle went out (a raw call may change the content).
    # _spent: a send left the zmq_msg_t empty, with nothing for close() to free.
    # _claim: [True] while no operation is in progress. An operation pops it and appends
    # it back when done: list.pop and append are atomic, with or without a GIL, so of
    # two threads only one gets it, and the other finds the list empty. close() keeps
    # it, so a closed Message's claim stays empty. On PyPy, close() instead puts
    # NEVER_OPEN in its place and passes the claim on to a later Message (see
    # RECYCLES_CLAIMS); a thread that took the old claim from a closed Message then sees
    # that it is no longer the Message's, and gives it back (see _hold).
    __slots__ = ("_msg", "_closed", "_viewed", "_exposed", "_size", "_spent", "_claim",
                 "__weakref__")

    def __init__(self, data: Any = b"", copy: bool = True) -> None:
        self._closed = True  # until initialised: __del__ must not close garbage
        self._claim = NEVER_OPEN
        self._viewed = None
        self._exposed = False  # handle given out: its storage never goes back to the pool
        self._spent = False
        msg = new_msg()
        if not copy:
            size = lend(msg, data)
        else:
            # bytes as they are, another buffer through a cffi view released at once:
            # on PyPy, ffi.from_buffer pins the object until a major collection
            src = data if type(data) is bytes else bytes_like(data)
            size = len(src)
            try:
                if lib.zmqffi_msg_init_copy(msg, src, size) != 0:
                    raise_errno(f"zmq_msg_init_size({size})")
            finally:
                if src is not data:
                    ffi.release(src)
        self._msg = msg
        self._size = size
        self._closed = False
        self._claim = new_claim() if RECYCLES_CLAIMS else [True]

    @classmethod
    def _empty(cls) -> Message:
        """A fresh empty message, for receiving into (its _size set by the caller).
        Until the creating thread hands it out, no other can reach it: it writes _msg
        and _size without a claim."""
        self = cls.__new__(cls)
        self._size = -1
        self._viewed = None
        self._exposed = False
        self._spent = False
        self._msg = new_msg()
        self._closed = False
        self._claim = new_claim() if RECYCLES_CLAIMS else [True]
        return self

    # --- lifecycle -------------------------------------------------------------------

    def _in_use(self, what: str) -> LifecycleError:
        here = threading.current_thread()
        return LifecycleError(
            0, f"{what} from thread {here.name!r} (ident {here.ident}): the Message is "
               "in use by another thread at the same time. A Message may be handed from "
               "one thread to another, but not used from two at once")

    def _hold(self, what: str) -> list[bool] | None:
        """Take the claim for ``what``: the claim, or None if the Message is closed.
        Another thread holding it is a LifecycleError."""
        claim = self._claim
        try:
            claim.pop()
        except IndexError:
            if self._closed:
                return None
            raise self._in_use(what) from None
        if self._claim is not claim:  # closed since we read it, the claim passed on
            claim.append(True)
            return None
        return claim

    def _take(self, what: str) -> Any:
        """Claim the open Message for ``what``; its zmq_msg_t. The caller gives the
        claim back with ``self._claim.append(True)``."""
        if self._hold(what) is None:
            raise ClosedError(EFAULT, f"{what}: the Message is closed")
        return self._msg

    def _claimed(self, what: str, fn: Any, *args: Any) -> Any:
        """``fn(zmq_msg_t, *args)`` with the Message claimed."""
        msg = self._take(what)
        try:
            return fn(msg, *args)
        finally:
            self._claim.append(True)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release the message. Idempotent. Views from ``buffer`` stay valid."""
        if self._closed:
            return
        claim = self._claim  # _hold("close"), inline: close() is a hot path
        try:
            claim.pop()
        except IndexError:
            if self._closed:  # closed by another thread since the check above
                return
            raise self._in_use("close") from None
        if self._claim is not claim:  # (the same)
            claim.append(True)
            return
        try:
            self._size = -1
            if self._viewed is not None:  # the views' owner closes it with the last view
                self._viewed = None
            elif self._exposed:  # a raw pointer to it may outlive the Message: no reuse
                lib.zmq_msg_close(self._msg)
            elif self._spent:
                release_spent(self._msg)
            else:
                release_msg(self._msg)
        finally:  # last: until then, another thread's call was concurrent, not after
            self._closed = True
        if RECYCLES_CLAIMS and len(_claims) < POOL_MAX:
            self._claim = NEVER_OPEN
            claim.append(True)  # no longer this Message's: the next one may have it
            _claims.append(claim)

    def __enter__(self) -> Message:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:  # free even where warnings are errors (-W error::ResourceWarning)
                warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=1,
                              source=self)
            finally:
                self.close()

    def __repr__(self) -> str:
        if self._closed:
            return "<zmqffi.Message closed>"
        return f"<zmqffi.Message {len(self)} bytes{' more' if self.more else ''}>"

    # --- content ---------------------------------------------------------------------

    def __len__(self) -> int:
        size = self._size  # (one read: nothing to claim)
        if size < 0:  # closed (raises), or not known without asking libzmq
            size = self._claimed("len", lib.zmq_msg_size)
        return size

    @property
    def bytes(self) -> bytes:
        """A copy of the content."""
        content: bytes = self._claimed("bytes", copy_content, self)
        return content

    @property
    def buffer(self) -> memoryview:
        """A read-only view of the content, without a copy, valid while referenced."""
        msg = self._take("buffer")
        try:
            size = self._size
            if size < 0:
                size = lib.zmq_msg_size(msg)
            if self._viewed is None:
                data = lib.zmq_msg_data(msg)
                if COLLECTS_VIEWS:
                    address = int(ffi.cast("uintptr_t", data))
                    lent_bytes = lent_bytes_at(address, size)
                    if lent_bytes is not None:
                        return memoryview(lent_bytes)  # this process's own bytes
                    collect_views(address, size)
                # Hand the zmq_msg_t to an owner object that closes it when collected;
                # every view keeps the owner alive through the ffi.buffer it wraps.
                self._viewed = ffi.gc(ffi.cast("char *", data),
                                      lambda _data, msg=msg: _close_msg(msg))
            return memoryview(ffi.buffer(self._viewed, size)).toreadonly()
        finally:
            self._claim.append(True)

    @property
    def more(self) -> bool:
        """True when more frames of the same multipart message follow."""
        return bool(self._claimed("more", lib.zmq_msg_more))

    def get(self, property: int) -> int:
        int_arg(property, "Message.get() property")
        value: int = self._claimed("Message.get()", lib.zmq_msg_get, property)
        if value < 0:
            raise_errno(f"Message.get({property})")
        return value

    def gets(self, name: str) -> str:
        """A metadata property of a received message (e.g. "Peer-Address", "User-Id")."""
        if not isinstance(name, str):
            raise TypeError(f"property name must be str, not {type(name).__name__}")
        # copied while claimed: the metadata lives as long as the content
        text: bytes | None = self._claimed("Message.gets()", metadata, name.encode())
        if text is None:
            raise_errno(f"Message.gets({name!r})")
        return text.decode("utf-8", "replace")

    @property
    def handle(self) -> Any:
        """The raw ``zmq_msg_t *`` for ``zmqffi.lib`` calls (the caller's to keep to
        one thread at a time: raw calls are not claimed)."""
        return self._claimed("handle", self._expose)

    def _expose(self, msg: Any) -> Any:
        self._exposed = True
        self._size = -1
        return msg

    def _send(self, cstate: Any, flags: int) -> int:
        """zmq_msg_send this message on a socket's ``zmqffi_socket`` (libzmq empties
        what it sends); like the C helper, return 0, or -1 with errno set, or
        ZMQFFI_NOT_OWNER, the content then left in place. Claimed for the whole send,
        a blocking one included.

        If views of the content exist, libzmq must not take their memory: send a copy
        (sharing libzmq's reference-counted content) and, once sent, give this Message
        a fresh empty zmq_msg_t, so it looks sent and the views stay valid.
        """
        msg = self._take("send")
        try:
            if self._viewed is None:
                rc: int = lib.zmqffi_msg_send(cstate, msg, flags)
            else:
                rc = self._send_viewed(cstate, msg, flags)
            if rc == 0:  # libzmq left the zmq_msg_t empty
                self._spent = True
                if not self._exposed:
                    self._size = 0
        finally:
            self._claim.append(True)
        return rc

    def _send_viewed(self, cstate: Any, msg: Any, flags: int) -> int:
        """_send's path when views exist (the caller holds the claim)."""
        int_arg(flags, "send() flags")  # before the copy, which a bad one would leak
        out = new_msg()
        lib.zmq_msg_copy(out, msg)
        rc: int = lib.zmqffi_msg_send(cstate, out, flags)
        if rc:
            errnum = ffi.errno
            release_msg(out)
            ffi.errno = errnum
            return rc
        release_spent(out)
        self._viewed = None
        self._msg = new_msg()
        return rc

    def _shared(self) -> Message:
        """A new Message sharing this one's content (libzmq counts the references):
        what draft.DgramSocket sends in its place."""
        out = Message._empty()
        self._claimed("send", lambda msg: lib.zmq_msg_copy(out._msg, msg))
        return out

    def _sent_through_copy(self) -> None:
        """Leave this Message as _send() leaves a sent one, after _shared()'s copy was
        sent. A Message closed meanwhile stays closed."""
        claim = self._hold("send")
        if claim is None:
            return
        try:
            if self._viewed is not None:  # its zmq_msg_t belongs to the views' owner
                self._viewed = None
                self._msg = new_msg()
            else:
                lib.zmqffi_msg_reset(self._msg)  # the content goes, the storage stays
            self._spent = True
            if not self._exposed:
                self._size = 0
        finally:
            claim.append(True)


# the claim of a Message not (yet) initialised, or closed and its claim passed on
NEVER_OPEN: list[bool] = []
# On PyPy every Message outlives a minor collection (it has a __del__), and so does
# what it holds: a claim made for each Message cost a quarter of recv_msg's time there.
# On CPython making one costs less than passing it on.
RECYCLES_CLAIMS = sys.implementation.name == "pypy"
_claims: list[list[bool]] = []  # claims that closed Messages passed on


def new_claim() -> list[bool]:
    try:
        return _claims.pop()
    except IndexError:
        return [True]


def copy_content(msg: Any, message: Message) -> bytes:
    """The content of ``message`` (whose ``zmq_msg_t`` is ``msg``) as bytes; called with
    the Message claimed, so its size is read under the claim too."""
    size = message._size
    if size < 0:
        size = lib.zmq_msg_size(msg)
    content: bytes = ffi.unpack(ffi.cast("char *", lib.zmq_msg_data(msg)), size)
    return content


def metadata(msg: Any, name: bytes) -> bytes | None:
    """A copy of the metadata property ``name`` of ``msg``; None when it fails (errno)."""
    value = lib.zmq_msg_gets(msg, name)
    if value == ffi.NULL:
        return None
    text: bytes = ffi.string(value)
    return text
