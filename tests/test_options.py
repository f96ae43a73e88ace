"""Socket options with their real C types (int, int64, uint64, bytes, str): each
round-trips, is range- and type-checked, and an unknown or misused option is named in
the error."""

from __future__ import annotations

import errno
from typing import Any

import pytest

import zmqffi
from zmqffi import Context, Socket, ZMQError


# --- C types --------------------------------------------------------------------------

@pytest.mark.parametrize("name, value", [
    ("LINGER", 1234), ("SNDHWM", 7), ("RCVHWM", 0), ("RCVTIMEO", -1),
    ("TCP_KEEPALIVE", 1), ("HANDSHAKE_IVL", 2500), ("RECONNECT_IVL", 50),
])
def test_int_options_round_trip(sock: Socket, name: str, value: int) -> None:
    option = getattr(zmqffi, name)
    sock.setsockopt(option, value)
    got = sock.getsockopt(option)
    assert got == value and type(got) is int


def test_read_only_int_options(sock: Socket) -> None:
    assert sock.getsockopt(zmqffi.TYPE) == zmqffi.DEALER == sock.type
    assert sock.getsockopt(zmqffi.RCVMORE) == 0
    assert sock.getsockopt(zmqffi.FD) >= 0
    assert sock.getsockopt(zmqffi.EVENTS) & zmqffi.POLLOUT == 0  # no peer yet


def test_int64_maxmsgsize(sock: Socket) -> None:
    assert sock.getsockopt(zmqffi.MAXMSGSIZE) == -1  # the default: no limit
    sock.setsockopt(zmqffi.MAXMSGSIZE, 2**40)  # does not fit a C int
    assert sock.getsockopt(zmqffi.MAXMSGSIZE) == 2**40
    with pytest.raises(ValueError, match="MAXMSGSIZE"):
        sock.setsockopt(zmqffi.MAXMSGSIZE, 2**63)


def test_uint64_affinity(sock: Socket) -> None:
    sock.setsockopt(zmqffi.AFFINITY, 2**63 + 1)  # does not fit an int64
    assert sock.getsockopt(zmqffi.AFFINITY) == 2**63 + 1
    with pytest.raises(ValueError, match="AFFINITY"):
        sock.setsockopt(zmqffi.AFFINITY, -1)


def test_int_option_out_of_range(sock: Socket) -> None:
    with pytest.raises(ValueError, match="LINGER"):
        sock.setsockopt(zmqffi.LINGER, 2**40)


def test_maxmsgsize_is_enforced(ctx: Context) -> None:
    pull = ctx.socket(zmqffi.PULL)
    pull.setsockopt(zmqffi.MAXMSGSIZE, 100)
    pull.bind("tcp://127.0.0.1:*")
    push = ctx.socket(zmqffi.PUSH)
    push.setsockopt(zmqffi.LINGER, 0)
    push.connect(pull.last_endpoint)
    push.send(b"x" * 1000)
    poller = zmqffi.Poller()
    poller.register(pull)
    assert poller.poll(200) == []  # the oversized message closed the connection
    push.close()
    pull.close()


def test_bytes_routing_id(sock: Socket) -> None:
    routing_id = b"\x00\xff binary id"
    sock.setsockopt(zmqffi.ROUTING_ID, routing_id)
    assert sock.getsockopt(zmqffi.ROUTING_ID) == routing_id
    sock.setsockopt(zmqffi.ROUTING_ID, bytearray(b"from a bytearray"))
    assert sock.getsockopt(zmqffi.ROUTING_ID) == b"from a bytearray"
    with pytest.raises(TypeError, match="ROUTING_ID"):
        sock.setsockopt(zmqffi.ROUTING_ID, "text")


def test_bytes_subscribe(ctx: Context) -> None:
    sub = ctx.socket(zmqffi.SUB)
    sub.setsockopt(zmqffi.SUBSCRIBE, b"topic")
    sub.setsockopt(zmqffi.SUBSCRIBE, memoryview(b"other"))
    sub.setsockopt(zmqffi.UNSUBSCRIBE, b"topic")
    with pytest.raises(TypeError, match="SUBSCRIBE"):
        sub.setsockopt(zmqffi.SUBSCRIBE, "text")
    with pytest.raises(ZMQError) as info:  # write-only in libzmq
        sub.getsockopt(zmqffi.SUBSCRIBE)
    assert info.value.errno == errno.EINVAL and "SUBSCRIBE" in str(info.value)
    sub.close()


@pytest.mark.parametrize("name", ["ZAP_DOMAIN", "PLAIN_USERNAME", "PLAIN_PASSWORD",
                                  "SOCKS_PROXY"])
def test_str_options_accept_str_or_bytes_and_read_back_str(sock: Socket,
                                                           name: str) -> None:
    option = getattr(zmqffi, name)
    sock.setsockopt(option, "värde")
    assert sock.getsockopt(option) == "värde"
    sock.setsockopt(option, b"bytes-value")
    assert sock.getsockopt(option) == "bytes-value"
    with pytest.raises(TypeError, match=name):
        sock.setsockopt(option, 5)


def test_str_last_endpoint(sock: Socket) -> None:
    assert sock.getsockopt(zmqffi.LAST_ENDPOINT) == ""
    sock.bind("tcp://127.0.0.1:*")
    endpoint = sock.getsockopt(zmqffi.LAST_ENDPOINT)
    assert isinstance(endpoint, str) and endpoint == sock.last_endpoint
    assert endpoint.startswith("tcp://127.0.0.1:")


# --- wrong types and unknown options --------------------------------------------------

@pytest.mark.parametrize("option, bad", [
    ("LINGER", "0"), ("LINGER", 1.5), ("LINGER", True), ("LINGER", None),
    ("MAXMSGSIZE", b"1"), ("AFFINITY", 1.0),
])
def test_wrong_value_type_is_a_type_error_naming_the_option(sock: Socket, option: str,
                                                            bad: Any) -> None:
    with pytest.raises(TypeError, match=option):
        sock.setsockopt(getattr(zmqffi, option), bad)


def test_option_must_be_an_int(sock: Socket) -> None:
    with pytest.raises(TypeError, match="option"):
        sock.setsockopt("LINGER", 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sock.getsockopt(None)  # type: ignore[arg-type]


def test_unknown_option_is_einval_naming_it(sock: Socket) -> None:
    for call in (lambda: sock.setsockopt(98765, 1), lambda: sock.getsockopt(98765)):
        with pytest.raises(ZMQError) as info:
            call()
        assert type(info.value) is ZMQError
        assert info.value.errno == errno.EINVAL
        assert "98765" in str(info.value)
        assert info.value.strerror and info.value.strerror in str(info.value)


def test_set_and_get_are_aliases(sock: Socket) -> None:
    sock.set(zmqffi.SNDHWM, 3)
    assert sock.get(zmqffi.SNDHWM) == 3
