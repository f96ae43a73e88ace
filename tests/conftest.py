"""Shared fixtures and helpers. ZeroMQ allows one Context per process, and zmqffi enforces
it: each test that needs one takes the ``ctx`` fixture, which checks at teardown that the
test closed what it opened and then destroys the context, so no test leaks into the next.

The helpers are plain functions, imported by the test modules (``from conftest import
make``): every socket a test makes gives up after TIMEOUT_MS, so that a regression fails
the test instead of hanging the suite."""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import random
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any, Callable, TypeVar
from collections.abc import Iterator

import pytest

import zmqffi

REPO = Path(__file__).resolve().parents[1]

TIMEOUT_MS = 5000  # every blocking call of a test socket gives up after this
WAIT = TIMEOUT_MS / 1000  # seconds: the bound on anything that must happen "at once"
SLOW_WAIT = 20.0  # seconds: the bound on another thread's or process's next step, generous
# for PyPy on a loaded CI machine (reached only when a test fails)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "large: needs ~1.5 GiB of memory (a 256 MiB message round trip); "
                   'deselect with -m "not large"')


# --- the Context ----------------------------------------------------------------------

@pytest.fixture
def ctx() -> Iterator[zmqffi.Context]:
    context = zmqffi.Context()
    try:
        yield context
    finally:
        left_open = [state.describe() for state in context._sockets]
        context.destroy(linger=0)
        assert not left_open, f"the test left sockets open: {left_open}"


@pytest.fixture
def no_context_left_live() -> Iterator[None]:
    """For the modules whose tests make their own Context (the rule under test): one that
    fails half-way must not leave it live and fail every later test with LifecycleError."""
    yield
    gc.collect()
    leftover = zmqffi.context._live()
    if leftover is not None and not leftover.closed:
        leftover.destroy(linger=0)
        pytest.fail(f"the test left {leftover!r} live")


def a_context_is_live() -> bool:
    """Whether a Context is live in this process (a new one can't be made then)."""
    try:
        zmqffi.Context().term()
    except zmqffi.LifecycleError:
        return True
    return False


# --- sockets --------------------------------------------------------------------------

