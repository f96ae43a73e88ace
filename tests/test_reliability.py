"""Components in any order, peers that die and come back, bounded queues: ZeroMQ's
promises (RELIABILITY.md) kept through zmqffi's layer, over real tcp loopback and real
processes.

Every wait is bounded (RCVTIMEO/SNDTIMEO, poll timeouts, subprocess deadlines) and every
step waits for an event (a line from a peer, a monitor event, a message), never for a
sleep. Peers are small scripts run with ``sys.executable``; zmqffi reconnects by itself
(RECONNECT_IVL is short so that it does so at once).
"""

from __future__ import annotations

import errno
import time
from typing import Any

import pytest

import zmqffi
from conftest import (TIMEOUT_MS, bind_connect, close, free_port, make, monitor_of, readable,
                      subscribe_and_sync)
from zmqffi import Context, Socket


WAIT_MS = 10_000  # a bound on each blocking call: generous, only reached on failure


RECONNECT_MS = 10


STAGE = """
import os, sys
import zmqffi

mode, source, sink = sys.argv[1:4]
stall = "--stall" in sys.argv
with zmqffi.Context() as ctx, ctx.socket(zmqffi.PULL) as pull, \\
        ctx.socket(zmqffi.PUSH) as push:
    for s in (pull, push):
        s.setsockopt(zmqffi.RECONNECT_IVL, 10)
        s.setsockopt(zmqffi.LINGER, 2000)
    push.connect(sink)
    if mode == "bind":
        pull.bind(source)
    else:
        pull.connect(source)
    print("ready", os.getpid(), flush=True)
    tag = str(os.getpid()).encode()
    while True:
        task = pull.recv()
        if task == b"END":
            break
        print("got", task.decode(), flush=True)
        if stall:
            sys.stdin.read()  # never returns: the test kills us
        push.send_multipart([tag, task])
print("done", flush=True)
"""


SERVER = """
import os, sys
import zmqffi

endpoint, crash_on = sys.argv[1], int(sys.argv[2])
with zmqffi.Context() as ctx, ctx.socket(zmqffi.REP) as rep:
    rep.setsockopt(zmqffi.LINGER, 0)
    rep.bind(endpoint)
    print("ready", os.getpid(), flush=True)
    served = 0
    while True:
        request = rep.recv()
        served += 1
        print("got", request.decode(), flush=True)
        if served == crash_on:
            os._exit(3)  # a crash: no reply, no cleanup
        rep.send(b"ok " + request)
"""


def free_endpoint() -> str:
    """A tcp loopback endpoint nobody listens on (yet)."""
    return f"tcp://127.0.0.1:{free_port()}"


def reconnecting(ctx: Context, kind: int, **options: int) -> Socket:
    """A test socket (conftest's make) with this file's longer bound, that reconnects at
    once to a peer that comes back."""
    return make(ctx, kind, **{"RCVTIMEO": WAIT_MS, "SNDTIMEO": WAIT_MS,
                              "RECONNECT_IVL": RECONNECT_MS, **options})


def listening(ctx: Context, kind: int, **options: int) -> Socket:
    """A reconnecting() socket bound to a wildcard tcp loopback port."""
    sock = reconnecting(ctx, kind, **options)
    sock.bind("tcp://127.0.0.1:*")
    return sock


def wait_event(monitor: Socket, event: int) -> None:
    """Read monitor events (bounded by the monitor's RCVTIMEO) until ``event``."""
    while zmqffi.recv_monitor_message(monitor).event != event:
        pass


