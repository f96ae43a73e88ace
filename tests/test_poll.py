"""Poller over sockets and plain file descriptors; proxy and proxy_steerable in a
thread, stopped by shutdown()/destroy()/TERMINATE; socket monitoring."""

from __future__ import annotations

import os
import socket as pysocket
import threading
import time
from typing import Any

import pytest

import zmqffi
from conftest import make
from zmqffi import Context, LifecycleError, Poller, Socket

TIMEOUT_MS = 5000
WAIT = 5.0




def pipe(ctx: Context, endpoint: str) -> tuple[Socket, Socket]:
    pull = make(ctx, zmqffi.PULL)
    pull.bind(endpoint)
    push = make(ctx, zmqffi.PUSH)
    push.connect(pull.last_endpoint)
    return push, pull


# --- Poller ---------------------------------------------------------------------------

def test_poller_with_sockets(ctx: Context, endpoint: str) -> None:
    push, pull = pipe(ctx, endpoint)
    poller = Poller()
    poller.register(pull, zmqffi.POLLIN)
    assert poller.poll(0) == []
    started = time.monotonic()
    assert poller.poll(100) == []
    assert 0.08 <= time.monotonic() - started < 2.0
    push.send(b"wake up")
    assert poller.poll(TIMEOUT_MS) == [(pull, zmqffi.POLLIN)]
    assert poller.poll(None) == [(pull, zmqffi.POLLIN)]  # still readable: at once
    assert pull.recv() == b"wake up"
    assert poller.poll(0) == []
    push.close()
    pull.close()


def test_poller_pollout_modify_and_unregister(ctx: Context) -> None:
    push, pull = pipe(ctx, "inproc://modify")
    poller = Poller()
    poller.register(push, zmqffi.POLLIN)
    poller.register(pull, zmqffi.POLLIN)
    assert poller.poll(0) == []  # PUSH is never readable; nothing was sent
    poller.modify(push, zmqffi.POLLOUT)
    assert poller.poll(TIMEOUT_MS) == [(push, zmqffi.POLLOUT)]
    poller.unregister(push)
    assert poller.poll(0) == []
    with pytest.raises(KeyError):
        poller.unregister(push)
    with pytest.raises(KeyError):
        poller.modify(push, zmqffi.POLLIN)
    push.send(b"x")
    poller.register(pull, 0)  # flags 0 unregisters, like pyzmq
    assert poller.poll(50) == []
    assert pull.recv() == b"x"
    push.close()
    pull.close()


def test_poller_with_a_plain_fd_and_a_fileno_object(ctx: Context) -> None:
    read_fd, write_fd = os.pipe()
    left, right = pysocket.socketpair()
    push, pull = pipe(ctx, "inproc://mixed")
    try:
        poller = Poller()
        poller.register(read_fd, zmqffi.POLLIN)
        poller.register(left, zmqffi.POLLIN)
        poller.register(pull, zmqffi.POLLIN)
        assert poller.poll(20) == []
        os.write(write_fd, b"!")
        assert poller.poll(TIMEOUT_MS) == [(read_fd, zmqffi.POLLIN)]
        right.send(b"?")
        push.send(b"zmq")
        ready = dict(poller.poll(TIMEOUT_MS))
        deadline = time.monotonic() + WAIT
        while len(ready) < 3 and time.monotonic() < deadline:
            ready.update(poller.poll(100))
        assert ready == {read_fd: zmqffi.POLLIN, left: zmqffi.POLLIN,
                         pull: zmqffi.POLLIN}
        assert os.read(read_fd, 1) == b"!" and left.recv(1) == b"?"
        assert pull.recv() == b"zmq"
        # POLLOUT on the write end of the pipe
        poller.register(write_fd, zmqffi.POLLOUT)
        assert (write_fd, zmqffi.POLLOUT) in poller.poll(TIMEOUT_MS)
    finally:
        os.close(read_fd)
        os.close(write_fd)
        left.close()
        right.close()
        push.close()
        pull.close()


def test_poller_refuses_what_cannot_be_polled() -> None:
    poller = Poller()
    with pytest.raises(TypeError, match="Poller"):
        poller.register("not a socket")
    with pytest.raises(TypeError):
        poller.register(1.5)


