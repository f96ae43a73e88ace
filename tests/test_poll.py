"""Poller over sockets and plain file descriptors: readiness, POLLOUT, modify and
unregister, what it refuses, and a poll ended by shutdown() from another thread."""

from __future__ import annotations

import os
import socket as pysocket
import threading
import time
from typing import Any

import pytest

import zmqffi
from conftest import TIMEOUT_MS, WAIT, pipe
from zmqffi import Context, LifecycleError, Poller


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
