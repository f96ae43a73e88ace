"""The Context and the lifecycle rules of API.md: one live Context per process, term()
that refuses instead of hanging, destroy()/shutdown() from any thread, what a terminated
or shut down Context refuses, idempotent close() and ``with``.

Every wait is bounded: a call that must not block runs in a helper thread joined with a
timeout, so a regression fails the test instead of hanging the suite."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import zmqffi
from conftest import (SLOW_WAIT, WAIT, a_context_is_live, call_in_thread, exchange, fails,
                      free_port, pipe)
from zmqffi import Context, LifecycleError, Message, Socket, lib

# several tests here make their own Context: none may be left live for the next
pytestmark = pytest.mark.usefixtures("no_context_left_live")


def here() -> str:
    """'file:line' of the caller: what a creation site must name."""
    frame = sys._getframe(1)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def wait_until_past_the_checks(thread: threading.Thread, method: Callable[..., Any],
                               sockets: list[zmqffi.Socket]) -> None:
    """Wait until ``thread`` is in a call of ``method`` past its ownership check: from
    there on it goes into libzmq whatever happens, so what the test does next meets a
    call blocked in libzmq, not one refused. Every call into libzmq on a socket checks
    the owner in C, inside its one cffi call, and counts itself in the socket's C
    ``busy`` while in libzmq: past the check is that count up."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread.ident)
        while frame is not None:
            if frame.f_code is method.__code__ and any(
                    lib.zmqffi_socket_busy(s._state.cstate) for s in sockets):
                return
            frame = frame.f_back
        time.sleep(0.001)  # polling a state, not standing in for it
    pytest.fail(f"{thread.name} never got past the checks of {method.__qualname__}")


# --- one live Context per process -----------------------------------------------------

def test_a_second_context_names_where_the_first_was_made() -> None:
    first, site = Context(), here()
    try:
        with pytest.raises(LifecycleError) as info:
            Context()
        assert site in str(info.value)
        assert info.value.errno == 0
        assert Context.instance() is first
    finally:
        first.term()
    # once terminated, a new one may be made, and instance() makes one if none is live
    second = Context.instance()
    assert second is not first and not second.closed
    second.term()


def test_a_second_context_says_where_the_first_was_made(ctx: Context,
                                                        pair: tuple[Socket, Socket]
                                                        ) -> None:
    fails(Context, LifecycleError, "already live", "conftest.py")
    assert Context.instance() is ctx
    exchange(*pair)


SECOND_CONTEXT = """
import zmqffi

first = zmqffi.Context()  # line 4
try:
    zmqffi.Context()
except zmqffi.LifecycleError as exc:
    print(exc)
first.term()
"""


