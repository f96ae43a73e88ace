"""proxy and proxy_steerable in a thread: requests go through, with and without a
capture socket, and the proxy returns when stopped by shutdown(), destroy() or
TERMINATE. monitored_queue: the same, with every message on a monitor socket with its
prefix, exactly as pyzmq's monitored_queue shows it (compared in subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import zmqffi
from conftest import SLOW_WAIT, WAIT, call_in_thread, make
from zmqffi import Context, Poller, Socket
from zmqffi.devices import monitored_queue


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


# --- monitored_queue ----------------------------------------------------------------

class QueueThread:
    """Runs monitored_queue over sockets the thread creates and owns: ``in`` and ``out``
    of the given types, and an XPUB monitor. The queue starts once the test's SUB has
    subscribed (the XPUB receives its subscription), so the monitor misses nothing."""

    def __init__(self, ctx: Context, in_type: int, out_type: int,
                 prefixes: tuple[bytes, ...] = ()) -> None:
        self.ctx, self.types, self.prefixes = ctx, (in_type, out_type), prefixes
        self.started, self.endpoints = threading.Event(), {}
        self.outcome: dict[str, Any] = {}
        self.thread = threading.Thread(target=self.run, name="queue", daemon=True)
        self.thread.start()
        assert self.started.wait(WAIT)

    def run(self) -> None:
        sockets = {}
        try:
            for role, kind in (("in", self.types[0]), ("out", self.types[1]),
                               ("mon", zmqffi.XPUB)):
                sockets[role] = sock = make(self.ctx, kind)
                sock.bind("tcp://127.0.0.1:*")
                self.endpoints[role] = sock.last_endpoint
            self.started.set()
            assert sockets["mon"].recv() == b"\x01"  # the test's SUB subscribed
            monitored_queue(sockets["in"], sockets["out"], sockets["mon"], *self.prefixes)
            self.outcome["returned"] = time.monotonic()
        except BaseException as exc:
            self.outcome["error"] = exc
        finally:
            for sock in sockets.values():
                sock.close()
            self.started.set()

    def monitor(self) -> Socket:
        sub = make(self.ctx, zmqffi.SUB)
        sub.setsockopt(zmqffi.SUBSCRIBE, b"")
        sub.connect(self.endpoints["mon"])
        return sub

    def join(self) -> None:
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "monitored_queue did not return"
        assert "error" not in self.outcome, self.outcome


@pytest.mark.parametrize("prefixes, seen_as", [
    ((), (b"in", b"out")),  # pyzmq's defaults
    ((b"\x00>", b"<\xff"), (b"\x00>", b"<\xff")),
])
def test_monitored_queue_relays_and_shows_each_message(
        ctx: Context, prefixes: tuple[bytes, ...], seen_as: tuple[bytes, bytes]) -> None:
    queue = QueueThread(ctx, zmqffi.ROUTER, zmqffi.DEALER, prefixes)
    sub = queue.monitor()
    client = make(ctx, zmqffi.REQ, ROUTING_ID=b"client")
    client.connect(queue.endpoints["in"])
    worker = make(ctx, zmqffi.REP)
    worker.connect(queue.endpoints["out"])
    for i in range(3):
        client.send_multipart([b"request %d" % i, b"", bytes(range(256))])
        assert worker.recv_multipart() == [b"request %d" % i, b"", bytes(range(256))]
        worker.send(b"reply %d" % i)
        assert client.recv() == b"reply %d" % i
        # the ROUTER's envelope (the client's routing id, REQ's empty delimiter) as is
        assert sub.recv_multipart() == [seen_as[0], b"client", b"", b"request %d" % i,
                                        b"", bytes(range(256))]
        assert sub.recv_multipart() == [seen_as[1], b"client", b"", b"reply %d" % i]
    stopped = time.monotonic()
    ctx.shutdown()
    queue.join()
    assert queue.outcome["returned"] - stopped < 1.0
    for sock in (sub, client, worker):
        sock.close()


def test_monitored_queue_between_two_routers_swaps_the_routing_ids(ctx: Context) -> None:
    """A client addresses a worker by its routing id: the in ROUTER adds the client's,
    the queue swaps the two so that the out ROUTER routes to the worker, and back."""
    queue = QueueThread(ctx, zmqffi.ROUTER, zmqffi.ROUTER)
    sub = queue.monitor()
    worker = make(ctx, zmqffi.DEALER, ROUTING_ID=b"W", PROBE_ROUTER=1)
    worker.connect(queue.endpoints["out"])
    # the probe (an empty frame, sent on connect) has passed: the out ROUTER knows W
    assert sub.recv_multipart() == [b"out", b"", b"W"]
    client = make(ctx, zmqffi.DEALER, ROUTING_ID=b"A")
    client.connect(queue.endpoints["in"])
    client.send_multipart([b"W", b"request"])
    assert worker.recv_multipart() == [b"A", b"request"]
    worker.send_multipart([b"A", b"reply"])
    assert client.recv_multipart() == [b"W", b"reply"]
    assert sub.recv_multipart() == [b"in", b"W", b"A", b"request"]
    assert sub.recv_multipart() == [b"out", b"A", b"W", b"reply"]
    ctx.destroy(linger=0)  # from the main thread: the queue returns
    queue.join()


def test_monitored_queue_relays_a_backlog_both_ways_in_order(ctx: Context) -> None:
    """More messages queued on each side than one poll relays (QUEUE_BATCH): each side
    gets every message of the other, in order, and the monitor shows each direction in
    order, none lost or split. (The monitor, a PUB, would drop what exceeds its
    high-water mark, 1000: both directions together stay below it.)"""
    count = zmqffi.devices.QUEUE_BATCH + 7
    queue = QueueThread(ctx, zmqffi.PAIR, zmqffi.PAIR)
    sub = queue.monitor()
    left, right = make(ctx, zmqffi.PAIR), make(ctx, zmqffi.PAIR)
    left.connect(queue.endpoints["in"])
    right.connect(queue.endpoints["out"])
    for i in range(count):  # both backlogs at once, below the default high-water marks
        left.send_multipart([b"L", b"%d" % i])
        right.send_multipart([b"R", b"%d" % i])
    assert [right.recv_multipart() for _ in range(count)] == \
        [[b"L", b"%d" % i] for i in range(count)]
    assert [left.recv_multipart() for _ in range(count)] == \
        [[b"R", b"%d" % i] for i in range(count)]
    seen: dict[bytes, list[list[bytes]]] = {b"in": [], b"out": []}
    for _ in range(2 * count):
        prefix, *msg = sub.recv_multipart()
        seen[prefix].append(msg)
    assert seen == {b"in": [[b"L", b"%d" % i] for i in range(count)],
                    b"out": [[b"R", b"%d" % i] for i in range(count)]}
    ctx.shutdown()
    queue.join()
    for sock in (sub, left, right):
        sock.close()


def test_monitored_queue_checks_its_arguments_and_the_thread(ctx: Context) -> None:
    a, b, mon = (make(ctx, kind) for kind in (zmqffi.ROUTER, zmqffi.DEALER, zmqffi.PUB))
    with pytest.raises(TypeError, match="monitored_queue"):
        monitored_queue(a, b, "mon")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="in_prefix"):
        monitored_queue(a, b, mon, "in")  # type: ignore[arg-type]
    with pytest.raises(zmqffi.LifecycleError, match="belongs to"):
        call_in_thread(lambda: monitored_queue(a, b, mon))
    for sock in (a, b, mon):
        sock.close()


# The same traffic through pyzmq's monitored_queue and zmqffi's, each in its own
# process; what the monitor shows is printed as hex, frame by frame.
COMPARED = """
    import json, os, sys, threading

    if sys.argv[1] == "pyzmq":
        import zmq
        from zmq.devices import monitored_queue
    else:
        import zmqffi as zmq
        from zmqffi.devices import monitored_queue
    out_type = getattr(zmq, sys.argv[2])
    ctx = zmq.Context()
    ready, where = threading.Event(), {}

    def make(kind, **options):
        sock = ctx.socket(kind)
        for name, value in dict(options, LINGER=0, RCVTIMEO=10000).items():
            sock.setsockopt(getattr(zmq, name), value)
        return sock

    def queue():
        ins, outs, mon = make(zmq.ROUTER), make(out_type), make(zmq.XPUB)
        for name, sock in (("in", ins), ("out", outs), ("mon", mon)):
            sock.bind("tcp://127.0.0.1:*")
            endpoint = sock.last_endpoint  # (bytes in pyzmq)
            where[name] = endpoint.decode() if isinstance(endpoint, bytes) else endpoint
        ready.set()
        assert mon.recv() == b"\\x01"  # the subscription: the monitor misses nothing
        monitored_queue(ins, outs, mon, b"IN", b"OUT")

    threading.Thread(target=queue, daemon=True).start()
    assert ready.wait(10)
    sub = make(zmq.SUB, SUBSCRIBE=b"")
    sub.connect(where["mon"])
    seen = []
    if out_type == zmq.ROUTER:
        worker = make(zmq.DEALER, ROUTING_ID=b"W")
        worker.connect(where["out"])
        # once this has passed, the out ROUTER knows W. (Not PROBE_ROUTER: pyzmq's
        # queue between two ROUTERs waits for a third frame, and its probe has two.)
        worker.send_multipart([b"nobody", b"hello"])
        seen.append(sub.recv_multipart())
    else:
        worker = make(zmq.ROUTER)
        worker.connect(where["out"])
    client = make(zmq.DEALER, ROUTING_ID=b"A")
    client.connect(where["in"])
    for i in range(3):
        body = [b"request %d" % i, b"", bytes(range(256)), b"\\x00" * i]
        client.send_multipart(([b"W"] if out_type == zmq.ROUTER else []) + body)
        envelope = worker.recv_multipart()[:-len(body)]  # the routing ids
        worker.send_multipart(envelope + [b"reply %d" % i])
        print(json.dumps([frame.hex() for frame in client.recv_multipart()]), flush=True)
        seen += [sub.recv_multipart(), sub.recv_multipart()]
    print(json.dumps([[frame.hex() for frame in msg] for msg in seen]), flush=True)
    os._exit(0)  # the queue's thread is still in it
