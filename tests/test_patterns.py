"""The standard socket pairs over tcp loopback, ipc and inproc (the ``endpoint``
fixture), multipart atomicity, what send accepts, recv_into, non-blocking calls,
timeouts and the high-water mark."""

from __future__ import annotations

import array
import errno
import time
from typing import Any

import pytest

import zmqffi
from conftest import bound, make
from zmqffi import Context, Message, Socket

TIMEOUT_MS = 5000  # every blocking call in these tests gives up after this




def bind_connect(ctx: Context, endpoint: str, server_kind: int, client_kind: int,
                 server: dict[str, Any] | None = None,
                 client: dict[str, Any] | None = None) -> tuple[Socket, Socket]:
    bound = make(ctx, server_kind, **(server or {}))
    bound.bind(endpoint)
    peer = make(ctx, client_kind, **(client or {}))
    peer.connect(bound.last_endpoint)
    return bound, peer


def close(*sockets: Socket) -> None:
    for sock in sockets:
        sock.close()


def readable(sock: Socket, timeout_ms: int) -> bool:
    poller = zmqffi.Poller()
    poller.register(sock, zmqffi.POLLIN)
    return bool(poller.poll(timeout_ms))


def subscribe_and_sync(pub: Socket, sub: Socket, topic: bytes) -> None:
    """Subscribe, then publish probes until one arrives: subscriptions travel to the
    publisher asynchronously, and what is published before that is dropped."""
    sub.setsockopt(zmqffi.SUBSCRIBE, topic)
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        pub.send(topic + b" probe")
        if readable(sub, 20):
            assert sub.recv() == topic + b" probe"
            return
    pytest.fail(f"subscription {topic!r} never reached the publisher")


def drain_probes(sub: Socket, until: bytes) -> bytes:
    """Skip the probes still in flight; return the first real message."""
    while True:
        data = sub.recv()
        if not data.endswith(b" probe"):
            assert data == until
            return data


# --- the standard pairs ---------------------------------------------------------------

def test_push_pull(ctx: Context, endpoint: str) -> None:
    pull, push = bind_connect(ctx, endpoint, zmqffi.PULL, zmqffi.PUSH)
    for i in range(100):
        push.send(b"%d" % i)
    assert [pull.recv() for _ in range(100)] == [b"%d" % i for i in range(100)]
    close(push, pull)


def test_push_round_robins_between_pullers(ctx: Context, endpoint: str) -> None:
    push = make(ctx, zmqffi.PUSH)
    push.bind(endpoint)
    pulls = [make(ctx, zmqffi.PULL) for _ in range(2)]
    for pull in pulls:
        pull.connect(push.last_endpoint)
    # the second peer may attach a little later: keep sending until both got work
    received = [0, 0]
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not all(received) and time.monotonic() < deadline:
        push.send(b"work")
        for i, pull in enumerate(pulls):
            while readable(pull, 1):
                assert pull.recv() == b"work"
                received[i] += 1
    assert all(received), f"round robin reached only {received}"
    close(push, *pulls)


def test_req_rep(ctx: Context, endpoint: str) -> None:
    rep, req = bind_connect(ctx, endpoint, zmqffi.REP, zmqffi.REQ)
    for i in range(10):
        req.send(b"question %d" % i)
        assert rep.recv() == b"question %d" % i
        rep.send(b"answer %d" % i)
        assert req.recv() == b"answer %d" % i
    close(req, rep)


def test_req_out_of_turn_is_efsm_naming_the_socket(ctx: Context) -> None:
    rep, req = bind_connect(ctx, "inproc://efsm", zmqffi.REP, zmqffi.REQ)
    req.send(b"first")
    with pytest.raises(zmqffi.ZMQError) as info:
        req.send(b"second before the reply")
    assert info.value.errno == zmqffi.EFSM
    assert "send on REQ socket inproc://efsm" in str(info.value)
    with pytest.raises(zmqffi.ZMQError) as info:
        rep.send(b"reply before the request was read")
    assert info.value.errno == zmqffi.EFSM
    close(req, rep)


