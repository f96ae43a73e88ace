"""Threads: blocking calls release the GIL, threads each with their own sockets, and
the ownership rule: a socket belongs to the thread that made or adopted it, and a call
from any other thread is refused (naming both threads) and changes nothing."""

from __future__ import annotations

import gc
import queue
import threading
import time
import warnings
from typing import Any

import pytest

import zmqffi
from conftest import (SLOW_WAIT, TIMEOUT_MS, WAIT, call_in_thread, exchange, fails,
                      hot_calls)
from zmqffi import Context, LifecycleError, Socket

# several tests here make their own Context: none may be left live for the next
pytestmark = pytest.mark.usefixtures("no_context_left_live")


def test_blocking_recv_releases_the_gil(ctx: Context) -> None:
    # if recv held the GIL, this thread could not send what ends the wait: the
    # receiver would time out (Again) after TIMEOUT_MS instead
    pull = ctx.socket(zmqffi.PULL)
    pull.setsockopt(zmqffi.RCVTIMEO, TIMEOUT_MS)
    pull.bind("inproc://gil")
    push = ctx.socket(zmqffi.PUSH)
    push.connect("inproc://gil")
    outcome: dict[str, Any] = {}
    entered = threading.Event()

    def receiver() -> None:
        pull.adopt()
        entered.set()
        try:
            outcome["data"] = pull.recv()
            outcome["at"] = time.monotonic()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=receiver, name="receiver")
    thread.start()
    assert entered.wait(SLOW_WAIT)
    count = 0
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:  # Python code runs while the receiver waits
        count += 1
    sent = time.monotonic()
    push.send(b"through")
    thread.join(SLOW_WAIT)
    assert outcome.get("data") == b"through", outcome
    assert outcome["at"] - sent < 1.0 and count > 0
    pull.adopt()
    pull.close()
    push.close()


def test_threads_each_with_their_own_sockets(ctx: Context) -> None:
    sink = ctx.socket(zmqffi.PULL)
    sink.setsockopt(zmqffi.RCVTIMEO, TIMEOUT_MS)
    sink.bind("inproc://sink")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with ctx.socket(zmqffi.PUSH) as push:
                push.connect("inproc://sink")
                for i in range(200):
                    push.send_multipart([b"%d" % n, b"%d" % i])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    got: dict[bytes, list[int]] = {}
    for _ in range(4 * 200):
        n, i = sink.recv_multipart()
        got.setdefault(n, []).append(int(i))
    for thread in threads:
        thread.join(SLOW_WAIT)
    assert not errors
    assert got == {b"%d" % n: list(range(200)) for n in range(4)}  # per-peer order
    sink.close()


def test_sockets_left_open_by_an_exited_thread_are_destroyed_safely() -> None:
    ctx = Context()

    def leaky() -> None:
        push = ctx.socket(zmqffi.PUSH)
        push.connect("tcp://127.0.0.1:9")
        push.send(b"pending")
        leaky.socket = push  # type: ignore[attr-defined]  # outlives the thread

    thread = threading.Thread(target=leaky, name="leaky")
    thread.start()
    thread.join(SLOW_WAIT)
    with pytest.raises(LifecycleError, match="PUSH socket tcp://127.0.0.1:9"):
        ctx.term()
    ctx.destroy(linger=0)
    assert leaky.socket.closed  # type: ignore[attr-defined]


# --- thread ownership -----------------------------------------------------------------

def test_use_from_another_thread_names_both_threads(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.PUSH)
    sock.bind("inproc://owned")
    owner = threading.current_thread()
    intruder_ident: list[int] = []

    def intrude() -> None:
        intruder_ident.append(threading.get_ident())
        sock.send(b"not mine")

    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            intrude()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="intruder", daemon=True)
    thread.start()
    thread.join(WAIT)
    error = outcome.get("error")
    assert isinstance(error, LifecycleError), outcome
    text = str(error)
    assert f"{owner.name!r}" in text and str(owner.ident) in text
    assert "'intruder'" in text and str(intruder_ident[0]) in text
    assert "PUSH socket inproc://owned" in text
    sock.close()


