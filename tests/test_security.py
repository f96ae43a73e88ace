"""Z85 and CURVE keys; CURVE and PLAIN through zmqffi, with a ZAP handler written with
zmqffi itself.

Over real tcp loopback: a CURVE server accepts a client that holds its public key
(and the bytes on the wire are encrypted); a client with a wrong key gets nothing
through; a ZAP handler (a REP socket at inproc://zeromq.zap.01, in a thread of this
process, sharing the one Context) admits one client key and refuses another; PLAIN
refuses wrong credentials and accepts the right ones. Every wait is bounded: refusals
are observed as monitor events (HANDSHAKE_FAILED_*), then checked with RCVTIMEO/poll.
"""

from __future__ import annotations

import errno
import queue
import socket
import threading
from typing import Any, Callable

import pytest

import zmqffi
from conftest import TIMEOUT_MS, close, make, monitor_of, readable
from zmqffi import Context, Socket, ZMQError


ZAP_ENDPOINT = "inproc://zeromq.zap.01"


FAILED = {zmqffi.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmqffi.EVENT_HANDSHAKE_FAILED_PROTOCOL,
          zmqffi.EVENT_HANDSHAKE_FAILED_AUTH}


pytestmark = pytest.mark.skipif(not zmqffi.has("curve"), reason="libzmq without CURVE")


def key_form(key: bytes, form: str) -> bytes | str:
    """A Z85 key as the option accepts it: Z85 bytes, Z85 str, or the 32 raw bytes."""
    return {"z85": key, "z85-str": key.decode(), "raw": zmqffi.z85_decode(key)}[form]


def watch(sock: Socket) -> Socket:
    """A monitor of ``sock``'s handshakes (start it before bind/connect)."""
    return monitor_of(sock, zmqffi.EVENT_HANDSHAKE_SUCCEEDED | sum(FAILED))


def handshake(monitor: Socket) -> zmqffi.MonitorEvent:
    """The next handshake outcome (bounded by the monitor's RCVTIMEO)."""
    return zmqffi.recv_monitor_message(monitor)


class ZapHandler:
    """RFC 27 ZAP handler in its own thread: ``decide(mechanism, credentials)`` returns
    a user id to admit, or None to refuse (400). Every request is kept in ``seen``.

    ``adopt=False``: the thread creates its sockets; ``adopt=True``: this thread creates
    and binds them, hands them over through a queue and the handler adopts them."""

    def __init__(self, ctx: Context, decide: Callable[[bytes, list[bytes]], str | None],
                 adopt: bool = False) -> None:
        self.ctx, self.decide, self.adopt = ctx, decide, adopt
        self.seen: list[list[bytes]] = []
        self.errors: list[BaseException] = []
        self.handover: queue.Queue[Any] = queue.Queue()  # the sockets, to the thread
        self.ready: queue.Queue[str] = queue.Queue()  # "ready" / "failed", from it
        self.thread = threading.Thread(target=self._run, name="zap-handler")

    def __enter__(self) -> ZapHandler:
        if self.adopt:
            self.handover.put(self._sockets())
        self.thread.start()
        # (one queue each way: with one, this get could take back the sockets)
        assert self.ready.get(timeout=TIMEOUT_MS / 1000) == "ready"
        self.control = make(self.ctx, zmqffi.PAIR)
        self.control.connect("inproc://zap-control")
        return self

    def __exit__(self, *exc: object) -> None:
        self.control.send(b"STOP")
        self.thread.join(TIMEOUT_MS / 1000)
        self.control.close()
        assert not self.thread.is_alive()
        assert not self.errors, self.errors

    def _sockets(self) -> tuple[Socket, Socket]:
        rep = make(self.ctx, zmqffi.REP)
        rep.bind(ZAP_ENDPOINT)
        control = make(self.ctx, zmqffi.PAIR)
        control.bind("inproc://zap-control")
        return rep, control

    def _run(self) -> None:
        try:
            if self.adopt:
                rep, control = self.handover.get(timeout=TIMEOUT_MS / 1000)
                rep.adopt()
                control.adopt()
            else:
                rep, control = self._sockets()
            self.ready.put("ready")
            with rep, control:
                poller = zmqffi.Poller()
                poller.register(rep)
                poller.register(control)
                while True:
                    ready = dict(poller.poll(TIMEOUT_MS * 4))
                    if control in ready or not ready:
                        break
                    request = rep.recv_multipart()
                    self.seen.append(request)
                    rep.send_multipart(self._answer(request))
        except BaseException as exc:  # noqa: BLE001 - reported by __exit__
            self.errors.append(exc)
            self.ready.put("failed")

    def _answer(self, request: list[bytes]) -> list[bytes]:
        version, request_id, _domain, _address, _routing_id, mechanism, *creds = request
        assert version == b"1.0"
        user = self.decide(mechanism, creds)
        if user is None:
            return [version, request_id, b"400", b"not allowed", b"", b""]
        return [version, request_id, b"200", b"OK", user.encode(), b""]