def wait_until_unwritable(sock: Socket) -> None:
    """Until ``sock`` has no peer to send to (reading EVENTS makes it process the
    commands its I/O thread sent, such as "this pipe is gone")."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while sock.getsockopt(zmqffi.EVENTS) & zmqffi.POLLOUT:
        assert time.monotonic() < deadline, f"{sock} still has a peer"


def collect_results(sink: Socket, count: int) -> list[tuple[bytes, bytes]]:
    return [tuple(sink.recv_multipart()) for _ in range(count)]  # type: ignore[misc]


# --- components in any order ----------------------------------------------------------

@pytest.mark.parametrize("pattern", ["PUSH/PULL", "REQ/REP", "DEALER/ROUTER"])
def test_connect_before_bind(ctx: Context, pattern: str) -> None:
    """The connecting side may come first: it retries until the bind appears, and what
    it sent meanwhile is queued, then delivered in order."""
    endpoint = free_endpoint()
    sender_kind, receiver_kind = (getattr(zmqffi, n) for n in pattern.split("/"))
    sender = reconnecting(ctx, sender_kind)
    sender.connect(endpoint)
    # nobody listens yet: the first message waits in the connecting side's queue
    sender.send(b"first", zmqffi.DONTWAIT)
    receiver = reconnecting(ctx, receiver_kind)
    receiver.bind(endpoint)
    if pattern == "PUSH/PULL":
        for i in range(100):
            sender.send(b"%d" % i)
        assert receiver.recv() == b"first"
        assert [receiver.recv() for _ in range(100)] == [b"%d" % i for i in range(100)]
    elif pattern == "REQ/REP":
        assert receiver.recv() == b"first"
        receiver.send(b"reply")
        assert sender.recv() == b"reply"
    else:
        identity, body = receiver.recv_multipart()
        assert body == b"first"
        receiver.send_multipart([identity, b"reply"])
        assert sender.recv() == b"reply"
    sender.close()
    receiver.close()


def test_worker_started_after_the_ventilator_bound(ctx: Context, spawn: Any) -> None:
    """A bound PUSH with no peer holds its message (send would block: nothing is
    dropped); a worker that turns up later gets every task."""
    ventilator = listening(ctx, zmqffi.PUSH)
    sink = listening(ctx, zmqffi.PULL)
    with pytest.raises(zmqffi.Again):
        ventilator.send(b"nobody there", zmqffi.DONTWAIT)
    worker = spawn(STAGE, "connect", ventilator.last_endpoint, sink.last_endpoint)
    worker.expect("ready")
    tasks = [b"task %d" % i for i in range(200)]
    for task in tasks:  # the first send waits (SNDTIMEO-bounded) for the worker
        ventilator.send(task)
    results = collect_results(sink, len(tasks))
    assert [task for _, task in results] == tasks
    ventilator.send(b"END")
    worker.expect("done")
    ventilator.close()
    sink.close()


def test_worker_started_after_the_ventilator_sent(ctx: Context, spawn: Any) -> None:
    """A connecting PUSH queues what it sends before its peer exists; the worker started
    afterwards receives the whole queue, in order."""
    endpoint = free_endpoint()
    sink = listening(ctx, zmqffi.PULL)
    ventilator = reconnecting(ctx, zmqffi.PUSH)
    ventilator.connect(endpoint)
    tasks = [b"queued %d" % i for i in range(500)]
    for task in tasks:
        ventilator.send(task, zmqffi.DONTWAIT)  # queued: never blocks, never Again
    worker = spawn(STAGE, "bind", endpoint, sink.last_endpoint)
    worker.expect("ready")
    assert [task for _, task in collect_results(sink, len(tasks))] == tasks
    ventilator.send(b"END")
    worker.expect("done")
    ventilator.close()
    sink.close()


# --- peers killed and restarted -------------------------------------------------------

def test_connecting_side_reconnects_to_a_restarted_peer(ctx: Context, spawn: Any) -> None:
    """Our PUSH connects to a stage that is killed (SIGKILL) and started again on the
    same port: zmqffi reconnects by itself, and what we sent while the stage was down
    was kept in our queue and is delivered to the new one."""
    endpoint = free_endpoint()
    sink = listening(ctx, zmqffi.PULL)
    ventilator = reconnecting(ctx, zmqffi.PUSH)
    monitor = monitor_of(ventilator, timeout_ms=WAIT_MS)
    ventilator.connect(endpoint)
    first = spawn(STAGE, "bind", endpoint, sink.last_endpoint)
    first.expect("ready")
    before = [b"before %d" % i for i in range(50)]
    for task in before:
        ventilator.send(task)
    results = collect_results(sink, len(before))
    assert [task for _, task in results] == before

    first.kill()
    wait_event(monitor, zmqffi.EVENT_DISCONNECTED)
    during = [b"during %d" % i for i in range(50)]
    for task in during:
        ventilator.send(task, zmqffi.DONTWAIT)  # the peer is down: queued here
    assert not readable(sink, 200)

    second = spawn(STAGE, "bind", endpoint, sink.last_endpoint)
    pid = second.expect("ready").split()[1].encode()
    wait_event(monitor, zmqffi.EVENT_HANDSHAKE_SUCCEEDED)  # reconnected by itself
    after = [b"after %d" % i for i in range(50)]
    for task in after:
        ventilator.send(task)
    results = collect_results(sink, len(during) + len(after))
    assert [task for _, task in results] == during + after
    assert {tag for tag, _ in results} == {pid}
    ventilator.send(b"END")
    second.expect("done")
    for s in (monitor, ventilator, sink):
        s.close()


def test_bound_side_serves_a_restarted_worker(ctx: Context, spawn: Any) -> None:
    """The ventilator and sink stay; a worker is killed and another one starts: the
    ventilator notices the death, holds new tasks until the new worker connects (never
    sending them into the dead connection), and the batch completes."""
    ventilator = listening(ctx, zmqffi.PUSH)
    sink = listening(ctx, zmqffi.PULL)
    monitor = monitor_of(ventilator, timeout_ms=WAIT_MS)
    old = spawn(STAGE, "connect", ventilator.last_endpoint, sink.last_endpoint)
    old.expect("ready")
    first = [b"one %d" % i for i in range(50)]
    for task in first:
        ventilator.send(task)
    assert [task for _, task in collect_results(sink, len(first))] == first

    old.kill()
    wait_event(monitor, zmqffi.EVENT_DISCONNECTED)
    # The monitor's event comes from the I/O thread; the socket drops the dead pipe
    # when it next processes its commands. Until then a send would still go to the dead
    # worker (and be lost with it): that is the window RELIABILITY.md warns about.
    wait_until_unwritable(ventilator)
    with pytest.raises(zmqffi.Again):  # no worker: held back, not dropped
        ventilator.send(b"nobody", zmqffi.DONTWAIT)

    new = spawn(STAGE, "connect", ventilator.last_endpoint, sink.last_endpoint)
    pid = new.expect("ready").split()[1].encode()
    second = [b"two %d" % i for i in range(50)]
    for task in second:
        ventilator.send(task)
    results = collect_results(sink, len(second))
    assert [task for _, task in results] == second
    assert {tag for tag, _ in results} == {pid}
    ventilator.send(b"END")
    new.expect("done")
    for s in (monitor, ventilator, sink):
        s.close()


def test_push_to_a_dead_worker_loses_its_queued_tasks(ctx: Context, spawn: Any) -> None:
    """What the pipeline does NOT promise (RELIABILITY.md): tasks dealt to a worker that
    dies are gone with it; the live worker's share arrives, nothing else."""
    ventilator = listening(ctx, zmqffi.PUSH)
    sink = listening(ctx, zmqffi.PULL)
    monitor = monitor_of(ventilator, timeout_ms=WAIT_MS)
    stuck = spawn(STAGE, "connect", ventilator.last_endpoint, sink.last_endpoint,
                  "--stall")
    healthy = spawn(STAGE, "connect", ventilator.last_endpoint, sink.last_endpoint)
    stuck.expect("ready")
    healthy.expect("ready")
    for _ in range(2):  # deal only once both are connected: strict round-robin
        wait_event(monitor, zmqffi.EVENT_HANDSHAKE_SUCCEEDED)
    tasks = [b"t%02d" % i for i in range(20)]
    for task in tasks:
        ventilator.send(task)
    stuck_first = stuck.expect("got").split()[1].encode()
    delivered = collect_results(sink, 10)
    stuck.kill()
    wait_event(monitor, zmqffi.EVENT_DISCONNECTED)
    assert not readable(sink, 200)
    got = sorted(task for _, task in delivered)
    assert len(got) == 10 and stuck_first not in got
    assert set(got) < set(tasks)  # the other ten died with the stuck worker
    for s in (monitor, ventilator, sink):
        s.close()


