"""One Message and several threads: it may be handed from one thread to another (recv_msg
in one, read, sent or closed in another), but not used from two at once. Such a use
raises LifecycleError in at least one of the threads (ClosedError, its subclass, for a
use after the close), and never crashes, frees the content twice, reads freed memory or
puts one zmq_msg_t storage into the pool twice.

The hammers line their threads up with a Barrier, round after round, so that they really
race (on a free-threaded build they run at once; with the GIL a short switch interval
interleaves them). Each runs in a child process, this module run as a script: before the
claim, a race could crash the interpreter, and a crash must fail its test, not end the
run. Every frame sent is a payload of its round, large enough that libzmq keeps it on
the heap: content read after its free, or from a storage handed out twice, shows as
wrong bytes. ZMQFFI_HAMMER_ROUNDS scales the rounds."""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import pytest

import zmqffi
from zmqffi import ClosedError, Context, LifecycleError, Message, Socket

ROUNDS = 3 * int(os.environ.get("ZMQFFI_HAMMER_ROUNDS", "100"))
SIZE = 1000  # (a frame above 33 bytes is on the heap, not inside the zmq_msg_t)
WAIT = 5.0  # seconds: the bound on a step that should happen at once
SLOW_WAIT = 60.0  # seconds: the bound on a whole child process
CORES = os.cpu_count() or 1

# the tests in this process take the ctx fixture; none may leave a Context live
pytestmark = pytest.mark.usefixtures("no_context_left_live")


