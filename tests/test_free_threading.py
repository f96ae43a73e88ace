"""The hammers for API.md's "Free-threaded Python" promises: a use from a thread that
does not own a socket raises LifecycleError and never crashes; of many threads creating
a Context() at the same moment exactly one succeeds; destroy(), shutdown(), close() and
garbage collection from any thread are safe; lent (zero-copy) buffers are released
exactly once.

They are meant to bite on a free-threaded build (PYTHON_GIL=0), where the threads truly
run at once, and they run everywhere: with the GIL, a short switch interval makes the
threads interleave often enough to catch some of the same races (those whose window is
a few bytecodes wide only now and then). Real sockets, real threads, bounded waits;
ZMQFFI_HAMMER_ROUNDS scales the rounds for long runs.

Most tests here make and end a Context per round (the process may have only one live
at a time): every round ends its Context, even when it fails, so that a failure stays
in its own test."""

from __future__ import annotations

import contextlib
import gc
import os
import random
import sys
import threading
import time
import weakref
from array import array
from typing import Any, Callable
from collections.abc import Iterator

import pytest

import zmqffi
from conftest import (SLOW_WAIT, WAIT, a_context_is_live, bound, call_in_thread,
                      collect, hot_calls, make, pipe, resource_warnings)
from zmqffi import Context, ContextTerminated, LifecycleError, Socket

# the base count of rounds (or messages) of each hammer; the default keeps the module
# within a minute with the GIL
ROUNDS = int(os.environ.get("ZMQFFI_HAMMER_ROUNDS", "100"))

# each round ends its own Context; one left live would fail every later test
pytestmark = pytest.mark.usefixtures("no_context_left_live", "interleave_often")


@pytest.fixture
def interleave_often() -> Iterator[None]:
    """With the GIL, a thread keeps it for up to 5 ms: a race needs a switch in a window
    of a few bytecodes, which the default interval makes rare. A free-threaded build
    needs none of this (the interval then only paces the GIL-less threads' rare stops)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


# --- helpers --------------------------------------------------------------------------

class Racer(threading.Thread):
    """A daemon thread that keeps what its call returned or raised, for the test to
    judge (a daemon: one stuck in a call must not keep the process alive)."""

    def __init__(self, name: str, fn: Callable[[], Any]) -> None:
        super().__init__(name=name, daemon=True)
        self.fn = fn
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:  # judged by the test
            self.error = exc


def started(*threads: threading.Thread) -> list[threading.Thread]:
    for thread in threads:
        thread.start()
    return list(threads)


def joined(threads: list[Racer], timeout: float = WAIT) -> None:
    """Join every thread, failing (not hanging) if one has not returned in time."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"still running after {timeout} s: {stuck}"


def end(ctx: Context) -> None:
    """destroy(linger=0) from a helper thread, bounded: a round that failed must neither
    leave its Context live for the next test nor hang the suite."""
    call_in_thread(lambda: ctx.destroy(linger=0), SLOW_WAIT)


def close_left_open(sockets: list[Socket]) -> None:
    """After a round that failed: close what its Context did not, by any means, or each
    would be collected in a later test (a failed test's frames live on in
    sys.last_traceback), which its ResourceWarning would then fail."""
    for sock in sockets:
        with contextlib.suppress(Exception):
            if not sock.closed:
                with contextlib.suppress(LifecycleError):
                    sock.adopt()  # the owner is gone, or the test is failing anyway
                sock.close(0)


@contextlib.contextmanager
def round_context() -> Iterator[tuple[Context, list[Socket]]]:
    """A Context for one round, and a list for the sockets the round makes: both ended
    however the round ends."""
    ctx = Context()
    sockets: list[Socket] = []
    try:
        yield ctx, sockets
    finally:
        try:
            end(ctx)
        finally:
            close_left_open(sockets)


def described(exc: BaseException | None) -> str:
    return "nothing" if exc is None else f"{type(exc).__name__}: {exc}"


# --- 1. foreign threads ---------------------------------------------------------------