def test_poller_with_a_closed_socket_raises_instead_of_crashing(ctx: Context) -> None:
    pull = ctx.socket(zmqffi.PULL)
    poller = Poller()
    poller.register(pull)
    pull.close()
    with pytest.raises(LifecycleError) as info:
        poller.poll(0)
    assert "closed" in str(info.value)


def test_poller_with_a_socket_of_another_thread_is_refused(ctx: Context) -> None:
    pull = ctx.socket(zmqffi.PULL)
    poller = Poller()
    poller.register(pull)
    outcome: dict[str, Any] = {}

    def poll_elsewhere() -> None:
        try:
            poller.poll(0)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=poll_elsewhere, name="poller-thread")
    thread.start()
    thread.join(WAIT)
    assert isinstance(outcome.get("error"), LifecycleError)
    assert "'poller-thread'" in str(outcome["error"])
    pull.close()


def test_poll_is_ended_by_shutdown_from_another_thread(ctx: Context) -> None:
    pull = ctx.socket(zmqffi.PULL)
    pull.bind("inproc://poll-shutdown")
    poller = Poller()
    poller.register(pull)
    timer = threading.Timer(0.05, ctx.shutdown)  # the event that ends the wait
    timer.start()
    started = time.monotonic()
    with pytest.raises(zmqffi.ContextTerminated):
        poller.poll(TIMEOUT_MS)
    assert time.monotonic() - started < 2.0
    timer.join(WAIT)
    pull.close()


# --- proxy ----------------------------------------------------------------------------

class ProxyThread:
    """Runs a proxy over ROUTER (frontend) / DEALER (backend) sockets that the thread
    itself creates and owns; ``endpoints`` are ready once ``started`` is set."""

    def __init__(self, ctx: Context, steerable: bool = False,
                 capture: bool = False) -> None:
        self.ctx, self.steerable, self.capture = ctx, steerable, capture
        self.started, self.endpoints = threading.Event(), {}
        self.outcome: dict[str, Any] = {}
        self.thread = threading.Thread(target=self.run, name="proxy", daemon=True)
        self.thread.start()
        assert self.started.wait(WAIT)

    def run(self) -> None:
        sockets = {}
        try:
            for role, kind in (("frontend", zmqffi.ROUTER), ("backend", zmqffi.DEALER),
                               ("capture", zmqffi.PUSH), ("control", zmqffi.PAIR)):
                sock = make(self.ctx, kind)
                sock.bind("tcp://127.0.0.1:*" if role != "control"
                          else f"inproc://control-{id(self)}")
                sockets[role] = sock
                self.endpoints[role] = sock.last_endpoint
            self.started.set()
            capture = sockets["capture"] if self.capture else None
            if self.steerable:
                zmqffi.proxy_steerable(sockets["frontend"], sockets["backend"], capture,
                                       sockets["control"])
            else:
                zmqffi.proxy(sockets["frontend"], sockets["backend"], capture)
            self.outcome["returned"] = time.monotonic()
        except BaseException as exc:
            self.outcome["error"] = exc
        finally:
            for sock in sockets.values():
                sock.close()  # a no-op if destroy() closed it already
            self.started.set()

    def join(self) -> None:
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the proxy did not return"
        assert "error" not in self.outcome, self.outcome


def request_through(ctx: Context, proxy: ProxyThread) -> tuple[Socket, Socket]:
    client = make(ctx, zmqffi.REQ)
    client.connect(proxy.endpoints["frontend"])
    worker = make(ctx, zmqffi.REP)
    worker.connect(proxy.endpoints["backend"])
    for i in range(3):
        client.send(b"request %d" % i)
        assert worker.recv() == b"request %d" % i
        worker.send(b"reply %d" % i)
        assert client.recv() == b"reply %d" % i
    return client, worker


def test_proxy_stopped_by_shutdown(ctx: Context) -> None:
    proxy = ProxyThread(ctx)
    client, worker = request_through(ctx, proxy)
    stopped = time.monotonic()
    ctx.shutdown()
    proxy.join()
    assert proxy.outcome["returned"] - stopped < 1.0
    client.close()
    worker.close()


def test_proxy_stopped_by_destroy_from_the_main_thread(ctx: Context) -> None:
    proxy = ProxyThread(ctx)
    client, worker = request_through(ctx, proxy)
    ctx.destroy(linger=0)  # closes the proxy's sockets once it has left zmq_proxy
    proxy.join()
    assert ctx.closed and client.closed and worker.closed