def test_pub_sub_delivers_only_subscribed_topics(ctx: Context, endpoint: str) -> None:
    pub, sub = bind_connect(ctx, endpoint, zmqffi.PUB, zmqffi.SUB)
    subscribe_and_sync(pub, sub, b"weather")
    for data in [b"sports 1", b"weather 2", b"sports 3", b"weather 4", b"news 5"]:
        pub.send(data)
    assert drain_probes(sub, b"weather 2") == b"weather 2"
    assert sub.recv() == b"weather 4"
    assert not readable(sub, 50)  # sports and news were filtered out

    # unsubscribe one topic, subscribe another: the change travels asynchronously too
    sub.setsockopt(zmqffi.UNSUBSCRIBE, b"weather")
    subscribe_and_sync(pub, sub, b"news")
    pub.send(b"weather 6")
    pub.send(b"news 7")
    assert drain_probes(sub, b"news 7") == b"news 7"
    close(pub, sub)


def test_sub_with_empty_subscription_gets_everything(ctx: Context, endpoint: str) -> None:
    pub, sub = bind_connect(ctx, endpoint, zmqffi.PUB, zmqffi.SUB)
    subscribe_and_sync(pub, sub, b"")
    pub.send(b"anything")
    assert drain_probes(sub, b"anything") == b"anything"
    close(pub, sub)


def test_dealer_router_routing_ids(ctx: Context, endpoint: str) -> None:
    router = make(ctx, zmqffi.ROUTER, ROUTER_MANDATORY=1)
    router.bind(endpoint)
    dealers = {}
    for name in (b"alice", b"bob"):
        dealer = make(ctx, zmqffi.DEALER, ROUTING_ID=name)
        dealer.connect(router.last_endpoint)
        dealers[name] = dealer
    for name, dealer in dealers.items():
        dealer.send_multipart([b"", b"hello from " + name])
    seen = {}
    for _ in dealers:
        routing_id, empty, body = router.recv_multipart()
        assert empty == b""
        seen[routing_id] = body
    assert seen == {name: b"hello from " + name for name in dealers}
    # replies go to the peer the routing id names
    for name in (b"bob", b"alice"):
        router.send_multipart([name, b"", b"reply to " + name])
    for name, dealer in dealers.items():
        assert dealer.recv_multipart() == [b"", b"reply to " + name]
    # ROUTER_MANDATORY: an unknown routing id is an error, not a silent drop
    with pytest.raises(zmqffi.ZMQError) as info:
        router.send_multipart([b"nobody", b"", b"lost"])
    assert info.value.errno == errno.EHOSTUNREACH
    close(router, *dealers.values())


def test_pair(ctx: Context, endpoint: str) -> None:
    a, b = bind_connect(ctx, endpoint, zmqffi.PAIR, zmqffi.PAIR)
    a.send(b"ping")
    assert b.recv() == b"ping"
    b.send(b"pong")
    assert a.recv() == b"pong"
    close(a, b)


def test_xpub_xsub(ctx: Context, endpoint: str) -> None:
    xpub, xsub = bind_connect(ctx, endpoint, zmqffi.XPUB, zmqffi.XSUB)
    xsub.send(b"\x01topic")  # a subscription is a message on XSUB
    assert xpub.recv() == b"\x01topic"  # and XPUB sees it: no probing needed
    xpub.send(b"topic data")
    xpub.send(b"other data")
    assert xsub.recv() == b"topic data"
    assert not readable(xsub, 50)
    xsub.send(b"\x00topic")
    assert xpub.recv() == b"\x00topic"
    close(xpub, xsub)


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


# --- recv_into and recv_msg -----------------------------------------------------------

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


