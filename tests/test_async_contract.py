"""The async contract (API.md, "Async: zmqffi.asyncio and zmqffi.trio"; issue 14's tests)
where test_asyncio.py and test_trio.py leave out a flavour, a transport or a method. Each
test is written once over a Flavour (asyncio's or trio's way to run, sleep, start and
cancel tasks), for every coroutine method. Every wait is bounded: a lost wake-up fails."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import json
import os
import random
import select
import threading
import time
from types import SimpleNamespace
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Callable

import pytest

import zmqffi
from conftest import SLOW_WAIT, close, never_blocking_forever
from test_asyncio import LAYOUT, PROMPT, PROMPT_MS, PYZMQ_PULL_ECHO, SEED, messages
from zmqffi import Again, Context, ContextTerminated, LifecycleError
from zmqffi import asyncio as zmq_async

try:
    import trio
    import zmqffi.trio as zmq_trio
except ImportError:  # trio is optional: the trio half of each test is skipped
    trio = zmq_trio = None

Outcome = SimpleNamespace  # .value: what a started call returned or raised, or:
PENDING, CANCELLED = "pending", "cancelled"


async def record(outcome: Outcome, call: Callable[[], Awaitable[Any]]) -> None:
    try:
        outcome.value = await call()
    except Exception as exc:  # the outcome under test
        outcome.value = exc
    finally:
        if outcome.value is PENDING:
            outcome.value = CANCELLED


class AsyncioFlavour:
    module = zmq_async

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        return asyncio.run(asyncio.wait_for(main(), SLOW_WAIT))

    sleep = staticmethod(asyncio.sleep)

    async def within(self, seconds: float, call: Callable[[], Awaitable[Any]]
                     ) -> tuple[bool, Any]:
        """``call()`` cancelled after ``seconds``: (True, its result) or (False, None)."""
        try:
            return True, await asyncio.wait_for(call(), seconds)
        except asyncio.TimeoutError:
            return False, None

    @contextlib.asynccontextmanager
    async def tasks(self) -> AsyncIterator[Callable[..., Outcome]]:
        """``start(call)`` -> its Outcome; calls still running at the end are cancelled."""
        started: list[asyncio.Future[None]] = []

        def start(call: Callable[[], Awaitable[Any]]) -> Outcome:
            outcome = Outcome(value=PENDING)
            started.append(asyncio.ensure_future(record(outcome, call)))
            outcome.cancel = started[-1].cancel
            return outcome
        try:
            yield start
        finally:
            for task in started:
                task.cancel()
            await asyncio.gather(*started, return_exceptions=True)


class TrioFlavour(AsyncioFlavour):
    module = zmq_trio

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        async def bounded() -> Any:
            with trio.fail_after(SLOW_WAIT):
                return await main()
        return trio.run(bounded)

    sleep = staticmethod(trio.sleep if trio else None)

    async def within(self, seconds: float, call: Callable[[], Awaitable[Any]]
                     ) -> tuple[bool, Any]:
        with trio.move_on_after(seconds):
            return True, await call()
        return False, None

    @contextlib.asynccontextmanager
    async def tasks(self) -> AsyncIterator[Callable[..., Outcome]]:
        async with trio.open_nursery() as nursery:
            def start(call: Callable[[], Awaitable[Any]]) -> Outcome:
                scope = trio.CancelScope()
                outcome = Outcome(value=PENDING, cancel=scope.cancel)

                async def scoped() -> None:
                    with scope:
                        await record(outcome, call)
                nursery.start_soon(scoped)
                return outcome
            yield start
            nursery.cancel_scope.cancel()


FLAVOURS = [pytest.param(AsyncioFlavour(), id="asyncio"),
            pytest.param(TrioFlavour(), id="trio",
                         marks=pytest.mark.skipif(trio is None, reason="trio is absent"))]
BOTH = pytest.mark.parametrize("fl", FLAVOURS)
TRANSPORTS = pytest.mark.parametrize("transport", ["inproc", "tcp"])


def address(transport: str, request: pytest.FixtureRequest, tag: str) -> str:
    if transport == "tcp":
        return "tcp://127.0.0.1:*"
    return f"inproc://contract-{os.getpid()}-{request.node.name}-{tag}"


def sockets(fl: Any, ctx: Context, transport: str, request: pytest.FixtureRequest,
            **options: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(push, pull, lonely): a PUSH connected to a PULL bound over ``transport``, and a
    PUSH bound there with no peer (its sends cannot go anywhere); ``options`` by role."""
    made = {role: never_blocking_forever(fl.module.Socket(ctx, kind), **options.get(role, {}))
            for role, kind in [("pull", zmqffi.PULL), ("push", zmqffi.PUSH),
                               ("lonely", zmqffi.PUSH)]}
    made["pull"].bind(address(transport, request, "pull"))
    made["push"].connect(made["pull"].last_endpoint)
    made["lonely"].bind(address(transport, request, "lonely"))
    return made["push"], made["pull"], made["lonely"]


