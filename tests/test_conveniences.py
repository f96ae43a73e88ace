"""pyzmq's conveniences on Socket: send/recv_string, _json and _serialized over every
transport, poll(), setsockopt/getsockopt_string, and every socket option as an attribute
(reading is getsockopt, assigning setsockopt, with the same types and errors). What
pyzmq itself makes of them, on the other end of a connection: test_pyzmq_interop.py; pyzmq
programs run unchanged on zmqffi: test_pyzmq_programs.py."""

from __future__ import annotations

import asyncio
import errno
import json
import pickle
from functools import partial
from typing import Any

import pytest

import zmqffi
from conftest import TIMEOUT_MS, close, fails, make, pipe
from zmqffi import Again, Context, LifecycleError, ZMQError
from zmqffi import asyncio as zmq_async
from zmqffi import conveniences, sockopts
from zmqffi.constants import SOCKET_TYPE_NAMES, build_info
from zmqffi.options import TABLE

TEXTS = ["", "plain", "héllo wörld", "☃ snow, 雪", "\0inner NUL\0"]
ENCODINGS = ["utf-8", "latin-1", "utf-16", "cp1252"]
OBJECTS: list[Any] = [None, 0, -1.5, "é", [], {}, {"a": [1, 2.5, None, True, "☃"]},
                      [{"nested": {"deep": ["x"] * 3}}]]


def encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


# --- strings, JSON, serialized --------------------------------------------------------

def test_strings_round_trip_in_every_encoding(ctx: Context, endpoint: str) -> None:
    push, pull = pipe(ctx, endpoint)
    try:
        for encoding in ENCODINGS:
            for text in TEXTS:
                if not encodable(text, encoding):
                    continue
                push.send_string(text, encoding=encoding)
                # one frame, the text's bytes in that encoding
                assert pull.recv() == text.encode(encoding)
                push.send_string(text, 0, encoding)
                assert pull.recv_string(0, encoding) == text
        push.send_string("default is utf-8")
        assert pull.recv() == b"default is utf-8"
        push.send_string("café", copy=True)
        assert pull.recv_string() == "café"
    finally:
        close(push, pull)


def test_json_round_trips_as_utf8_json_text(ctx: Context, endpoint: str) -> None:
    push, pull = pipe(ctx, endpoint)
    try:
        for obj in OBJECTS:
            push.send_json(obj)
            assert pull.recv() == json.dumps(obj).encode("utf-8")
            push.send_json(obj)
            assert pull.recv_json() == obj
        # keyword arguments go to json.dumps and json.loads
        push.send_json({"b": 1, "a": "é"}, sort_keys=True, ensure_ascii=False,
                       separators=(",", ":"))
        assert pull.recv() == '{"a":"é","b":1}'.encode()
        push.send_json({"n": 1.5})
        assert pull.recv_json(parse_float=str) == {"n": "1.5"}
    finally:
        close(push, pull)


def test_serialized_is_one_multipart_message(ctx: Context, endpoint: str) -> None:
    push, pull = pipe(ctx, endpoint)
    try:
        def serialize(obj: dict[str, Any]) -> list[bytes]:
            return [b"header", json.dumps(obj).encode(), bytes(len(obj))]

        push.send_serialized({"k": "v"}, serialize)
        assert pull.recv_multipart() == [b"header", b'{"k": "v"}', b"\0"]
        push.send_serialized({"k": "v"}, serialize)
        frames = pull.recv_serialized(lambda frames: frames)
        assert frames == [b"header", b'{"k": "v"}', b"\0"]
        # pickle, for a program that trusts its peer (there is no send_pyobj)
        push.send_serialized({1, 2}, lambda obj: [pickle.dumps(obj)], copy=False)
        assert pull.recv_serialized(lambda frames: pickle.loads(frames[0])) == {1, 2}
        # any sequence of bytes-like frames
        push.send_serialized(3, lambda n: (bytearray(b"x") * n, memoryview(b"y")))
        assert pull.recv_serialized(lambda frames: frames) == [b"xxx", b"y"]
    finally:
        close(push, pull)


def test_flags_reach_the_calls_underneath(ctx: Context) -> None:
    push, pull = pipe(ctx, "inproc://conveniences-flags")
    try:
        for recv in (lambda: pull.recv_string(zmqffi.DONTWAIT),
                     lambda: pull.recv_json(zmqffi.DONTWAIT),
                     lambda: pull.recv_serialized(list, zmqffi.DONTWAIT)):
            with pytest.raises(Again):
                recv()
        push.send_string("first", zmqffi.SNDMORE)
        push.send_json([2], zmqffi.SNDMORE)
        push.send_serialized(None, lambda _: [b"3", b"4"])
        assert pull.recv_multipart() == [b"first", b"[2]", b"3", b"4"]
        push.send_serialized(None, lambda _: [b"a"], zmqffi.SNDMORE)
        push.send(b"b")
        assert pull.recv_serialized(lambda frames: frames) == [b"a", b"b"]
    finally:
        close(push, pull)


