"""Socket monitoring: the events of a connection's life, an explicit endpoint and event
mask, and a monitor whose reader went away."""

from __future__ import annotations

from typing import Any

import pytest

import zmqffi
from conftest import SLOW_WAIT, TIMEOUT_MS, make
from zmqffi import Context, Socket


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


MONITOR_AFTER_READER_CLOSED = """
import time
import zmqffi

with zmqffi.Context() as ctx, ctx.socket(zmqffi.PAIR) as sock, \\
        ctx.socket(zmqffi.PAIR) as peer:
    for step in range(3):
        with sock.get_monitor_socket() as reader:  # read an event, then close
            reader.setsockopt(zmqffi.RCVTIMEO, 5000)
            sock.bind("tcp://127.0.0.1:*")
            while zmqffi.recv_monitor_message(reader).event != zmqffi.EVENT_LISTENING:
                pass  # (connection events of the peer may come first)
        # Not a synchronisation: the hang needed libzmq to have finished tearing down
        # the reader's pipe (its reaper thread does), which a moment makes certain.
        time.sleep(0.05)
        # events with nobody left to read them: from this thread (a bind) and from an
        # I/O thread (a connection accepted)
        sock.bind("tcp://127.0.0.1:*")
        peer.connect(sock.last_endpoint)
        peer.send(b"through")
        assert sock.recv() == b"through"
        print("restart", step, flush=True)
    reader = sock.get_monitor_socket()
    sock.monitor(None)  # stopped by hand first, as the ventilator example does
    reader.close()
    with sock.get_monitor_socket():  # and replaced while its reader lives
        sock.get_monitor_socket().close()
    time.sleep(0.05)
    sock.get_monitor_socket().close()  # a new one after the old reader's pipe is gone
    print("stopped", flush=True)
"""


def test_monitor_reader_closed_while_its_monitor_runs(spawn: Any) -> None:
    """libzmq 4.3.4 sends monitor events with blocking sends: once the reader is
    closed, the next event (a bind, a connection, a new monitor) waited forever. The
    reader from get_monitor_socket() stops its monitor as it closes: nothing hangs."""
    peer = spawn(MONITOR_AFTER_READER_CLOSED)
    for _ in range(3):
        peer.expect("restart")
    peer.expect("stopped")
    assert peer.proc.wait(SLOW_WAIT) == 0
