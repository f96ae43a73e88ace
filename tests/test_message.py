"""Message: content, copy and zero copy, and memory safety: a view from ``buffer``
outlives close(), send, the socket and the context; a lent buffer arrives intact and is
released once libzmq is done with it; a closed Message is refused."""

from __future__ import annotations

import array
import errno
import gc
import os
import time
import weakref
from typing import Any, Callable

import pytest

import zmqffi
from conftest import close, exchange, fails, pipe
from zmqffi import Context, LifecycleError, Message, Socket
from zmqffi.lending import release_lent


LARGE = 100_000  # above libzmq's in-place size (33 bytes) and zmqffi's ZERO_COPY_MIN


class Lent(bytearray):
    """A bytes-like object that weakref can watch (bytes and bytearray cannot)."""


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)  # polling a condition, bounded by the deadline
    return True


def released(ref: weakref.ref) -> Callable[[], bool]:
    def check() -> bool:
        release_lent()
        gc.collect()
        return ref() is None
    return check


# --- content --------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"x", bytes(range(256)) * 400])
def test_content_length_and_copy(data: bytes) -> None:
    with Message(data) as msg:
        assert len(msg) == len(data)
        assert msg.bytes == data
        assert bytes(msg.buffer) == data
        assert not msg.more
        assert repr(msg) == f"<zmqffi.Message {len(data)} bytes>"
    assert repr(msg) == "<zmqffi.Message closed>"


@pytest.mark.parametrize("make", [bytes, bytearray, memoryview,
                                  lambda b: array.array("B", b)],
                         ids=["bytes", "bytearray", "memoryview", "array"])
def test_message_from_any_bytes_like(make: Callable[[bytes], Any]) -> None:
    with Message(make(b"abc")) as msg:
        assert msg.bytes == b"abc"


@pytest.mark.parametrize("bad", ["text", 42, None, [1, 2]])
def test_message_from_a_non_buffer_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        Message(bad)


def test_str_error_says_to_encode() -> None:
    with pytest.raises(TypeError, match="encode"):
        Message("text")


def test_copy_is_independent_of_the_source() -> None:
    source = bytearray(b"original")
    with Message(source) as msg:
        source[:] = b"changed!"
        assert msg.bytes == b"original"


def test_buffer_is_read_only() -> None:
    with Message(b"abc") as msg:
        view = msg.buffer
        assert view.readonly
        with pytest.raises(TypeError):
            view[0] = 0  # type: ignore[index]
        view.release()


# --- views outlive the message, the socket and the context ----------------------------

@pytest.mark.parametrize("size", [10, LARGE], ids=["in-place", "heap"])
def test_view_outlives_close_socket_and_context(size: int) -> None:
    payload = os.urandom(size)
    ctx = Context()
    push, pull = pipe(ctx, "inproc://views")
    push.send(payload)
    msg = pull.recv_msg()
    view = msg.buffer
    msg.close()
    assert bytes(view) == payload  # after close
    push.close()
    pull.close()
    ctx.term()
    del msg
    gc.collect()
    gc.collect()
    assert bytes(view) == payload  # after the socket and the context are gone
    assert view.tobytes() == payload
    view.release()


def test_view_outlives_the_message_garbage_collected_open() -> None:
    payload = os.urandom(LARGE)
    msg = Message(payload)
    view = msg.buffer
    ref = weakref.ref(msg)
    with pytest.warns(ResourceWarning, match="unclosed <zmqffi.Message"):
        del msg
        for _ in range(3):
            gc.collect()
    assert ref() is None
    assert bytes(view) == payload


def test_send_with_live_views_keeps_them_valid(ctx: Context, endpoint: str) -> None:
    push, pull = pipe(ctx, endpoint)
    payload = os.urandom(LARGE)
    msg = Message(payload)
    view = msg.buffer
    push.send(msg)
    # sent: the Message looks empty and is still open; the view still reads the content
    assert len(msg) == 0 and not msg.closed
    assert bytes(view) == payload
    assert pull.recv() == payload
    msg.close()
    assert bytes(view) == payload
    push.close()
    pull.close()


def test_sent_message_is_empty_and_open(ctx: Context) -> None:
    push, pull = pipe(ctx, "inproc://emptied")
    msg = Message(b"content")
    push.send(msg)
    assert len(msg) == 0 and msg.bytes == b"" and not msg.closed
    assert pull.recv() == b"content"
    msg.close()
    push.close()
    pull.close()


def test_storage_a_send_emptied_is_reused_intact(ctx: Context) -> None:
    # a sent Message's storage goes back to the pool without a call: libzmq left it empty
    push, pull = pipe(ctx, "inproc://spent")
    address = lambda msg: int(zmqffi.ffi.cast("uintptr_t", msg._msg))  # noqa: E731
    for data in (b"first", b"y" * LARGE):
        first = Message(data, copy=len(data) < LARGE)
        push.send(first)
        kept = address(first)
        first.close()
        second = Message(b"second")
        assert address(second) == kept  # taken back from the pool
        push.send(second)
        second.close()
        assert pull.recv() == data and pull.recv() == b"second"
    push.close()
    pull.close()