def test_a_program_in_a_folder_named_zmqffi_is_named_as_the_site(tmp_path: Path) -> None:
    """Only zmqffi's own files are skipped when looking for where a Context was made,
    not every file under a folder that happens to be called zmqffi."""
    app = tmp_path / "zmqffi" / "app.py"
    app.parent.mkdir()
    app.write_text(SECOND_CONTEXT)
    done = subprocess.run([sys.executable, str(app)], capture_output=True, text=True,
                          timeout=SLOW_WAIT, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"created at {app}:4 in <module>" in done.stdout, done.stdout


def test_context_options_and_closed_state(ctx: Context) -> None:
    assert ctx.get(zmqffi.IO_THREADS) == 1
    ctx.set(zmqffi.MAX_SOCKETS, 64)
    assert ctx.get(zmqffi.MAX_SOCKETS) == 64
    with pytest.raises(TypeError, match="int"):
        ctx.set(zmqffi.MAX_SOCKETS, "64")
    assert not ctx.closed
    ctx.term()
    assert ctx.closed


def test_io_threads_argument_is_applied_and_checked() -> None:
    with pytest.raises(TypeError):
        Context(io_threads="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Context(io_threads=-1)
    with Context(io_threads=2) as ctx:
        assert ctx.get(zmqffi.IO_THREADS) == 2


def test_io_threads_that_libzmq_could_not_start_are_refused() -> None:
    # libzmq starts them at the first socket and aborted the process when it could not
    # (found by the fuzz run: IO_THREADS=924593, then a socket)
    with pytest.raises(ValueError, match="924593 I/O threads"):
        Context(io_threads=924593)
    with Context() as ctx:
        with pytest.raises(ValueError, match="924593 I/O threads"):
            ctx.set(zmqffi.IO_THREADS, 924593)
        assert ctx.get(zmqffi.IO_THREADS) == 1  # unchanged
        ctx.set(zmqffi.IO_THREADS, 3)
        with ctx.socket(zmqffi.PAIR) as sock:  # the first socket starts them
            sock.bind("tcp://127.0.0.1:*")


# --- term() ---------------------------------------------------------------------------

def test_term_with_open_sockets_lists_them_and_changes_nothing(ctx: Context) -> None:
    push, push_site = ctx.socket(zmqffi.PUSH), here()
    push.bind("inproc://term-listing")
    pull, pull_site = ctx.socket(zmqffi.PULL), here()
    pull.connect("inproc://term-listing")

    # zmq_ctx_term would wait for these forever; term() must refuse at once instead
    with pytest.raises(LifecycleError) as info:
        call_in_thread(ctx.term)
    text = str(info.value)
    assert "2 socket(s)" in text
    assert "PUSH socket inproc://term-listing" in text and push_site in text
    assert "PULL socket inproc://term-listing" in text and pull_site in text

    # nothing changed: the context and both sockets still work
    assert not ctx.closed
    push.send(b"still working")
    pull.setsockopt(zmqffi.RCVTIMEO, int(WAIT * 1000))
    assert pull.recv() == b"still working"

    push.close()
    pull.close()
    ctx.term()
    assert ctx.closed


def test_term_after_closing_sockets_does_not_block(ctx: Context) -> None:
    push, pull = pipe(ctx, "inproc://term-after-close")
    push.send(b"queued, never read")
    push.close(linger=0)
    pull.close()
    call_in_thread(ctx.term)
    assert ctx.closed


def test_use_of_a_terminated_context_raises_eterm() -> None:
    ctx = Context()
    ctx.term()
    for name, call in {"socket": lambda: ctx.socket(zmqffi.PUSH),
                       "get": lambda: ctx.get(zmqffi.IO_THREADS),
                       "set": lambda: ctx.set(zmqffi.MAX_SOCKETS, 10),
                       "handle": lambda: ctx.handle}.items():
        with pytest.raises(LifecycleError) as info:
            call()
        assert info.value.errno == zmqffi.ETERM, name
        assert "terminated" in str(info.value), name


def test_a_terminated_context_is_refused() -> None:
    ctx = Context()
    sock = ctx.socket(zmqffi.PAIR)
    sock.close()
    ctx.term()
    fails(lambda: ctx.socket(zmqffi.PAIR), LifecycleError, "terminated",
          errnum=zmqffi.ETERM)
    fails(lambda: ctx.get(zmqffi.IO_THREADS), LifecycleError, "terminated")
    fails(lambda: sock.send(b"x"), LifecycleError, "closed")
    ctx.term()  # idempotent
    with Context() as again, again.socket(zmqffi.PAIR) as a, \
            again.socket(zmqffi.PAIR) as b:
        a.bind("inproc://after-term")
        b.connect("inproc://after-term")
        exchange(a, b)


# --- destroy() and shutdown() ---------------------------------------------------------

def test_destroy_closes_open_sockets_with_the_given_linger(ctx: Context) -> None:
    # a PUSH with a queued message to a peer that never comes: with the default
    # (infinite) linger this would keep zmq_ctx_term waiting; linger=0 drops it
    push = ctx.socket(zmqffi.PUSH)
    push.connect("tcp://127.0.0.1:9")  # the discard port: nobody listens in tests
    push.send(b"never delivered")
    pull = ctx.socket(zmqffi.PULL)
    call_in_thread(lambda: ctx.destroy(linger=0))
    assert ctx.closed and push.closed and pull.closed
    # API.md, destroy(): the owner of a socket destroy() closed gets ContextTerminated
    # (a worker loop that stops on it stops cleanly), from every later call
    for call in (lambda: push.send(b"x"), pull.recv, lambda: push.setsockopt(
            zmqffi.LINGER, 0), lambda: pull.bind("inproc://after-destroy")):
        with pytest.raises(zmqffi.ContextTerminated) as info:
            call()
        assert info.value.errno == zmqffi.ETERM
    push.close()  # closing again does nothing


Blocking = tuple[Callable[[], Any], Callable[..., Any], list[zmqffi.Socket]]


def block_in_recv(ctx: Context) -> Blocking:
    pull = ctx.socket(zmqffi.PULL)
    pull.bind("inproc://destroy-while-blocked")
    return pull.recv, zmqffi.Socket.recv, [pull]


def block_in_send(ctx: Context) -> Blocking:
    pull = ctx.socket(zmqffi.PULL)
    pull.setsockopt(zmqffi.RCVHWM, 1)
    pull.bind("inproc://destroy-while-blocked")
    push = ctx.socket(zmqffi.PUSH)
    push.setsockopt(zmqffi.SNDHWM, 1)
    push.connect("inproc://destroy-while-blocked")
    with pytest.raises(zmqffi.Again):
        for _ in range(100):  # fill the pipe: the next blocking send waits
            push.send(b"fill", zmqffi.DONTWAIT)
    return lambda: push.send(b"blocked"), zmqffi.Socket.send, [push, pull]


def block_in_recv_with_a_request_queued(ctx: Context) -> Blocking:
    """A DEALER blocked in recv with a request queued for a server that is not there,
    and LINGER -1 (libzmq's default). Once its recv has returned ETERM, libzmq refuses
    every setsockopt: destroy() sets the linger before it shuts the context down, or
    zmq_ctx_term would wait for that request forever."""
    dealer = ctx.socket(zmqffi.DEALER)
    dealer.connect(f"tcp://127.0.0.1:{free_port()}")  # nobody binds it
    dealer.send(b"request")
    return dealer.recv, zmqffi.Socket.recv, [dealer]


def block_in_poll(ctx: Context) -> Blocking:
    pull = ctx.socket(zmqffi.PULL)
    pull.bind("inproc://destroy-while-blocked")
    poller = zmqffi.Poller()
    poller.register(pull)
    return poller.poll, zmqffi.Poller.poll, [pull]


@pytest.mark.parametrize("block", [block_in_recv, block_in_send, block_in_poll,
                                   block_in_recv_with_a_request_queued],
                         ids=["recv", "send", "poll", "recv-with-a-request-queued"])
def test_destroy_from_another_thread_while_a_third_is_blocked(
        ctx: Context, block: Callable[[Context], Any]) -> None:
    outcome: dict[str, Any] = {}
    ready = threading.Event()
    calls: list[Any] = []

    def blocked_thread() -> None:
        call, method, sockets = block(ctx)  # its sockets belong to this thread
        calls.extend([method, sockets])
        ready.set()
        try:
            call()
        except BaseException as exc:
            outcome["error"] = exc
            outcome["at"] = time.monotonic()

    blocked = threading.Thread(target=blocked_thread, name="blocked", daemon=True)
    blocked.start()
    assert ready.wait(WAIT)
    wait_until_past_the_checks(blocked, calls[0], calls[1])

    started = time.monotonic()
    call_in_thread(lambda: ctx.destroy(linger=0))  # from a third thread
    blocked.join(WAIT)
    assert not blocked.is_alive()
    assert isinstance(outcome.get("error"), zmqffi.ContextTerminated), outcome
    assert outcome["at"] - started < 1.0
    assert ctx.closed and all(sock.closed for sock in calls[1])


def test_context_destroy_from_a_thread_that_owns_no_socket(ctx: Context) -> None:
    push, pull = pipe(ctx, "inproc://destroy-elsewhere")
    call_in_thread(lambda: ctx.destroy(linger=0))
    assert push.closed and pull.closed and ctx.closed


def test_shutdown_from_another_thread_unblocks_recv_and_later_calls(
        ctx: Context) -> None:
    pull = ctx.socket(zmqffi.PULL)
    pull.bind("inproc://shutdown")
    outcome: dict[str, Any] = {}

    def receiver() -> None:
        pull.adopt()
        try:
            pull.recv()
        except BaseException as exc:
            outcome["error"] = exc

    blocked = threading.Thread(target=receiver, name="receiver", daemon=True)
    blocked.start()
    wait_until_past_the_checks(blocked, zmqffi.Socket.recv, [pull])
    call_in_thread(ctx.shutdown)
    blocked.join(WAIT)
    assert not blocked.is_alive()
    assert isinstance(outcome.get("error"), zmqffi.ContextTerminated), outcome

    pull.adopt()  # back to this thread, which closes it
    with pytest.raises(zmqffi.ContextTerminated):  # every later call, but close()
        pull.recv(zmqffi.DONTWAIT)
    with pytest.raises(zmqffi.ContextTerminated):
        ctx.socket(zmqffi.PUSH)
    pull.close()
    ctx.term()
    assert ctx.closed


def test_every_call_after_shutdown_is_context_terminated(ctx: Context) -> None:
    push, pull = pipe(ctx, "inproc://after-shutdown")
    push.send(b"just before")  # libzmq alone would let the next send through
    ctx.shutdown()
    poller = zmqffi.Poller()
    poller.register(pull)
    for name, call in {
        "send": lambda: push.send(b"after"),
        "send_multipart": lambda: push.send_multipart([b"a", b"b"]),
        "recv": lambda: pull.recv(zmqffi.DONTWAIT),
        "recv_msg": lambda: pull.recv_msg(zmqffi.DONTWAIT),
        "setsockopt": lambda: pull.setsockopt(zmqffi.LINGER, 0),
        "bind": lambda: pull.bind("inproc://another"),
        "poll": lambda: poller.poll(0),
        "socket": lambda: ctx.socket(zmqffi.PAIR),
    }.items():
        with pytest.raises(zmqffi.ContextTerminated) as info:
            call()
        assert info.value.errno == zmqffi.ETERM, name
    assert "send on PUSH socket inproc://after-shutdown" in str(
        pytest.raises(zmqffi.ContextTerminated, push.send, b"x").value)
    zmqffi.proxy(pull, push)  # returns at once: the proxy's normal end
    call_in_thread(pull.close)  # close() still works, from any thread now
    push.close()
    assert pull.closed and push.closed
    ctx.term()


def test_after_shutdown_calls_fail_with_context_terminated(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.PAIR)
    sock.bind("inproc://shut")
    ctx.shutdown()
    fails(lambda: sock.recv(), zmqffi.ContextTerminated, "recv", "PAIR",
          errnum=zmqffi.ETERM)
    fails(lambda: sock.send(b"x"), zmqffi.ContextTerminated, "send")
    sock.close()


def test_context_terminated_names_the_call(ctx: Context) -> None:
    pull = ctx.socket(zmqffi.PULL)
    pull.bind("inproc://eterm")
    ctx.shutdown()
    with pytest.raises(zmqffi.ContextTerminated) as info:
        pull.recv()
    assert info.value.errno == zmqffi.ETERM
    assert "recv on PULL socket inproc://eterm" in str(info.value)
    pull.close()


# --- close() and with -----------------------------------------------------------------

def test_close_is_idempotent_everywhere() -> None:
    ctx = Context()
    sock = ctx.socket(zmqffi.PAIR)
    msg = Message(b"payload")
    for _ in range(2):
        msg.close()
        sock.close()
        sock.close(linger=0)
    assert msg.closed and sock.closed
    ctx.term()
    ctx.term()
    ctx.destroy()
    ctx.destroy(linger=0)
    ctx.shutdown()
    assert ctx.closed


def test_with_closes_all_three() -> None:
    with Context() as ctx:
        with ctx.socket(zmqffi.PUSH) as push, ctx.socket(zmqffi.PULL) as pull:
            push.bind("inproc://with")
            pull.connect("inproc://with")
            with Message(b"hello") as msg:
                push.send(msg)
            assert msg.closed
            assert pull.recv() == b"hello"
        assert push.closed and pull.closed
    assert ctx.closed


def test_with_context_normal_exit_reports_an_open_socket_and_stays_live() -> None:
    ctx = Context()
    with pytest.raises(LifecycleError, match="PAIR socket"):
        with ctx:
            sock = ctx.socket(zmqffi.PAIR)
    assert not ctx.closed
    sock.close()
    ctx.term()


def test_with_context_exit_by_exception_destroys_without_masking_it() -> None:
    class Boom(Exception):
        pass

    def body() -> None:
        with Context() as ctx:
            push = ctx.socket(zmqffi.PUSH)
            push.connect("tcp://127.0.0.1:9")
            push.send(b"pending")  # would make a lingering term() wait
            raise Boom

    with pytest.raises(Boom):
        call_in_thread(body)
    assert not a_context_is_live()