def test_bad_input_is_refused_before_anything_is_sent(ctx: Context) -> None:
    push, pull = pipe(ctx, "inproc://conveniences-bad-input")
    try:
        fails(lambda: push.send_string(b"bytes"), TypeError, "send_string()", "bytes")
        fails(lambda: push.send_string(42), TypeError, "send_string()", "int")
        fails(lambda: push.send_string("é", encoding="ascii"), UnicodeEncodeError)
        fails(lambda: push.send_string("x", encoding="no-such-codec"), LookupError)
        fails(lambda: push.send_string("x", flags="0"), TypeError, "flags")
        fails(lambda: push.send_json({"set": {1}}), TypeError, "set")
        fails(lambda: push.send_json([1], no_such_argument=1), TypeError,
              "no_such_argument")
        fails(lambda: push.send_serialized(1, "not callable"), TypeError,
              "send_serialized()", "serialize", "str")
        fails(lambda: push.send_serialized(1, lambda n: b"one frame"), TypeError,
              "send_serialized()", "list of frames", "bytes")
        fails(lambda: push.send_serialized(1, lambda n: [b"ok", n]), TypeError,
              "frame 1", "int")
        fails(lambda: push.send_serialized(1, lambda n: []), ValueError, "at least one")
        push.send(b"still there")
        # a receive that could not hand its message over would lose it: refused first
        fails(lambda: pull.recv_serialized(None), TypeError, "recv_serialized()",
              "deserialize")
        assert pull.recv() == b"still there"  # nothing was sent before, or taken
        push.send(b"\xff not utf-8")
        with pytest.raises(UnicodeDecodeError):  # (received: lost, as with pyzmq)
            pull.recv_string()
        push.send(b"{not json")
        with pytest.raises(ValueError):  # json.JSONDecodeError
            pull.recv_json()
    finally:
        close(push, pull)


def test_no_send_pyobj_and_the_docstring_says_what_to_use() -> None:
    for name in ("send_pyobj", "recv_pyobj"):
        assert not hasattr(zmqffi.Socket, name)
        assert not hasattr(zmq_async.Socket, name)
    assert "send_pyobj" in (conveniences.__doc__ or "")
    assert "send_serialized(obj, lambda o: [pickle.dumps(o)])" in (conveniences.__doc__ or "")


# --- poll -----------------------------------------------------------------------------

def test_poll_says_what_is_ready_or_0_after_the_timeout(ctx: Context, endpoint: str) -> None:
    push, pull = pipe(ctx, endpoint)
    try:
        assert pull.poll(0) == 0
        assert pull.poll(timeout=20) == 0
        assert push.poll(flags=zmqffi.POLLOUT) == zmqffi.POLLOUT  # None: until ready
        push.send_string("x")
        assert pull.poll() == zmqffi.POLLIN
        assert pull.poll(TIMEOUT_MS, zmqffi.POLLIN | zmqffi.POLLOUT) == zmqffi.POLLIN
        assert pull.poll(10.5) == zmqffi.POLLIN  # a float timeout, as Poller takes
        assert pull.recv_string() == "x"
        assert pull.poll(0) == 0
    finally:
        close(push, pull)


def test_poll_refuses_what_cannot_be_waited_for(ctx: Context) -> None:
    sock = make(ctx, zmqffi.PULL)
    fails(lambda: sock.poll("10"), TypeError, "timeout")
    fails(lambda: sock.poll(10, 0), ValueError, "flags", "POLLIN")
    fails(lambda: sock.poll(10, "1"), TypeError, "flags")
    sock.close()
    with pytest.raises(LifecycleError):  # a closed socket
        sock.poll(0)


# --- option attributes ----------------------------------------------------------------

def outcome(call: Any, *args: Any) -> tuple[Any, ...]:
    """What ``call(*args)`` returned (value and type) or raised (type and errno)."""
    try:
        value = call(*args)
    except (ZMQError, TypeError, ValueError, AttributeError) as exc:
        return ("raised", type(exc), getattr(exc, "errno", None))
    return ("returned", type(value), value)


def built(name: str) -> bool:
    return hasattr(zmqffi.lib, "ZMQ_" + name)


ATTRIBUTE_NAMES = sorted(name for name in TABLE
                         if built(name) and name not in ("TYPE", "SUBSCRIBE", "UNSUBSCRIBE"))
SAMPLE_KEY = zmqffi.curve_keypair()[0]
SAMPLES = {"int": 1, "int64_t": 1, "uint64_t": 1, "bytes": b"sample", "str": "sample",
           "key": SAMPLE_KEY}