@pytest.mark.parametrize("read_only", [b"0123", memoryview(bytearray(4)).toreadonly()],
                         ids=["bytes", "readonly-memoryview"])
def test_recv_into_a_read_only_buffer_is_a_type_error(ctx: Context,
                                                      read_only: Any) -> None:
    pull = make(ctx, zmqffi.PULL)
    with pytest.raises(TypeError, match="writable"):
        pull.recv_into(read_only)
    pull.close()


def test_recv_msg_keeps_frame_flags(ctx: Context, endpoint: str) -> None:
    pull, push = bind_connect(ctx, endpoint, zmqffi.PULL, zmqffi.PUSH)
    push.send_multipart([b"one", b"two"])
    first, second = pull.recv_msg(), pull.recv_msg()
    assert (first.bytes, first.more, second.bytes, second.more) == \
        (b"one", True, b"two", False)
    first.close()
    second.close()
    close(push, pull)


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


# --- the high-water mark --------------------------------------------------------------

SMALL_BUFFERS = {"SNDBUF": 4096, "RCVBUF": 4096}  # keep the kernel's queue short (tcp)


def fill(sock: Socket, payload: bytes, limit: int = 200_000) -> int:
    """Send with DONTWAIT until the socket stays unwritable for 100 ms; return the
    number of messages sent. (The I/O thread may still be moving messages into the
    kernel right after the first Again.)"""
    sent = 0
    while sent < limit:
        try:
            sock.send(payload, zmqffi.DONTWAIT)
            sent += 1
        except zmqffi.Again:
            poller = zmqffi.Poller()
            poller.register(sock, zmqffi.POLLOUT)
            if not poller.poll(100):
                return sent
    pytest.fail(f"no high-water mark reached after {limit} messages")


def test_push_blocks_at_the_high_water_mark(ctx: Context, endpoint: str) -> None:
    pull, push = bind_connect(ctx, endpoint, zmqffi.PULL, zmqffi.PUSH,
                              server={"RCVHWM": 10, **SMALL_BUFFERS},
                              client={"SNDHWM": 10, "SNDTIMEO": 100, **SMALL_BUFFERS})
    # wait for the connection: PUSH also blocks while it has no peer at all
    push.send(b"hello")
    assert pull.recv() == b"hello"
    payload = b"p" * 1000
    sent = fill(push, payload)
    assert sent >= 10
    # a blocking send now waits SNDTIMEO and gives up (over tcp, the kernel may still
    # take a message now and then, so allow a few to go through first)
    for _ in range(20):
        started = time.monotonic()
        try:
            push.send(payload)
        except zmqffi.Again:
            assert time.monotonic() - started >= 0.08
            break
        sent += 1
    else:
        pytest.fail("a blocking send at the high-water mark never timed out")
    # PUSH never drops: every message sent is received, then sending works again
    for _ in range(sent):
        assert pull.recv() == payload
    push.setsockopt(zmqffi.SNDTIMEO, TIMEOUT_MS)
    push.send(b"after")
    assert pull.recv() == b"after"
    close(push, pull)


def test_pub_drops_at_the_high_water_mark(ctx: Context, endpoint: str) -> None:
    pub, sub = bind_connect(ctx, endpoint, zmqffi.PUB, zmqffi.SUB,
                            server={"SNDHWM": 10, **SMALL_BUFFERS},
                            client={"RCVHWM": 10, **SMALL_BUFFERS})
    subscribe_and_sync(pub, sub, b"")
    total = 5000
    payload = b"d" * 1000
    started = time.monotonic()
    for i in range(total):
        pub.send(b"%06d" % i + payload, zmqffi.DONTWAIT)  # never Again: PUB drops
    assert time.monotonic() - started < 5.0
    received = []
    while readable(sub, 200):
        data = sub.recv()
        if not data.endswith(b" probe"):
            received.append(int(data[:6]))
    assert 0 < len(received) < total, "a PUB at its high-water mark must drop"
    assert received == sorted(received)  # what is kept stays in order
    if endpoint.startswith("inproc://"):
        # no I/O thread drains an inproc pipe meanwhile: the first messages are kept, up
        # to both sides' HWM, and every later one is dropped
        assert len(received) <= 40 and received == list(range(len(received)))
    with pytest.raises(zmqffi.ZMQError) as info:  # and a SUB cannot send
        sub.send(b"x")
    assert info.value.errno == errno.ENOTSUP
    close(pub, sub)


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


