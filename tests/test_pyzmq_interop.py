"""zmqffi and pyzmq (an independent binding with its own libzmq) in one process,
talking over tcp loopback: each side has its own context, and neither may disturb the
other's libzmq."""

from __future__ import annotations

import errno
import json
import os
import re
import zlib
from typing import Any
from collections.abc import Iterator

import pytest

import zmqffi
from conftest import SLOW_WAIT, TIMEOUT_MS
from conftest import make as zmqffi_socket
from zmqffi import Context, build_info, sockopts
from zmqffi.options import TABLE

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


# --- pyzmq's conveniences: byte for byte, and pyzmq in another process ----------------

JSON_CASES: list[tuple[Any, dict[str, Any]]] = [
    ({"a": [1, 2.5, None, True, "☃"]}, {}),
    (["é", {"nested": {}}], {"ensure_ascii": False}),
    ({"b": 1, "a": "ü"}, {"sort_keys": True, "separators": (",", ":")}),
    ("just a string", {"indent": 2}),
    (12345678901234567890, {}),
]
TEXT_CASES = [("héllo wörld", "utf-8"), ("héllo wörld", "latin-1"), ("€uro", "cp1252"),
              ("☃ 雪", "utf-16"), ("日本語", "shift_jis"), ("𝄞 clef", "utf-32"), ("", "utf-8")]

PYZMQ_PEER = """
import json, sys, zlib
import zmq

json_cases, text_cases = json.loads(sys.argv[2]), json.loads(sys.argv[3])


def serialize(obj):
    return [b"json", zlib.compress(json.dumps(obj).encode())]


ctx = zmq.Context()
s = ctx.socket(zmq.PAIR)
s.linger = 0
s.rcvtimeo = s.sndtimeo = 20000
s.connect(sys.argv[1])
print("ready", flush=True)
while True:
    op, index = s.recv_multipart()
    if op == b"stop":
        break
    if op.endswith(b"_string"):
        text, encoding = text_cases[int(index)]
    else:
        obj, kwargs = json_cases[int(index)]
    if op == b"send_json":  # twice: read as bytes, then with recv_json
        s.send_json(obj, **kwargs)
        s.send_json(obj, **kwargs)
    elif op == b"recv_json":  # what pyzmq's recv_json made of it, as Python source
        s.send(repr(s.recv_json()).encode())
    elif op == b"send_string":
        s.send_string(text, encoding=encoding)
        s.send_string(text, encoding=encoding)
    elif op == b"recv_string":
        s.send(repr(s.recv_string(encoding=encoding)).encode())
    elif op == b"send_serialized":
        s.send_serialized(obj, serialize)
        s.send_serialized(obj, serialize)
    elif op == b"recv_serialized":  # the frames back as they came, and what they said
        frames = s.recv_serialized(lambda frames: frames)
        s.send_multipart(frames + [repr(json.loads(zlib.decompress(frames[1]))).encode()])
s.close()
ctx.term()
print("done", flush=True)
"""


def serialize(obj: Any) -> list[bytes]:
    return [b"json", zlib.compress(json.dumps(obj).encode())]


def deserialize(frames: list[bytes]) -> Any:
    assert frames[0] == b"json"
    return json.loads(zlib.decompress(frames[1]))


def test_conveniences_with_pyzmq_in_another_process(ctx: Context, spawn: Any) -> None:
    ours = zmqffi_socket(ctx, zmqffi.PAIR, RCVTIMEO=20_000, SNDTIMEO=20_000)
    ours.bind("tcp://127.0.0.1:*")
    # what zmqffi sends, for comparing what pyzmq sends byte for byte
    local_pull = zmqffi_socket(ctx, zmqffi.PULL)
    local_pull.bind("inproc://interop-conveniences")
    local_push = zmqffi_socket(ctx, zmqffi.PUSH)
    local_push.connect("inproc://interop-conveniences")
    peer = spawn(PYZMQ_PEER, ours.last_endpoint, json.dumps(JSON_CASES),
                 json.dumps(TEXT_CASES))
    try:
        peer.expect("ready")
        for i, (obj, kwargs) in enumerate(JSON_CASES):
            index = str(i).encode()
            ours.send_multipart([b"send_json", index])
            local_push.send_json(obj, **kwargs)
            assert ours.recv() == local_pull.recv() == json.dumps(obj, **kwargs).encode()
            assert ours.recv_json() == obj
            ours.send_multipart([b"recv_json", index])
            ours.send_json(obj, **kwargs)
            assert ours.recv() == repr(json.loads(json.dumps(obj, **kwargs))).encode()

            ours.send_multipart([b"send_serialized", index])
            local_push.send_serialized(obj, serialize)
            assert ours.recv_multipart() == local_pull.recv_multipart() == serialize(obj)
            assert ours.recv_serialized(deserialize) == obj
            ours.send_multipart([b"recv_serialized", index])
            ours.send_serialized(obj, serialize)
            assert ours.recv_multipart() == [*serialize(obj), repr(obj).encode()]
        for i, (text, encoding) in enumerate(TEXT_CASES):
            index = str(i).encode()
            ours.send_multipart([b"send_string", index])
            local_push.send_string(text, encoding=encoding)
            assert ours.recv() == local_pull.recv() == text.encode(encoding)
            assert ours.recv_string(encoding=encoding) == text
            ours.send_multipart([b"recv_string", index])
            ours.send_string(text, encoding=encoding)
            assert ours.recv() == repr(text).encode()
        ours.send_multipart([b"stop", b"0"])
        peer.expect("done")
        assert peer.proc.wait(SLOW_WAIT) == 0
    finally:
        for sock in (ours, local_pull, local_push):
            sock.close()


