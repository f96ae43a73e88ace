"""zmqffi.trio over real sockets: the points of the async contract that test_asyncio.py
checks for asyncio, written the trio way. Each test runs its own trio.run inside a plain
test function and bounds what it awaits with trio.fail_after, so that a lost wake-up fails
the test instead of hanging the suite; cancellation is by cancel scopes.

trio lets one task at a time wait on a file descriptor: when several tasks (and Pollers)
await one socket, zmqffi.trio has one of them wait on ZMQ_FD and the others on it, which
the tests with many waiters, cancelled waiters and Pollers exercise."""

from __future__ import annotations

import errno
import functools
import math
import os
import queue
import random
import threading
import time
from collections.abc import Awaitable
from typing import Any, Callable, TypeVar

import pytest

import zmqffi
from conftest import (SLOW_WAIT, WAIT, call_in_thread, fails, make,
                      never_blocking_forever)
from test_asyncio import (PROMPT, PROMPT_MS, ROUNDS, TRANSPORTS, close, expected, receive,
                          unique)
from zmqffi import Again, Context, ContextTerminated, LifecycleError

trio = pytest.importorskip("trio")
zmq_trio = pytest.importorskip("zmqffi.trio")

T = TypeVar("T")

PENDING = object()  # the outcome of a waiter that has not returned yet


def run(main: Callable[[], Awaitable[T]], timeout: float = SLOW_WAIT) -> T:
    """``trio.run(main)``, failing if it has not finished in ``timeout``."""
    async def bounded() -> T:
        with trio.fail_after(timeout):
            return await main()
    return trio.run(bounded)


def tmake(ctx: Context, kind: int, **options: Any) -> Any:
    """A trio socket with LINGER 0, and RCVTIMEO/SNDTIMEO of TIMEOUT_MS so that an
    implementation that blocks the run fails instead of hanging (options override)."""
    return never_blocking_forever(zmq_trio.Socket(ctx, kind), **options)


