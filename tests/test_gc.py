"""Garbage collection: a Socket, Message or Context collected open warns
(ResourceWarning) and is cleaned up all the same, even when that warning is an error;
a socket keeps its Context alive. A socket collected open (alone or with its Context)
is closed with its own LINGER, or EXIT_LINGER_MS where that is infinite: what it sent
is still delivered, and collection never waits much longer than that."""

from __future__ import annotations

import gc
import sys
import warnings
import weakref
from typing import Any

import pytest

import zmqffi
from conftest import (WAIT, a_context_is_live, call_in_thread, collect, make,
                      resource_warnings)
from zmqffi import Context, Message
from zmqffi.context import EXIT_LINGER_MS

FRAME = b"f" * 1000
COUNT = 10_000  # 10 MB: more than goes out before the socket is collected

# several tests here make their own Context: none may be left live for the next
pytestmark = pytest.mark.usefixtures("no_context_left_live")


def test_socket_collected_open_warns_and_is_closed(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.DEALER)
    sock.bind("inproc://collected")
    ref = weakref.ref(sock)
    with pytest.warns(ResourceWarning, match="DEALER socket inproc://collected"):
        del sock
        collect(ref)
    assert ref() is None
    call_in_thread(ctx.term)  # refuses if the socket were still open


def test_message_collected_open_warns_and_is_freed() -> None:
    msg = Message(b"x" * 1000)
    ref = weakref.ref(msg)
    with pytest.warns(ResourceWarning, match="Message"):
        del msg
        collect(ref)
    assert ref() is None


def test_context_collected_live_warns_and_is_destroyed() -> None:
    ctx = Context()
    push = ctx.socket(zmqffi.PUSH)
    push.connect("tcp://127.0.0.1:9")
    push.send(b"pending")  # for nobody: the linger, EXIT_LINGER_MS, bounds the wait
    ref = weakref.ref(ctx)
    with resource_warnings() as seen:
        del ctx, push
        call_in_thread(lambda: collect(ref))  # bounded: an infinite linger would hang
    assert any("unclosed <zmqffi.Socket PUSH" in text for text in seen), seen
    assert any("unterminated <zmqffi.Context" in text for text in seen), seen
    assert ref() is None
    # it was terminated: a new Context may be made
    assert not a_context_is_live()


def test_cleanup_happens_even_when_resource_warnings_are_errors(ctx: Context) -> None:
    # under -W error::ResourceWarning the warning raises inside __del__; the socket
    # must be closed all the same, or term() would refuse (and zmq_ctx_term hang)
    unraisable: list[Any] = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            sock = ctx.socket(zmqffi.PUSH)
            msg = Message(b"y" * 100)
            refs = weakref.ref(sock), weakref.ref(msg)
            del sock, msg
            collect(*refs)
    finally:
        sys.unraisablehook = old_hook
    assert any(isinstance(u.exc_value, ResourceWarning) for u in unraisable)
    call_in_thread(ctx.term)


def test_sockets_of_a_collected_context_stay_safe() -> None:
    # the socket keeps its context alive: collecting nothing else must not free it
    ctx = Context()
    sock = ctx.socket(zmqffi.PAIR)
    ctx_ref = weakref.ref(ctx)
    del ctx
    gc.collect()
    assert ctx_ref() is not None
    sock.bind("inproc://kept-alive")
    sock.close()
    ctx_ref().term()  # type: ignore[union-attr]


def test_a_socket_collected_open_still_delivers_what_it_sent(ctx: Context) -> None:
    pull = make(ctx, zmqffi.PULL, RCVHWM=0)
    pull.bind("tcp://127.0.0.1:*")
    push = ctx.socket(zmqffi.PUSH)  # LINGER -1: collected, it lingers EXIT_LINGER_MS
    push.setsockopt(zmqffi.SNDHWM, 0)
    push.connect(pull.last_endpoint)
    for _ in range(COUNT):
        push.send(FRAME)
    ref = weakref.ref(push)
    with resource_warnings() as seen:
        del push
        collect(ref)
    assert ref() is None and any("unclosed" in text for text in seen), seen
    for _ in range(COUNT):
        assert pull.recv() == FRAME  # (RCVTIMEO: a lost message fails, never hangs)
    pull.close()


def test_a_context_collected_live_still_delivers_what_was_sent() -> None:
    zmq = pytest.importorskip("zmq")  # the peer: pyzmq's own libzmq and context
    with zmq.Context() as peer_ctx, peer_ctx.socket(zmq.PULL) as pull:
        pull.rcvhwm = 0
        pull.rcvtimeo = int(WAIT * 1000)
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        ctx = Context()
        push = ctx.socket(zmqffi.PUSH)
        push.setsockopt(zmqffi.SNDHWM, 0)
        push.connect(f"tcp://127.0.0.1:{port}")
        for _ in range(COUNT):
            push.send(FRAME)
        ref = weakref.ref(ctx)
        with resource_warnings() as seen:
            del ctx, push
            # bounded: the term waits at most EXIT_LINGER_MS for the peer
            call_in_thread(lambda: collect(ref), timeout=WAIT + EXIT_LINGER_MS / 1000)
        assert ref() is None and any("unterminated" in text for text in seen), seen
        for _ in range(COUNT):
            assert pull.recv() == FRAME
        pull.linger = 0
