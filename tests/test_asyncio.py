"""zmqffi.asyncio over real sockets: awaited sends and receives that leave the event loop
running, DONTWAIT and the socket's own timeouts, cancellation that never loses or splits a
message, many tasks on one socket, close/shutdown/destroy waking every waiter, no wake-up
lost to the edge-triggered ZMQ_FD, the async Poller and socket.poll, and the thread rule.

Each test runs its own event loop with asyncio.run (no plugin) and bounds what it awaits,
so that a lost wake-up fails the test instead of hanging the suite."""

from __future__ import annotations

import asyncio
import errno
import os
import queue
import random
import sys
import threading
import time
from collections.abc import Awaitable
from typing import Any, Callable, TypeVar

import pytest

import zmqffi
from conftest import (SLOW_WAIT, WAIT, call_in_thread, fails, make,
                      never_blocking_forever)
from zmqffi import Again, Context, ContextTerminated, LifecycleError
from zmqffi import asyncio as zmq_async

T = TypeVar("T")

# seconds: the bound on an awaited call that must complete promptly. It is shorter than
# the sockets' own timeouts (TIMEOUT_MS), so that a lost wake-up which the socket's timeout
# happens to rescue still fails the test.
PROMPT = 2.0
PROMPT_MS = int(PROMPT * 1000)


def run(main: Callable[[], Awaitable[T]], timeout: float = SLOW_WAIT) -> T:
    """Run ``main()`` in a fresh event loop; fail if it has not finished in ``timeout``."""
    async def bounded() -> T:
        return await asyncio.wait_for(main(), timeout)
    return asyncio.run(bounded())


def amake(ctx: Context, kind: int, **options: Any) -> zmq_async.Socket:
    """An async socket with LINGER 0, and RCVTIMEO/SNDTIMEO of TIMEOUT_MS so that an
    implementation that blocks the loop fails instead of hanging (options override)."""
    return never_blocking_forever(zmq_async.Socket(ctx, kind), **options)


def apipe(ctx: Context, endpoint: str, push: dict[str, Any] | None = None,
          pull: dict[str, Any] | None = None) -> tuple[zmq_async.Socket, zmq_async.Socket]:
    """An async PUSH connected to an async PULL bound at ``endpoint``: (push, pull)."""
    receiver = amake(ctx, zmqffi.PULL, **(pull or {}))
    receiver.bind(endpoint)
    sender = amake(ctx, zmqffi.PUSH, **(push or {}))
    sender.connect(receiver.last_endpoint)
    return sender, receiver


def close(*sockets: zmqffi.Socket) -> None:
    for sock in sockets:
        sock.close()


async def let_others_run(times: int = 5) -> None:
    """Yield to the loop a few times: tasks just created reach their first await."""
    for _ in range(times):
        await asyncio.sleep(0)