def tpipe(ctx: Context, endpoint: str, push: dict[str, Any] | None = None,
          pull: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """A trio PUSH connected to a trio PULL bound at ``endpoint``: (push, pull)."""
    receiver = tmake(ctx, zmqffi.PULL, **(pull or {}))
    receiver.bind(endpoint)
    sender = tmake(ctx, zmqffi.PUSH, **(push or {}))
    sender.connect(receiver.last_endpoint)
    return sender, receiver


async def let_others_run(times: int = 5) -> None:
    """Yield a few times: tasks just started reach their first wait."""
    for _ in range(times):
        await trio.sleep(0)


async def wait_until(condition: Callable[[], bool], timeout: float = PROMPT) -> None:
    """Check ``condition`` between short sleeps, failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{condition} still false after {timeout} s"
        await trio.sleep(0.001)


def start(nursery: Any, calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Start a task for each call; the list of what each returned or raised, PENDING
    until it has."""
    outcomes = [PENDING] * len(calls)

    async def record(index: int, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            outcomes[index] = await call()
        except Exception as exc:  # the outcome under test
            outcomes[index] = exc

    for index, call in enumerate(calls):
        nursery.start_soon(record, index, call)
    return outcomes


async def all_woken(outcomes: list[Any]) -> None:
    """Wait until every task of ``start`` has returned or raised, for up to PROMPT."""
    await wait_until(lambda: PENDING not in outcomes)


# --- 1. round trips -------------------------------------------------------------------

def test_round_trip_with_every_receive(ctx: Context, endpoint: str) -> None:
    # made before trio runs: allowed
    push, pull = tpipe(ctx, endpoint)

    async def main() -> None:
        await push.send(b"one")
        assert await pull.recv() == b"one"
        await push.send_multipart([b"a", bytearray(b"b"), memoryview(b"c")])
        assert await pull.recv_multipart() == [b"a", b"b", b"c"]
        await push.send(b"first", zmqffi.SNDMORE)
        await push.send(b"second")
        assert await pull.recv_multipart() == [b"first", b"second"]
        await push.send_multipart([b"no", b"copy"], copy=False)
        assert await pull.recv_multipart() == [b"no", b"copy"]

        await push.send(b"zero copy", copy=False)
        msg = await pull.recv_msg()
        try:
            assert isinstance(msg, zmqffi.Message)
            assert msg.bytes == b"zero copy" and not msg.more
        finally:
            msg.close()

        with zmqffi.Message(b"a message") as out:
            await push.send(out)
        buffer = bytearray(16)
        assert await pull.recv_into(buffer) == 9
        assert bytes(buffer[:9]) == b"a message"
        await push.send(b"x" * 40)
        assert await pull.recv_into(buffer) == 40  # the full size; truncated
        assert bytes(buffer) == b"x" * 16

        with pytest.raises(Again):  # nothing left over
            await pull.recv(zmqffi.DONTWAIT)

    try:
        run(main)
    finally:
        close(push, pull)


def test_string_json_and_serialized_are_awaited(ctx: Context) -> None:
    push, pull = tpipe(ctx, "inproc://trio-conveniences")

    async def main() -> None:
        await push.send_string("héllo", encoding="utf-16")
        assert await pull.recv_string(encoding="utf-16") == "héllo"
        await push.send_json({"a": [1, 2]}, sort_keys=True)
        assert await pull.recv_json() == {"a": [1, 2]}
        await push.send_serialized(12345, lambda n: [str(n).encode(), b"!"])
        assert await pull.recv_serialized(lambda parts: parts) == [b"12345", b"!"]
        assert await pull.poll(0) == 0
        pull.rcvtimeo = 10  # an option attribute: honoured like setsockopt
        with pytest.raises(Again):
            await pull.recv_string()

    try:
        run(main)
    finally:
        close(push, pull)


def test_the_trio_context_is_the_one_live_context(no_context_left_live: None) -> None:
    context = zmq_trio.Context()
    try:
        assert isinstance(context, zmqffi.Context)
        with pytest.raises(LifecycleError):
            zmqffi.Context()
        assert zmqffi.Context.instance() is context
        pull = context.socket(zmqffi.PULL)
        push = context.socket(zmqffi.PUSH)
        plain = zmqffi.Socket(context, zmqffi.PUSH)  # blocking and async side by side
        try:
            assert isinstance(pull, zmq_trio.Socket) and isinstance(push, zmq_trio.Socket)
            assert not isinstance(plain, zmq_trio.Socket)
            # the other methods are plain calls
            assert pull.setsockopt(zmqffi.LINGER, 0) is None
            assert pull.getsockopt(zmqffi.LINGER) == 0
            assert pull.bind("inproc://trio-context") is None
            assert push.connect("inproc://trio-context") is None
            plain.connect("inproc://trio-context")
            assert pull.type == zmqffi.PULL and not pull.closed

            async def main() -> None:
                await push.send(b"async")
                plain.send(b"blocking")
                assert sorted([await pull.recv(), await pull.recv()]) == [b"async",
                                                                          b"blocking"]

            run(main)
        finally:
            close(push, pull, plain)
        assert pull.closed
    finally:
        context.destroy(linger=0)


# --- 2. the run keeps running ---------------------------------------------------------

def test_an_awaited_recv_leaves_other_tasks_running(ctx: Context) -> None:
    push, pull = tpipe(ctx, "inproc://trio-runs")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await trio.sleep(0.001)
            ticks += 1

    async def sender() -> None:
        await wait_until(lambda: ticks >= 20)
        await push.send(b"at last")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            nursery.start_soon(sender)
            # if recv blocked the run, neither ticker nor sender would run: recv would
            # give up (RCVTIMEO) with Again
            with trio.fail_after(PROMPT):
                assert await pull.recv() == b"at last"
            assert ticks >= 20
            nursery.cancel_scope.cancel()

    try:
        run(main)
    finally:
        close(push, pull)


# --- 3. DONTWAIT and timeouts ---------------------------------------------------------

def test_dontwait_raises_again_at_once_and_timeouts_are_honoured(ctx: Context) -> None:
    push, pull = tpipe(ctx, "inproc://trio-timeouts", pull={"RCVTIMEO": 100})
    lonely = tmake(ctx, zmqffi.PUSH, SNDTIMEO=100)  # no peer: nowhere to send
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await trio.sleep(0.005)
            ticks += 1

    async def main() -> None:
        started = time.monotonic()
        with pytest.raises(Again):
            await pull.recv(zmqffi.DONTWAIT)
        with pytest.raises(Again):
            await pull.recv_multipart(zmqffi.DONTWAIT)
        with pytest.raises(Again):
            await pull.recv_into(bytearray(4), zmqffi.DONTWAIT)
        with pytest.raises(Again):
            await lonely.send(b"x", zmqffi.DONTWAIT)
        with pytest.raises(Again):
            await lonely.send_multipart([b"a", b"b"], zmqffi.DONTWAIT)
        assert time.monotonic() - started < WAIT

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            started = time.monotonic()
            with pytest.raises(Again):
                await pull.recv()
            elapsed = time.monotonic() - started
            assert 0.05 <= elapsed < WAIT, elapsed
            assert ticks > 0  # the run went on while recv waited
            with pytest.raises(Again):
                await pull.recv_msg()
            with pytest.raises(Again):
                await pull.recv_multipart()
            started = time.monotonic()
            with pytest.raises(Again):
                await lonely.send(b"x")
            assert 0.05 <= time.monotonic() - started < WAIT
            with pytest.raises(Again):
                await lonely.send_multipart([b"a", b"b"])
            nursery.cancel_scope.cancel()

        # a timeout changes nothing: the sockets still work
        await push.send(b"after")
        assert await pull.recv() == b"after"

    try:
        run(main)
    finally:
        close(push, pull, lonely)


def test_a_timeout_is_not_restarted_by_wake_ups_that_find_nothing(ctx: Context) -> None:
    # as in test_asyncio: every send on the DEALER wakes the task awaiting its recv
    router = tmake(ctx, zmqffi.ROUTER)
    router.bind("inproc://trio-restarted-timeout")
    dealer = tmake(ctx, zmqffi.DEALER, RCVTIMEO=100)
    dealer.connect("inproc://trio-restarted-timeout")
    outcome: list[BaseException] = []

    async def receive_once() -> None:
        try:
            await dealer.recv()
        except Again as exc:
            outcome.append(exc)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive_once)
            started = time.monotonic()
            while not outcome and time.monotonic() - started < WAIT:
                await dealer.send(b"wake up")
                await trio.sleep(0.01)
            assert outcome, "recv outlived its RCVTIMEO while the socket was busy"

    try:
        run(main)
    finally:
        close(router, dealer)


# --- 4. cancelled receives ------------------------------------------------------------

@TRANSPORTS
def test_a_cancelled_receive_takes_nothing(ctx: Context, address: str,
                                           request: pytest.FixtureRequest) -> None:
    push, pull = tpipe(ctx, unique(address, request))
    rng = random.Random(4)
    received: list[Any] = []
    cancelled = {"move_on_after": 0, "fail_after": 0, "cancel": 0}

    async def sender(progress: Any) -> None:
        for index in range(ROUNDS):
            while len(received) < index:  # send each message while the receiver waits
                await progress.receive()
            pause = rng.random()
            if pause < 0.3:
                await let_others_run(rng.randrange(1, 4))
            elif pause < 0.8:
                await trio.sleep(rng.uniform(0, 0.002))
            message = expected(index)
            await push.send_multipart(message if isinstance(message, list) else [message])

    async def attempt(index: int) -> tuple[bool, Any]:
        """One receive of message ``index``, cancelled after a little while."""
        style = rng.choice(list(cancelled))
        limit = rng.choice([0, 0.0001, 0.0005, 0.001, 0.003])
        if style == "move_on_after":
            with trio.move_on_after(limit):
                return True, await receive(pull, index)
        elif style == "fail_after":
            try:
                with trio.fail_after(limit):
                    return True, await receive(pull, index)
            except trio.TooSlowError:
                pass
        else:  # another task cancels the scope the receive runs in
            got: list[Any] = []

            async def receiving() -> None:
                got.append(await receive(pull, index))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(receiving)
                await let_others_run(rng.randrange(4))
                nursery.cancel_scope.cancel()
            if got:
                return True, got[0]
        cancelled[style] += 1
        return False, None

    async def main() -> None:
        progress_in, progress_out = trio.open_memory_channel(math.inf)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender, progress_out)
            deadline = time.monotonic() + SLOW_WAIT
            while len(received) < ROUNDS and time.monotonic() < deadline:
                done, data = await attempt(len(received))
                if done:
                    received.append(data)
                    progress_in.send_nowait(None)
        with pytest.raises(Again):  # nothing duplicated, left over
            await pull.recv(zmqffi.DONTWAIT)

    try:
        run(main)
    finally:
        close(push, pull)
    assert received == [expected(index) for index in range(ROUNDS)], \
        f"cancellations: {cancelled}"
    assert sum(cancelled.values()) >= ROUNDS // 10, cancelled  # the race was run