class Relay:
    """A TCP relay in front of a server that keeps a copy of every byte it forwards:
    what an eavesdropper on the wire would see."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit("/", 1)[1].rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"
        self.wire = bytearray()
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream, timeout=TIMEOUT_MS / 1000)
            self.conns += [down, up]
            for src, dst in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    self.wire += data
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for conn in self.conns:
            conn.close()


def curve_server(ctx: Context, secret: bytes) -> Socket:
    server = make(ctx, zmqffi.PULL, CURVE_SERVER=1, CURVE_SECRETKEY=secret)
    server.bind("tcp://127.0.0.1:*")
    return server


def curve_client(ctx: Context, server: Socket, server_public: bytes,
                 keys: tuple[bytes, bytes] | None = None) -> Socket:
    public, secret = keys or zmqffi.curve_keypair()
    client = make(ctx, zmqffi.PUSH, CURVE_SERVERKEY=server_public, CURVE_PUBLICKEY=public,
                  CURVE_SECRETKEY=secret)
    client.connect(server.last_endpoint)
    return client


# --- Z85 and CURVE keys ---------------------------------------------------------------

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


# --- CURVE without ZAP ----------------------------------------------------------------

@pytest.mark.parametrize("form", ["z85", "z85-str", "raw"])
def test_curve_server_accepts_a_client_holding_its_public_key(ctx: Context, form: str
                                                              ) -> None:
    server_public, server_secret = zmqffi.curve_keypair()
    client_public, client_secret = zmqffi.curve_keypair()
    assert zmqffi.curve_public(server_secret) == server_public
    server = make(ctx, zmqffi.REP, CURVE_SERVER=1,
                  CURVE_SECRETKEY=key_form(server_secret, form))
    server.bind("tcp://127.0.0.1:*")
    client = make(ctx, zmqffi.REQ, CURVE_SERVERKEY=key_form(server_public, form),
                  CURVE_PUBLICKEY=key_form(client_public, form),
                  CURVE_SECRETKEY=key_form(client_secret, form))
    client.connect(server.last_endpoint)

    client.send(b"encrypted request")
    with server.recv_msg() as request:
        assert request.bytes == b"encrypted request"
        assert request.gets("Peer-Address") == "127.0.0.1"
    server.send(b"encrypted reply")
    assert client.recv() == b"encrypted reply"

    # keys read back as Z85 bytes, whatever form they were set in
    assert client.getsockopt(zmqffi.CURVE_SERVERKEY) == server_public
    assert client.getsockopt(zmqffi.CURVE_PUBLICKEY) == client_public
    assert client.getsockopt(zmqffi.CURVE_SECRETKEY) == client_secret
    assert server.getsockopt(zmqffi.CURVE_SECRETKEY) == server_secret
    assert server.getsockopt(zmqffi.CURVE_SERVER) == 1
    assert client.getsockopt(zmqffi.CURVE_SERVER) == 0
    assert server.getsockopt(zmqffi.MECHANISM) == zmqffi.CURVE
    assert client.getsockopt(zmqffi.MECHANISM) == zmqffi.CURVE
    close(client, server)


@pytest.mark.parametrize("mechanism", ["NULL", "CURVE"])
def test_what_an_eavesdropper_sees(ctx: Context, mechanism: str) -> None:
    """Through a relay that records the wire: NULL shows the payload, CURVE does not."""
    server_public, server_secret = zmqffi.curve_keypair()
    server = make(ctx, zmqffi.PULL)
    client = make(ctx, zmqffi.PUSH)
    if mechanism == "CURVE":
        server.setsockopt(zmqffi.CURVE_SERVER, 1)
        server.setsockopt(zmqffi.CURVE_SECRETKEY, server_secret)
        client_public, client_secret = zmqffi.curve_keypair()
        client.setsockopt(zmqffi.CURVE_SERVERKEY, server_public)
        client.setsockopt(zmqffi.CURVE_PUBLICKEY, client_public)
        client.setsockopt(zmqffi.CURVE_SECRETKEY, client_secret)
    server.bind("tcp://127.0.0.1:*")
    relay = Relay(server.last_endpoint)
    try:
        client.connect(relay.endpoint)
        payload = b"the launch codes are 0000"
        client.send(payload)
        assert server.recv() == payload
        with relay.lock:
            wire = bytes(relay.wire)
        assert len(wire) > len(payload)
        if mechanism == "NULL":
            assert payload in wire
        else:
            assert payload not in wire and b"launch" not in wire
            assert b"CURVE" in wire  # the greeting names the mechanism
        close(client, server)
    finally:
        relay.close()


@pytest.mark.parametrize("mistake", ["wrong server key", "keys of two pairs", "no CURVE"])
def test_a_client_with_the_wrong_key_gets_nothing_through(ctx: Context, mistake: str
                                                          ) -> None:
    server_public, server_secret = zmqffi.curve_keypair()
    server = make(ctx, zmqffi.PULL, CURVE_SERVER=1, CURVE_SECRETKEY=server_secret,
                  RCVTIMEO=300)
    server_events = watch(server)
    server.bind("tcp://127.0.0.1:*")

    intruder = make(ctx, zmqffi.PUSH)
    client_public, client_secret = zmqffi.curve_keypair()
    if mistake == "wrong server key":
        intruder.setsockopt(zmqffi.CURVE_SERVERKEY, zmqffi.curve_keypair()[0])
    elif mistake == "keys of two pairs":  # a public key that is not its secret's
        intruder.setsockopt(zmqffi.CURVE_SERVERKEY, server_public)
        client_secret = zmqffi.curve_keypair()[1]
    if mistake != "no CURVE":
        intruder.setsockopt(zmqffi.CURVE_PUBLICKEY, client_public)
        intruder.setsockopt(zmqffi.CURVE_SECRETKEY, client_secret)
    intruder.connect(server.last_endpoint)
    intruder.send(b"let me in")  # queued at the intruder: never delivered

    event = handshake(server_events)
    assert event.event in FAILED, event
    with pytest.raises(zmqffi.Again):  # RCVTIMEO: nothing came through
        server.recv()

    # the server is unharmed: a client with the right keys still gets through
    public, secret = zmqffi.curve_keypair()
    friend = make(ctx, zmqffi.PUSH, CURVE_SERVERKEY=server_public,
                  CURVE_PUBLICKEY=public, CURVE_SECRETKEY=secret)
    friend.connect(server.last_endpoint)
    friend.send(b"friend")
    while (event := handshake(server_events)).event != zmqffi.EVENT_HANDSHAKE_SUCCEEDED:
        assert event.event in FAILED  # the intruder keeps retrying; still refused
    server.setsockopt(zmqffi.RCVTIMEO, TIMEOUT_MS)
    assert server.recv() == b"friend"
    assert not readable(server, 200)  # and still nothing from the intruder
    close(server_events, intruder, friend, server)


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


# --- ZAP: a handler written with zmqffi -----------------------------------------------

@pytest.mark.parametrize("adopt", [False, True], ids=["created-in-thread", "adopted"])
def test_zap_handler_admits_one_client_key_and_rejects_another(ctx: Context, adopt: bool
                                                              ) -> None:
    server_public, server_secret = zmqffi.curve_keypair()
    alice_public, alice_secret = zmqffi.curve_keypair()
    bob_public, bob_secret = zmqffi.curve_keypair()
    allowed = {zmqffi.z85_decode(alice_public): "alice"}  # ZAP gives the raw 32 bytes

    def decide(mechanism: bytes, creds: list[bytes]) -> str | None:
        assert mechanism == b"CURVE"
        return allowed.get(creds[0])

    with ZapHandler(ctx, decide, adopt=adopt) as zap:
        server = make(ctx, zmqffi.PULL, CURVE_SERVER=1, CURVE_SECRETKEY=server_secret,
                      ZAP_DOMAIN="global")
        server_events = watch(server)
        server.bind("tcp://127.0.0.1:*")

        def client(public: bytes, secret: bytes) -> tuple[Socket, Socket]:
            sock = make(ctx, zmqffi.PUSH, CURVE_SERVERKEY=server_public,
                        CURVE_PUBLICKEY=public, CURVE_SECRETKEY=secret)
            events = watch(sock)
            sock.connect(server.last_endpoint)
            return sock, events

        bob, bob_events = client(bob_public, bob_secret)
        bob.send(b"from bob")
        refused = handshake(server_events)
        assert refused.event == zmqffi.EVENT_HANDSHAKE_FAILED_AUTH
        assert refused.value == 400  # the handler's status code
        told = handshake(bob_events)  # bob is told, too
        assert (told.event, told.value) == (zmqffi.EVENT_HANDSHAKE_FAILED_AUTH, 400)

        alice, alice_events = client(alice_public, alice_secret)
        alice.send(b"from alice")
        with server.recv_msg() as msg:
            assert msg.bytes == b"from alice"
            assert msg.gets("User-Id") == "alice"
        assert handshake(alice_events).event == zmqffi.EVENT_HANDSHAKE_SUCCEEDED
        assert not readable(server, 200)  # nothing of bob's
        close(bob_events, bob, alice_events, alice, server_events, server)

    keys = [request[6] for request in zap.seen]
    assert keys[0] == zmqffi.z85_decode(bob_public)
    assert keys[-1] == zmqffi.z85_decode(alice_public)
    for request in zap.seen:
        assert request[2] == b"global"  # ZAP_DOMAIN
        assert request[3] == b"127.0.0.1"  # the client's address
        assert request[5] == b"CURVE"


def test_curve_with_a_zap_handler(ctx: Context) -> None:
    server_public, server_secret = zmqffi.curve_keypair()
    alice = zmqffi.curve_keypair()
    users = {alice[0]: "alice"}

    def decide(mechanism: bytes, creds: list[bytes]) -> str | None:
        return users.get(zmqffi.z85_encode(creds[0])) if mechanism == b"CURVE" else None

    with ZapHandler(ctx, decide):
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


def test_plain_refuses_wrong_credentials_and_accepts_right_ones(ctx: Context) -> None:
    users = {(b"admin", b"s3cret"): "admin-user"}

    def decide(mechanism: bytes, creds: list[bytes]) -> str | None:
        assert mechanism == b"PLAIN"
        return users.get((creds[0], creds[1]))

    with ZapHandler(ctx, decide) as zap:
        server = make(ctx, zmqffi.PULL, PLAIN_SERVER=1, ZAP_DOMAIN="plain")
        server_events = watch(server)
        server.bind("tcp://127.0.0.1:*")
        assert server.getsockopt(zmqffi.MECHANISM) == zmqffi.PLAIN

        def client(username: str | bytes, password: str | bytes) -> Socket:
            sock = make(ctx, zmqffi.PUSH, PLAIN_USERNAME=username,
                        PLAIN_PASSWORD=password)
            sock.connect(server.last_endpoint)
            return sock

        wrong_password = client("admin", "guess")
        wrong_password.send(b"wrong password")
        event = handshake(server_events)
        assert (event.event, event.value) == (zmqffi.EVENT_HANDSHAKE_FAILED_AUTH, 400)
        unknown_user = client(b"mallory", b"s3cret")
        unknown_user.send(b"unknown user")
        event = handshake(server_events)
        assert (event.event, event.value) == (zmqffi.EVENT_HANDSHAKE_FAILED_AUTH, 400)

        right = client("admin", b"s3cret")
        assert right.getsockopt(zmqffi.PLAIN_USERNAME) == "admin"
        assert right.getsockopt(zmqffi.PLAIN_PASSWORD) == "s3cret"
        assert right.getsockopt(zmqffi.MECHANISM) == zmqffi.PLAIN
        right.send(b"right credentials")
        with server.recv_msg() as msg:
            assert msg.bytes == b"right credentials"
            assert msg.gets("User-Id") == "admin-user"
        assert not readable(server, 200)  # nothing from the two refused clients
        close(wrong_password, unknown_user, right, server_events, server)

    credentials = [tuple(request[6:8]) for request in zap.seen]
    assert credentials[:2] == [(b"admin", b"guess"), (b"mallory", b"s3cret")]
    assert credentials[-1] == (b"admin", b"s3cret")


def test_plain_with_a_zap_handler(ctx: Context) -> None:
    users = {("admin", "secret"): "admin-user"}

    def decide(mechanism: bytes, creds: list[bytes]) -> str | None:
        if mechanism != b"PLAIN":
            return None
        return users.get((creds[0].decode(), creds[1].decode()))

    with ZapHandler(ctx, decide):
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