@pytest.mark.parametrize("kind", sorted(SOCKET_TYPE_NAMES.values()))
def test_reading_an_attribute_is_getsockopt(ctx: Context, kind: str) -> None:
    if kind == "DGRAM":
        pytest.skip("a DGRAM socket needs udp; its options are a plain Socket's")
    sock = ctx.socket(getattr(zmqffi, kind))
    try:
        for name in ATTRIBUTE_NAMES:
            option = getattr(zmqffi, name)
            got = outcome(getattr, sock, name.lower())
            assert got == outcome(sock.getsockopt, option), name
    finally:
        sock.close()


@pytest.mark.parametrize("kind", ["PUB", "SUB", "DEALER", "ROUTER", "XPUB", "STREAM"])
def test_assigning_an_attribute_is_setsockopt(ctx: Context, kind: str) -> None:
    by_attribute = ctx.socket(getattr(zmqffi, kind))
    by_call = ctx.socket(getattr(zmqffi, kind))
    try:
        for name in ATTRIBUTE_NAMES:
            option, sample = getattr(zmqffi, name), SAMPLES[TABLE[name]]
            assigned = outcome(setattr, by_attribute, name.lower(), sample)
            assert assigned == outcome(by_call.setsockopt, option, sample), name
            read_back = outcome(by_attribute.getsockopt, option)
            if name != "FD":  # (two sockets, two file descriptors)
                assert read_back == outcome(by_call.getsockopt, option), name
    finally:
        close(by_attribute, by_call)


def test_the_attributes_of_the_readme(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.DEALER)
    try:
        sock.linger = 0
        assert sock.linger == 0 and type(sock.linger) is int
        sock.sndhwm = 10
        assert sock.sndhwm == sock.getsockopt(zmqffi.SNDHWM) == 10
        sock.routing_id = b"me"
        assert sock.routing_id == b"me" and sock.identity == b"me"
        sock.identity = bytearray(b"again")  # pyzmq's alias of ROUTING_ID
        assert sock.getsockopt(zmqffi.ROUTING_ID) == b"again"
        sock.hwm = 7  # both high-water marks
        assert (sock.sndhwm, sock.rcvhwm, sock.hwm) == (7, 7, 7)
        sock.rcvhwm = 3
        assert sock.hwm == 7  # SNDHWM, as pyzmq reads it
        sock.zap_domain = b"bytes too"  # a string option takes str or bytes
        assert sock.zap_domain == "bytes too"
        sock.bind("tcp://127.0.0.1:*")
        assert sock.last_endpoint.startswith("tcp://127.0.0.1:")
        assert sock.type == zmqffi.DEALER and sock.events == 0  # no peer yet
        assert sock.fd == sock.getsockopt(zmqffi.FD)
        with pytest.raises(ZMQError) as info:  # read-only, as setsockopt says
            sock.events = 0
        assert info.value.errno == errno.EINVAL
    finally:
        sock.close()


def test_wrong_values_are_refused_naming_the_option(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.SUB)
    before = (sock.linger, sock.sndhwm, sock.rcvhwm)
    try:
        fails(lambda: setattr(sock, "linger", "0"), TypeError, "LINGER", "str")
        fails(lambda: setattr(sock, "linger", 1.0), TypeError, "LINGER", "float")
        fails(lambda: setattr(sock, "linger", True), TypeError, "LINGER", "bool")
        fails(lambda: setattr(sock, "linger", 2 ** 40), ValueError, "LINGER", "range")
        fails(lambda: setattr(sock, "routing_id", "text"), TypeError, "ROUTING_ID", "str")
        fails(lambda: setattr(sock, "zap_domain", 5), TypeError, "ZAP_DOMAIN", "int")
        fails(lambda: setattr(sock, "hwm", "1"), TypeError, "SNDHWM")
        fails(lambda: setattr(sock, "subscribe", "t"), TypeError, "SUBSCRIBE", "str")
        fails(lambda: setattr(sock, "curve_serverkey", b"short"), ZMQError,
              "CURVE_SERVERKEY", errnum=errno.EINVAL)
        assert (sock.linger, sock.sndhwm, sock.rcvhwm) == before  # nothing was changed
    finally:
        sock.close()


def test_a_name_that_is_no_option_is_an_attribute_error(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.PUSH)
    try:
        for typo in ("lingr", "LINGER", "snd_hwm", "send_timeout", "ipv6only"):
            with pytest.raises(AttributeError):
                getattr(sock, typo)
            with pytest.raises(AttributeError):  # no new attribute, silently
                setattr(sock, typo, 0)
        assert not hasattr(sock, "__dict__")
    finally:
        sock.close()