def receives(sock: Any, flags: int = 0) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Every receive coroutine of ``sock``, each returning the one frame as bytes."""
    buffer = bytearray(64)

    def closed(msg: zmqffi.Message) -> bytes:
        with msg:
            return msg.bytes

    def one(frames: list[bytes]) -> Any:
        return frames[0] if len(frames) == 1 else frames

    calls: dict[str, tuple[Callable[[], Awaitable[Any]], Callable[[Any], Any]]] = {
        "recv": (lambda: sock.recv(flags), bytes),
        "recv_multipart": (lambda: sock.recv_multipart(flags), one),
        "recv_msg": (lambda: sock.recv_msg(flags), closed),
        "recv_into": (lambda: sock.recv_into(buffer, flags), lambda n: bytes(buffer[:n])),
        "recv_string": (lambda: sock.recv_string(flags), str.encode),
        "recv_json": (lambda: sock.recv_json(flags), lambda obj: json.dumps(obj).encode()),
        "recv_serialized": (lambda: sock.recv_serialized(one, flags), lambda frame: frame)}

    async def converted(call: Callable[[], Awaitable[Any]], convert: Any) -> Any:
        return convert(await call())
    return {name: functools.partial(converted, *pair) for name, pair in calls.items()}


def sends(sock: Any, flags: int = 0) -> dict[str, Callable[[bytes], Awaitable[None]]]:
    """Every send coroutine of ``sock``, each sending ``data`` (JSON text) as one frame."""
    return {"send": lambda data: sock.send(data, flags),
            "send_multipart": lambda data: sock.send_multipart([data], flags),
            "send_string": lambda data: sock.send_string(data.decode(), flags),
            "send_json": lambda data: sock.send_json(json.loads(data), flags),
            "send_serialized": lambda data: sock.send_serialized(data, lambda d: [d], flags)}


def frame(name: str) -> bytes:
    return json.dumps(f"{name}-{random.randrange(10 ** 6)}").encode()


def first_step(coroutine: Any) -> Any:
    """Run ``coroutine``'s first step: what it returns (or raises) without suspending."""
    try:
        yielded = coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise AssertionError(f"it suspended ({yielded!r}) instead of finishing at once")


async def settle(fl: Any) -> None:
    """Yield a few times: tasks just started reach their first wait."""
    for _ in range(5):
        await fl.sleep(0)


