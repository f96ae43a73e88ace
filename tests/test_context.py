"""The lifecycle rules of API.md: one live Context, term() that refuses instead of
hanging, destroy()/shutdown() from any thread, idempotent close(), use after close,
``with``, ResourceWarning on garbage collection, and thread ownership.

Every wait is bounded: a call that must not block runs in a helper thread joined with a
timeout, so a regression fails the test instead of hanging the suite."""

from __future__ import annotations

import contextlib
import errno
import gc
import inspect
import queue
import sys
import threading
import time
import warnings
import weakref
from typing import Any, Callable, Iterator, List, Tuple

import pytest

import zmqffi
from zmqffi import Context, LifecycleError, Message, lib

WAIT = 5.0  # seconds: the bound on anything that must happen "at once"


@pytest.fixture(autouse=True)
def no_context_left_live() -> Any:
    """Several tests here make their own Context (the rule under test): one that fails
    half-way must not leave it live and fail every later test with LifecycleError."""
    yield
    gc.collect()
    leftover = zmqffi.context._live()
    if leftover is not None and not leftover.closed:
        leftover.destroy(linger=0)
        pytest.fail(f"the test left {leftover!r} live")


def here() -> str:
    """'file:line' of the caller: what a creation site must name."""
    frame = sys._getframe(1)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def call_in_thread(fn: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Run ``fn`` in a helper thread; return its result or re-raise its exception.
    Fails (instead of hanging) if it has not returned within ``timeout``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="helper", daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{fn} still running after {timeout} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def collect(*refs: weakref.ref) -> None:
    """Collect garbage until every ``refs`` is dead. PyPy finalizes a chain of objects
    with __del__ one link per collection (the Socket, then the Context it held)."""
    for _ in range(10):
        gc.collect()
        if all(ref() is None for ref in refs):
            return


def connected_pair(ctx: Context, name: str) -> tuple[zmqffi.Socket, zmqffi.Socket]:
    push = ctx.socket(zmqffi.PUSH)
    push.bind(f"inproc://{name}")
    pull = ctx.socket(zmqffi.PULL)
    pull.connect(f"inproc://{name}")
    return push, pull


def wait_until_past_the_checks(thread: threading.Thread, method: Callable[..., Any],
                               sockets: list[zmqffi.Socket]) -> None:
    """Wait until ``thread`` is in a call of ``method`` past its ownership check: from
    there on it goes into libzmq whatever happens, so what the test does next meets a
    call blocked in libzmq, not one refused. The hot paths check in C, inside their one
    cffi call, and count themselves in their socket's C ``busy`` while in libzmq: past
    the check is that count up. The others check in Python (the last line calling
    ``refuse(``), found by the frame's line."""
    lines, first = inspect.getsourcelines(method)
    checks = [first + i for i, text in enumerate(lines) if "refuse(" in text]
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread.ident)
        while frame is not None:
            if frame.f_code is method.__code__:
                if checks and frame.f_lineno > max(checks):
                    return
                if not checks and any(lib.zmqffi_socket_busy(s._core.sock)
                                      for s in sockets):
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
    push, pull = connected_pair(ctx, "term-after-close")
    push.send(b"queued, never read")
    push.close(linger=0)
    pull.close()
    call_in_thread(ctx.term)
    assert ctx.closed


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
    with pytest.raises(LifecycleError) as info:
        push.send(b"x")
    assert info.value.errno == errno.ENOTSOCK


# Each sets up, in the calling thread, a call that blocks: (the call, the method it
# blocks in, the sockets to keep referenced meanwhile).
Blocking = Tuple[Callable[[], Any], Callable[..., Any], List[zmqffi.Socket]]


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


def block_in_poll(ctx: Context) -> Blocking:
    pull = ctx.socket(zmqffi.PULL)
    pull.bind("inproc://destroy-while-blocked")
    poller = zmqffi.Poller()
    poller.register(pull)
    return poller.poll, zmqffi.Poller.poll, [pull]


@pytest.mark.parametrize("block", [block_in_recv, block_in_send, block_in_poll],
                         ids=["recv", "send", "poll"])
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
    push, pull = connected_pair(ctx, "after-shutdown")
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


# --- close() and use after close ------------------------------------------------------

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