@pytest.fixture(params=["tcp", "ipc", "inproc"])
def endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A bindable endpoint of each transport (tcp on a wildcard loopback port)."""
    return {
        "tcp": "tcp://127.0.0.1:*",
        "ipc": f"ipc://{tmp_path}/sock",
        "inproc": f"inproc://test-{os.getpid()}-{request.node.name}",
    }[request.param]


def make(ctx: zmqffi.Context, kind: int, **options: Any) -> zmqffi.Socket:
    """A socket that never blocks a test forever (options set before bind/connect; they
    may override LINGER, RCVTIMEO and SNDTIMEO)."""
    return never_blocking_forever(ctx.socket(kind), **options)


SocketT = TypeVar("SocketT", bound=zmqffi.Socket)


def never_blocking_forever(sock: SocketT, **options: Any) -> SocketT:
    """make()'s settings on ``sock`` (blocking, asyncio or trio): LINGER 0, RCVTIMEO and
    SNDTIMEO of TIMEOUT_MS, then ``options`` (names of zmqffi constants)."""
    sock.setsockopt(zmqffi.LINGER, 0)
    sock.setsockopt(zmqffi.RCVTIMEO, TIMEOUT_MS)
    sock.setsockopt(zmqffi.SNDTIMEO, TIMEOUT_MS)
    for name, value in options.items():
        sock.setsockopt(getattr(zmqffi, name), value)
    return sock


def bound(sock: zmqffi.Socket, endpoint: str) -> str:
    """Bind ``sock`` and return the endpoint a peer connects to."""
    sock.bind(endpoint)
    return sock.last_endpoint


def bind_connect(ctx: zmqffi.Context, endpoint: str, server_kind: int, client_kind: int,
                 server: dict[str, Any] | None = None,
                 client: dict[str, Any] | None = None
                 ) -> tuple[zmqffi.Socket, zmqffi.Socket]:
    """A socket of ``server_kind`` bound at ``endpoint`` and one of ``client_kind``
    connected to it, each made with its ``server``/``client`` options: (bound, peer)."""
    bound = make(ctx, server_kind, **(server or {}))
    bound.bind(endpoint)
    peer = make(ctx, client_kind, **(client or {}))
    peer.connect(bound.last_endpoint)
    return bound, peer


def pipe(ctx: zmqffi.Context, endpoint: str) -> tuple[zmqffi.Socket, zmqffi.Socket]:
    """A PUSH connected to a PULL bound at ``endpoint``: (push, pull)."""
    pull, push = bind_connect(ctx, endpoint, zmqffi.PULL, zmqffi.PUSH)
    return push, pull


@pytest.fixture
def sock(ctx: zmqffi.Context) -> Iterator[zmqffi.Socket]:
    """A DEALER socket, neither bound nor connected, closed at teardown."""
    s = ctx.socket(zmqffi.DEALER)
    yield s
    s.close()


@pytest.fixture
def pair(ctx: zmqffi.Context) -> Iterator[tuple[zmqffi.Socket, zmqffi.Socket]]:
    """Two connected PAIR sockets over tcp loopback: ``a`` is bound, ``b`` connected."""
    a, b = make(ctx, zmqffi.PAIR), make(ctx, zmqffi.PAIR)
    b.connect(bound(a, "tcp://127.0.0.1:*"))
    yield a, b
    a.close()
    b.close()


def exchange(a: zmqffi.Socket, b: zmqffi.Socket) -> None:
    """A round trip: proof that both sockets still work after an error."""
    a.send(b"ping")
    assert b.recv() == b"ping"
    b.send_multipart([b"po", b"ng"])
    assert a.recv_multipart() == [b"po", b"ng"]


def close(*sockets: zmqffi.Socket) -> None:
    for sock in sockets:
        sock.close()


def readable(sock: zmqffi.Socket, timeout_ms: int) -> bool:
    """Whether ``sock`` has something to receive within ``timeout_ms``."""
    poller = zmqffi.Poller()
    poller.register(sock, zmqffi.POLLIN)
    return bool(poller.poll(timeout_ms))


def subscribe_and_sync(pub: zmqffi.Socket, sub: zmqffi.Socket, topic: bytes) -> None:
    """Subscribe, then publish probes until one arrives: subscriptions travel to the
    publisher asynchronously, and what is published before that is dropped."""
    sub.setsockopt(zmqffi.SUBSCRIBE, topic)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        pub.send(topic + b" probe")
        if readable(sub, 20):
            assert sub.recv() == topic + b" probe"
            return
    pytest.fail(f"subscription {topic!r} never reached the publisher")


def monitor_of(sock: zmqffi.Socket, events: int = zmqffi.EVENT_ALL,
               timeout_ms: int = TIMEOUT_MS) -> zmqffi.Socket:
    """A monitor of ``sock``'s ``events`` (start it before bind/connect), whose reads give
    up after ``timeout_ms``."""
    monitor = sock.get_monitor_socket(events)
    monitor.setsockopt(zmqffi.RCVTIMEO, timeout_ms)
    monitor.setsockopt(zmqffi.LINGER, 0)
    return monitor


def send_message(sock: zmqffi.Socket) -> None:
    with zmqffi.Message(b"x") as msg:  # a refused send leaves it to its owner, to close
        sock.send(msg, zmqffi.DONTWAIT)


def hot_calls(sock: zmqffi.Socket) -> dict[str, Callable[[], Any]]:
    """Every call whose ownership check happens in C (zmqffi_socket), by name."""
    return {
        "send": lambda: sock.send(b"x", zmqffi.DONTWAIT),
        "send(copy=True)": lambda: sock.send(b"x", zmqffi.DONTWAIT, copy=True),
        "send(bytearray)": lambda: sock.send(bytearray(b"x"), zmqffi.DONTWAIT),
        "send(copy=False)": lambda: sock.send(b"x", zmqffi.DONTWAIT, copy=False),
        "send(Message)": lambda: send_message(sock),
        "send_multipart": lambda: sock.send_multipart([b"a", b"b"], zmqffi.DONTWAIT),
        "send_many": lambda: sock.send_many([b"a", b"b"], zmqffi.DONTWAIT),
        "recv": lambda: sock.recv(zmqffi.DONTWAIT),
        "recv_multipart": lambda: sock.recv_multipart(zmqffi.DONTWAIT),
        "recv_into": lambda: sock.recv_into(bytearray(8), zmqffi.DONTWAIT),
        "recv_msg": lambda: sock.recv_msg(zmqffi.DONTWAIT),
        "recv_many": lambda: sock.recv_many(flags=zmqffi.DONTWAIT),
    }


# --- errors ---------------------------------------------------------------------------

def fails(call: Callable[[], Any], kind: type | tuple[type, ...], *words: str,
          errnum: int | None = None) -> BaseException:
    """``call()`` raises ``kind`` whose message contains every one of ``words``."""
    with pytest.raises(kind) as excinfo:
        call()
    message = str(excinfo.value)
    for word in words:
        assert word in message, f"{word!r} not in the message {message!r}"
    if errnum is not None:
        assert excinfo.value.errno == errnum, message
    return excinfo.value


# --- threads --------------------------------------------------------------------------

def call_in_thread(fn: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Run ``fn`` in a helper thread; return its result or re-raise its exception.
    Fails (instead of hanging) if it has not returned within ``timeout``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="helper", daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{fn} still running after {timeout} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


# --- garbage collection ---------------------------------------------------------------

def collect(*refs: weakref.ref) -> None:
    """Collect garbage until every ``refs`` is dead (at most ten collections). PyPy
    finalizes a chain of objects with __del__ one link per collection (the Socket, then
    the Context it held); CPython's reference counting often needs none."""
    for _ in range(10):
        if all(ref() is None for ref in refs):
            return
        gc.collect()