async def until(fl: Any, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PROMPT
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {PROMPT} s"
        await fl.sleep(0.001)


@BOTH
@TRANSPORTS
def test_every_coroutine_method_dontwait_and_timeouts(
        fl: Any, ctx: Context, transport: str, request: pytest.FixtureRequest) -> None:
    push, pull, lonely = sockets(fl, ctx, transport, request)
    ticks = [0]

    async def ticker() -> None:
        while True:
            await fl.sleep(0.001)
            ticks[0] += 1

    async def main() -> None:
        poller = fl.module.Poller()
        poller.register(pull, zmqffi.POLLIN)
        assert await pull.poll(0) == 0 and await poller.poll(20) == []
        for call in [*receives(pull, zmqffi.DONTWAIT).values(), *[functools.partial(
                send, b'"x"') for send in sends(lonely, zmqffi.DONTWAIT).values()]]:
            with pytest.raises(Again):  # at once: it never suspends
                first_step(call())
        sent = {name: frame(name) for name in receives(pull)}
        for (name, send), data in zip(list(sends(push).items()) * 2, sent.values()):
            assert first_step(send(data)) is None, name  # room: no wait (issue, point 3)
        for name, receive in receives(pull).items():
            assert await poller.poll(PROMPT_MS) == [(pull, zmqffi.POLLIN)], name
            assert await pull.poll(PROMPT_MS) == zmqffi.POLLIN, name
            assert first_step(receive()) == sent[name], name  # there: no wait either
        assert await pull.poll(20) == 0
        pull.rcvtimeo = lonely.sndtimeo = 30  # Again after that many ms, the loop running
        async with fl.tasks() as start:
            start(ticker)
            for name, call in {**receives(pull), **{name: functools.partial(send, b'"x"')
                               for name, send in sends(lonely).items()}}.items():
                before, started = ticks[0], time.monotonic()
                with pytest.raises(Again):
                    await call()
                assert time.monotonic() - started >= 0.029, f"{name}: Again too early"
                assert ticks[0] > before, f"{name}: the loop did not run while it waited"

    try:
        fl.run(main)
    finally:
        close(push, pull, lonely)


@BOTH
@TRANSPORTS
@pytest.mark.parametrize("moment", ["waiting", 0, 1, 2, 3, 5])
def test_a_cancelled_receive_of_any_kind_takes_nothing(
        fl: Any, ctx: Context, transport: str, moment: Any,
        request: pytest.FixtureRequest) -> None:
    # cancelled while it waits, or that many yields after its message was sent (woken,
    # or not yet): it returned the message, or the next receive does
    push, pull, lonely = sockets(fl, ctx, transport, request)

    async def main() -> None:
        for name, receive in receives(pull).items():
            data = frame(name)
            async with fl.tasks() as start:
                outcome = start(receive)
                await settle(fl)
                assert outcome.value is PENDING, name
                if moment != "waiting":
                    await push.send(data)
                    for _ in range(moment):
                        await fl.sleep(0)
                outcome.cancel()
                await until(fl, lambda o=outcome: o.value is not PENDING, name)
            if moment == "waiting":
                assert outcome.value is CANCELLED
                await push.send(data)
            if outcome.value is CANCELLED:
                assert await fl.within(PROMPT, pull.recv) == (True, data), name
            else:
                assert outcome.value == data, name
            with pytest.raises(Again):  # nothing duplicated
                await pull.recv(zmqffi.DONTWAIT)

    try:
        fl.run(main)
    finally:
        close(push, pull, lonely)


@BOTH
def test_a_cancelled_send_multipart_sends_all_or_nothing_over_tcp(
        fl: Any, ctx: Context, request: pytest.FixtureRequest) -> None:
    # high-water marks of 1, small kernel buffers and 64 KiB frames: sends wait often
    small = {"SNDHWM": 1, "RCVHWM": 1, "SNDBUF": 4096, "RCVBUF": 4096}
    push, pull, lonely = sockets(fl, ctx, "tcp", request, push=small, pull=small)
    rng, middle = random.Random(14), bytes(65536)
    completed, cancelled, received = set(), set(), []

    async def reader() -> None:
        while not received or received[-1] != [b"stop"]:
            if rng.random() < 0.3:
                await settle(fl)
            received.append(await pull.recv_multipart())

    async def main() -> None:
        async with fl.tasks() as start:
            reading = start(reader)
            for index in range(200):
                done, _ = await fl.within(rng.choice([0, 0.0001, 0.0005, 0.002]),
                                          functools.partial(push.send_multipart,
                                                            [b"%d" % index, middle, b"e"]))
                (completed if done else cancelled).add(index)
            assert (await fl.within(PROMPT, lambda: push.send_multipart([b"stop"])))[0]
            await until(fl, lambda: reading.value is not PENDING, "the reader")
        assert reading.value is None, reading.value

    try:
        fl.run(main)
    finally:
        close(push, pull, lonely)
    assert all(m[1:] == [middle, b"e"] for m in received[:-1]), "a message not whole"
    indices = [int(message[0]) for message in received[:-1]]
    assert indices == sorted(set(indices)), "duplicated or out of order"
    assert completed <= set(indices), f"sent but lost: {sorted(completed - set(indices))}"
    assert set(indices) <= completed | cancelled
    assert len(completed) >= 10 and len(cancelled) >= 10, (len(completed), len(cancelled))


@BOTH
@TRANSPORTS
@pytest.mark.parametrize("how", ["close", "shutdown", "destroy",
                                 "shutdown in a thread", "destroy in a thread"])
def test_every_waiter_is_woken_with_the_contracts_error(
        fl: Any, ctx: Context, transport: str, how: str,
        request: pytest.FixtureRequest) -> None:
    forever = {"RCVTIMEO": -1, "SNDTIMEO": -1}  # only the wake-up can end the waits
    push, pull, lonely = sockets(fl, ctx, transport, request, pull=forever, lonely=forever)
    poller = fl.module.Poller()
    poller.register(pull, zmqffi.POLLIN)
    calls = [*receives(pull).values(), pull.poll, poller.poll,
             functools.partial(lonely.poll, None, zmqffi.POLLOUT),
             *[functools.partial(send, b'"x"') for send in sends(lonely).values()]]
    act = {"close": lambda: close(pull, lonely), "shutdown": ctx.shutdown,
           "destroy": ctx.destroy}[how.split()[0]]
    other = threading.Thread(target=act, name="other")

    async def main() -> None:
        async with fl.tasks() as start:
            outcomes = [start(call) for call in calls]
            await settle(fl)
            assert all(o.value is PENDING for o in outcomes), [o.value for o in outcomes]
            if how.endswith("thread"):
                other.start()
            else:
                act()
            await until(fl, lambda: PENDING not in [o.value for o in outcomes], how)
        error = LifecycleError if how == "close" else ContextTerminated
        for outcome in outcomes:
            assert isinstance(outcome.value, error), (how, outcome.value)
            assert how != "close" or outcome.value.errno == errno.ENOTSOCK, outcome.value
        with pytest.raises(error):  # and the owner's next call
            await pull.recv()

    try:
        fl.run(main)
    finally:
        if other.ident:
            other.join(SLOW_WAIT)
        close(push, pull, lonely)


# --- the edge-triggered ZMQ_FD: no wake-up lost to a call made between awaits ------------

BETWEEN_AWAITS: dict[str, Callable[[Any, Any], Any]] = {
    # name: the call, given the socket and its extras (each makes libzmq process the
    # socket's commands, which consumes the edge)
    "getsockopt(EVENTS)": lambda sock, extra: sock.getsockopt(zmqffi.EVENTS),
    "connect": lambda sock, extra: sock.connect(extra.nobody),
    "disconnect": lambda sock, extra: sock.disconnect(extra.peer),
    "unbind": lambda sock, extra: sock.unbind(extra.bound),
    "poll(0)": lambda sock, extra: first_step(sock.poll(0)),
    "zmqffi.Poller.poll(0)": lambda sock, extra: extra.blocking_poller.poll(0),
    "send_many(DONTWAIT)": lambda sock, extra: sock.send_many([b"x"], zmqffi.DONTWAIT),
}


@BOTH
@TRANSPORTS
@pytest.mark.parametrize("call", list(BETWEEN_AWAITS))
def test_no_wake_up_is_lost_to_a_call_between_awaits(
        fl: Any, ctx: Context, transport: str, call: str,
        request: pytest.FixtureRequest) -> None:
    # the message is there (ZMQ_FD readable) and a call consumes the edge before the
    # loop looks at the fd: the waiting receive must still get it
    sock = never_blocking_forever(fl.module.Socket(ctx, zmqffi.DEALER))
    sock.bind(address(transport, request, "dealer"))
    peer = never_blocking_forever(zmqffi.Socket(ctx, zmqffi.DEALER))
    peer.connect(sock.last_endpoint)
    extra = SimpleNamespace(**{end: address("inproc", request, end)
                               for end in ("bound", "peer", "nobody")})
    extra.blocking_poller = zmqffi.Poller()  # the blocking one: its zmq_poll reads EVENTS
    extra.blocking_poller.register(sock, zmqffi.POLLIN)
    sock.bind(extra.bound)
    sock.connect(extra.peer)
    fd = sock.getsockopt(zmqffi.FD)

    async def main() -> None:
        peer.send(b"warm up")  # the connection is made, the fd's edges are consumed
        assert await fl.within(PROMPT, sock.recv) == (True, b"warm up")
        async with fl.tasks() as start:
            outcome = start(sock.recv)
            await settle(fl)
            assert outcome.value is PENDING
            peer.send(b"the one")
            assert select.select([fd], [], [], PROMPT)[0], "ZMQ_FD never readable"
            BETWEEN_AWAITS[call](sock, extra)  # no await since: the loop has not looked
            await until(fl, lambda: outcome.value is not PENDING, call)
        assert outcome.value == b"the one", outcome.value

    try:
        fl.run(main)
    finally:
        close(sock, peer)


@pytest.mark.parametrize("fl", FLAVOURS[1:])  # test_asyncio.py has asyncio's
def test_a_pyzmq_asyncio_peer_in_another_process(
        fl: Any, ctx: Context, spawn: Callable[..., Any]) -> None:
    pytest.importorskip("zmq")
    sent = messages(LAYOUT, SEED)
    peer = spawn(PYZMQ_PULL_ECHO, str(len(sent)))  # receives each, sends it back
    _, pull_endpoint, echo_endpoint = peer.expect("endpoints").split()
    push = never_blocking_forever(fl.module.Socket(ctx, zmqffi.PUSH))
    push.connect(pull_endpoint)
    echoes = never_blocking_forever(fl.module.Socket(ctx, zmqffi.PULL),
                                    RCVTIMEO=int(SLOW_WAIT * 1000))
    echoes.connect(echo_endpoint)

    async def main() -> list[list[bytes]]:
        for index, frames in enumerate(sent):
            await push.send_multipart(frames, copy=bool(index % 2))
        return [await echoes.recv_multipart() for _ in sent]

    try:
        assert fl.run(main) == sent
    finally:
        close(push, echoes)
    peer.expect("done")
    assert peer.proc.wait(SLOW_WAIT) == 0