def test_a_cancelled_first_waiter_hands_the_socket_to_the_next(ctx: Context) -> None:
    # the first task waits on ZMQ_FD, the second on it: whichever is cancelled, the
    # other gets the message
    push, pull = tpipe(ctx, "inproc://trio-hand-over")

    async def waiter(name: str, scope: Any, got: list[tuple[str, bytes]]) -> None:
        with scope:
            got.append((name, await pull.recv()))

    async def main() -> None:
        for index in range(40):
            got: list[tuple[str, bytes]] = []
            scopes = {"first": trio.CancelScope(), "second": trio.CancelScope()}
            with trio.fail_after(PROMPT):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(waiter, "first", scopes["first"], got)
                    await let_others_run()
                    nursery.start_soon(waiter, "second", scopes["second"], got)
                    await let_others_run()
                    gone = "first" if index % 2 == 0 else "second"
                    scopes[gone].cancel()
                    await let_others_run()
                    await push.send(b"%d" % index)
            left = "second" if gone == "first" else "first"
            assert got == [(left, b"%d" % index)], (index, got)

    try:
        run(main)
    finally:
        close(push, pull)


# --- 5. cancelled sends under a full high-water mark -----------------------------------

def test_a_cancelled_send_multipart_sends_all_or_nothing(ctx: Context) -> None:
    push, pull = tpipe(ctx, "inproc://trio-full", push={"SNDHWM": 1}, pull={"RCVHWM": 1})
    rng = random.Random(5)
    completed: set[int] = set()
    cancelled: set[int] = set()
    messages: list[list[bytes]] = []
    counter = iter(range(10 ** 6))

    def parts(index: int | str) -> list[bytes]:
        return [str(index).encode(), b"middle", b"end"]

    async def attempt() -> bool:
        """One send_multipart, cancelled after a little while: whether it completed."""
        index = next(counter)
        if rng.random() < 0.5:
            with trio.move_on_after(rng.choice([0, 0.0001, 0.001, 0.005])):
                await push.send_multipart(parts(index))
                completed.add(index)
                return True
        else:  # another task cancels the scope the send runs in
            async def sending() -> None:
                await push.send_multipart(parts(index))
                completed.add(index)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(sending)
                await let_others_run(rng.randrange(4))
                nursery.cancel_scope.cancel()
            if index in completed:
                return True
        cancelled.add(index)
        return False

    async def reader() -> None:
        while True:
            await let_others_run(rng.randrange(3))
            message = await pull.recv_multipart()
            messages.append(message)
            if message[0] == b"stop":
                return

    async def main() -> None:
        # fill the pipe while nobody reads
        while True:
            index = next(counter)
            try:
                await push.send_multipart(parts(index), zmqffi.DONTWAIT)
            except Again:
                break
            completed.add(index)
        assert completed, "not even one message fitted under the high-water mark"
        # full, and nobody reads: every send waits, and is cancelled
        for _ in range(30):
            assert not await attempt()
        # the peer reads while sends are cancelled at random moments
        with trio.fail_after(SLOW_WAIT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                for _ in range(200):
                    await attempt()
                with trio.fail_after(PROMPT):
                    await push.send_multipart(parts("stop"))

    try:
        run(main)
    finally:
        close(push, pull)
    split = [message for message in messages if message[1:] != [b"middle", b"end"]]
    assert not split, f"messages not whole: {split[:5]}"
    assert messages[-1] == parts("stop")
    indices = [int(message[0]) for message in messages[:-1]]
    assert indices == sorted(set(indices)), "duplicated or out of order"
    assert completed <= set(indices), f"sent but lost: {sorted(completed - set(indices))}"
    assert set(indices) <= completed | cancelled


# --- 6. many tasks on one socket ------------------------------------------------------

@TRANSPORTS
def test_many_tasks_receiving_from_one_socket(ctx: Context, address: str,
                                              request: pytest.FixtureRequest) -> None:
    push, pull = tpipe(ctx, unique(address, request))
    tasks_count, count = 8, 400
    got: list[list[bytes]] = [[] for _ in range(tasks_count)]

    async def receiver(number: int) -> None:
        while True:
            if number % 3 == 0:
                data = await pull.recv()
            elif number % 3 == 1:
                [data] = await pull.recv_multipart()
            else:
                msg = await pull.recv_msg()
                data = msg.bytes
                msg.close()
            if data == b"stop":
                return
            got[number].append(data)

    async def main() -> None:
        with trio.fail_after(SLOW_WAIT):
            async with trio.open_nursery() as nursery:
                for number in range(tasks_count):
                    nursery.start_soon(receiver, number)
                await let_others_run()  # all of them waiting
                for index in range(count):
                    await push.send(b"%d" % index)
                    if index % 7 == 0:
                        await trio.sleep(0)
                for _ in range(tasks_count):  # one each: a task stops after its first
                    await push.send(b"stop")

    try:
        run(main)
    finally:
        close(push, pull)
    everything = sorted((data for each in got for data in each), key=int)
    assert everything == [b"%d" % index for index in range(count)]


def test_many_tasks_sending_on_one_socket(ctx: Context) -> None:
    push, pull = tpipe(ctx, "inproc://trio-many-senders", push={"SNDHWM": 1},
                       pull={"RCVHWM": 1})
    tasks_count, each = 8, 50
    received: list[list[bytes]] = []

    async def sender(number: int) -> None:
        for index in range(each):
            await push.send_multipart([b"%d" % number, b"%d" % index, b"end"])

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for number in range(tasks_count):
                nursery.start_soon(sender, number)
            for _ in range(tasks_count * each):
                with trio.fail_after(PROMPT):
                    received.append(await pull.recv_multipart())
        with pytest.raises(Again):
            await pull.recv(zmqffi.DONTWAIT)

    try:
        run(main)
    finally:
        close(push, pull)
    assert all(len(message) == 3 and message[2] == b"end" for message in received)
    for number in range(tasks_count):
        indices = [int(message[1]) for message in received if message[0] == b"%d" % number]
        assert indices == list(range(each)), number


# --- 7. close, shutdown and destroy wake every waiter ---------------------------------

def waiter_calls(pull: Any, lonely: Any) -> list[Callable[[], Awaitable[Any]]]:
    """Calls awaiting ``pull`` (receives and a poll) and ``lonely`` (a PUSH with no peer:
    sends that cannot go anywhere)."""
    return [pull.recv, pull.recv, pull.recv_multipart, pull.recv_msg,
            functools.partial(pull.recv_into, bytearray(4)), pull.poll,
            functools.partial(lonely.send, b"x"),
            functools.partial(lonely.send_multipart, [b"a", b"b"])]


def test_close_by_the_owner_wakes_every_waiter(ctx: Context) -> None:
    push, pull = tpipe(ctx, "inproc://trio-closing")
    lonely = tmake(ctx, zmqffi.PUSH, SNDHWM=1)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            outcomes = start(nursery, waiter_calls(pull, lonely))
            await let_others_run()
            assert all(outcome is PENDING for outcome in outcomes), outcomes
            pull.close()
            lonely.close()
            await all_woken(outcomes)
        for outcome in outcomes:
            assert isinstance(outcome, LifecycleError), outcomes
            assert outcome.errno == errno.ENOTSOCK, outcome
        with pytest.raises(LifecycleError):
            await pull.recv()

    try:
        run(main)
    finally:
        close(push, pull, lonely)


def test_shutdown_from_another_thread_wakes_every_waiter(ctx: Context) -> None:
    push, pull = tpipe(ctx, "inproc://trio-shutdown")
    lonely = tmake(ctx, zmqffi.PUSH, SNDHWM=1)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            outcomes = start(nursery, waiter_calls(pull, lonely))
            await let_others_run()
            assert all(outcome is PENDING for outcome in outcomes), outcomes
            await trio.to_thread.run_sync(ctx.shutdown)
            await all_woken(outcomes)
        assert all(isinstance(outcome, ContextTerminated) for outcome in outcomes), outcomes
        with pytest.raises(ContextTerminated):  # and every later call
            await pull.recv()
        with pytest.raises(ContextTerminated):
            await push.send(b"x")

    try:
        run(main)
    finally:
        close(push, pull, lonely)


def test_destroy_from_another_thread_wakes_every_waiter(no_context_left_live: None) -> None:
    context = zmq_trio.Context()
    try:
        pull = context.socket(zmqffi.PULL)
        pull.bind("inproc://trio-destroy")
        push = context.socket(zmqffi.PUSH)
        push.connect("inproc://trio-destroy")
        lonely = context.socket(zmqffi.PUSH)

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                outcomes = start(nursery, waiter_calls(pull, lonely))
                await let_others_run()
                assert all(outcome is PENDING for outcome in outcomes), outcomes
                await trio.to_thread.run_sync(functools.partial(context.destroy, linger=0))
                await all_woken(outcomes)
            assert all(isinstance(outcome, ContextTerminated) for outcome in outcomes), \
                outcomes
            # the owner's next call, too, is ContextTerminated, never another error
            with pytest.raises(ContextTerminated):
                await pull.recv()
            with pytest.raises(ContextTerminated):
                await push.send(b"x")

        run(main)
        assert pull.closed and push.closed and lonely.closed
        close(push, pull, lonely)  # idempotent
    finally:
        if not context.closed:
            context.destroy(linger=0)


# --- 8. the edge-triggered ZMQ_FD -----------------------------------------------------

@TRANSPORTS
def test_no_wake_up_is_lost_whatever_happens_between_awaits(
        ctx: Context, address: str, request: pytest.FixtureRequest) -> None:
    sock = tmake(ctx, zmqffi.PAIR)
    sock.bind(unique(address, request))
    endpoint = sock.last_endpoint
    orders: queue.Queue[int | None] = queue.Queue()
    sent: queue.Queue[int] = queue.Queue()

    def peer() -> None:
        """A blocking PAIR in a thread: sends message i when told to."""
        other = make(ctx, zmqffi.PAIR)
        try:
            other.connect(endpoint)
            while True:
                index = orders.get(timeout=SLOW_WAIT)
                if index is None:
                    return
                other.send(b"%d" % index)
                sent.put(index)
        finally:
            other.close()

    async def arrived(index: int) -> None:
        """Wait until the peer has sent ``index`` (its send returned)."""
        assert await trio.to_thread.run_sync(sent.get, True, SLOW_WAIT) == index

    async def main() -> None:
        for index in range(50):
            case = index % 5
            if case == 0:  # an EVENTS read after the message is there
                orders.put(index)
                await arrived(index)
                await wait_until(lambda: bool(sock.getsockopt(zmqffi.EVENTS)
                                              & zmqffi.POLLIN))
            elif case == 1:  # an EVENTS read before it is sent
                sock.getsockopt(zmqffi.EVENTS)
                orders.put(index)
            elif case == 2:  # a DONTWAIT receive before it is sent
                with pytest.raises(Again):
                    await sock.recv(zmqffi.DONTWAIT)
                orders.put(index)
            elif case == 3:  # a send on the same socket after it was sent
                orders.put(index)
                await arrived(index)
                await sock.send(b"back")
            else:  # bind and EVENTS while it is on its way
                orders.put(index)
                sock.bind(f"inproc://trio-extra-{os.getpid()}-{index}")
                sock.getsockopt(zmqffi.EVENTS)
            with trio.fail_after(PROMPT):
                assert await sock.recv() == b"%d" % index, case
            if case != 0 and case != 3:
                await arrived(index)
            sock.getsockopt(zmqffi.EVENTS)  # and one after each receive

    thread = threading.Thread(target=peer, name="pair-peer", daemon=True)
    thread.start()
    try:
        run(main)
    finally:
        orders.put(None)
        thread.join(SLOW_WAIT)
        sock.close()
    assert not thread.is_alive()


def test_an_events_read_by_another_task_does_not_strand_a_waiter(ctx: Context) -> None:
    sock = tmake(ctx, zmqffi.PULL)
    sock.bind("inproc://trio-strand")
    push = make(ctx, zmqffi.PUSH)  # blocking, in this thread: sends are never blocked here
    push.connect("inproc://trio-strand")

    async def main() -> None:
        for index in range(30):
            with trio.fail_after(PROMPT):
                async with trio.open_nursery() as nursery:
                    outcomes = start(nursery, [sock.recv])
                    await let_others_run()
                    push.send(b"%d" % index)
                    sock.getsockopt(zmqffi.EVENTS)  # may take the edge the waiter waits on
            assert outcomes == [b"%d" % index]

    try:
        run(main)
    finally:
        close(push, sock)


# --- 9. blocking and async sockets in one process --------------------------------------

def test_trio_and_blocking_sockets_in_one_process(ctx: Context) -> None:
    pull = tmake(ctx, zmqffi.PULL)
    pull.bind("tcp://127.0.0.1:*")
    push = tmake(ctx, zmqffi.PUSH)
    push.bind("tcp://127.0.0.1:*")
    count = 200
    pull_endpoint, push_endpoint = pull.last_endpoint, push.last_endpoint  # owner's reads

    def worker() -> list[bytes]:
        """Blocking sockets, made and closed in this thread."""
        out = make(ctx, zmqffi.PUSH)
        back = make(ctx, zmqffi.PULL)
        try:
            out.connect(pull_endpoint)
            back.connect(push_endpoint)
            for index in range(count):
                out.send(b"%d" % index)
            return [back.recv() for _ in range(count)]
        finally:
            close(out, back)

    async def main() -> list[bytes]:
        async with trio.open_nursery() as nursery:
            outcomes = start(nursery, [functools.partial(trio.to_thread.run_sync, worker)])
            got = []
            for _ in range(count):
                with trio.fail_after(PROMPT):
                    got.append(await pull.recv())
            assert got == [b"%d" % index for index in range(count)]
            for index in range(count):
                await push.send(b"back %d" % index)
        [working] = outcomes
        if isinstance(working, BaseException):
            raise working
        return list(working)

    try:
        assert run(main) == [b"back %d" % index for index in range(count)]
    finally:
        close(push, pull)


# --- 10, 11. polling ------------------------------------------------------------------

def test_trio_poller(ctx: Context) -> None:
    push_a, pull_a = tpipe(ctx, "inproc://trio-poll-a")
    push_b, pull_b = tpipe(ctx, "inproc://trio-poll-b")

    async def main() -> None:
        poller = zmq_trio.Poller()
        poller.register(pull_a, zmqffi.POLLIN)
        poller.register(pull_b, zmqffi.POLLIN)
        assert await poller.poll(0) == []
        started = time.monotonic()
        assert await poller.poll(50) == []
        assert time.monotonic() - started < WAIT

        async with trio.open_nursery() as nursery:
            outcomes = start(nursery, [poller.poll])  # no timeout
            await let_others_run()
            assert outcomes == [PENDING]
            await push_b.send(b"b")
            await all_woken(outcomes)
        assert outcomes == [[(pull_b, zmqffi.POLLIN)]]
        assert await poller.poll(0) == [(pull_b, zmqffi.POLLIN)]  # still there
        assert await pull_b.recv() == b"b"

        poller.register(push_a, zmqffi.POLLOUT)
        assert await poller.poll(PROMPT_MS) == [(push_a, zmqffi.POLLOUT)]
        poller.modify(push_a, zmqffi.POLLIN)  # a PUSH is never readable
        assert await poller.poll(0) == []
        poller.unregister(push_a)
        await push_a.send(b"a")
        assert await poller.poll(PROMPT_MS) == [(pull_a, zmqffi.POLLIN)]
        assert await pull_a.recv() == b"a"
        assert await poller.poll(20) == []

    try:
        run(main)
    finally:
        close(push_a, pull_a, push_b, pull_b)


def test_a_poller_and_a_receive_awaiting_one_socket(ctx: Context) -> None:
    # trio lets one task wait on a fd: both must wait on the socket's one ZMQ_FD without
    # colliding (BusyResourceError) or taking the other's wake-up
    push, pull = tpipe(ctx, "inproc://trio-poll-and-recv")

    async def main() -> None:
        poller = zmq_trio.Poller()
        poller.register(pull, zmqffi.POLLIN)
        for index in range(10):
            with trio.fail_after(PROMPT):
                # the poller waits first, then a receive joins it
                async with trio.open_nursery() as nursery:
                    polling = start(nursery, [poller.poll])
                    await let_others_run()
                    receiving = start(nursery, [pull.recv])
                    await let_others_run()
                    await push.send(b"%d" % index)
                    await all_woken(receiving)
                    assert receiving == [b"%d" % index]
                    # the receive took that one: the poller (if it has not seen it
                    # already) sees the next
                    await push.send(b"next")
                    await all_woken(polling)
                assert polling == [[(pull, zmqffi.POLLIN)]]
                assert await pull.recv() == b"next"

                # the receive waits first, then the poller joins it
                async with trio.open_nursery() as nursery:
                    receiving = start(nursery, [pull.recv])
                    await let_others_run()
                    polling = start(nursery, [poller.poll])
                    await let_others_run()
                    await push.send(b"%d" % index)
                    await all_woken(receiving)
                    assert receiving == [b"%d" % index]
                    nursery.cancel_scope.cancel()

    try:
        run(main)
    finally:
        close(push, pull)


def test_two_pollers_and_receives_awaiting_one_socket(ctx: Context) -> None:
    push, pull = tpipe(ctx, "inproc://trio-pollers")

    async def main() -> None:
        pollers = [zmq_trio.Poller(), zmq_trio.Poller()]
        for poller in pollers:
            poller.register(pull, zmqffi.POLLIN)
        with trio.fail_after(PROMPT):
            async with trio.open_nursery() as nursery:
                polling = start(nursery, [poller.poll for poller in pollers])
                receiving = start(nursery, [pull.recv, pull.recv])
                await let_others_run()
                assert PENDING in polling and PENDING in receiving
                await push.send(b"one")
                await push.send(b"two")
                await all_woken(receiving)
                await push.send(b"three")  # for the pollers, if the receives took all
                await all_woken(polling)
        assert sorted(receiving) == [b"one", b"two"]
        assert polling == [[(pull, zmqffi.POLLIN)]] * 2
        assert await pull.recv() == b"three"

    try:
        run(main)
    finally:
        close(push, pull)


def test_a_poller_is_woken_when_its_socket_is_closed_or_shut_down(ctx: Context) -> None:
    push, pull = tpipe(ctx, "inproc://trio-poll-closed")
    other = tmake(ctx, zmqffi.PULL)

    async def main() -> None:
        poller = zmq_trio.Poller()
        poller.register(pull, zmqffi.POLLIN)
        async with trio.open_nursery() as nursery:
            polling = start(nursery, [poller.poll])
            await let_others_run()
            pull.close()
            await all_woken(polling)
        [outcome] = polling
        assert isinstance(outcome, LifecycleError), outcome
        assert outcome.errno == errno.ENOTSOCK, outcome

        poller = zmq_trio.Poller()
        poller.register(other, zmqffi.POLLIN)
        async with trio.open_nursery() as nursery:
            polling = start(nursery, [poller.poll])
            await let_others_run()
            await trio.to_thread.run_sync(ctx.shutdown)
            await all_woken(polling)
        [outcome] = polling
        assert isinstance(outcome, ContextTerminated), outcome

    try:
        run(main)
    finally:
        close(push, pull, other)


def test_trio_poller_with_a_plain_fd_and_a_blocking_socket(ctx: Context) -> None:
    read_fd, write_fd = os.pipe()
    push, pull = tpipe(ctx, "inproc://trio-poll-fd")
    plain_pull = make(ctx, zmqffi.PULL)
    plain_pull.bind("inproc://trio-poll-blocking")
    plain_push = make(ctx, zmqffi.PUSH)
    plain_push.connect("inproc://trio-poll-blocking")

    async def main() -> None:
        poller = zmq_trio.Poller()
        poller.register(read_fd, zmqffi.POLLIN)
        poller.register(pull, zmqffi.POLLIN)
        poller.register(plain_pull, zmqffi.POLLIN)
        assert await poller.poll(20) == []
        os.write(write_fd, b"!")
        assert await poller.poll(PROMPT_MS) == [(read_fd, zmqffi.POLLIN)]
        assert os.read(read_fd, 1) == b"!"
        await push.send(b"zmq")
        assert await poller.poll(PROMPT_MS) == [(pull, zmqffi.POLLIN)]
        assert await pull.recv() == b"zmq"

        async with trio.open_nursery() as nursery:
            polling = start(nursery, [functools.partial(poller.poll, PROMPT_MS)])
            await let_others_run()
            plain_push.send(b"blocking")
            await all_woken(polling)
        assert polling == [[(plain_pull, zmqffi.POLLIN)]]
        assert plain_pull.recv() == b"blocking"
        assert await poller.poll(20) == []

    try:
        run(main)
    finally:
        os.close(read_fd)
        os.close(write_fd)
        close(push, pull, plain_push, plain_pull)


def test_socket_poll(ctx: Context) -> None:
    push, pull = tpipe(ctx, "inproc://trio-socket-poll")

    async def main() -> None:
        assert await pull.poll(0) == 0
        assert await pull.poll(50) == 0
        assert await push.poll(PROMPT_MS, zmqffi.POLLOUT) == zmqffi.POLLOUT
        assert await push.poll(PROMPT_MS, flags=zmqffi.POLLOUT) == zmqffi.POLLOUT
        async with trio.open_nursery() as nursery:
            outcomes = start(nursery, [pull.poll])  # no timeout
            await let_others_run()
            assert outcomes == [PENDING]
            await push.send(b"x")
            await all_woken(outcomes)
        assert outcomes == [zmqffi.POLLIN]
        assert await pull.poll(0) == zmqffi.POLLIN  # polling takes nothing
        assert await pull.poll(timeout=PROMPT_MS) == zmqffi.POLLIN
        assert await pull.recv() == b"x"
        assert await pull.poll(20) == 0

    try:
        run(main)
    finally:
        close(push, pull)


# --- 12. the thread rule --------------------------------------------------------------

def test_a_trio_socket_awaited_from_another_thread_is_refused(ctx: Context) -> None:
    push, pull = tpipe(ctx, "inproc://trio-owned")
    owner = threading.current_thread()

    async def intrude() -> bytes:
        return await pull.recv()

    async def intrude_dontwait() -> bytes:
        return await pull.recv(zmqffi.DONTWAIT)

    async def receive_promptly() -> bytes:
        with trio.fail_after(PROMPT):
            return await pull.recv()

    try:
        run(lambda: push.send(b"still here"))
        for call in (intrude, intrude_dontwait):
            fails(lambda call=call: call_in_thread(lambda: trio.run(call)),
                  LifecycleError, "'helper'", repr(owner.name), str(owner.ident))
        fails(lambda: call_in_thread(lambda: pull.getsockopt(zmqffi.EVENTS)),
              LifecycleError, "'helper'")
        # the refused calls took nothing: the owner, in a new run, gets the message
        assert run(receive_promptly) == b"still here"

        # adopt() moves it: the new owner awaits it in its own run, the old is refused
        run(lambda: push.send(b"for the new owner"))

        def adopt_and_receive() -> bytes:
            pull.adopt()
            return trio.run(receive_promptly)

        assert call_in_thread(adopt_and_receive) == b"for the new owner"
        with pytest.raises(LifecycleError):  # its new owner has ended: adopt it back
            run(receive_promptly)
        pull.adopt()
    finally:
        close(push, pull)