def foreign_calls(sock: Socket, endpoint: str, spare: str) -> dict[str, Callable[[], Any]]:
    """Every call of ``sock`` a thread that does not own it could make, by name (adopt()
    excepted: it is the one that may)."""
    return {
        **hot_calls(sock),
        "recv(block)": lambda: sock.recv(),  # refused before it could wait
        "setsockopt": lambda: sock.setsockopt(zmqffi.LINGER, 0),
        "getsockopt": lambda: sock.getsockopt(zmqffi.RCVTIMEO),
        "bind": lambda: sock.bind(spare),
        "connect": lambda: sock.connect(spare),
        "unbind": lambda: sock.unbind(endpoint),
        "disconnect": lambda: sock.disconnect(endpoint),
        "monitor": lambda: sock.monitor(f"inproc://hammer-monitor-{id(sock)}"),
        "monitor(None)": lambda: sock.monitor(None),
        "handle": lambda: sock.handle,
        "last_endpoint": lambda: sock.last_endpoint,
        "close": lambda: sock.close(),
        "close(linger=0)": lambda: sock.close(0),
    }


def payload(i: int) -> bytes:
    """Message ``i`` of the stream: its number, then a body whose size and bytes depend
    on it; every 50th is large enough to be lent to libzmq instead of copied."""
    size = 70_000 if i % 50 == 0 else (0, 1, 100, 300, 4000)[i % 5]
    return b"%08d" % i + bytes([i % 251]) * size


@pytest.mark.parametrize("transport", ["inproc", "tcp"])
def test_foreign_threads_get_only_lifecycle_errors_while_the_owner_streams(
        ctx: Context, transport: str) -> None:
    endpoint = {"inproc": "inproc://hammer-stream", "tcp": "tcp://127.0.0.1:*"}[transport]
    push, pull = pipe(ctx, endpoint)
    endpoint = pull.last_endpoint
    calls = {
        **{f"PUSH.{name}": call for name, call
           in foreign_calls(push, endpoint, "inproc://hammer-spare-push").items()},
        **{f"PULL.{name}": call for name, call
           in foreign_calls(pull, endpoint, "inproc://hammer-spare-pull").items()},
    }
    streaming = threading.Event()
    done = threading.Event()
    wrong: list[str] = []  # "call: what happened", for a call not refused as it must be
    made: dict[str, int] = {}  # how often each call was made (all threads)
    passes = [0] * 4  # rounds of every call made, per intruder

    def intrude(n: int) -> None:
        streaming.wait(WAIT)
        names = list(calls)
        while not done.is_set():
            random.shuffle(names)
            for name in names:
                try:
                    calls[name]()
                except LifecycleError:
                    pass
                except BaseException as exc:  # noqa: BLE001 - judged below
                    wrong.append(f"{name}: {described(exc)}")
                else:
                    wrong.append(f"{name}: returned instead of raising LifecycleError")
                made[name] = made.get(name, 0) + 1
            passes[n] += 1

    intruders = [Racer(f"intruder-{n}", lambda n=n: intrude(n)) for n in range(4)]
    started(*intruders)
    count = ROUNDS * 50  # at least; and on until every intruder made every call thrice
    window = 8  # sent ahead of what is received: below any high-water mark
    sent = received = 0
    deadline = time.monotonic() + SLOW_WAIT

    def receive_one() -> None:
        nonlocal received
        expected = payload(received)
        got = pull.recv()
        assert got == expected, (f"message {received}: got {got[:12]!r}... "
                                 f"({len(got)} bytes), sent {expected[:12]!r}... "
                                 f"({len(expected)} bytes)")
        received += 1

    try:
        streaming.set()
        while sent < count or min(passes) < 3:
            assert time.monotonic() < deadline, f"intruders' passes: {passes}"
            push.send(payload(sent))
            sent += 1
            if sent > window:
                receive_one()
        while received < sent:
            receive_one()
    finally:
        done.set()
        joined(intruders)
    assert not [t.error for t in intruders if t.error], [t.error for t in intruders]
    assert not wrong, f"{len(wrong)} calls not refused with LifecycleError: {wrong[:20]}"
    assert set(made) == set(calls), f"never made: {set(calls) - set(made)}"
    assert not push.closed and not pull.closed
    with pytest.raises(zmqffi.Again):  # nothing was sent, nor taken, by another thread
        pull.recv(zmqffi.DONTWAIT)
    # the refused calls left no count of calls in progress behind (close() would wait
    # for it, then raise)
    push.close()
    pull.close()


# --- 2. creating a Context ------------------------------------------------------------

