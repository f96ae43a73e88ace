"""Garbage collection: a Socket, Message or Context collected open warns
(ResourceWarning) and is cleaned up all the same, even when that warning is an error;
a socket keeps its Context alive."""

from __future__ import annotations

import gc
import sys
import warnings
import weakref
from typing import Any

import pytest

import zmqffi
from conftest import a_context_is_live, call_in_thread, collect, resource_warnings
from zmqffi import Context, Message

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
    push.send(b"pending")  # destroyed with linger 0, so nothing waits for it
    ref = weakref.ref(ctx)
    with resource_warnings() as seen:
        del ctx, push
        call_in_thread(lambda: collect(ref))  # bounded: a lingering term would hang
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