# --- REQ/REP: the lazy pirate ---------------------------------------------------------

REQUEST_TIMEOUT_MS = 300


RETRIES = 20


def test_lazy_pirate_survives_a_crashing_and_a_killed_server(ctx: Context,
                                                              spawn: Any) -> None:
    """The guide's lazy-pirate client: on a timeout, close the REQ (linger 0), open a new
    one, resend. The server crashes mid-request once, is killed between requests once,
    and is restarted each time by a supervisor: every request gets its own answer,
    in order (at least once: the crashed request is seen twice by the servers)."""
    endpoint = free_endpoint()
    servers = [spawn(SERVER, endpoint, "5")]  # the 5th request crashes it
    servers[0].expect("ready")

    def supervise() -> None:
        if servers[-1].proc.poll() is not None:  # dead: start another one
            servers.append(spawn(SERVER, endpoint, "0"))
            servers[-1].expect("ready")

    def open_client() -> Socket:
        client = reconnecting(ctx, zmqffi.REQ)
        client.connect(endpoint)
        return client

    client = open_client()
    retries = 0
    answers = []
    for seq in range(1, 21):
        if seq == 12:
            servers[-1].kill()  # killed while idle, between two requests
        request = b"%d" % seq
        for _ in range(RETRIES):
            client.send(request)
            poller = zmqffi.Poller()
            poller.register(client)
            if poller.poll(REQUEST_TIMEOUT_MS):
                answers.append(client.recv())
                break
            retries += 1
            # REQ is stuck waiting for this answer: it refuses a second send...
            with pytest.raises(zmqffi.ZMQError) as excinfo:
                client.send(request)
            assert excinfo.value.errno == zmqffi.EFSM
            # ...so the lazy pirate drops it and opens a new one
            client.close(linger=0)
            client = open_client()
            supervise()
        else:
            pytest.fail(f"request {seq} got no answer after {RETRIES} tries")
    client.close()
    assert answers == [b"ok %d" % seq for seq in range(1, 21)]
    assert len(servers) == 3 and retries >= 2
    servers[-1].kill()
    seen = [line for server in servers for line in server.drain() if line.startswith("got")]
    requests = [int(line.split()[1]) for line in seen]
    assert set(requests) == set(range(1, 21))
    assert requests.count(5) >= 2  # the crashed request was served again