def test_use_of_a_closed_socket_raises_enotsock(ctx: Context) -> None:
    sock = ctx.socket(zmqffi.PUSH)
    sock.bind("inproc://closed-socket")
    sock.close()
    calls = {
        **hot_calls(sock),
        "bind": lambda: sock.bind("inproc://other"),
        "setsockopt": lambda: sock.setsockopt(zmqffi.LINGER, 0),
        "getsockopt": lambda: sock.getsockopt(zmqffi.LINGER),
        "handle": lambda: sock.handle,
    }
    for name, call in calls.items():
        with pytest.raises(LifecycleError) as info:
            call()
        assert info.value.errno == errno.ENOTSOCK, name
        assert "PUSH socket" in str(info.value) and "closed" in str(info.value), name
    with pytest.raises(LifecycleError):  # adopt() cannot revive it either
        sock.adopt()


def test_use_of_a_closed_message_raises_efault() -> None:
    msg = Message(b"payload")
    msg.close()
    for name, call in {"bytes": lambda: msg.bytes, "buffer": lambda: msg.buffer,
                       "len": lambda: len(msg), "more": lambda: msg.more,
                       "handle": lambda: msg.handle,
                       "get": lambda: msg.get(zmqffi.MORE)}.items():
        with pytest.raises(LifecycleError) as info:
            call()
        assert info.value.errno == errno.EFAULT, name
        assert "Message" in str(info.value), name


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


def test_sending_a_closed_message_raises(ctx: Context) -> None:
    push, pull = connected_pair(ctx, "closed-message")
    msg = Message(b"x")
    msg.close()
    with pytest.raises(LifecycleError) as info:
        push.send(msg)
    assert info.value.errno == errno.EFAULT
    push.close()
    pull.close()


# --- with -----------------------------------------------------------------------------

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


def a_context_is_live() -> bool:
    """Whether a Context is live in this process (a new one can't be made then)."""
    try:
        Context().term()
    except LifecycleError:
        return True
    return False


# --- garbage collection ---------------------------------------------------------------

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


@contextlib.contextmanager
def resource_warnings() -> Iterator[list[str]]:
    """Record the text of ResourceWarnings. Unlike pytest.warns, it keeps no reference
    to the warning's source, which would resurrect the object being collected."""
    seen: list[str] = []

    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        if issubclass(category, ResourceWarning):
            seen.append(str(message))

    with warnings.catch_warnings():
        warnings.simplefilter("always", ResourceWarning)
        warnings.showwarning = show
        yield seen


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


def send_message(sock: zmqffi.Socket) -> None:
    with Message(b"x") as msg:  # a refused send leaves it to its owner, to close
        sock.send(msg, zmqffi.DONTWAIT)


def hot_calls(sock: zmqffi.Socket) -> dict[str, Callable[[], Any]]:
    """Every call whose ownership check happens in C (zmqffi_socket), by name."""
    return {
        "send": lambda: sock.send(b"x", zmqffi.DONTWAIT),
        "send(copy=True)": lambda: sock.send(b"x", zmqffi.DONTWAIT, copy=True),
        "send(bytearray)": lambda: sock.send(bytearray(b"x"), zmqffi.DONTWAIT),
        "send(copy=False)": lambda: sock.send(b"x", zmqffi.DONTWAIT, copy=False),
        "send(Message)": lambda: send_message(sock),
        "send_multipart": lambda: sock.send_multipart([b"a", b"b"], zmqffi.DONTWAIT),
        "send_many": lambda: sock.send_many([b"a", b"b"], zmqffi.DONTWAIT),
        "recv": lambda: sock.recv(zmqffi.DONTWAIT),
        "recv_multipart": lambda: sock.recv_multipart(zmqffi.DONTWAIT),
        "recv_into": lambda: sock.recv_into(bytearray(8), zmqffi.DONTWAIT),
        "recv_msg": lambda: sock.recv_msg(zmqffi.DONTWAIT),
        "recv_many": lambda: sock.recv_many(flags=zmqffi.DONTWAIT),
    }


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


def test_socket_left_by_a_finished_thread_can_be_adopted(ctx: Context) -> None:
    holder: list[zmqffi.Socket] = []
    call_in_thread(lambda: holder.append(ctx.socket(zmqffi.PAIR)))
    sock = holder[0]
    with pytest.raises(LifecycleError, match="no longer running"):
        sock.bind("inproc://orphan")
    sock.adopt()
    sock.bind("inproc://orphan")
    sock.close()


def test_context_destroy_from_a_thread_that_owns_no_socket(ctx: Context) -> None:
    push, pull = connected_pair(ctx, "destroy-elsewhere")
    call_in_thread(lambda: ctx.destroy(linger=0))
    assert push.closed and pull.closed and ctx.closed
