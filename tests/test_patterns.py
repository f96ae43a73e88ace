"""The standard socket pairs end to end, over tcp loopback, ipc and inproc (the
``endpoint`` fixture): PUSH/PULL, REQ/REP, PUB/SUB, DEALER/ROUTER, PAIR, XPUB/XSUB."""

from __future__ import annotations

import errno
import time

import pytest

import zmqffi
from conftest import TIMEOUT_MS, bind_connect, close, make, readable, subscribe_and_sync
from zmqffi import Context, Socket


def drain_probes(sub: Socket, until: bytes) -> bytes:
    """Skip the probes still in flight; return the first real message."""
    while True:
        data = sub.recv()
        if not data.endswith(b" probe"):
            assert data == until
            return data


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
