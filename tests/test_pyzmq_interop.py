"""zmqffi and pyzmq (an independent binding with its own libzmq) in one process,
talking over tcp loopback: each side has its own context, and neither may disturb the
other's libzmq."""

from __future__ import annotations

import os
from typing import Any
from collections.abc import Iterator

import pytest

import zmqffi
from conftest import TIMEOUT_MS
from conftest import make as zmqffi_socket
from zmqffi import Context

zmq = pytest.importorskip("zmq")

SIZES = [0, 1, 255, 256, 65_536, 1_000_000]  # around zmqffi's copy thresholds, to 1 MB


@pytest.fixture
def zctx() -> Iterator[Any]:
    """pyzmq's own context (not zmqffi's: one per binding)."""
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def payload(size: int) -> bytes:
    return os.urandom(size)


def pyzmq_socket(zctx: Any, kind: int, **options: Any) -> Any:
    sock = zctx.socket(kind)
    sock.linger = 0
    sock.rcvtimeo = sock.sndtimeo = TIMEOUT_MS
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name), value)
    return sock




@pytest.mark.parametrize("zmqffi_binds", [True, False], ids=["zmqffi-binds",
                                                              "pyzmq-binds"])
def test_push_pull_both_ways(ctx: Context, zctx: Any, zmqffi_binds: bool) -> None:
    if zmqffi_binds:
        ours = zmqffi_socket(ctx, zmqffi.PULL)
        ours.bind("tcp://127.0.0.1:*")
        theirs = pyzmq_socket(zctx, zmq.PUSH)
        theirs.connect(ours.last_endpoint)
    else:
        theirs = pyzmq_socket(zctx, zmq.PULL)
        theirs.bind("tcp://127.0.0.1:*")
        ours = zmqffi_socket(ctx, zmqffi.PUSH)
        ours.connect(theirs.last_endpoint.decode())
    for size in SIZES:
        data = payload(size)
        if zmqffi_binds:
            theirs.send(data)
            assert ours.recv() == data
        else:
            ours.send(data)
            assert theirs.recv() == data
    ours.close()
    theirs.close()


def test_req_rep_zmqffi_serves_pyzmq(ctx: Context, zctx: Any) -> None:
    rep = zmqffi_socket(ctx, zmqffi.REP)
    rep.bind("tcp://127.0.0.1:*")
    req = pyzmq_socket(zctx, zmq.REQ)
    req.connect(rep.last_endpoint)
    for size in SIZES:
        data = payload(size)
        req.send(data)
        assert rep.recv() == data
        rep.send(data[::-1])
        assert req.recv() == data[::-1]
    req.close()
    rep.close()


def test_req_rep_pyzmq_serves_zmqffi(ctx: Context, zctx: Any) -> None:
    rep = pyzmq_socket(zctx, zmq.REP)
    rep.bind("tcp://127.0.0.1:*")
    req = zmqffi_socket(ctx, zmqffi.REQ)
    req.connect(rep.last_endpoint.decode())
    for size in SIZES:
        data = payload(size)
        with zmqffi.Message(data) as msg:
            req.send(msg)
        assert rep.recv() == data
        rep.send(data[::-1])
        with req.recv_msg() as reply:
            assert reply.bytes == data[::-1]
    req.close()
    rep.close()


def test_pub_sub_both_ways(ctx: Context, zctx: Any) -> None:
    # zmqffi publishes to a pyzmq subscriber; pyzmq publishes to a zmqffi subscriber.
    # XPUB tells each publisher when the subscription has arrived: no probing needed.
    ours_pub = zmqffi_socket(ctx, zmqffi.XPUB)
    ours_pub.bind("tcp://127.0.0.1:*")
    theirs_sub = pyzmq_socket(zctx, zmq.SUB)
    theirs_sub.connect(ours_pub.last_endpoint)
    theirs_sub.setsockopt(zmq.SUBSCRIBE, b"t")
    assert ours_pub.recv() == b"\x01t"

    theirs_pub = pyzmq_socket(zctx, zmq.XPUB)
    theirs_pub.bind("tcp://127.0.0.1:*")
    ours_sub = zmqffi_socket(ctx, zmqffi.SUB)
    ours_sub.connect(theirs_pub.last_endpoint.decode())
    ours_sub.setsockopt(zmqffi.SUBSCRIBE, b"t")
    assert theirs_pub.recv() == b"\x01t"

    for size in SIZES:
        data = b"t" + payload(size)
        ours_pub.send(b"x-filtered")
        ours_pub.send(data)
        assert theirs_sub.recv() == data
        theirs_pub.send(b"x-filtered")
        theirs_pub.send(data)
        assert ours_sub.recv() == data
    for sock in (ours_pub, ours_sub, theirs_pub, theirs_sub):
        sock.close()


def test_dealer_router_multipart_both_ways(ctx: Context, zctx: Any) -> None:
    router = zmqffi_socket(ctx, zmqffi.ROUTER)
    router.bind("tcp://127.0.0.1:*")
    dealer = pyzmq_socket(zctx, zmq.DEALER, ROUTING_ID=b"py-dealer")
    dealer.connect(router.last_endpoint)

    their_router = pyzmq_socket(zctx, zmq.ROUTER)
    their_router.bind("tcp://127.0.0.1:*")
    our_dealer = zmqffi_socket(ctx, zmqffi.DEALER, ROUTING_ID=b"ffi-dealer")
    our_dealer.connect(their_router.last_endpoint.decode())

    for size in SIZES:
        frames = [b"", payload(size), payload(size // 2)]
        dealer.send_multipart(frames)
        assert router.recv_multipart() == [b"py-dealer", *frames]
        router.send_multipart([b"py-dealer", *frames[::-1]])
        assert dealer.recv_multipart() == frames[::-1]

        our_dealer.send_multipart(frames)
        assert their_router.recv_multipart() == [b"ffi-dealer", *frames]
        their_router.send_multipart([b"ffi-dealer", *frames[::-1]])
        assert our_dealer.recv_multipart() == frames[::-1]
    for sock in (router, dealer, their_router, our_dealer):
        sock.close()


def test_curve_between_the_bindings(ctx: Context, zctx: Any) -> None:
    server_public, server_secret = zmqffi.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    server = zmqffi_socket(ctx, zmqffi.PULL, CURVE_SERVER=1, CURVE_SECRETKEY=server_secret)
    server.bind("tcp://127.0.0.1:*")
    client = pyzmq_socket(zctx, zmq.PUSH, CURVE_SERVERKEY=server_public,
                          CURVE_PUBLICKEY=client_public, CURVE_SECRETKEY=client_secret)
    client.connect(server.last_endpoint)
    data = payload(1000)
    client.send(data)
    assert server.recv() == data
    client.close()
    server.close()