def test_sixteen_threads_creating_a_context_at_once() -> None:
    threads = 16
    rounds = ROUNDS * 3
    results: list[Any] = [None] * threads  # this round's Context or error, per thread
    start = threading.Barrier(threads + 1, timeout=SLOW_WAIT)
    finish = threading.Barrier(threads + 1, timeout=SLOW_WAIT)
    stop = threading.Event()

    def creator(n: int) -> None:
        while True:
            start.wait()
            if stop.is_set():
                return
            try:
                results[n] = Context()
            except BaseException as exc:  # noqa: BLE001 - judged by the main thread
                results[n] = exc
            finish.wait()

    creators = [Racer(f"creator-{n}", lambda n=n: creator(n)) for n in range(threads)]
    started(*creators)
    try:
        for round_ in range(rounds):
            start.wait()
            finish.wait()
            made = [r for r in results if isinstance(r, Context)]
            refused = [r for r in results if isinstance(r, LifecycleError)]
            other = [r for r in results if not isinstance(r, (Context, LifecycleError))]
            try:
                assert len(made) == 1 and len(refused) == threads - 1 and not other, (
                    f"round {round_}: {len(made)} Contexts made, {len(refused)} refused, "
                    f"others: {[described(r) for r in other]}")
                assert all("already live" in str(r) for r in refused), refused
            finally:
                for context in made:
                    context.term()  # no socket was made in it
            assert not a_context_is_live()
    finally:
        stop.set()
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait()
        joined(creators)
    assert not [t.error for t in creators if t.error], [t.error for t in creators]


# --- 3. destroy() while workers are blocked --------------------------------------------

def blocked_worker(ctx: Context, endpoint: str, ready: threading.Event,
                   sockets: list[Socket]) -> Callable[[], str]:
    """A worker loop that stops on ContextTerminated, as the contract promises it can;
    what it returns (or raises) is how it stopped. Its socket is left to destroy(), and
    kept in ``sockets`` so that the worker's exit does not collect it first."""

    def work() -> str:
        sock = ctx.socket(zmqffi.PULL)
        sockets.append(sock)
        sock.setsockopt(zmqffi.RCVTIMEO, int(SLOW_WAIT * 1000))  # only if destroy fails
        sock.bind(endpoint)
        ready.set()
        while True:
            try:
                sock.recv()
            except ContextTerminated:
                return "ContextTerminated"

    return work


def worker_endpoint(n: int) -> str:
    return f"inproc://hammer-worker-{n}" if n % 2 == 0 else "tcp://127.0.0.1:*"


@pytest.mark.parametrize("destroyers", [3, 1], ids=["three-destroyers", "one-destroyer"])
def test_several_threads_destroying_at_once_while_others_are_blocked(
        destroyers: int) -> None:
    for round_ in range(ROUNDS * 2):
        with round_context() as (ctx, sockets):
            ready = [threading.Event() for _ in range(4)]
            barrier = threading.Barrier(destroyers, timeout=WAIT)

            def destroy() -> None:
                # at once when the last worker is ready: it may not be in recv() yet,
                # and the contract says its next call gets ContextTerminated then
                for event in ready:
                    assert event.wait(WAIT), "a worker never got ready"
                barrier.wait()
                ctx.destroy(linger=0)

            destroying = started(*(Racer(f"destroyer-{n}", destroy)
                                   for n in range(destroyers)))
            workers = started(*(Racer(f"worker-{n}", blocked_worker(
                                    ctx, worker_endpoint(n), ready[n], sockets))
                                for n in range(4)))
            joined(destroying)
            joined(workers)
            outcome = {t.name: described(t.error) if t.error else t.value
                       for t in [*destroying, *workers]}
            assert all(t.error is None for t in destroying), f"round {round_}: {outcome}"
            assert all(t.value == "ContextTerminated" for t in workers), (
                f"round {round_}: {outcome}")
            assert ctx.closed and not ctx._sockets, f"round {round_}: {ctx!r}"
            assert all(sock.closed for sock in sockets)