def test_every_call_from_a_foreign_thread_names_both_threads(
        ctx: Context, pair: tuple[Socket, Socket]) -> None:
    a, b = pair
    endpoint = a.last_endpoint
    poller = zmqffi.Poller()
    poller.register(a)
    calls = {
        "send": lambda: a.send(b"x"), "recv": lambda: a.recv(zmqffi.DONTWAIT),
        "recv_msg": lambda: a.recv_msg(), "recv_into": lambda: a.recv_into(bytearray(4)),
        "bind": lambda: a.bind("inproc://foreign"),
        "connect": lambda: a.connect("inproc://foreign"),
        "unbind": lambda: a.unbind(endpoint),
        "setsockopt(LINGER)": lambda: a.setsockopt(zmqffi.LINGER, 0),
        "getsockopt(RCVTIMEO)": lambda: a.getsockopt(zmqffi.RCVTIMEO),
        "close": lambda: a.close(), "poll": lambda: poller.poll(0),
        "monitor": lambda: a.monitor(None),
        "proxy": lambda: zmqffi.proxy(a, b),
    }
    errors: dict[str, BaseException] = {}

    def intrude() -> None:
        for name, call in calls.items():
            try:
                call()
            except BaseException as exc:  # noqa: BLE001 - inspected below
                errors[name] = exc

    owner = threading.current_thread()
    thread = threading.Thread(target=intrude, name="intruder")
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert errors.keys() == calls.keys()
    for name, exc in errors.items():
        assert isinstance(exc, LifecycleError), f"{name}: {exc!r}"
        message = str(exc)
        for word in (name, repr(owner.name), str(owner.ident), "'intruder'",
                     str(thread.ident), "adopt"):
            assert word in message, f"{name}: {word!r} not in {message!r}"
    assert not a.closed
    exchange(a, b)  # the owner still uses it


@pytest.mark.parametrize("call", [*hot_calls(None), "close", "setsockopt",  # type: ignore
                                  "connect"])
def test_every_call_from_another_thread_is_refused(ctx: Context, call: str) -> None:
    sock = ctx.socket(zmqffi.PAIR)
    sock.bind("inproc://refused")
    peer = ctx.socket(zmqffi.PAIR)
    peer.connect("inproc://refused")
    peer.send(b"queued")  # so that a receive the check let through would succeed
    calls = {**hot_calls(sock), "close": sock.close,
             "setsockopt": lambda: sock.setsockopt(zmqffi.LINGER, 0),
             "connect": lambda: sock.connect("inproc://nowhere")}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # a refused call leaks nothing
        with pytest.raises(LifecycleError, match="belongs to thread"):
            call_in_thread(calls[call])
        gc.collect()
    assert not sock.closed
    assert sock.recv(zmqffi.DONTWAIT) == b"queued"  # the refused call took nothing
    with pytest.raises(zmqffi.Again):  # and sent nothing
        peer.recv(zmqffi.DONTWAIT)
    sock.close()
    peer.close()


def test_adopt_moves_ownership_through_a_queue(ctx: Context) -> None:
    pull = ctx.socket(zmqffi.PULL)
    pull.bind("inproc://adopt")
    pull.setsockopt(zmqffi.RCVTIMEO, int(WAIT * 1000))
    handover: queue.Queue[zmqffi.Socket] = queue.Queue()

    def worker() -> None:
        push = ctx.socket(zmqffi.PUSH)
        push.connect("inproc://adopt")
        handover.put(push)  # the queue is the synchronisation

    call_in_thread(worker)
    push = handover.get(timeout=WAIT)
    with pytest.raises(LifecycleError, match="belongs to thread"):
        push.send(b"before adopt")
    push.adopt()
    push.send(b"after adopt")
    assert pull.recv() == b"after adopt"
    push.close()
    pull.close()


def test_adopted_socket_is_refused_to_its_former_owner(ctx: Context) -> None:
    handover: queue.Queue[Socket] = queue.Queue()
    adopted: queue.Queue[Socket] = queue.Queue()
    done = threading.Event()
    errors: list[BaseException] = []

    def new_owner() -> None:
        try:
            sock = handover.get(timeout=TIMEOUT_MS / 1000)
            sock.adopt()
            sock.bind("inproc://adopted")
            adopted.put(sock)
            assert done.wait(TIMEOUT_MS / 1000)
            assert sock.recv() == b"to the new owner"
            sock.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=new_owner, name="new-owner")
    thread.start()
    sock = ctx.socket(zmqffi.PAIR)
    sock.setsockopt(zmqffi.RCVTIMEO, TIMEOUT_MS)
    handover.put(sock)
    assert adopted.get(timeout=TIMEOUT_MS / 1000) is sock  # after adopt() and bind()
    fails(lambda: sock.send(b"x"), LifecycleError, "'new-owner'", "send")
    with ctx.socket(zmqffi.PAIR) as peer:
        peer.setsockopt(zmqffi.LINGER, 1000)
        peer.connect("inproc://adopted")
        peer.send(b"to the new owner")
        done.set()
        thread.join(TIMEOUT_MS / 1000)
    assert not thread.is_alive() and not errors, errors
    assert sock.closed


def test_socket_left_by_a_finished_thread_can_be_adopted(ctx: Context) -> None:
    holder: list[zmqffi.Socket] = []
    call_in_thread(lambda: holder.append(ctx.socket(zmqffi.PAIR)))
    sock = holder[0]
    with pytest.raises(LifecycleError, match="no longer running"):
        sock.bind("inproc://orphan")
    sock.adopt()
    sock.bind("inproc://orphan")
    sock.close()
