"""Socket options with their real C types, the error classes and their messages, the
module-level helpers, CURVE/Z85 and a ZAP handler written with the Pythonic layer."""

from __future__ import annotations

import errno
import threading
from typing import Any, Iterator

import pytest

import zmqffi
from zmqffi import Context, Socket, ZMQError

TIMEOUT_MS = 5000


@pytest.fixture
def sock(ctx: Context) -> Iterator[Socket]:
    s = ctx.socket(zmqffi.DEALER)
    yield s
    s.close()


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


# --- socket types and endpoints -------------------------------------------------------

def test_unknown_socket_type_is_einval(ctx: Context) -> None:
    with pytest.raises(ZMQError) as info:
        ctx.socket(4242)
    assert info.value.errno == errno.EINVAL and "4242" in str(info.value)
    with pytest.raises(TypeError):
        ctx.socket("PUSH")  # type: ignore[arg-type]
    assert not ctx._sockets  # nothing half-made was left behind


@pytest.mark.parametrize("endpoint, code", [
    ("tcp://127.0.0.1:notaport", errno.EINVAL),
    ("bogus://somewhere", errno.EPROTONOSUPPORT),
    ("no scheme at all", errno.EINVAL),
])
def test_bad_endpoint_errors_name_the_endpoint(sock: Socket, endpoint: str,
                                               code: int) -> None:
    for call in (sock.bind, sock.connect):
        with pytest.raises(ZMQError) as info:
            call(endpoint)
        assert info.value.errno == code
        assert repr(endpoint) in str(info.value)
        assert "DEALER socket" in str(info.value)


def test_endpoint_must_be_str(sock: Socket) -> None:
    with pytest.raises(TypeError, match="str"):
        sock.bind(b"tcp://127.0.0.1:*")  # type: ignore[arg-type]


# --- the error classes ----------------------------------------------------------------

def test_error_hierarchy() -> None:
    for cls in (zmqffi.Again, zmqffi.ContextTerminated, zmqffi.LifecycleError):
        assert issubclass(cls, ZMQError)
    assert issubclass(ZMQError, Exception)
    error = ZMQError(errno.EINVAL, "what failed")
    assert error.errno == errno.EINVAL and error.strerror
    assert str(error) == f"what failed: {error.strerror}"


def test_context_terminated_names_the_call(ctx: Context) -> None:
    pull = ctx.socket(zmqffi.PULL)
    pull.bind("inproc://eterm")
    ctx.shutdown()
    with pytest.raises(zmqffi.ContextTerminated) as info:
        pull.recv()
    assert info.value.errno == zmqffi.ETERM
    assert "recv on PULL socket inproc://eterm" in str(info.value)
    pull.close()


# --- module level ---------------------------------------------------------------------

def test_versions_and_capabilities() -> None:
    assert zmqffi.zmq_version() == "4.3.4"
    assert zmqffi.zmq_version_info() == (4, 3, 4)
    assert isinstance(zmqffi.__version__, str) and zmqffi.__version__
    assert zmqffi.has("curve") is True
    assert zmqffi.has("ipc") is True
    assert zmqffi.has("no-such-capability") is False
    with pytest.raises(TypeError):
        zmqffi.has(b"curve")  # type: ignore[arg-type]


def test_constants_match_the_raw_layer() -> None:
    for name in ("PUSH", "PULL", "SNDHWM", "DONTWAIT", "SNDMORE", "POLLIN",
                 "EVENT_CONNECTED", "CURVE_SERVER"):
        assert getattr(zmqffi, name) == getattr(zmqffi.lib, "ZMQ_" + name)
    with pytest.raises(AttributeError):
        zmqffi.NO_SUCH_CONSTANT  # noqa: B018


# --- CURVE and Z85 --------------------------------------------------------------------

def test_z85_round_trip_and_length_rules() -> None:
    raw = bytes(range(32))
    text = zmqffi.z85_encode(raw)
    assert len(text) == 40 and isinstance(text, bytes)
    assert zmqffi.z85_decode(text) == raw
    assert zmqffi.z85_decode(text.decode()) == raw  # str accepted
    assert zmqffi.z85_encode(b"") == b"" and zmqffi.z85_decode(b"") == b""
    with pytest.raises(ValueError, match="multiple of 4"):
        zmqffi.z85_encode(b"abc")
    with pytest.raises(ValueError, match="multiple of 5"):
        zmqffi.z85_decode(b"abcd")
    with pytest.raises(ValueError):
        zmqffi.z85_decode("abc\x7fe")  # not a Z85 character
    # the example of the Z85 specification
    assert zmqffi.z85_encode(bytes.fromhex("864FD26FB559F75B")) == b"HelloWorld"


def test_curve_keypair_and_public() -> None:
    public, secret = zmqffi.curve_keypair()
    assert len(public) == len(secret) == 40
    assert zmqffi.curve_public(secret) == public
    assert zmqffi.curve_public(secret.decode()) == public
    assert zmqffi.curve_keypair() != (public, secret)
    with pytest.raises(ValueError):
        zmqffi.curve_public(b"short")


@pytest.mark.parametrize("form", ["z85-bytes", "z85-str", "raw-32"])
def test_curve_keys_set_in_any_form_read_back_as_z85(sock: Socket, form: str) -> None:
    public, secret = zmqffi.curve_keypair()
    given = {"z85-bytes": lambda k: k, "z85-str": lambda k: k.decode(),
             "raw-32": zmqffi.z85_decode}[form]
    for option, key in ((zmqffi.CURVE_PUBLICKEY, public),
                        (zmqffi.CURVE_SECRETKEY, secret),
                        (zmqffi.CURVE_SERVERKEY, public)):
        sock.setsockopt(option, given(key))
        assert sock.getsockopt(option) == key