@contextlib.contextmanager
def resource_warnings() -> Iterator[list[str]]:
    """Record the text of ResourceWarnings. Unlike pytest.warns, it keeps no reference
    to the warning's source, which would resurrect the object being collected."""
    seen: list[str] = []

    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        if issubclass(category, ResourceWarning):
            seen.append(str(message))

    with warnings.catch_warnings():
        warnings.simplefilter("always", ResourceWarning)
        warnings.showwarning = show
        yield seen


# --- peers in other processes ---------------------------------------------------------

class Peer:
    """A child process whose stdout lines arrive, as they come, on a queue."""

    def __init__(self, script: Path, *args: str) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=script.parent)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def expect(self, word: str, timeout: float = SLOW_WAIT) -> str:
        """The next line starting with ``word`` (lines before it are kept in seen)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {word!r} from the peer within {timeout}s; "
                                     f"saw {self.seen}") from None
            if line is None:
                self.proc.wait(5)
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"peer exited ({self.proc.returncode}) before "
                                     f"{word!r}; saw {self.seen}\n{stderr}")
            self.seen.append(line)
            if line.split()[:1] == [word]:
                return line

    def drain(self) -> list[str]:
        """Every line printed so far (call after the process ended)."""
        while True:
            try:
                line = self.lines.get(timeout=5)
            except queue.Empty:
                return self.seen
            if line is None:
                return self.seen
            self.seen.append(line)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Peer]]:
    """spawn(SCRIPT_TEXT, *args) -> Peer, run from tmp_path (not the checkout, so that it
    imports the installed zmqffi); every peer is killed at teardown."""
    peers: list[Peer] = []

    def start(text: str, *args: str) -> Peer:
        script = tmp_path / f"peer{len(peers)}.py"
        script.write_text(textwrap.dedent(text))
        peer = Peer(script, *args)
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.close()


def free_port() -> int:
    """A tcp loopback port nobody listens on (yet), outside the kernel's ephemeral range.
    A socket that connects to a port in that range before anyone listens there can be
    given that very port as its own source port and connect to itself (TCP
    simultaneous open); the peer's bind then fails with EADDRINUSE."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            ephemeral_low = int(ports.read().split()[0])
    except OSError:
        ephemeral_low = 32768  # Linux's default
    for _ in range(100):
        port = random.randrange(10000, max(10001, ephemeral_low))
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken: try another
        return port
    raise AssertionError("no free tcp port below the ephemeral range")