async def wait_until(condition: Callable[[], bool], timeout: float = PROMPT) -> None:
    """Poll ``condition`` between yields to the loop, failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{condition} still false after {timeout} s"
        await asyncio.sleep(0.001)


TRANSPORTS = pytest.mark.parametrize("address", ["inproc://async-{}", "tcp://127.0.0.1:*"],
                                     ids=["inproc", "tcp"])


def unique(address: str, request: pytest.FixtureRequest) -> str:
    return address.format(f"{os.getpid()}-{request.node.name}")


# --- 1. round trips -------------------------------------------------------------------

def test_round_trip_with_every_receive(ctx: Context, endpoint: str) -> None:
    # made before any event loop runs: allowed
    push, pull = apipe(ctx, endpoint)

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


def test_string_json_and_serialized_are_coroutines(ctx: Context) -> None:
    push, pull = apipe(ctx, "inproc://conveniences")

    async def main() -> None:
        await push.send_string("héllo")
        assert await pull.recv_string() == "héllo"
        await push.send_json({"a": [1, 2]})
        assert await pull.recv_json() == {"a": [1, 2]}
        await push.send_serialized(12345, lambda n: [str(n).encode()])
        assert await pull.recv_serialized(lambda parts: int(parts[0])) == 12345

    try:
        run(main)
    finally:
        close(push, pull)


def test_the_async_context_is_the_one_live_context(no_context_left_live: None) -> None:
    context = zmq_async.Context()
    try:
        assert isinstance(context, zmqffi.Context)
        with pytest.raises(LifecycleError):
            zmqffi.Context()
        assert zmqffi.Context.instance() is context
        pull = context.socket(zmqffi.PULL)
        push = context.socket(zmqffi.PUSH)
        plain = zmqffi.Socket(context, zmqffi.PUSH)  # blocking and async side by side
        try:
            assert isinstance(pull, zmq_async.Socket) and isinstance(push, zmq_async.Socket)
            assert not isinstance(plain, zmq_async.Socket)
            # the other methods are plain calls
            assert pull.setsockopt(zmqffi.LINGER, 0) is None
            assert pull.getsockopt(zmqffi.LINGER) == 0
            assert pull.bind("inproc://async-context") is None
            assert push.connect("inproc://async-context") is None
            plain.connect("inproc://async-context")
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


# --- 2. the loop keeps running --------------------------------------------------------

def test_an_awaited_recv_leaves_the_loop_running(ctx: Context) -> None:
    push, pull = apipe(ctx, "inproc://loop-runs")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    async def sender() -> None:
        await wait_until(lambda: ticks >= 20)
        await push.send(b"at last")

    async def main() -> None:
        tasks = [asyncio.ensure_future(ticker()), asyncio.ensure_future(sender())]
        try:
            # if recv blocked the loop, neither ticker nor sender would run: recv would
            # give up (RCVTIMEO) with Again
            assert await asyncio.wait_for(pull.recv(), PROMPT) == b"at last"
            assert ticks >= 20
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        run(main)
    finally:
        close(push, pull)


# --- 3. DONTWAIT and timeouts ---------------------------------------------------------

def test_dontwait_raises_again_at_once_and_timeouts_are_honoured(ctx: Context) -> None:
    push, pull = apipe(ctx, "inproc://timeouts", pull={"RCVTIMEO": 100})
    lonely = amake(ctx, zmqffi.PUSH, SNDTIMEO=100)  # no peer: nowhere to send
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
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

        tick_task = asyncio.ensure_future(ticker())
        try:
            started = time.monotonic()
            with pytest.raises(Again):
                await pull.recv()
            elapsed = time.monotonic() - started
            assert 0.05 <= elapsed < WAIT, elapsed
            assert ticks > 0  # the loop ran while recv waited
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
        finally:
            tick_task.cancel()
            await asyncio.gather(tick_task, return_exceptions=True)

        # a timeout changes nothing: the sockets still work
        await push.send(b"after")
        assert await pull.recv() == b"after"

    try:
        run(main)
    finally:
        close(push, pull, lonely)


def test_a_timeout_is_not_restarted_by_wake_ups_that_find_nothing(ctx: Context) -> None:
    # every send on the DEALER wakes the task awaiting its recv (the socket is writable),
    # which finds nothing and waits again: RCVTIMEO still counts from the call
    router = amake(ctx, zmqffi.ROUTER)
    router.bind("inproc://restarted-timeout")
    dealer = amake(ctx, zmqffi.DEALER, RCVTIMEO=100)
    dealer.connect("inproc://restarted-timeout")

    async def main() -> None:
        receiving = asyncio.ensure_future(dealer.recv())
        started = time.monotonic()
        while not receiving.done() and time.monotonic() - started < WAIT:
            await dealer.send(b"wake up")
            await asyncio.sleep(0.01)
        assert receiving.done(), "recv outlived its RCVTIMEO while the socket was busy"
        with pytest.raises(Again):
            receiving.result()

    try:
        run(main)
    finally:
        close(router, dealer)


# --- 4. cancelled receives ------------------------------------------------------------

ROUNDS = 300


def expected(index: int) -> Any:
    """Message ``index`` as received: one frame, or two for every third."""
    if index % 3 == 1:
        return [b"%d" % index, b"more"]
    return b"%d" % index


async def receive(sock: zmq_async.Socket, index: int) -> Any:
    """Receive message ``index`` with the receive its kind calls for."""
    if index % 3 == 0:
        return await sock.recv()
    if index % 3 == 1:
        return await sock.recv_multipart()
    msg = await sock.recv_msg()
    try:
        return msg.bytes
    finally:
        msg.close()


@TRANSPORTS
def test_a_cancelled_receive_takes_nothing(ctx: Context, address: str,
                                           request: pytest.FixtureRequest) -> None:
    push, pull = apipe(ctx, unique(address, request))
    rng = random.Random(4)
    received: list[Any] = []
    cancelled = {"wait_for": 0, "timeout": 0, "cancel": 0}

    async def sender(progress: asyncio.Event) -> None:
        for index in range(ROUNDS):
            while len(received) < index:  # send each message while the receiver waits
                progress.clear()
                await progress.wait()
            pause = rng.random()
            if pause < 0.3:
                await let_others_run(rng.randrange(1, 4))
            elif pause < 0.8:
                await asyncio.sleep(rng.uniform(0, 0.002))
            message = expected(index)
            await push.send_multipart(message if isinstance(message, list) else [message])

    async def attempt(index: int) -> tuple[bool, Any]:
        """One receive of message ``index``, cancelled after a little while."""
        style = rng.choice(["wait_for", "cancel"] +
                           (["timeout"] if sys.version_info >= (3, 11) else []))
        limit = rng.choice([0, 0.0001, 0.0005, 0.001, 0.003])
        try:
            if style == "wait_for":
                return True, await asyncio.wait_for(receive(pull, index), limit)
            if style == "timeout":
                async with asyncio.timeout(limit):  # type: ignore[attr-defined]
                    return True, await receive(pull, index)
            task = asyncio.ensure_future(receive(pull, index))
            await let_others_run(rng.randrange(4))
            task.cancel()
            try:
                return True, await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
        except asyncio.TimeoutError:
            pass
        cancelled[style] += 1
        return False, None

    async def main() -> None:
        progress = asyncio.Event()
        sending = asyncio.ensure_future(sender(progress))
        deadline = time.monotonic() + SLOW_WAIT
        while len(received) < ROUNDS and time.monotonic() < deadline:
            done, data = await attempt(len(received))
            if done:
                received.append(data)
                progress.set()
            if sending.done() and sending.exception():
                break
        await asyncio.wait_for(sending, PROMPT)
        with pytest.raises(Again):  # nothing duplicated, left over
            await pull.recv(zmqffi.DONTWAIT)

    try:
        run(main)
    finally:
        close(push, pull)
    assert received == [expected(index) for index in range(ROUNDS)], \
        f"cancellations: {cancelled}"
    assert sum(cancelled.values()) >= ROUNDS // 10, cancelled  # the race was run


# --- 5. cancelled sends under a full high-water mark -----------------------------------

def test_a_cancelled_send_multipart_sends_all_or_nothing(ctx: Context) -> None:
    push, pull = apipe(ctx, "inproc://full", push={"SNDHWM": 1}, pull={"RCVHWM": 1})
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
        limit = rng.choice([0, 0.0001, 0.001, 0.005])
        try:
            if rng.random() < 0.5:
                await asyncio.wait_for(push.send_multipart(parts(index)), limit)
            else:
                task = asyncio.ensure_future(push.send_multipart(parts(index)))
                await let_others_run(rng.randrange(4))
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    if not task.cancelled():
                        raise
                    raise asyncio.TimeoutError from None
        except asyncio.TimeoutError:
            cancelled.add(index)
            return False
        completed.add(index)
        return True

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
        reading = asyncio.ensure_future(reader())
        for _ in range(200):
            await attempt()
        await asyncio.wait_for(push.send_multipart(parts("stop")), PROMPT)
        await asyncio.wait_for(reading, PROMPT)

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
    push, pull = apipe(ctx, unique(address, request))
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
        tasks = [asyncio.ensure_future(receiver(number)) for number in range(tasks_count)]
        await let_others_run()  # all of them waiting
        for index in range(count):
            await push.send(b"%d" % index)
            if index % 7 == 0:
                await asyncio.sleep(0)
        for _ in range(tasks_count):  # one each: a task stops after its first
            await push.send(b"stop")
        await asyncio.wait_for(asyncio.gather(*tasks), PROMPT)

    try:
        run(main)
    finally:
        close(push, pull)
    everything = sorted((data for each in got for data in each), key=int)
    assert everything == [b"%d" % index for index in range(count)]


def test_many_tasks_sending_on_one_socket(ctx: Context) -> None:
    push, pull = apipe(ctx, "inproc://many-senders", push={"SNDHWM": 1},
                       pull={"RCVHWM": 1})
    tasks_count, each = 8, 50

    async def sender(number: int) -> None:
        for index in range(each):
            await push.send_multipart([b"%d" % number, b"%d" % index, b"end"])

    async def main() -> list[list[bytes]]:
        senders = [asyncio.ensure_future(sender(number)) for number in range(tasks_count)]
        received = []
        for _ in range(tasks_count * each):
            received.append(await asyncio.wait_for(pull.recv_multipart(), PROMPT))
        await asyncio.wait_for(asyncio.gather(*senders), PROMPT)
        with pytest.raises(Again):
            await pull.recv(zmqffi.DONTWAIT)
        return received

    try:
        received = run(main)
    finally:
        close(push, pull)
    assert all(len(message) == 3 and message[2] == b"end" for message in received)
    for number in range(tasks_count):
        indices = [int(message[1]) for message in received if message[0] == b"%d" % number]
        assert indices == list(range(each)), number


# --- 7. close, shutdown and destroy wake every waiter ---------------------------------

def waiters(pull: zmq_async.Socket, lonely: zmq_async.Socket) -> list[asyncio.Future[Any]]:
    """Tasks awaiting ``pull`` (receives and a poll) and ``lonely`` (a PUSH with no peer:
    sends that cannot go anywhere)."""
    calls = [pull.recv(), pull.recv(), pull.recv_multipart(), pull.recv_msg(),
             pull.recv_into(bytearray(4)), pull.poll(), lonely.send(b"x"),
             lonely.send_multipart([b"a", b"b"])]
    return [asyncio.ensure_future(call) for call in calls]


async def all_woken(tasks: list[asyncio.Future[Any]]) -> list[Any]:
    """What each task raised or returned, failing unless all end within PROMPT."""
    done, pending = await asyncio.wait(tasks, timeout=PROMPT)
    for task in pending:
        task.cancel()
    assert not pending, f"{len(pending)} of {len(tasks)} waiters not woken"
    return [task.exception() or task.result() for task in tasks]


def test_close_by_the_owner_wakes_every_waiter(ctx: Context) -> None:
    push, pull = apipe(ctx, "inproc://closing")
    lonely = amake(ctx, zmqffi.PUSH, SNDHWM=1)

    async def main() -> None:
        tasks = waiters(pull, lonely)
        await let_others_run()
        assert not any(task.done() for task in tasks)
        pull.close()
        lonely.close()
        outcomes = await all_woken(tasks)
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
    push, pull = apipe(ctx, "inproc://shutdown")
    lonely = amake(ctx, zmqffi.PUSH, SNDHWM=1)

    async def main() -> None:
        tasks = waiters(pull, lonely)
        await let_others_run()
        assert not any(task.done() for task in tasks)
        await asyncio.wait_for(asyncio.to_thread(ctx.shutdown), PROMPT)
        outcomes = await all_woken(tasks)
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
    context = zmq_async.Context()
    try:
        pull = context.socket(zmqffi.PULL)
        pull.bind("inproc://destroy")
        push = context.socket(zmqffi.PUSH)
        push.connect("inproc://destroy")
        lonely = context.socket(zmqffi.PUSH)

        async def main() -> None:
            tasks = waiters(pull, lonely)
            await let_others_run()
            assert not any(task.done() for task in tasks)
            await asyncio.wait_for(asyncio.to_thread(context.destroy, linger=0), PROMPT)
            outcomes = await all_woken(tasks)
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
    sock = amake(ctx, zmqffi.PAIR)
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
        assert await asyncio.to_thread(sent.get, True, SLOW_WAIT) == index

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
                sock.bind(f"inproc://extra-{os.getpid()}-{index}")
                sock.getsockopt(zmqffi.EVENTS)
            assert await asyncio.wait_for(sock.recv(), PROMPT) == b"%d" % index, case
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
    sock = amake(ctx, zmqffi.PULL)
    sock.bind("inproc://strand")
    push = make(ctx, zmqffi.PUSH)  # blocking, in this thread: sends are never blocked here
    push.connect("inproc://strand")

    async def main() -> None:
        for index in range(30):
            waiter = asyncio.ensure_future(sock.recv())
            await let_others_run()
            push.send(b"%d" % index)
            sock.getsockopt(zmqffi.EVENTS)  # may take the edge the waiter waits for
            assert await asyncio.wait_for(waiter, PROMPT) == b"%d" % index

    try:
        run(main)
    finally:
        close(push, sock)


# --- 9. blocking and async sockets in one process --------------------------------------

def test_async_and_blocking_sockets_in_one_process(ctx: Context) -> None:
    pull = amake(ctx, zmqffi.PULL)
    pull.bind("tcp://127.0.0.1:*")
    push = amake(ctx, zmqffi.PUSH)
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
        working = asyncio.ensure_future(asyncio.to_thread(worker))
        got = [await asyncio.wait_for(pull.recv(), PROMPT) for _ in range(count)]
        assert got == [b"%d" % index for index in range(count)]
        for index in range(count):
            await push.send(b"back %d" % index)
        return await asyncio.wait_for(working, SLOW_WAIT)

    try:
        assert run(main) == [b"back %d" % index for index in range(count)]
    finally:
        close(push, pull)


# --- 10, 11. polling ------------------------------------------------------------------

def test_async_poller(ctx: Context) -> None:
    push_a, pull_a = apipe(ctx, "inproc://poll-a")
    push_b, pull_b = apipe(ctx, "inproc://poll-b")

    async def main() -> None:
        poller = zmq_async.Poller()
        poller.register(pull_a, zmqffi.POLLIN)
        poller.register(pull_b, zmqffi.POLLIN)
        assert await poller.poll(0) == []
        started = time.monotonic()
        assert await poller.poll(50) == []
        assert time.monotonic() - started < WAIT

        waiting = asyncio.ensure_future(poller.poll())  # no timeout
        await let_others_run()
        assert not waiting.done()
        await push_b.send(b"b")
        assert await asyncio.wait_for(waiting, PROMPT) == [(pull_b, zmqffi.POLLIN)]
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
    # both wait on the socket's one ZMQ_FD: neither may take the other's wake-up
    push, pull = apipe(ctx, "inproc://poll-and-recv")

    async def main() -> None:
        poller = zmq_async.Poller()
        poller.register(pull, zmqffi.POLLIN)
        for index in range(10):
            # the poller waits first, then a receive joins it
            polling = asyncio.ensure_future(poller.poll())
            await let_others_run()
            receiving = asyncio.ensure_future(pull.recv())
            await let_others_run()
            await push.send(b"%d" % index)
            assert await asyncio.wait_for(receiving, PROMPT) == b"%d" % index
            # the receive took that one: the poller still waits, and sees the next one
            await push.send(b"next")
            assert await asyncio.wait_for(polling, PROMPT) == [(pull, zmqffi.POLLIN)]
            assert await pull.recv() == b"next"

            # the receive waits first, then the poller joins it
            receiving = asyncio.ensure_future(pull.recv())
            await let_others_run()
            polling = asyncio.ensure_future(poller.poll())
            await let_others_run()
            await push.send(b"%d" % index)
            assert await asyncio.wait_for(receiving, PROMPT) == b"%d" % index
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)

    try:
        run(main)
    finally:
        close(push, pull)


def test_a_poller_is_woken_when_its_socket_is_closed_or_shut_down(ctx: Context) -> None:
    push, pull = apipe(ctx, "inproc://poll-closed")
    other = amake(ctx, zmqffi.PULL)

    async def main() -> None:
        poller = zmq_async.Poller()
        poller.register(pull, zmqffi.POLLIN)
        polling = asyncio.ensure_future(poller.poll())
        await let_others_run()
        pull.close()
        [outcome] = await all_woken([polling])
        assert isinstance(outcome, LifecycleError), outcome
        assert outcome.errno == errno.ENOTSOCK, outcome

        poller = zmq_async.Poller()
        poller.register(other, zmqffi.POLLIN)
        polling = asyncio.ensure_future(poller.poll())
        await let_others_run()
        await asyncio.wait_for(asyncio.to_thread(ctx.shutdown), PROMPT)
        [outcome] = await all_woken([polling])
        assert isinstance(outcome, ContextTerminated), outcome

    try:
        run(main)
    finally:
        close(push, pull, other)


def test_async_poller_with_a_plain_fd(ctx: Context) -> None:
    read_fd, write_fd = os.pipe()
    push, pull = apipe(ctx, "inproc://poll-fd")

    async def main() -> None:
        poller = zmq_async.Poller()
        poller.register(read_fd, zmqffi.POLLIN)
        poller.register(pull, zmqffi.POLLIN)
        assert await poller.poll(20) == []
        os.write(write_fd, b"!")
        assert await poller.poll(PROMPT_MS) == [(read_fd, zmqffi.POLLIN)]
        assert os.read(read_fd, 1) == b"!"
        await push.send(b"zmq")
        assert await poller.poll(PROMPT_MS) == [(pull, zmqffi.POLLIN)]
        assert await pull.recv() == b"zmq"

    try:
        run(main)
    finally:
        os.close(read_fd)
        os.close(write_fd)
        close(push, pull)


def test_socket_poll(ctx: Context) -> None:
    push, pull = apipe(ctx, "inproc://socket-poll")

    async def main() -> None:
        assert await pull.poll(0) == 0
        assert await pull.poll(50) == 0
        assert await push.poll(PROMPT_MS, zmqffi.POLLOUT) == zmqffi.POLLOUT
        assert await push.poll(PROMPT_MS, flags=zmqffi.POLLOUT) == zmqffi.POLLOUT
        waiting = asyncio.ensure_future(pull.poll())  # no timeout
        await let_others_run()
        assert not waiting.done()
        await push.send(b"x")
        assert await asyncio.wait_for(waiting, PROMPT) == zmqffi.POLLIN
        assert await pull.poll(0) == zmqffi.POLLIN  # polling takes nothing
        assert await pull.poll(timeout=PROMPT_MS) == zmqffi.POLLIN
        assert await pull.recv() == b"x"
        assert await pull.poll(20) == 0

    try:
        run(main)
    finally:
        close(push, pull)


# --- 12. the thread rule --------------------------------------------------------------

def test_an_async_socket_awaited_from_another_thread_is_refused(ctx: Context) -> None:
    push, pull = apipe(ctx, "inproc://owned")
    owner = threading.current_thread()

    async def send(data: bytes) -> None:
        await push.send(data)

    async def intrude() -> bytes:
        return await pull.recv()

    async def intrude_dontwait() -> bytes:
        return await pull.recv(zmqffi.DONTWAIT)

    try:
        run(lambda: send(b"still here"))
        for call in (intrude, intrude_dontwait):
            fails(lambda call=call: call_in_thread(lambda: asyncio.run(call())),
                  LifecycleError, "'helper'", repr(owner.name), str(owner.ident))
        fails(lambda: call_in_thread(lambda: pull.getsockopt(zmqffi.EVENTS)),
              LifecycleError, "'helper'")
        # the refused calls took nothing: the owner, in a new loop, gets the message
        assert run(lambda: asyncio.wait_for(pull.recv(), PROMPT)) == b"still here"

        # adopt() moves it: the new owner awaits it in its own loop, the old is refused
        run(lambda: send(b"for the new owner"))

        def adopt_and_receive() -> bytes:
            pull.adopt()
            return asyncio.run(asyncio.wait_for(pull.recv(), PROMPT))

        assert call_in_thread(adopt_and_receive) == b"for the new owner"
        with pytest.raises(LifecycleError):  # its new owner has ended: adopt it back
            run(lambda: asyncio.wait_for(pull.recv(), PROMPT))
        pull.adopt()
    finally:
        close(push, pull)


# --- 13. pyzmq's zmq.asyncio as the peer, in another process ---------------------------

# The messages both sides make from a seed: frame sizes around zmqffi's copy thresholds,
# single frames and multipart ones (empty frames too). Spaces separate the messages,
# commas their frames.
LAYOUT = "0 1 5 3,0,7 255 256 0,0 65536 1,65536,0,256 1000000 2,1000000"
SEED = 13

# The child's copy of messages(): the same frames from the same seed.
PEER_MESSAGES = """
    import random

    def messages(layout, seed):
        rng = random.Random(seed)
        return [[rng.randbytes(int(size)) for size in message.split(",")]
                for message in layout.split()]