def test_proxy_with_capture(ctx: Context) -> None:
    proxy = ProxyThread(ctx, capture=True)
    tap = make(ctx, zmqffi.PULL)
    tap.connect(proxy.endpoints["capture"])
    client, worker = request_through(ctx, proxy)
    # each request and reply passes the proxy twice (in and out): copies on capture
    seen = set()
    poller = Poller()
    poller.register(tap)
    while poller.poll(200):
        seen.add(tap.recv_multipart()[-1])
    assert {b"request 0", b"reply 2"} <= seen
    ctx.shutdown()
    proxy.join()
    for sock in (tap, client, worker):
        sock.close()


def test_proxy_steerable_statistics_and_terminate(ctx: Context) -> None:
    proxy = ProxyThread(ctx, steerable=True)
    client, worker = request_through(ctx, proxy)
    control = make(ctx, zmqffi.PAIR)
    control.connect(proxy.endpoints["control"])
    control.send(b"STATISTICS")
    stats = [int.from_bytes(frame, "little") for frame in control.recv_multipart()]
    assert len(stats) == 8
    assert stats[0] == 3  # frontend: the three requests received
    control.send(b"TERMINATE")
    proxy.join()
    assert "returned" in proxy.outcome
    for sock in (control, client, worker):
        sock.close()


def test_proxy_refuses_non_sockets(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.ROUTER)
    with pytest.raises(TypeError, match="proxy"):
        zmqffi.proxy(sock, "backend")  # type: ignore[arg-type]
    sock.close()


# --- monitor --------------------------------------------------------------------------

def events_until(monitor: Socket, wanted: set[int]) -> dict[int, zmqffi.MonitorEvent]:
    """Read monitor events until every ``wanted`` event was seen (bounded)."""
    seen: dict[int, zmqffi.MonitorEvent] = {}
    monitor.setsockopt(zmqffi.RCVTIMEO, TIMEOUT_MS)
    while not wanted <= seen.keys():
        event = zmqffi.recv_monitor_message(monitor)
        seen.setdefault(event.event, event)
    return seen


def test_monitor_sees_listening_accepted_connected(ctx: Context) -> None:
    server = make(ctx, zmqffi.PULL)
    server_events = server.get_monitor_socket()
    server.bind("tcp://127.0.0.1:*")
    endpoint = server.last_endpoint
    client = make(ctx, zmqffi.PUSH)
    client_events = client.get_monitor_socket()
    client.connect(endpoint)

    seen = events_until(server_events, {zmqffi.EVENT_LISTENING, zmqffi.EVENT_ACCEPTED,
                                        zmqffi.EVENT_HANDSHAKE_SUCCEEDED})
    listening = seen[zmqffi.EVENT_LISTENING]
    assert isinstance(listening, zmqffi.MonitorEvent)
    assert listening.endpoint == endpoint and isinstance(listening.endpoint, str)
    assert listening.value > 0  # the listening socket's fd
    assert seen[zmqffi.EVENT_ACCEPTED].endpoint == endpoint

    seen = events_until(client_events, {zmqffi.EVENT_CONNECTED,
                                        zmqffi.EVENT_HANDSHAKE_SUCCEEDED})
    assert seen[zmqffi.EVENT_CONNECTED].endpoint == endpoint

    client.close()
    # the peer going away is seen too
    events_until(server_events, {zmqffi.EVENT_DISCONNECTED})
    server.monitor(None)  # stops the monitor
    events_until(server_events, {zmqffi.EVENT_MONITOR_STOPPED})
    for sock in (server_events, client_events, server):
        sock.close()


def test_monitor_with_an_explicit_endpoint_and_event_mask(ctx: Context) -> None:
    server = make(ctx, zmqffi.REP)
    server.monitor("inproc://my-monitor", zmqffi.EVENT_LISTENING)
    watcher = make(ctx, zmqffi.PAIR)
    watcher.connect("inproc://my-monitor")
    server.bind("tcp://127.0.0.1:*")
    event = zmqffi.recv_monitor_message(watcher)
    assert event == (zmqffi.EVENT_LISTENING, event.value, server.last_endpoint)
    with pytest.raises(TypeError):
        server.monitor(b"inproc://bytes")  # type: ignore[arg-type]
    for sock in (watcher, server):
        sock.close()