def test_curve_key_of_the_wrong_size_is_einval(sock: Socket) -> None:
    with pytest.raises(ZMQError) as info:
        sock.setsockopt(zmqffi.CURVE_SERVERKEY, b"too short")
    assert info.value.errno == errno.EINVAL and "CURVE_SERVERKEY" in str(info.value)


class ZapHandler:
    """A ZAP handler (RFC 27) written with the Pythonic layer, in its own thread: it
    accepts the CURVE client keys and PLAIN users it is given, as user id ``name``."""

    def __init__(self, ctx: Context, curve: dict[bytes, str],
                 plain: dict[tuple[str, str], str]) -> None:
        self.ctx, self.curve, self.plain = ctx, curve, plain
        self.ready, self.stop = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self.run, name="zap-handler", daemon=True)

    def __enter__(self) -> ZapHandler:
        self.thread.start()
        assert self.ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive()

    def run(self) -> None:
        with self.ctx.socket(zmqffi.REP) as rep:
            rep.bind("inproc://zeromq.zap.01")
            self.ready.set()
            poller = zmqffi.Poller()
            poller.register(rep)
            while not self.stop.is_set():
                if poller.poll(20):
                    rep.send_multipart(self.answer(rep.recv_multipart()))

    def answer(self, request: list[bytes]) -> list[bytes]:
        version, request_id, _domain, _address, _identity, mechanism, *creds = request
        user = None
        if mechanism == b"CURVE":
            user = self.curve.get(zmqffi.z85_encode(creds[0]))
        elif mechanism == b"PLAIN":
            user = self.plain.get((creds[0].decode(), creds[1].decode()))
        if user is None:
            return [version, request_id, b"400", b"denied", b"", b""]
        return [version, request_id, b"200", b"OK", user.encode(), b""]


def curve_server(ctx: Context, secret: bytes) -> Socket:
    server = ctx.socket(zmqffi.PULL)
    server.setsockopt(zmqffi.CURVE_SERVER, 1)
    server.setsockopt(zmqffi.CURVE_SECRETKEY, secret)
    server.setsockopt(zmqffi.RCVTIMEO, TIMEOUT_MS)
    server.bind("tcp://127.0.0.1:*")
    return server


def curve_client(ctx: Context, server: Socket, server_public: bytes,
                 keys: tuple[bytes, bytes] | None = None) -> Socket:
    public, secret = keys or zmqffi.curve_keypair()
    client = ctx.socket(zmqffi.PUSH)
    client.setsockopt(zmqffi.LINGER, 0)
    client.setsockopt(zmqffi.CURVE_SERVERKEY, server_public)
    client.setsockopt(zmqffi.CURVE_PUBLICKEY, public)
    client.setsockopt(zmqffi.CURVE_SECRETKEY, secret)
    client.connect(server.last_endpoint)
    return client


def test_curve_with_a_zap_handler(ctx: Context) -> None:
    server_public, server_secret = zmqffi.curve_keypair()
    alice = zmqffi.curve_keypair()
    with ZapHandler(ctx, curve={alice[0]: "alice"}, plain={}):
        server = curve_server(ctx, server_secret)
        client = curve_client(ctx, server, server_public, alice)
        stranger = curve_client(ctx, server, server_public)
        stranger.send(b"from a stranger")  # denied by ZAP: never delivered
        client.send(b"encrypted hello")
        with server.recv_msg() as msg:
            assert msg.bytes == b"encrypted hello"
            assert msg.gets("User-Id") == "alice"
        poller = zmqffi.Poller()
        poller.register(server)
        assert poller.poll(200) == []
        for s in (client, stranger, server):
            s.close()


def test_curve_client_with_the_wrong_server_key_gets_nowhere(ctx: Context) -> None:
    _, server_secret = zmqffi.curve_keypair()
    wrong_public, _ = zmqffi.curve_keypair()
    server = curve_server(ctx, server_secret)
    client = curve_client(ctx, server, wrong_public)
    client.send(b"never decrypted")
    poller = zmqffi.Poller()
    poller.register(server)
    assert poller.poll(200) == []
    client.close()
    server.close()


def test_plain_with_a_zap_handler(ctx: Context) -> None:
    with ZapHandler(ctx, curve={}, plain={("admin", "secret"): "admin-user"}):
        server = ctx.socket(zmqffi.PULL)
        server.setsockopt(zmqffi.PLAIN_SERVER, 1)
        server.setsockopt(zmqffi.ZAP_DOMAIN, "test")
        server.setsockopt(zmqffi.RCVTIMEO, TIMEOUT_MS)
        server.bind("tcp://127.0.0.1:*")
        client = ctx.socket(zmqffi.PUSH)
        client.setsockopt(zmqffi.LINGER, 0)
        client.setsockopt(zmqffi.PLAIN_USERNAME, "admin")
        client.setsockopt(zmqffi.PLAIN_PASSWORD, "secret")
        client.connect(server.last_endpoint)
        client.send(b"plain hello")
        with server.recv_msg() as msg:
            assert msg.bytes == b"plain hello"
            assert msg.gets("User-Id") == "admin-user"
        assert server.getsockopt(zmqffi.MECHANISM) == zmqffi.PLAIN
        client.close()
        server.close()