def test_a_worker_whose_socket_destroy_closed_gets_context_terminated() -> None:
    # the slow side of the race above, made certain: destroy() has closed the socket
    # before its owner's next call, which must still say ContextTerminated
    with round_context() as (ctx, sockets):
        ready = threading.Event()
        destroyed = threading.Event()
        sock_calls = {"recv": lambda s: s.recv(), "send": lambda s: s.send(b"x"),
                      "recv_multipart": lambda s: s.recv_multipart(),
                      "setsockopt": lambda s: s.setsockopt(zmqffi.LINGER, 0)}
        seen: dict[str, str] = {}

        def late_worker() -> None:
            sock = ctx.socket(zmqffi.PAIR)
            sockets.append(sock)
            sock.bind("inproc://hammer-late")
            ready.set()
            assert destroyed.wait(WAIT)
            for name, call in sock_calls.items():
                try:
                    call(sock)
                except BaseException as exc:  # noqa: BLE001 - judged below
                    seen[name] = type(exc).__name__
                else:
                    seen[name] = "returned"
            sock.close()  # and close() says nothing

        worker = started(Racer("late-worker", late_worker))[0]
        assert ready.wait(WAIT)
        ctx.destroy(linger=0)
        destroyed.set()
        joined([worker])
        assert worker.error is None, described(worker.error)
        assert seen == dict.fromkeys(sock_calls, "ContextTerminated")


# --- 4. shutdown(), destroy() and term() at once ---------------------------------------

def test_shutdown_term_destroy_racing() -> None:
    for round_ in range(ROUNDS * 2):
        with round_context() as (ctx, sockets):
            with_sockets = round_ % 2 == 0
            workers: list[Racer] = []
            if with_sockets:
                sockets += pipe(ctx, f"inproc://hammer-race-{round_}")
                sockets.append(make(ctx, zmqffi.PUB))
                bound(sockets[-1], "tcp://127.0.0.1:*")
                ready = threading.Event()
                workers = started(Racer("worker", blocked_worker(
                    ctx, worker_endpoint(1), ready, sockets)))
                assert ready.wait(WAIT)
            calls = {"shutdown-0": ctx.shutdown, "destroy-0": ctx.destroy,
                     "term-0": ctx.term, "destroy-1": lambda: ctx.destroy(linger=0),
                     "term-1": ctx.term, "shutdown-1": ctx.shutdown}
            barrier = threading.Barrier(len(calls), timeout=WAIT)

            def at_once(call: Callable[[], None]) -> Callable[[], None]:
                def run() -> None:
                    barrier.wait()
                    call()
                return run

            racers = started(*(Racer(name, at_once(call)) for name, call in calls.items()))
            joined(racers)
            joined(workers)
            outcome = {t.name: described(t.error) for t in [*racers, *workers]}
            for racer in racers:
                # term() refuses while sockets are open, and may look before destroy()
                # closed them
                allowed = (racer.name.startswith("term") and with_sockets
                           and isinstance(racer.error, LifecycleError))
                assert racer.error is None or allowed, f"round {round_}: {outcome}"
            assert all(t.value == "ContextTerminated" for t in workers), (
                f"round {round_}: {outcome}")
            ctx.destroy()
            assert ctx.closed and not ctx._sockets, f"round {round_}: {ctx!r}"
            assert all(sock.closed for sock in sockets)
        assert not a_context_is_live()


# --- 5. lent buffers ------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["inproc", "tcp"])
def test_lent_buffers_from_many_threads_are_all_released(ctx: Context,
                                                         transport: str) -> None:
    threads = 16  # the more threads drain the releases at once, the likelier a loss
    per_thread = ROUNDS * 2
    pull = make(ctx, zmqffi.PULL, RCVHWM=16)
    endpoint = bound(pull, {"inproc": "inproc://hammer-lent",
                            "tcp": "tcp://127.0.0.1:*"}[transport])
    template = array("b", bytes(256 * 1024))
    sent: list[weakref.ref[array[int]]] = []  # list.append: safe from many threads
    go = threading.Barrier(threads, timeout=WAIT)
    received = threading.Event()  # all of it: a sender's close may drop what is queued
    earlier = set(zmqffi.lending._lent)  # not this test's to judge

    def sender(n: int) -> None:
        rng = random.Random(n)
        with make(ctx, zmqffi.PUSH, SNDHWM=16) as push:
            push.connect(endpoint)
            go.wait()
            for _ in range(per_thread):
                buffer = template[:rng.randrange(64 * 1024, 256 * 1024 + 1)]
                push.send(buffer, copy=False)
                sent.append(weakref.ref(buffer))
                del buffer  # libzmq's reference (through _lent) is the only one left
            assert received.wait(SLOW_WAIT)

    senders = started(*(Racer(f"sender-{n}", lambda n=n: sender(n))
                        for n in range(threads)))
    try:
        for i in range(threads * per_thread):
            if i % 2:
                pull.recv()
            else:
                pull.recv_msg().close()
        received.set()
    finally:
        joined(senders, SLOW_WAIT)
    assert not [t.error for t in senders if t.error], [t.error for t in senders]
    pull.close()
    ctx.term()  # drains the last releases
    collect(*sent)  # (PyPy may need more than one collection)
    alive = sum(ref() is not None for ref in sent)
    held = len(set(zmqffi.lending._lent) - earlier)
    assert len(sent) == threads * per_thread
    assert alive == 0 and held == 0, (f"{alive} of {len(sent)} lent buffers still alive, "
                                      f"{held} tickets never released")


