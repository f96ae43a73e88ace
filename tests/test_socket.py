"""A socket's own calls, whatever its pattern: multipart atomicity, frames of every
size, what send accepts, recv_into, non-blocking calls and timeouts, endpoints, and use
after close."""

from __future__ import annotations

import array
import errno
import time
from typing import Any

import pytest

import zmqffi
from conftest import bind_connect, bound, close, exchange, fails, hot_calls, make, readable
from zmqffi import Context, LifecycleError, Message, Socket


# --- multipart ------------------------------------------------------------------------

def test_multipart_is_atomic(ctx: Context, endpoint: str) -> None:
    pull, push = bind_connect(ctx, endpoint, zmqffi.PULL, zmqffi.PUSH)
    push.send(b"first", zmqffi.SNDMORE)
    push.send(b"", zmqffi.SNDMORE)
    # nothing of a message is delivered before its last frame is sent
    assert not readable(pull, 100)
    with pytest.raises(zmqffi.Again):
        pull.recv(zmqffi.DONTWAIT)
    push.send(b"last")
    assert pull.recv_multipart() == [b"first", b"", b"last"]
    with Message(b"b") as msg:
        push.send_multipart([b"a", msg, bytearray(b"c"), memoryview(b"d")])
    assert pull.recv_multipart() == [b"a", b"b", b"c", b"d"]
    close(push, pull)


def test_send_multipart_refuses_bad_frames_before_sending_any(ctx: Context) -> None:
    pull, push = bind_connect(ctx, "inproc://bad-frames", zmqffi.PULL, zmqffi.PUSH)
    with pytest.raises(TypeError, match="frame 1"):
        push.send_multipart([b"good", "bad"])
    with pytest.raises(ValueError):
        push.send_multipart([])
    closed = Message(b"closed")
    closed.close()
    with pytest.raises(zmqffi.LifecycleError, match="frame 1") as info:
        push.send_multipart([b"good", closed])
    assert info.value.errno == errno.EFAULT
    push.send(b"next message")
    # had "good" gone out with SNDMORE, it would be glued to this one
    assert pull.recv_multipart() == [b"next message"]
    close(push, pull)


def test_large_multipart_frames(ctx: Context, endpoint: str) -> None:
    pull, push = bind_connect(ctx, endpoint, zmqffi.PULL, zmqffi.PUSH)
    frames = [bytes([i]) * (100_000 + i) for i in range(4)]  # above ZERO_COPY_MIN
    push.send_multipart(frames)
    assert pull.recv_multipart() == frames
    close(push, pull)


def test_every_frame_size_around_the_one_call_limit_arrives_intact(ctx: Context,
                                                                    endpoint: str) -> None:
    # recv() copies frames up to SMALL bytes out in its one C call and takes larger ones
    # from the socket's held message: both sides of that limit, alone and in multipart
    # messages whose frames alternate between the two ways, and a large frame last
    from zmqffi.socket import SMALL, ZERO_COPY_MIN
    sizes = [0, 1, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL, ZERO_COPY_MIN + 1]
    frames = [bytes([n % 251]) * n for n in sizes]
    pull = make(ctx, zmqffi.PULL)
    push = make(ctx, zmqffi.PUSH)
    push.connect(bound(pull, endpoint))
    for frame in frames:
        push.send(frame)
        assert pull.recv() == frame
    push.send_multipart(frames[::-1])
    assert pull.recv_multipart() == frames[::-1]
    push.send_multipart(frames)
    assert pull.recv_multipart() == frames
    push.close()
    pull.close()


# --- what send accepts ----------------------------------------------------------------

@pytest.mark.parametrize("make_data", [
    bytes, bytearray, memoryview, lambda b: Message(b), lambda b: array.array("B", b),
    lambda b: memoryview(b"xx" + b)[2:],
], ids=["bytes", "bytearray", "memoryview", "Message", "array", "memoryview-slice"])
@pytest.mark.parametrize("size", [0, 5, 100_000])
def test_send_accepts_bytes_like_and_messages(ctx: Context, make_data: Any,
                                              size: int) -> None:
    pull, push = bind_connect(ctx, "inproc://send-types", zmqffi.PULL, zmqffi.PUSH)
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    data = make_data(payload)
    push.send(data)
    if isinstance(data, Message):
        data.close()
    assert pull.recv() == payload
    close(push, pull)