"""


@pytest.mark.parametrize("out_type", ["ROUTER", "DEALER"])
def test_monitored_queue_shows_what_pyzmqs_shows(tmp_path: Path, out_type: str) -> None:
    pytest.importorskip("zmq")
    script = tmp_path / "compared.py"
    script.write_text(textwrap.dedent(COMPARED))
    shown = {}
    for impl in ("pyzmq", "zmqffi"):
        done = subprocess.run([sys.executable, str(script), impl, out_type],
                              capture_output=True, text=True, timeout=SLOW_WAIT,
                              cwd=tmp_path)
        assert done.returncode == 0, f"{impl}: {done.stderr}"
        shown[impl] = done.stdout.splitlines()
    assert shown["zmqffi"] == shown["pyzmq"]
    monitor = [[bytes.fromhex(frame) for frame in msg]
               for msg in json.loads(shown["zmqffi"][-1])]
    request_ids, reply_ids = [b"A"], [b"A"]  # the in ROUTER's routing id of the client
    if out_type == "ROUTER":  # ...swapped with the worker's, which the client named
        assert monitor.pop(0) == [b"OUT", b"nobody", b"W", b"hello"]
        request_ids, reply_ids = [b"W", b"A"], [b"A", b"W"]
    assert monitor == [msg for i in range(3) for msg in (
        [b"IN", *request_ids, b"request %d" % i, b"", bytes(range(256)), b"\x00" * i],
        [b"OUT", *reply_ids, b"reply %d" % i])]