"""

PYZMQ_PUSH = PEER_MESSAGES + """
    import asyncio, sys
    import zmq, zmq.asyncio

    async def main(endpoint, layout, seed):
        context = zmq.asyncio.Context()
        push = context.socket(zmq.PUSH)
        push.linger = push.sndtimeo = 20000
        push.connect(endpoint)
        for frames in messages(layout, seed):
            if len(frames) == 1:
                await push.send(frames[0])
            else:
                await push.send_multipart(frames)
        print("sent", flush=True)
        push.close()  # lingers until the rest is delivered
        context.term()
        print("done", flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""

PYZMQ_PULL_ECHO = """
    import asyncio, hashlib, sys
    import zmq, zmq.asyncio

    async def main(count):
        context = zmq.asyncio.Context()
        pull, back = context.socket(zmq.PULL), context.socket(zmq.PUSH)
        for sock in (pull, back):
            sock.linger = sock.rcvtimeo = sock.sndtimeo = 20000
            sock.bind("tcp://127.0.0.1:*")
        print("endpoints", pull.last_endpoint.decode(), back.last_endpoint.decode(),
              flush=True)
        for _ in range(count):
            frames = await pull.recv_multipart()
            print("got", *[f"{len(frame)}:{hashlib.sha256(frame).hexdigest()}"
                           for frame in frames], flush=True)
            await back.send_multipart(frames)
        pull.close()
        back.close()  # lingers until the echoes are delivered
        context.term()
        print("done", flush=True)

    asyncio.run(main(int(sys.argv[1])))
"""


def messages(layout: str, seed: int) -> list[list[bytes]]:
    rng = random.Random(seed)
    return [[rng.randbytes(int(size)) for size in message.split(",")]
            for message in layout.split()]


def summary(frames: list[bytes]) -> str:
    """Each frame's size and SHA-256, as the echoing peer prints them."""
    import hashlib
    return " ".join(f"{len(frame)}:{hashlib.sha256(frame).hexdigest()}" for frame in frames)


def test_receiving_from_a_pyzmq_asyncio_push_in_another_process(
        ctx: Context, spawn: Callable[..., Any]) -> None:
    pytest.importorskip("zmq")
    sent = messages(LAYOUT, SEED)
    # the first receive waits for the peer to start: up to SLOW_WAIT
    pull = amake(ctx, zmqffi.PULL, RCVTIMEO=int(SLOW_WAIT * 1000))
    pull.bind("tcp://127.0.0.1:*")
    peer = spawn(PYZMQ_PUSH, pull.last_endpoint, LAYOUT, str(SEED))

    async def main() -> list[list[bytes]]:
        got = []
        for index, frames in enumerate(sent):
            if len(frames) > 1:
                got.append(await pull.recv_multipart())
            elif index % 2:
                got.append([await pull.recv()])
            else:
                msg = await pull.recv_msg()
                got.append([msg.bytes])
                assert not msg.more, index
                msg.close()
        with pytest.raises(Again):  # nothing more than it sent
            await pull.recv(zmqffi.DONTWAIT)
        return got

    try:
        got = run(main)
    finally:
        close(pull)
    assert [summary(frames) for frames in got] == [summary(frames) for frames in sent]
    assert got == sent
    peer.expect("done")
    assert peer.proc.wait(SLOW_WAIT) == 0


def test_sending_to_a_pyzmq_asyncio_pull_in_another_process(
        ctx: Context, spawn: Callable[..., Any]) -> None:
    pytest.importorskip("zmq")
    sent = messages(LAYOUT, SEED)
    peer = spawn(PYZMQ_PULL_ECHO, str(len(sent)))
    _, pull_endpoint, echo_endpoint = peer.expect("endpoints").split()
    push = amake(ctx, zmqffi.PUSH)
    push.connect(pull_endpoint)
    echoes = amake(ctx, zmqffi.PULL, RCVTIMEO=int(SLOW_WAIT * 1000))
    echoes.connect(echo_endpoint)

    async def main() -> list[list[bytes]]:
        for index, frames in enumerate(sent):
            if len(frames) > 1:
                await push.send_multipart(frames, copy=bool(index % 2))
            else:
                await push.send(frames[0], copy=bool(index % 2))
        return [await echoes.recv_multipart() for _ in sent]

    try:
        echoed = run(main)
    finally:
        close(push, echoes)
    # what pyzmq received, as it printed it, and what it sent back
    printed = [peer.expect("got")[len("got "):] for _ in sent]
    assert printed == [summary(frames) for frames in sent]
    assert echoed == sent
    peer.expect("done")
    assert peer.proc.wait(SLOW_WAIT) == 0