# --- 6. garbage collection ------------------------------------------------------------

def test_sockets_collected_from_many_threads() -> None:
    for round_ in range(max(1, ROUNDS // 5)):
        sockets_collected_from_many_threads(threads=8, per_thread=20)
        assert not a_context_is_live(), f"round {round_}"


def sockets_collected_from_many_threads(threads: int, per_thread: int) -> None:
    dropped: list[weakref.ref[Socket]] = []  # left to garbage collection
    kept: list[Socket] = []  # left open by their (finished) thread, for destroy()
    together = threading.Barrier(threads, timeout=WAIT)
    with round_context() as (ctx, sockets):
        sink = make(ctx, zmqffi.PULL)
        sockets.append(sink)
        endpoint = bound(sink, "inproc://hammer-gc")

        def churn() -> None:
            for k in range(per_thread):
                sock = ctx.socket(zmqffi.PUSH)
                sock.connect(endpoint)
                if k % 5 == 0:  # in a cycle: found by whichever thread collects next
                    cycle: list[Any] = [sock]
                    cycle.append(cycle)
                    dropped.append(weakref.ref(sock))
                    del cycle
                elif k % 5 == 1:  # its last reference: finalized at once, here
                    dropped.append(weakref.ref(sock))
                elif k % 5 == 2:
                    kept.append(sock)
                    sockets.append(sock)
                else:
                    sock.close()
                del sock
            together.wait()
            gc.collect()  # from every thread at once

        # ResourceWarning is an error in this suite; the filters are process-wide and
        # catch_warnings is not thread-safe, so they are changed once, here, around all
        # the threads, which record the warnings instead
        with resource_warnings() as warned:
            churners = started(*(Racer(f"churner-{n}", churn) for n in range(threads)))
            joined(churners, SLOW_WAIT)
            collect(*dropped)
        assert not [t.error for t in churners if t.error], [t.error for t in churners]
        assert all(ref() is None for ref in dropped)
        assert len(warned) == len(dropped), f"{len(warned)} warned, {len(dropped)} dropped"
        assert all("unclosed" in text for text in warned), warned[:3]
        open_states = set(ctx._sockets)
        assert open_states == {sink._state, *(sock._state for sock in kept)}, (
            f"{len(open_states)} open, {len(kept) + 1} expected")
        ctx.destroy()
        assert ctx.closed and not ctx._sockets
        assert sink.closed and all(sock.closed for sock in kept)


# --- 7. close() racing destroy() ------------------------------------------------------

def test_close_from_owner_racing_destroy() -> None:
    for round_ in range(ROUNDS * 5):
        with round_context() as (ctx, sockets):
            ready = threading.Event()
            barrier = threading.Barrier(2, timeout=WAIT)

            def owner() -> None:
                mine: list[Socket] = []
                for n in range(8):  # each pair one more chance to meet destroy()
                    mine += pipe(ctx, f"inproc://hammer-close-{round_}-{n}")
                    mine[-2].send(b"queued")  # something for close to drop
                sockets.extend(mine)
                ready.set()
                barrier.wait()
                for sock in mine:
                    sock.close()
                mine[0].close()  # idempotent, whoever closed it

            linger = None if round_ % 2 else 0

            def destroyer() -> None:
                barrier.wait()
                ctx.destroy(linger)

            racers = started(Racer("owner", owner), Racer("destroyer", destroyer))
            joined(racers)
            outcome = {t.name: described(t.error) for t in racers}
            assert all(t.error is None for t in racers), f"round {round_}: {outcome}"
            assert ready.is_set() and all(sock.closed for sock in sockets)
            assert ctx.closed and not ctx._sockets
