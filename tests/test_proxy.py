"""proxy and proxy_steerable in a thread: requests go through, with and without a
capture socket, and the proxy returns when stopped by shutdown(), destroy() or
TERMINATE."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import zmqffi
from conftest import WAIT, make
from zmqffi import Context, Poller, Socket


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