def payload(n: int) -> bytes:
    return (b"%08d" % n) * (SIZE // 8)


def make(ctx: Context, kind: int) -> Socket:
    sock = ctx.socket(kind)
    for option, value in ((zmqffi.LINGER, 0), (zmqffi.RCVTIMEO, int(WAIT * 1000)),
                          (zmqffi.SNDTIMEO, int(WAIT * 1000))):
        sock.setsockopt(option, value)
    return sock


def judged(exc: BaseException) -> str:
    """What an exception from a racing call says: "lifecycle" or "closed" when it is
    one the rule allows, else what is wrong with it."""
    if type(exc) is ClosedError and "closed" in str(exc):
        return "closed"
    if type(exc) is LifecycleError and "in use by another thread" in str(exc):
        return "lifecycle"
    return f"unexpected {type(exc).__name__}: {exc}"


# --- the hammers (in the child) -------------------------------------------------------

class Racer(threading.Thread):
    """Each round: wait at the barrier, then at the starting line, call ``act(the
    round's Message, own)`` (``own``: what ``setup`` made in this thread, e.g. a socket
    it owns), keep what it returned or raised, wait at the barrier again."""

    def __init__(self, barrier: threading.Barrier, box: list[Any], line: list[None],
                 rounds: int, act: Callable[[Any, Any], Any],
                 setup: Callable[[], Any] | None = None) -> None:
        super().__init__(daemon=True)
        self.barrier, self.box, self.line, self.rounds = barrier, box, line, rounds
        self.act, self.setup = act, setup
        self.outcomes: list[Any] = []

    def run(self) -> None:
        own = self.setup() if self.setup else None
        racers = self.barrier.parties - 1
        try:
            for _ in range(self.rounds):
                self.barrier.wait()
                # a Barrier wakes its threads one after the other, further apart than
                # a call on a Message lasts: they start together from a line they spin
                # at (yielding the CPU: there may be more racers than cores)
                self.line.append(None)
                while len(self.line) < racers:
                    if racers > CORES:
                        os.sched_yield()
                try:
                    self.outcomes.append(self.act(self.box[0], own))
                except Exception as exc:  # judged by the main thread
                    self.outcomes.append(exc)
                self.barrier.wait()
        finally:
            if own is not None:
                own.close()


class Hammer:
    """A Context, a PUSH -> PULL pipe of the main thread's, and the tally of errors."""

    def __init__(self, ctx: Context, rounds: int) -> None:
        self.ctx, self.rounds = ctx, rounds
        self.endpoint = f"inproc://message-threads-{os.getpid()}"
        self.pull = make(ctx, zmqffi.PULL)
        self.pull.bind(self.endpoint)
        self.push = make(ctx, zmqffi.PUSH)
        self.push.connect(self.endpoint)
        self.tally = {"lifecycle": 0, "closed": 0}
        self.round = 0
        self.wrong: list[str] = []

    def pusher(self) -> Socket:
        """A PUSH into the main thread's PULL, owned by the calling thread."""
        push = make(self.ctx, zmqffi.PUSH)
        push.connect(self.endpoint)
        return push

    def received(self, n: int) -> Message:
        self.push.send(payload(n))
        return self.pull.recv_msg()

    def race(self, prepare: Callable[[int], Message],
             acts: list[tuple[Callable[[Any, Any], Any], Callable[[], Any] | None]],
             judge: Callable[[int, Message, list[Any]], None]) -> None:
        """Each round: ``prepare(round)`` makes the Message, the racers each call their
        act on it at once, then ``judge(round, msg, outcomes)`` checks what they did
        and closes the Message."""
        box: list[Any] = [None]
        line: list[None] = []  # the racers lined up at the start of this round
        barrier = threading.Barrier(len(acts) + 1, timeout=WAIT * 4)
        racers = [Racer(barrier, box, line, self.rounds, act, setup)
                  for act, setup in acts]
        for racer in racers:
            racer.start()
        for n in range(self.rounds):
            self.round = n
            box[0] = msg = prepare(n)
            line.clear()
            barrier.wait()  # go
            barrier.wait()  # all done
            outcomes = [racer.outcomes[n] for racer in racers]
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    verdict = judged(outcome)
                    if verdict in self.tally:
                        self.tally[verdict] += 1
                    else:
                        self.wrong.append(f"round {n}: {verdict}")
            judge(n, msg, [None if isinstance(o, BaseException) else o for o in outcomes])
        for racer in racers:
            racer.join(WAIT)
            assert not racer.is_alive(), "a racer is stuck"

    def check(self, n: int, what: str, got: Any, expected: Any) -> None:
        if got is not None and got != expected:
            self.wrong.append(f"round {n}: {what} gave {got!r:.60}, not {expected!r:.60}")

    def frames(self, n: int, count: int) -> list[bytes]:
        """The ``count`` frames the round ``n`` sent (no more may follow)."""
        frames = [self.pull.recv() for _ in range(count)]
        try:
            extra = self.pull.recv(zmqffi.DONTWAIT)
            self.wrong.append(f"round {n}: a frame too many: {extra!r:.60}")
        except zmqffi.Again:
            pass
        return frames

    def pool_intact(self) -> None:
        """No storage is in the pool twice, and what recv_msg hands out next is each
        its own: twice the pool's size held open at once, each with its own bytes."""
        pool = list(zmqffi.message._pool)
        addresses = {int(zmqffi.ffi.cast("uintptr_t", msg)) for msg in pool}
        if len(addresses) != len(pool):
            self.wrong.append(f"the pool holds {len(pool) - len(addresses)} storages twice")
        held = [self.received(n) for n in range(2 * zmqffi.message.POOL_MAX)]
        for n, msg in enumerate(held):
            self.check(n, "a message held after the hammer", msg.bytes, payload(n))
        for msg in held:
            msg.close()


def close(msg: Message, own: Any) -> None:
    msg.close()


def read_bytes(msg: Message, own: Any) -> bytes:
    return msg.bytes


def read_buffer(msg: Message, own: Any) -> memoryview:
    return msg.buffer  # judged after the close: a view stays valid


def read_len(msg: Message, own: Any) -> int:
    return len(msg)


def read_more(msg: Message, own: Any) -> bool:
    return msg.more or bool(msg.get(zmqffi.MORE))


def send(msg: Message, push: Socket) -> bool:
    push.send(msg)
    return True


def close_vs_close(h: Hammer) -> None:
    def judge(n: int, msg: Message, outcomes: list[Any]) -> None:
        if not msg.closed:
            h.wrong.append(f"round {n}: every close() failed")
            msg.close()

    h.race(h.received, [(close, None), (close, None)], judge)


READS = {"bytes": read_bytes, "buffer": read_buffer, "len()": read_len, "more": read_more}
EXPECTED = {"bytes": payload, "buffer": payload, "len()": lambda n: SIZE,
            "more": lambda n: False}


class Wrong(Exception):
    """A read that gave wrong content (judged as unexpected)."""


def close_vs_reads(h: Hammer) -> None:
    # round n races close() with a burst of the read names[n % 4], the close coming at
    # a random moment of the burst; views are checked after the round, closed
    names = list(READS)
    views: list[memoryview] = []

    def closer(msg: Message, own: Any) -> None:
        for _ in range(random.randrange(64)):
            pass
        msg.close()

    def reads(msg: Message, own: Any) -> None:
        name = names[h.round % len(names)]
        expected = EXPECTED[name](h.round)
        for _ in range(16):
            value = READS[name](msg, own)
            if isinstance(value, memoryview):
                views.append(value)
            elif value != expected:
                raise Wrong(f"{name} gave {value!r:.60}")

    def judge(n: int, msg: Message, outcomes: list[Any]) -> None:
        msg.close()  # (if the racing close failed)
        for view in views:
            h.check(n, "buffer", bytes(view), payload(n))
        views.clear()

    h.race(h.received, [(closer, None), (reads, None)], judge)


def send_vs_close(h: Hammer) -> None:
    def judge(n: int, msg: Message, outcomes: list[Any]) -> None:
        msg.close()
        for frame in h.frames(n, outcomes.count(True)):
            h.check(n, "the frame sent", frame, payload(n))

    h.race(lambda n: Message(payload(n)), [(send, h.pusher), (close, None)], judge)


def send_vs_send(h: Hammer) -> None:
    def judge(n: int, msg: Message, outcomes: list[Any]) -> None:
        msg.close()
        frames = h.frames(n, outcomes.count(True))
        # the content goes once; a send strictly after it sends the emptied Message
        expected = [payload(n)] + [b""] * (len(frames) - 1)
        h.check(n, "the frames sent", sorted(frames), sorted(expected))

    h.race(h.received, [(send, h.pusher), (send, h.pusher)], judge)


HAMMERS = {fn.__name__: fn for fn in (close_vs_close, close_vs_reads, send_vs_close,
                                      send_vs_send)}


# close() is over in a few bytecodes: its races need more rounds to show
ROUNDS_FACTOR = {"close_vs_close": 4, "close_vs_reads": 2}


def child(name: str, rounds: int) -> None:
    """Run one hammer; print its tally as JSON, or exit 1 saying what went wrong."""
    sys.setswitchinterval(1e-5)  # with the GIL: switch threads often enough to race
    ctx = Context()
    h = Hammer(ctx, rounds)
    try:
        HAMMERS[name](h)
        h.pool_intact()
    finally:
        h.push.close()
        h.pull.close()
        ctx.term()
    if h.wrong:
        sys.exit(f"{name}: {len(h.wrong)} wrong:\n" + "\n".join(h.wrong[:20]))
    print(json.dumps(h.tally))


# --- the tests ------------------------------------------------------------------------

def ran(name: str) -> dict[str, int]:
    """The tally of hammer ``name``, run in a child process."""
    rounds = ROUNDS * ROUNDS_FACTOR.get(name, 1)
    done = subprocess.run([sys.executable, __file__, name, str(rounds)],
                          capture_output=True, text=True, timeout=SLOW_WAIT)
    if done.returncode < 0:
        how = f"killed by {signal.Signals(-done.returncode).name}"
    else:
        how = f"exit status {done.returncode}"
    assert done.returncode == 0, f"{name}: {how}\n{done.stderr[-4000:]}"
    tally: dict[str, int] = json.loads(done.stdout.splitlines()[-1])
    return tally


@pytest.mark.parametrize("name", sorted(HAMMERS))
def test_concurrent_use_raises_and_never_corrupts(name: str) -> None:
    tally = ran(name)
    print(name, tally)  # how often the threads overlapped (pytest -s shows it)


def test_a_message_handed_over_between_threads_needs_nothing(ctx: Context) -> None:
    # thread A receives, thread B reads, sends on and closes: one after the other,
    # through queues, as often as it takes the threads to overlap elsewhere
    count = 200
    source = make(ctx, zmqffi.PUSH)
    source.bind("inproc://handover-source")
    sink = make(ctx, zmqffi.PULL)
    sink.bind("inproc://handover-sink")
    handover: queue.Queue[Message] = queue.Queue()
    errors: list[BaseException] = []
    read: list[tuple[bytes, bytes, int, bool]] = []

    def receive() -> None:
        try:
            with make(ctx, zmqffi.PULL) as pull:
                pull.connect("inproc://handover-source")
                for _ in range(count):
                    handover.put(pull.recv_msg())
        except BaseException as exc:
            errors.append(exc)

    def process() -> None:
        try:
            with make(ctx, zmqffi.PUSH) as push:
                push.connect("inproc://handover-sink")
                for _ in range(count):
                    msg = handover.get(timeout=WAIT)
                    view = msg.buffer
                    read.append((msg.bytes, bytes(view), len(msg), msg.more))
                    push.send(msg)
                    msg.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=receive), threading.Thread(target=process)]
    for thread in threads:
        thread.start()
    for n in range(count):
        source.send(payload(n))
    got = [sink.recv() for _ in range(count)]
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    source.close()
    sink.close()
    assert not errors, errors
    assert read == [(payload(n), payload(n), SIZE, False) for n in range(count)]
    assert got == [payload(n) for n in range(count)]