def test_length_follows_raw_calls_through_the_handle() -> None:
    with Message(b"five!") as msg:
        assert len(msg) == 5
        raw = msg.handle
        zmqffi.lib.zmq_msg_close(raw)
        assert zmqffi.lib.zmq_msg_init_size(raw, 9) == 0
        assert len(msg) == 9


# --- received messages ----------------------------------------------------------------

def test_recv_msg_metadata(ctx: Context) -> None:
    push, pull = pipe(ctx, "tcp://127.0.0.1:*")
    push.send_multipart([b"head", b"tail"])
    with pull.recv_msg() as head, pull.recv_msg() as tail:
        assert head.bytes == b"head" and head.more and head.get(zmqffi.MORE) == 1
        assert tail.bytes == b"tail" and not tail.more
        assert head.gets("Peer-Address") == "127.0.0.1"
        assert head.gets("Socket-Type") == "PUSH"
        with pytest.raises(zmqffi.ZMQError) as info:
            head.gets("No-Such-Property")
        assert info.value.errno == errno.EINVAL
        assert "No-Such-Property" in str(info.value)
        with pytest.raises(TypeError):
            head.gets(b"Peer-Address")  # type: ignore[arg-type]
    push.close()
    pull.close()


def test_recv_msg_keeps_frame_flags(ctx: Context, endpoint: str) -> None:
    push, pull = pipe(ctx, endpoint)
    push.send_multipart([b"one", b"two"])
    first, second = pull.recv_msg(), pull.recv_msg()
    assert (first.bytes, first.more, second.bytes, second.more) == \
        (b"one", True, b"two", False)
    first.close()
    second.close()
    push.close()
    pull.close()


def test_received_message_can_be_forwarded_without_copy(ctx: Context) -> None:
    push, pull = pipe(ctx, "inproc://forward-a")
    push2, pull2 = pipe(ctx, "inproc://forward-b")
    payload = os.urandom(LARGE)
    push.send(payload)
    with pull.recv_msg() as msg:
        push2.send(msg)
    assert pull2.recv() == payload
    for sock in (push, pull, push2, pull2):
        sock.close()


# --- zero copy: Python's memory lent to libzmq ----------------------------------------

def test_lent_message_arrives_intact_and_is_released(ctx: Context, endpoint: str) -> None:
    push, pull = pipe(ctx, endpoint)
    data = Lent(os.urandom(LARGE))
    expected = bytes(data)
    ref = weakref.ref(data)
    msg = Message(data, copy=False)
    del data  # from here, only zmqffi keeps it alive (it must, until libzmq is done)
    gc.collect()
    assert ref() is not None
    push.send(msg)
    msg.close()
    assert pull.recv() == expected
    assert wait_until(released(ref)), "the lent buffer was never released"
    push.close()
    pull.close()


def test_lent_send_of_a_bytearray_arrives_intact_and_is_released(
        ctx: Context, endpoint: str) -> None:
    push, pull = pipe(ctx, endpoint)
    data = Lent(os.urandom(LARGE))
    expected = bytes(data)
    ref = weakref.ref(data)
    push.send(data, copy=False)
    del data
    assert pull.recv() == expected
    assert wait_until(released(ref))
    push.close()
    pull.close()


def test_lent_message_received_with_recv_msg_is_released_after_close(
        ctx: Context) -> None:
    # over inproc the receiver gets libzmq's reference to our very buffer
    push, pull = pipe(ctx, "inproc://lent-recv-msg")
    data = array.array("B", os.urandom(LARGE))
    expected = data.tobytes()
    ref = weakref.ref(data)
    push.send(data, copy=False)
    del data
    received = pull.recv_msg()
    assert received.bytes == expected
    release_lent()
    gc.collect()
    assert ref() is not None, "released while the receiver still reads it"
    received.close()
    assert wait_until(released(ref))
    push.close()
    pull.close()


def test_failed_lent_send_releases_the_buffer(ctx: Context) -> None:
    push = ctx.socket(zmqffi.PUSH)  # no peer: a non-blocking send cannot proceed
    data = Lent(b"z" * LARGE)
    ref = weakref.ref(data)
    with pytest.raises(zmqffi.Again):
        push.send(data, zmqffi.DONTWAIT, copy=False)
    msg = Message(data, copy=False)
    with pytest.raises(zmqffi.Again):
        push.send(msg, zmqffi.DONTWAIT)
    assert len(msg) == LARGE  # a failed send leaves the content in place
    msg.close()
    del data
    assert wait_until(released(ref))
    push.close()


def test_lent_buffers_outlive_context_destroy() -> None:
    ctx = Context()
    push = ctx.socket(zmqffi.PUSH)
    push.connect("tcp://127.0.0.1:9")  # nobody listens: the message stays queued
    data = Lent(os.urandom(LARGE))
    ref = weakref.ref(data)
    push.send(data, copy=False)
    del data
    ctx.destroy(linger=0)  # libzmq drops the queued message, releasing our buffer
    assert wait_until(released(ref))