# --- bounded queues -------------------------------------------------------------------

def test_push_blocks_at_the_high_water_mark_instead_of_dropping(ctx: Context) -> None:
    """Queues are bounded: a PUSH whose peer does not read ends up refusing (Again)."""
    receiver = reconnecting(ctx, zmqffi.PULL, RCVHWM=10)
    receiver.bind("inproc://hwm-push")
    sender = reconnecting(ctx, zmqffi.PUSH, SNDHWM=10)
    sender.connect("inproc://hwm-push")
    sent = 0
    with pytest.raises(zmqffi.Again):
        for _ in range(10_000):
            sender.send(b"x", zmqffi.DONTWAIT)
            sent += 1
    assert 10 <= sent <= 40  # both sides' HWM, not 10,000
    assert [receiver.recv() for _ in range(sent)] == [b"x"] * sent  # none dropped
    sender.close()
    receiver.close()


SMALL_BUFFERS = {"SNDBUF": 4096, "RCVBUF": 4096}  # keep the kernel's queue short (tcp)


def fill(sock: Socket, payload: bytes, limit: int = 200_000) -> int:
    """Send with DONTWAIT until the socket stays unwritable for 100 ms; return the
    number of messages sent. (The I/O thread may still be moving messages into the
    kernel right after the first Again.)"""
    sent = 0
    while sent < limit:
        try:
            sock.send(payload, zmqffi.DONTWAIT)
            sent += 1
        except zmqffi.Again:
            poller = zmqffi.Poller()
            poller.register(sock, zmqffi.POLLOUT)
            if not poller.poll(100):
                return sent
    pytest.fail(f"no high-water mark reached after {limit} messages")


def test_push_blocks_at_the_high_water_mark(ctx: Context, endpoint: str) -> None:
    pull, push = bind_connect(ctx, endpoint, zmqffi.PULL, zmqffi.PUSH,
                              server={"RCVHWM": 10, **SMALL_BUFFERS},
                              client={"SNDHWM": 10, "SNDTIMEO": 100, **SMALL_BUFFERS})
    # wait for the connection: PUSH also blocks while it has no peer at all
    push.send(b"hello")
    assert pull.recv() == b"hello"
    payload = b"p" * 1000
    sent = fill(push, payload)
    assert sent >= 10
    # a blocking send now waits SNDTIMEO and gives up (over tcp, the kernel may still
    # take a message now and then, so allow a few to go through first)
    for _ in range(20):
        started = time.monotonic()
        try:
            push.send(payload)
        except zmqffi.Again:
            assert time.monotonic() - started >= 0.08
            break
        sent += 1
    else:
        pytest.fail("a blocking send at the high-water mark never timed out")
    # PUSH never drops: every message sent is received, then sending works again
    for _ in range(sent):
        assert pull.recv() == payload
    push.setsockopt(zmqffi.SNDTIMEO, TIMEOUT_MS)
    push.send(b"after")
    assert pull.recv() == b"after"
    close(push, pull)


def test_pub_drops_at_the_high_water_mark(ctx: Context, endpoint: str) -> None:
    pub, sub = bind_connect(ctx, endpoint, zmqffi.PUB, zmqffi.SUB,
                            server={"SNDHWM": 10, **SMALL_BUFFERS},
                            client={"RCVHWM": 10, **SMALL_BUFFERS})
    subscribe_and_sync(pub, sub, b"")
    total = 5000
    payload = b"d" * 1000
    started = time.monotonic()
    for i in range(total):
        pub.send(b"%06d" % i + payload, zmqffi.DONTWAIT)  # never Again: PUB drops
    assert time.monotonic() - started < 5.0
    received = []
    while readable(sub, 200):
        data = sub.recv()
        if not data.endswith(b" probe"):
            received.append(int(data[:6]))
    assert 0 < len(received) < total, "a PUB at its high-water mark must drop"
    assert received == sorted(received)  # what is kept stays in order
    if endpoint.startswith("inproc://"):
        # no I/O thread drains an inproc pipe meanwhile: the first messages are kept, up
        # to both sides' HWM, and every later one is dropped
        assert len(received) <= 40 and received == list(range(len(received)))
    with pytest.raises(zmqffi.ZMQError) as info:  # and a SUB cannot send
        sub.send(b"x")
    assert info.value.errno == errno.ENOTSUP
    close(pub, sub)