class InterruptedOnce(Message):
    """A frame whose first send is interrupted, as Ctrl-C between two frames would be."""

    __slots__ = ("interrupted",)

    def _send(self, sock: Any, flags: int) -> int:
        if not getattr(self, "interrupted", False):
            self.interrupted = True
            raise KeyboardInterrupt
        return super()._send(sock, flags)


def test_send_multipart_interrupted_part_way_still_sends_the_whole_message(
        ctx: Context, endpoint: str) -> None:
    pull = make(ctx, zmqffi.PULL)
    push = make(ctx, zmqffi.PUSH)
    push.connect(bound(pull, endpoint))
    middle = InterruptedOnce(b"middle")
    with pytest.raises(KeyboardInterrupt):
        push.send_multipart([b"first", middle, b"last"])
    push.send(b"next")  # its own message, not a fourth frame of the interrupted one
    assert pull.recv_multipart() == [b"first", b"middle", b"last"]
    assert pull.recv_multipart() == [b"next"]
    middle.close()
    # interrupted before anything went out: nothing is sent
    first = InterruptedOnce(b"first")
    with pytest.raises(KeyboardInterrupt):
        push.send_multipart([first, b"second"])
    push.send(b"after")
    assert pull.recv_multipart() == [b"after"]
    first.close()
    push.close()
    pull.close()


class RecvInterruptedAt(Socket):
    """A socket whose recv() number ``at`` is interrupted, as Ctrl-C in recv_multipart
    would be: just after the frame came in, or just ``before`` it is received."""

    __slots__ = ("calls", "at", "before")

    def recv(self, flags: int = 0) -> bytes:
        self.calls += 1
        if self.before and self.calls == self.at:
            raise KeyboardInterrupt
        frame = super().recv(flags)
        if not self.before and self.calls == self.at:
            raise KeyboardInterrupt
        return frame


@pytest.mark.parametrize("at", [1, 2, 3])
def test_recv_multipart_interrupted_part_way_leaves_the_socket_at_a_message_boundary(
        ctx: Context, endpoint: str, at: int) -> None:
    pull = RecvInterruptedAt(ctx, zmqffi.PULL)
    pull.setsockopt(zmqffi.LINGER, 0)
    pull.setsockopt(zmqffi.RCVTIMEO, 5000)
    pull.calls, pull.at, pull.before = 0, at, False
    push = make(ctx, zmqffi.PUSH)
    push.connect(bound(pull, endpoint))
    big = bytes(range(256)) * 40  # larger than recv()'s one-call copy: the held path
    push.send_multipart([b"first", big, b"last"])
    push.send_multipart([b"next", b"message"])
    with pytest.raises(KeyboardInterrupt):
        pull.recv_multipart()  # the interrupted message is dropped, all of it
    assert pull.recv_multipart() == [b"next", b"message"]
    # interrupted before its first frame, after a message whose last frame came
    # through recv_msg (the socket's reused message still says "more"): nothing dropped
    push.send_multipart([b"one", b"two"])
    assert pull.recv() == b"one"
    with pull.recv_msg() as two:
        assert two.bytes == b"two"
    push.send_multipart([b"three", b"four"])
    pull.calls, pull.at, pull.before = 0, 1, True
    with pytest.raises(KeyboardInterrupt):
        pull.recv_multipart()
    assert pull.recv_multipart() == [b"three", b"four"]
    push.close()
    pull.close()