def test_storage_is_reused_but_never_when_its_handle_was_given_out() -> None:
    # close() keeps a Message's zmq_msg_t for the next one (no allocation per recv_msg),
    # except when its raw pointer went out through .handle: a raw call through a pointer
    # kept after close() must not reach another, live Message
    address = lambda msg: int(zmqffi.ffi.cast("uintptr_t", msg._msg))  # noqa: E731
    plain = Message(b"plain")
    kept = address(plain)
    plain.close()
    reused = Message(b"next")
    assert address(reused) == kept  # taken back from the pool
    reused.close()
    exposed = Message(b"exposed")
    raw = exposed.handle
    assert zmqffi.lib.zmq_msg_size(raw) == 7
    exposed.close()
    later = [Message(b"x" * n) for n in range(8)]
    assert int(zmqffi.ffi.cast("uintptr_t", raw)) not in {address(m) for m in later}
    for m in later:
        m.close()


# --- use after close ------------------------------------------------------------------

def test_use_of_a_closed_message_raises_efault() -> None:
    msg = Message(b"payload")
    msg.close()
    for name, call in {"bytes": lambda: msg.bytes, "buffer": lambda: msg.buffer,
                       "len": lambda: len(msg), "more": lambda: msg.more,
                       "handle": lambda: msg.handle,
                       "get": lambda: msg.get(zmqffi.MORE)}.items():
        with pytest.raises(LifecycleError) as info:
            call()
        assert info.value.errno == errno.EFAULT, name
        assert "Message" in str(info.value), name


def test_sending_a_closed_message_raises(ctx: Context) -> None:
    push, pull = pipe(ctx, "inproc://closed-message")
    msg = Message(b"x")
    msg.close()
    with pytest.raises(LifecycleError) as info:
        push.send(msg)
    assert info.value.errno == errno.EFAULT
    push.close()
    pull.close()


def test_a_closed_message_is_refused_and_the_socket_stays_usable(
        pair: tuple[Socket, Socket]) -> None:
    a, b = pair
    msg = zmqffi.Message(b"gone")
    msg.close()
    fails(lambda: a.send(msg), LifecycleError, "closed", errnum=errno.EFAULT)
    fails(lambda: a.send_multipart([b"head", msg]), LifecycleError, "closed")
    fails(lambda: msg.bytes, LifecycleError, "closed")
    exchange(a, b)  # neither the head frame nor the closed message went out


@pytest.mark.skipif(not zmqffi.lending.COLLECTS_VIEWS,
                    reason="PyPy: only its collector frees dropped views")
def test_dropped_views_are_collected_within_a_budget_that_grows_with_the_heap(
        ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    mib = 1024 * 1024
    module = zmqffi.lending
    monkeypatch.setattr(module, "VIEW_BUDGET", mib)
    monkeypatch.setattr(module, "_view_budget", mib)
    monkeypatch.setattr(module, "_viewed_since_collect", 0)
    push, pull = pipe(ctx, "inproc://view-budget")

    def view_one() -> None:
        push.send(bytearray(mib))  # copied: the view alone holds libzmq's megabyte
        msg = pull.recv_msg()
        view = msg.buffer
        msg.close()
        assert len(view) == mib

    try:
        view_one()  # spends the budget: a collection, and a budget of the heap's size
        assert module._viewed_since_collect == 0
        first_budget = module._view_budget
        assert first_budget >= mib
        # The heap grows by far more than a megabyte: the views collect again once they
        # reach the old budget (memory stays bounded), and the new budget covers the heap.
        heap = [bytearray(100) for _ in range(200_000)]
        for _ in range(first_budget // mib + 1):
            view_one()
            if module._viewed_since_collect == 0:
                break
        assert module._viewed_since_collect == 0
        assert module._view_budget >= first_budget + 8 * mib
        for _ in range(4):  # well within the new budget: no collection
            view_one()
        assert module._viewed_since_collect == 4 * mib
        del heap
    finally:
        close(push, pull)


@pytest.mark.skipif(not zmqffi.lending.COLLECTS_VIEWS,
                    reason="PyPy: a view of libzmq's memory is freed by a collection")
def test_a_view_of_bytes_this_process_lent_is_a_view_of_the_bytes_themselves(
        ctx: Context) -> None:
    push, pull = pipe(ctx, "inproc://lent-view")
    lent = bytes(range(256)) * 1024  # large enough to be lent by send()
    mutable = bytearray(lent)
    try:
        push.send(lent)
        push.send(mutable, copy=False)
        with pull.recv_msg() as first, pull.recv_msg() as second:
            own, zmqs = first.buffer, second.buffer
        # The bytes: a view the collector sees, no finalizer, valid without libzmq.
        assert own.obj is lent and own.readonly and own == lent
        # A mutable buffer (its owner may change it once libzmq lets go): libzmq's
        # memory, through a view that keeps the message alive.
        assert zmqs.obj is not mutable and zmqs.readonly and zmqs == lent
    finally:
        close(push, pull)
    assert bytes(own[:3]) == b"\x00\x01\x02" and bytes(zmqs[-2:]) == b"\xfe\xff"