@pytest.mark.parametrize("copy", [True, False, None])
def test_send_copy_modes(ctx: Context, endpoint: str, copy: Any) -> None:
    pull, push = bind_connect(ctx, endpoint, zmqffi.PULL, zmqffi.PUSH)
    for payload in (b"small", bytes(200_000)):
        push.send(payload, copy=copy)
        assert pull.recv() == payload
    close(push, pull)


@pytest.mark.parametrize("bad", ["text", 42, None, 3.5])
def test_send_of_a_non_buffer_is_a_type_error(ctx: Context, bad: Any) -> None:
    push = make(ctx, zmqffi.PUSH)
    with pytest.raises(TypeError, match="bytes-like"):
        push.send(bad)
    push.close()


def test_send_of_str_says_to_encode(ctx: Context) -> None:
    push = make(ctx, zmqffi.PUSH)
    with pytest.raises(TypeError, match=r"encode"):
        push.send("text")
    push.close()


# --- recv_into ------------------------------------------------------------------------

def test_recv_into_truncates_and_returns_the_full_size(ctx: Context,
                                                       endpoint: str) -> None:
    pull, push = bind_connect(ctx, endpoint, zmqffi.PULL, zmqffi.PUSH)
    push.send(b"0123456789" * 10)
    small = bytearray(10)
    assert pull.recv_into(small) == 100
    assert small == b"0123456789"
    push.send(b"short")
    big = bytearray(b"?" * 20)
    assert pull.recv_into(memoryview(big)) == 5
    assert big == b"short" + b"?" * 15
    push.send(b"abcd")
    arr = array.array("B", bytes(8))
    assert pull.recv_into(arr) == 4 and arr.tobytes()[:4] == b"abcd"
    close(push, pull)


def test_recv_into_returns_the_full_size_past_int_max(ctx: Context) -> None:
    # zmq_recv's int result stops at INT_MAX; the frame's full size must not. The frame
    # is lent over inproc (never copied) and made by bytes(n), whose zero pages are
    # never touched: cheap in time and memory although its size is over 2 GiB.
    size = 2 ** 31 + 5
    pull, push = bind_connect(ctx, "inproc://past-int-max", zmqffi.PULL, zmqffi.PUSH)
    push.send(bytes(size), copy=False)
    head = bytearray(b"?" * 8)
    assert pull.recv_into(head) == size
    assert head == bytes(8)
    close(push, pull)


@pytest.mark.parametrize("read_only", [b"0123", memoryview(bytearray(4)).toreadonly()],
                         ids=["bytes", "readonly-memoryview"])
def test_recv_into_a_read_only_buffer_is_a_type_error(ctx: Context,
                                                      read_only: Any) -> None:
    pull = make(ctx, zmqffi.PULL)
    with pytest.raises(TypeError, match="writable"):
        pull.recv_into(read_only)
    pull.close()


# --- non-blocking calls and timeouts --------------------------------------------------

def test_dontwait_on_an_empty_socket_is_again(ctx: Context) -> None:
    pull = make(ctx, zmqffi.PULL)
    pull.bind("inproc://dontwait")
    for call in (pull.recv, pull.recv_multipart, pull.recv_msg,
                 lambda flags: pull.recv_into(bytearray(4), flags)):
        with pytest.raises(zmqffi.Again) as info:
            call(zmqffi.DONTWAIT)
        assert info.value.errno == errno.EAGAIN
        assert "PULL socket inproc://dontwait" in str(info.value)
    push = make(ctx, zmqffi.PUSH)  # no peer: nowhere to queue the message
    with pytest.raises(zmqffi.Again):
        push.send(b"x", zmqffi.DONTWAIT)
    close(push, pull)