def test_a_message_in_a_blocking_send_is_refused_to_other_threads(ctx: Context) -> None:
    # a send blocked at the high-water mark holds the Message: the other thread's calls
    # are refused, naming it, and succeed once the send is done
    pull = make(ctx, zmqffi.PULL)
    pull.setsockopt(zmqffi.RCVHWM, 1)
    pull.bind("inproc://blocked-send")
    msg = Message(payload(1))
    filled: queue.Queue[int] = queue.Queue()  # how many frames fill the pipe
    outcome: list[BaseException | None] = []

    def sender() -> None:
        try:
            with make(ctx, zmqffi.PUSH) as push:
                push.setsockopt(zmqffi.SNDHWM, 1)
                push.connect("inproc://blocked-send")
                fillers = 0
                try:
                    while True:
                        push.send(payload(0), zmqffi.DONTWAIT)
                        fillers += 1
                except zmqffi.Again:
                    filled.put(fillers)
                push.send(msg)  # blocks until the receiver takes a frame
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)
            filled.put(0)

    thread = threading.Thread(target=sender, name="sender")
    thread.start()
    fillers = filled.get(timeout=WAIT)
    try:
        deadline = time.monotonic() + WAIT
        while True:  # until the sender is in its send (or the bound)
            try:
                len(msg), msg.more
            except LifecycleError as exc:
                refused = exc
                break
            assert time.monotonic() < deadline, "the blocked send never held the Message"
        assert type(refused) is LifecycleError
        assert "in use by another thread" in str(refused)
        assert "MainThread" in str(refused)
        for call in (msg.close, lambda: msg.bytes, lambda: msg.buffer, lambda: msg.handle):
            with pytest.raises(LifecycleError, match="in use by another thread"):
                call()
    finally:
        frames = [pull.recv() for _ in range(fillers + 1)]  # the send goes on, and ends
        thread.join(WAIT)
        pull.close()
    assert outcome == [None]
    assert frames == [payload(0)] * fillers + [payload(1)]
    assert len(msg) == 0 and msg.bytes == b""  # sent, then the Message is free again
    msg.close()
    with pytest.raises(ClosedError, match="closed"):
        _ = msg.bytes


if __name__ == "__main__":
    child(sys.argv[1], int(sys.argv[2]))