def test_draft_options_are_attributes_only_in_a_draft_build(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.ROUTER)
    try:
        if build_info["drafts"]:
            sock.router_notify = zmqffi.NOTIFY_CONNECT
            assert sock.router_notify == zmqffi.NOTIFY_CONNECT
            return
        missing = [name for name in TABLE if not built(name)]
        assert "ROUTER_NOTIFY" in missing
        for name in missing:
            assert not hasattr(sock, name.lower())
            fails(partial(getattr, sock, name.lower()), AttributeError, name, "draft")
            fails(partial(setattr, sock, name.lower(), 1), AttributeError, name, "draft")
    finally:
        sock.close()


def test_subscribe_is_pyzmqs_method_and_an_attribute(ctx: Context) -> None:
    pub = make(ctx, zmqffi.XPUB)
    pub.bind("inproc://conveniences-subscribe")
    sub = make(ctx, zmqffi.SUB)
    sub.connect("inproc://conveniences-subscribe")
    try:
        sub.subscribe(b"a")
        assert pub.recv() == b"\x01a"
        sub.subscribe = b"b"
        assert pub.recv() == b"\x01b"
        sub.unsubscribe(b"a")
        assert pub.recv() == b"\x00a"
        sub.unsubscribe = b"b"
        assert pub.recv() == b"\x00b"
        fails(lambda: sub.subscribe("text"), TypeError, "SUBSCRIBE", "str")
    finally:
        close(pub, sub)


def test_every_option_of_the_table_is_an_attribute() -> None:
    attributes = {name for name in dir(zmqffi.Socket)
                  if isinstance(getattr(zmqffi.Socket, name, None), sockopts.Option)}
    assert attributes == {name.lower() for name in TABLE} - {"type"} | {"identity", "hwm"}
    assert isinstance(zmqffi.Socket.type, property)  # the socket's own record


def test_socket_type_is_readable_once_closed(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.REQ)
    sock.close()
    assert sock.type == zmqffi.REQ
    fails(lambda: sock.linger, LifecycleError, "closed")


# --- setsockopt_string / getsockopt_string --------------------------------------------

def test_string_options_in_any_encoding(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.DEALER)
    try:
        sock.setsockopt_string(zmqffi.ROUTING_ID, "ïd", encoding="latin-1")
        assert sock.routing_id == b"\xefd"
        assert sock.getsockopt_string(zmqffi.ROUTING_ID, "latin-1") == "ïd"
        sock.setsockopt_string(zmqffi.ZAP_DOMAIN, "domaine")
        assert sock.getsockopt_string(zmqffi.ZAP_DOMAIN) == "domaine"
        sock.setsockopt_string(zmqffi.ZAP_DOMAIN, "é", "latin-1")  # not UTF-8
        assert sock.getsockopt_string(zmqffi.ZAP_DOMAIN, "latin-1") == "é"
        sock.set_string(zmqffi.CURVE_SERVERKEY, SAMPLE_KEY.decode())
        assert sock.get_string(zmqffi.CURVE_SERVERKEY) == SAMPLE_KEY.decode()
        fails(lambda: sock.setsockopt_string(zmqffi.LINGER, "0"), TypeError,
              "setsockopt_string(LINGER)", "not a string")
        fails(lambda: sock.getsockopt_string(zmqffi.LINGER), TypeError,
              "getsockopt_string(LINGER)", "not a string")
        fails(lambda: sock.setsockopt_string(zmqffi.ROUTING_ID, b"id"), TypeError,
              "ROUTING_ID", "bytes")
        fails(lambda: sock.setsockopt_string("ROUTING_ID", "id"), TypeError, "option")
    finally:
        sock.close()


# --- async sockets ----------------------------------------------------------------------

def test_async_sockets_have_the_attributes_and_await_the_conveniences(ctx: Context) -> None:
    pull = zmq_async.Socket(ctx, zmqffi.PULL)
    push = zmq_async.Socket(ctx, zmqffi.PUSH)
    pull.linger = push.linger = 0
    pull.bind("inproc://conveniences-async")
    push.connect("inproc://conveniences-async")

    async def main() -> None:
        await push.send_string("é", encoding="latin-1")
        assert await pull.recv_string(encoding="latin-1") == "é"
        await push.send_json({"x": 1})
        assert await pull.recv_json() == {"x": 1}
        await push.send_serialized([b"a", b"b"], list)
        assert await pull.recv_serialized(lambda frames: frames) == [b"a", b"b"]
        pull.rcvtimeo = 20  # honoured as setsockopt is (the async socket keeps it)
        with pytest.raises(Again):
            await pull.recv_json()
        assert await pull.poll(0) == 0

    try:
        asyncio.run(asyncio.wait_for(main(), 20))
    finally:
        close(push, pull)