def test_rcvtimeo_is_again_after_the_timeout(ctx: Context) -> None:
    pull = make(ctx, zmqffi.PULL, RCVTIMEO=100)
    pull.bind("inproc://rcvtimeo")
    started = time.monotonic()
    with pytest.raises(zmqffi.Again):
        pull.recv()
    elapsed = time.monotonic() - started
    assert 0.08 <= elapsed < 2.0
    pull.close()


def test_sndtimeo_is_again_without_a_peer(ctx: Context) -> None:
    push = make(ctx, zmqffi.PUSH, SNDTIMEO=100)
    started = time.monotonic()
    with pytest.raises(zmqffi.Again):
        push.send(b"x")
    assert 0.08 <= time.monotonic() - started < 2.0
    push.close()


# --- endpoints ------------------------------------------------------------------------

def test_wildcard_port_and_unbind(ctx: Context) -> None:
    sock = make(ctx, zmqffi.PULL)
    sock.bind("tcp://127.0.0.1:*")
    endpoint = sock.last_endpoint
    assert endpoint.startswith("tcp://127.0.0.1:") and not endpoint.endswith("*")
    assert int(endpoint.rsplit(":", 1)[1]) > 0
    assert endpoint in repr(sock)
    sock.unbind(endpoint)
    with pytest.raises(zmqffi.ZMQError) as info:
        sock.unbind(endpoint)
    assert endpoint in str(info.value)
    sock.close()


def test_connect_and_disconnect(ctx: Context, endpoint: str) -> None:
    pull, push = bind_connect(ctx, endpoint, zmqffi.PULL, zmqffi.PUSH)
    push.send(b"before")
    assert pull.recv() == b"before"
    push.disconnect(pull.last_endpoint)
    with pytest.raises(zmqffi.Again):
        push.send(b"after", zmqffi.DONTWAIT)  # no peer left
    close(push, pull)


# --- use after close ------------------------------------------------------------------

def test_use_of_a_closed_socket_raises_enotsock(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.PUSH)
    sock.bind("inproc://closed-socket")
    sock.close()
    calls = {
        **hot_calls(sock),
        "bind": lambda: sock.bind("inproc://other"),
        "setsockopt": lambda: sock.setsockopt(zmqffi.LINGER, 0),
        "getsockopt": lambda: sock.getsockopt(zmqffi.LINGER),
        "handle": lambda: sock.handle,
    }
    for name, call in calls.items():
        with pytest.raises(LifecycleError) as info:
            call()
        assert info.value.errno == errno.ENOTSOCK, name
        assert "PUSH socket" in str(info.value) and "closed" in str(info.value), name
    with pytest.raises(LifecycleError):  # adopt() cannot revive it either
        sock.adopt()


def test_every_call_on_a_closed_socket_says_it_is_closed(ctx: Context,
                                                         pair: tuple[Socket, Socket]
                                                         ) -> None:
    closed = ctx.socket(zmqffi.DEALER)
    closed.connect("tcp://127.0.0.1:1")
    closed.close()
    calls = {
        "send": lambda: closed.send(b"x"), "recv": lambda: closed.recv(),
        "recv ": lambda: closed.recv_multipart(),  # its first recv() says it
        "recv_msg": lambda: closed.recv_msg(),
        "recv_into": lambda: closed.recv_into(bytearray(4)),
        "bind": lambda: closed.bind("inproc://closed"),
        "connect": lambda: closed.connect("inproc://closed"),
        "setsockopt": lambda: closed.setsockopt(zmqffi.LINGER, 0),
        "getsockopt": lambda: closed.getsockopt(zmqffi.LINGER),
        "monitor": lambda: closed.monitor(None), "handle": lambda: closed.handle,
        "adopt": lambda: closed.adopt(),
    }
    for name, call in calls.items():
        fails(call, LifecycleError, name.strip(), "closed", "DEALER",
              errnum=errno.ENOTSOCK)
    poller = zmqffi.Poller()
    poller.register(closed)
    fails(lambda: poller.poll(0), LifecycleError, "closed", errnum=errno.ENOTSOCK)
    closed.close()  # idempotent
    exchange(*pair)