# Options whose attribute reads differently in pyzmq, by the contract (API.md, Socket):
# zmqffi reads libzmq's character strings as str, pyzmq as bytes; and pyzmq cannot read
# a CURVE key (it asks with a 255-byte buffer; libzmq answers only for 32 or 41), where
# zmqffi reads it as Z85 bytes.
STRING_OPTIONS = {name.lower() for name, kind in TABLE.items() if kind == "str"}
KEY_OPTIONS = {name.lower() for name, kind in TABLE.items() if kind == "key"}
ATTRIBUTE_SAMPLES = {"int": 1, "int64_t": 1, "uint64_t": 1, "bytes": b"sample",
                     "str": b"sample", "key": zmqffi.curve_keypair()[0]}


def draft_options() -> set[str]:
    """The attribute names of the options in zmq.h's draft section: a draft build of
    zmqffi has them, a pyzmq built without drafts refuses them."""
    sections = re.findall(r"#ifdef ZMQ_BUILD_DRAFT_API(.*?)#endif", build_info["zmq_h"],
                          re.S)
    return {name.lower() for section in sections
            for name in re.findall(r"#define ZMQ_(\w+)", section)}


def attribute_outcome(sock: Any, name: str, *assigned: Any) -> tuple[Any, ...]:
    """Reading (or assigning) attribute ``name``: ("value", type, value) or ("error",
    errno or exception type). pyzmq says AttributeError for what libzmq refuses to read
    (EINVAL), where zmqffi says ZMQError(EINVAL), as getsockopt: both are EINVAL here."""
    try:
        if assigned:
            setattr(sock, name, *assigned)
            return ("assigned",)
        value = getattr(sock, name)
    except (zmq.ZMQError, zmqffi.ZMQError) as exc:
        return ("error", exc.errno)
    except AttributeError as exc:
        assert "write-only" in str(exc), exc  # pyzmq's EINVAL
        return ("error", errno.EINVAL)
    except TypeError:
        return ("error", TypeError)
    if callable(value):  # subscribe, unsubscribe: pyzmq's methods
        return ("callable",)
    if name == "fd":  # two sockets, two file descriptors
        return ("value", type(value))
    return ("value", type(value), value)


def as_pyzmq_reads(ours: tuple[Any, ...], name: str) -> tuple[Any, ...]:
    if name in STRING_OPTIONS and ours[0] == "value":
        return ("value", bytes, ours[2].encode())
    if name in KEY_OPTIONS and ours[0] == "value":
        return ("error", errno.EINVAL)
    return ours


@pytest.mark.parametrize("kind", ["PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER",
                                  "PULL", "PUSH", "XPUB", "XSUB", "STREAM"])
def test_option_attributes_read_back_as_pyzmq_reads_them(ctx: Context, zctx: Any,
                                                         kind: str) -> None:
    has_gssapi = zmqffi.has("gssapi")
    ours, theirs = ctx.socket(getattr(zmqffi, kind)), zctx.socket(getattr(zmq, kind))
    names = sorted(name for name, option in sockopts.ATTRIBUTES.items()
                   if option.number is not None  # (not a draft option in a stable build)
                   and name.upper() in zmq.SocketOption.__members__
                   and (zmq.has("draft") or name not in draft_options())
                   # (the system's libzmq may have GSSAPI where pyzmq's has not)
                   and (not name.startswith("gssapi") or zmq.has("gssapi") == has_gssapi))
    try:
        assert {"linger", "routing_id", "subscribe", "last_endpoint", "curve_publickey",
                "identity", "hwm"} <= set(names)
        for name in names:  # as made, then with a value assigned to both
            assert as_pyzmq_reads(attribute_outcome(ours, name), name) == \
                attribute_outcome(theirs, name), name
            sample = ATTRIBUTE_SAMPLES[TABLE[sockopts.ATTRIBUTES[name].name]]
            assert attribute_outcome(ours, name, sample) == \
                attribute_outcome(theirs, name, sample), name
            assert as_pyzmq_reads(attribute_outcome(ours, name), name) == \
                attribute_outcome(theirs, name), name
    finally:
        ours.close()
        theirs.close()
