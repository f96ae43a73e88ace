"""The raw layer, used as a C program would: only lib.zmq_* calls and ffi."""

from __future__ import annotations

import errno

import pytest

from zmqffi import ffi, lib


@pytest.fixture
def raw_ctx():
    ctx = lib.zmq_ctx_new()
    assert ctx != ffi.NULL
    yield ctx
    assert lib.zmq_ctx_term(ctx) == 0


def check(rc):
    assert rc != -1, ffi.string(lib.zmq_strerror(lib.zmq_errno())).decode()
    return rc


def set_int(sock, option, value):
    check(lib.zmq_setsockopt(sock, option, ffi.new("int *", value), ffi.sizeof("int")))


def bound_endpoint(sock, endpoint):
    check(lib.zmq_bind(sock, endpoint))
    buf = ffi.new("char[256]")
    size = ffi.new("size_t *", 256)
    check(lib.zmq_getsockopt(sock, lib.ZMQ_LAST_ENDPOINT, buf, size))
    return ffi.string(buf)


@pytest.mark.parametrize("endpoint", [b"inproc://raw-pipeline", b"tcp://127.0.0.1:*"])
def test_push_pull_with_zmq_msg_t_and_zmq_poll(raw_ctx, endpoint):
    pull = lib.zmq_socket(raw_ctx, lib.ZMQ_PULL)
    push = lib.zmq_socket(raw_ctx, lib.ZMQ_PUSH)
    connect_to = bound_endpoint(pull, endpoint)
    check(lib.zmq_connect(push, connect_to))

    msg = ffi.new("zmq_msg_t *")
    check(lib.zmq_msg_init_size(msg, 5))
    ffi.memmove(lib.zmq_msg_data(msg), b"hello", 5)
    assert lib.zmq_msg_send(msg, push, 0) == 5
    check(lib.zmq_msg_close(msg))

    items = ffi.new("zmq_pollitem_t[1]")
    items[0].socket = pull
    items[0].events = lib.ZMQ_POLLIN
    assert lib.zmq_poll(items, 1, 5000) == 1
    assert items[0].revents & lib.ZMQ_POLLIN

    received = ffi.new("zmq_msg_t *")
    check(lib.zmq_msg_init(received))
    assert lib.zmq_msg_recv(received, pull, 0) == 5
    assert ffi.buffer(lib.zmq_msg_data(received), lib.zmq_msg_size(received))[:] == b"hello"
    assert lib.zmq_msg_more(received) == 0
    check(lib.zmq_msg_close(received))

    # nothing more: a non-blocking receive fails with EAGAIN, and zmq_strerror says so
    buf = ffi.new("char[8]")
    assert lib.zmq_recv(pull, buf, 8, lib.ZMQ_DONTWAIT) == -1
    assert lib.zmq_errno() == errno.EAGAIN
    assert ffi.string(lib.zmq_strerror(lib.zmq_errno())) == b"Resource temporarily unavailable"

    for sock in (push, pull):
        set_int(sock, lib.ZMQ_LINGER, 0)
        check(lib.zmq_close(sock))


@pytest.mark.parametrize("endpoint", [b"inproc://raw-reqrep", b"tcp://127.0.0.1:*"])
def test_req_rep(raw_ctx, endpoint):
    rep = lib.zmq_socket(raw_ctx, lib.ZMQ_REP)
    req = lib.zmq_socket(raw_ctx, lib.ZMQ_REQ)
    check(lib.zmq_connect(req, bound_endpoint(rep, endpoint)))
    set_int(rep, lib.ZMQ_RCVTIMEO, 5000)
    set_int(req, lib.ZMQ_RCVTIMEO, 5000)
    buf = ffi.new("char[16]")
    for i in range(3):
        request = b"ping %d" % i
        assert lib.zmq_send(req, request, len(request), 0) == len(request)
        n = lib.zmq_recv(rep, buf, 16, 0)
        assert ffi.buffer(buf, n)[:] == request
        assert lib.zmq_send(rep, b"pong", 4, 0) == 4
        assert lib.zmq_recv(req, buf, 16, 0) == 4
        assert ffi.buffer(buf, 4)[:] == b"pong"
    # REQ may not send twice in a row: EFSM, a libzmq errno
    assert lib.zmq_send(req, b"x", 1, 0) == 1
    assert lib.zmq_send(req, b"x", 1, 0) == -1
    assert lib.zmq_errno() == lib.EFSM
    assert b"state" in ffi.string(lib.zmq_strerror(lib.EFSM))
    for sock in (req, rep):
        set_int(sock, lib.ZMQ_LINGER, 0)
        check(lib.zmq_close(sock))


def test_failing_calls_set_errno(raw_ctx):
    sock = lib.zmq_socket(raw_ctx, lib.ZMQ_PUSH)
    assert lib.zmq_bind(sock, b"nonsense://where") == -1
    assert lib.zmq_errno() == lib.EPROTONOSUPPORT
    assert lib.zmq_socket(raw_ctx, 12345) == ffi.NULL
    assert lib.zmq_errno() == errno.EINVAL
    check(lib.zmq_close(sock))


def test_z85_and_curve_keys_raw():
    public, secret = ffi.new("char[41]"), ffi.new("char[41]")
    check(lib.zmq_curve_keypair(public, secret))
    derived = ffi.new("char[41]")
    check(lib.zmq_curve_public(derived, secret))
    assert ffi.string(derived) == ffi.string(public)
    decoded = ffi.new("uint8_t[32]")
    assert lib.zmq_z85_decode(decoded, public) != ffi.NULL
    encoded = ffi.new("char[41]")
    assert lib.zmq_z85_encode(encoded, decoded, 32) != ffi.NULL
    assert ffi.string(encoded) == ffi.string(public)
