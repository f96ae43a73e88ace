"""Property tests: any bytes and any list of frames arrive unchanged over every
transport; and a stateful test — random sequences of create / send / recv / close /
term / destroy / shutdown / garbage collection never crash and always leave zmqffi in
the state a simple model predicts."""

from __future__ import annotations

import contextlib
import itertools
import platform
import weakref
from collections import deque
from typing import Any
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant,
                                 precondition, rule)

import zmqffi
from conftest import collect, make, pipe, resource_warnings
from zmqffi import Context, LifecycleError, Message

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# sizes around zmqffi's thresholds (256: small recv copy; 64 KiB: zero-copy sends)
# with varied content, without asking hypothesis to draw every byte of a large frame
sized_bytes = st.one_of(
    st.binary(max_size=600),
    st.tuples(st.integers(0, 300_000), st.binary(min_size=1, max_size=32)).map(
        lambda t: (t[1] * (t[0] // len(t[1]) + 1))[:t[0]]),
)
frame_lists = st.lists(st.binary(max_size=300) | sized_bytes, min_size=1, max_size=8)


@pytest.fixture(scope="class", params=["tcp", "ipc", "inproc"])
def channel(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """One PAIR channel per transport, shared by the examples (one Context per
    process: made here, destroyed when the class is done)."""
    endpoint = {"tcp": "tcp://127.0.0.1:*",
                "ipc": f"ipc://{tmp_path_factory.mktemp('ipc')}/sock",
                "inproc": "inproc://properties"}[request.param]
    ctx = Context()
    a = make(ctx, zmqffi.PAIR)
    b = make(ctx, zmqffi.PAIR)
    a.bind(endpoint)
    b.connect(a.last_endpoint)
    yield a, b
    a.close()
    b.close()
    ctx.term()


class TestRoundTrip:
    @FAST
    @given(data=sized_bytes, form=st.sampled_from(["bytes", "bytearray", "memoryview",
                                                   "Message", "lent"]))
    def test_any_bytes_arrive_unchanged(self, channel: Any, data: bytes,
                                        form: str) -> None:
        a, b = channel
        if form in ("Message", "lent"):
            with Message(bytearray(data), copy=form == "Message") as msg:
                a.send(msg)
        else:
            a.send({"bytes": bytes, "bytearray": bytearray,
                    "memoryview": memoryview}[form](data))
        assert b.recv() == data

    @FAST
    @given(data=sized_bytes, room=st.integers(0, 1000))
    def test_recv_msg_and_recv_into(self, channel: Any, data: bytes, room: int) -> None:
        a, b = channel
        a.send(data)
        with b.recv_msg() as msg:
            assert msg.bytes == data and bytes(msg.buffer) == data
        a.send(data)
        buffer = bytearray(room)
        assert b.recv_into(buffer) == len(data)
        assert bytes(buffer[:len(data)]) == data[:room]

    @FAST
    @given(frames=frame_lists)
    def test_any_list_of_frames_arrives_unchanged(self, channel: Any,
                                                  frames: list[bytes]) -> None:
        a, b = channel
        a.send_multipart(frames)
        assert b.recv_multipart() == frames
        b.send_multipart(frames[::-1])
        assert a.recv_multipart() == frames[::-1]


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=200).map(lambda b: b[:len(b) // 4 * 4]))
def test_z85_round_trip(data: bytes) -> None:
    text = zmqffi.z85_encode(data)
    assert len(text) == len(data) * 5 // 4
    assert zmqffi.z85_decode(text) == data
    assert zmqffi.z85_decode(text.decode()) == data


# --- stateful -------------------------------------------------------------------------

@contextlib.contextmanager
def expect_resource_warnings(refs: list[weakref.ref]) -> Iterator[None]:
    """Collect until every ``refs`` is dead, and check that each one warned."""
    with resource_warnings() as seen:
        yield
        collect(*refs)
    assert all(ref() is None for ref in refs), "an object was never collected"
    assert len(seen) >= len(refs), seen


class Pair:
    names = itertools.count()

    def __init__(self, ctx: Context) -> None:
        self.push, self.pull = pipe(ctx, f"inproc://stateful-{next(self.names)}")
        self.queue: deque[bytes] = deque()  # what the model says is in flight


class LifecycleMachine(RuleBasedStateMachine):
    """The model: whether a Context is live (and shut down), the open pairs with the
    messages in flight, the open Messages, and views that must keep their content."""

    def __init__(self) -> None:
        super().__init__()
        self.ctx: Context | None = None
        self.shut = False
        self.pairs: list[Pair] = []
        self.messages: list[tuple[Message, bytes]] = []
        self.views: list[tuple[memoryview, bytes]] = []

    # contexts

    @initialize()
    def start_live(self) -> None:
        self.create_context()

    @precondition(lambda self: self.ctx is None)
    @rule()
    def create_context(self) -> None:
        self.ctx = Context()
        self.shut = False

    @precondition(lambda self: self.ctx is not None)
    @rule()
    def second_context_is_refused(self) -> None:
        with pytest.raises(LifecycleError, match="already live"):
            Context()

    @precondition(lambda self: self.ctx is not None)
    @rule()
    def term(self) -> None:
        assert self.ctx is not None
        if self.pairs:
            with pytest.raises(LifecycleError, match="still open"):
                self.ctx.term()
            assert not self.ctx.closed  # nothing changed
        else:
            self.ctx.term()
            assert self.ctx.closed
            self.ctx = None

    @precondition(lambda self: self.ctx is not None)
    @rule()
    def shutdown(self) -> None:
        assert self.ctx is not None
        self.ctx.shutdown()
        self.shut = True

    @precondition(lambda self: self.ctx is not None)
    @rule()
    def destroy(self) -> None:
        assert self.ctx is not None
        sockets = [s for pair in self.pairs for s in (pair.push, pair.pull)]
        self.ctx.destroy(linger=0)
        assert self.ctx.closed and all(s.closed for s in sockets)
        self.ctx, self.pairs = None, []

    @precondition(lambda self: self.ctx is not None)
    @rule()
    def collect_context(self) -> None:
        """Drop the context and its sockets unclosed: the collector cleans up."""
        refs = [weakref.ref(self.ctx)]
        refs += [weakref.ref(s) for pair in self.pairs for s in (pair.push, pair.pull)]
        with expect_resource_warnings(refs):
            self.ctx, self.pairs = None, []

    # sockets

    @precondition(lambda self: self.ctx is not None and len(self.pairs) < 4)
    @rule()
    def create_pair(self) -> None:
        assert self.ctx is not None
        if self.shut:
            with pytest.raises(zmqffi.ContextTerminated):
                self.ctx.socket(zmqffi.PUSH)
        else:
            self.pairs.append(Pair(self.ctx))

    @precondition(lambda self: self.pairs)
    @rule(i=st.integers(0, 3), data=st.binary(max_size=100), lent=st.booleans())
    def send(self, i: int, data: bytes, lent: bool) -> None:
        pair = self.pairs[i % len(self.pairs)]
        if self.shut:
            with pytest.raises(zmqffi.ContextTerminated):
                pair.push.send(data)
            return
        pair.push.send(bytearray(data), copy=not lent)
        pair.queue.append(data)

    @precondition(lambda self: self.pairs)
    @rule(i=st.integers(0, 3))
    def recv(self, i: int) -> None:
        pair = self.pairs[i % len(self.pairs)]
        if self.shut:
            with pytest.raises(zmqffi.ContextTerminated):
                pair.pull.recv(zmqffi.DONTWAIT)
        elif pair.queue:
            assert pair.pull.recv() == pair.queue.popleft()
        else:
            with pytest.raises(zmqffi.Again):
                pair.pull.recv(zmqffi.DONTWAIT)

    @precondition(lambda self: self.pairs)
    @rule(i=st.integers(0, 3))
    def close_pair(self, i: int) -> None:
        pair = self.pairs.pop(i % len(self.pairs))
        pair.push.close(linger=0)
        pair.pull.close()
        pair.pull.close()  # idempotent
        assert pair.push.closed and pair.pull.closed
        with pytest.raises(LifecycleError):
            pair.push.send(b"after close")

    @precondition(lambda self: self.pairs)
    @rule(i=st.integers(0, 3))
    def collect_pair(self, i: int) -> None:
        pair = self.pairs.pop(i % len(self.pairs))
        refs = [weakref.ref(pair.push), weakref.ref(pair.pull)]
        with expect_resource_warnings(refs):
            del pair

    # messages and views

    @precondition(lambda self: len(self.messages) < 6)
    @rule(data=st.binary(max_size=100), copy=st.booleans())
    def create_message(self, data: bytes, copy: bool) -> None:
        self.messages.append((Message(bytearray(data), copy=copy), data))

    @precondition(lambda self: self.messages)
    @rule(i=st.integers(0, 5))
    def read_message(self, i: int) -> None:
        msg, data = self.messages[i % len(self.messages)]
        assert len(msg) == len(data) and msg.bytes == data

    @precondition(lambda self: self.pairs and not self.shut)
    @rule(i=st.integers(0, 3))
    def recv_message(self, i: int) -> None:
        pair = self.pairs[i % len(self.pairs)]
        if not pair.queue:
            with pytest.raises(zmqffi.Again):
                pair.pull.recv_msg(zmqffi.DONTWAIT)
            return
        msg, data = pair.pull.recv_msg(), pair.queue.popleft()
        assert len(msg) == len(data) and msg.bytes == data
        if len(self.messages) < 6:
            self.messages.append((msg, data))  # to be read, viewed, sent again, closed
        else:
            msg.close()

    @precondition(lambda self: self.messages)
    @rule(i=st.integers(0, 5))
    def take_view(self, i: int) -> None:
        msg, data = self.messages[i % len(self.messages)]
        self.views.append((msg.buffer, data))

    @precondition(lambda self: self.messages and self.pairs and not self.shut)
    @rule(i=st.integers(0, 5), j=st.integers(0, 3))
    def send_message(self, i: int, j: int) -> None:
        msg, data = self.messages[i % len(self.messages)]
        pair = self.pairs[j % len(self.pairs)]
        pair.push.send(msg)
        pair.queue.append(data)
        assert len(msg) == 0 and not msg.closed  # libzmq took the content
        self.messages[i % len(self.messages)] = (msg, b"")

    @precondition(lambda self: self.messages)
    @rule(i=st.integers(0, 5))
    def close_message(self, i: int) -> None:
        msg, _ = self.messages.pop(i % len(self.messages))
        msg.close()
        msg.close()
        with pytest.raises(LifecycleError):
            msg.bytes  # noqa: B018 - reading it is the check

    @precondition(lambda self: self.messages)
    @rule(i=st.integers(0, 5))
    def collect_message(self, i: int) -> None:
        msg, _ = self.messages.pop(i % len(self.messages))
        refs = [weakref.ref(msg)]
        with expect_resource_warnings(refs):
            del msg

    # what must hold after every step

    @invariant()
    def model_matches(self) -> None:
        live = zmqffi.context._live()
        if self.ctx is None:
            assert live is None or live.closed
        else:
            assert live is self.ctx and not self.ctx.closed
            assert len(self.ctx._sockets) == 2 * len(self.pairs)
        for msg, data in self.messages:
            assert msg.bytes == data
        for view, data in self.views:
            assert bytes(view) == data  # whatever happened to its Message

    def teardown(self) -> None:
        for msg, _ in self.messages:
            msg.close()
        if self.ctx is not None:
            self.ctx.destroy(linger=0)
        # consistent at the end: a new Context can be made and terminated
        Context().term()


# On PyPy every full collection costs tens of milliseconds (it is not reference
# counting: each collect_* step needs one or two): fewer examples keep it in seconds.
PYPY = platform.python_implementation() == "PyPy"
LifecycleMachine.TestCase.settings = settings(
    max_examples=10 if PYPY else 40, stateful_step_count=25, deadline=None)
TestLifecycleMachine = LifecycleMachine.TestCase
