"""A program that exits, or drops its objects, without closing: what it sent is still
delivered to the peers that are there, and exit never waits much longer than
EXIT_LINGER_MS for the peers that are not (API.md, Socket and Context: "still open at
interpreter exit").

Each program runs in its own process (one Context per process; exit is what is under
test), with warnings shown (-W always) and a deadline: a hang fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import zmqffi
from conftest import free_port, make
from zmqffi import Context
from zmqffi.context import EXIT_LINGER_MS

DEADLINE = 15.0  # seconds for a program's whole run: an infinite linger would hang it
BOUND = EXIT_LINGER_MS / 1000


def run(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the program ``text`` with warnings shown; fail if it is not done within
    DEADLINE or did not exit cleanly."""
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(text))
    try:
        done = subprocess.run([sys.executable, "-W", "always", str(script), *args],
                              capture_output=True, text=True, timeout=DEADLINE,
                              cwd=tmp_path)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the program did not exit within {DEADLINE} s: {exc.stderr!r}")
    assert done.returncode == 0, done.stderr
    return done


def exit_took(done: subprocess.CompletedProcess[str]) -> float:
    """What the program printed as ``exit took SECONDS``."""
    lines = [line for line in done.stdout.splitlines() if line.startswith("exit took")]
    assert lines, done.stdout + done.stderr
    return float(lines[0].split()[2])


# --- delivery: a publisher that exits without closing --------------------------------

# An XPUB (a PUB that sees subscriptions) waits until every subscriber's subscription
# has arrived, so none of what follows is dropped for want of one; then it publishes
# COUNT messages and an end marker, and ends without closing anything, as HOW says.
PUBLISHER = """
    import gc, sys, threading
    import zmqffi

    count, subscribers, how = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    PADDING = b"." * 992  # 1000 bytes a message: more than goes out before the exit begins
    ctx = zmqffi.Context()
    bound = threading.Event()

    def publish():
        global pub
        pub = ctx.socket(zmqffi.XPUB)
        pub.setsockopt(zmqffi.XPUB_VERBOSE, 1)  # every subscription, not only the first
        pub.setsockopt(zmqffi.SNDHWM, 0)  # no limit: all of it is queued at once
        pub.setsockopt(zmqffi.RCVTIMEO, 20000)
        pub.bind("tcp://127.0.0.1:*")
        print("bound", pub.last_endpoint, flush=True)
        for _ in range(subscribers):
            assert pub.recv() == b"\\x01", "a subscription to everything"
        for i in range(count):
            pub.send(b"%08d" % i + PADDING)
        pub.send(b"end")
        print("sent", flush=True)

    if how == "daemon-thread":  # it owns the socket, and is blocked in a call at exit
        def owner():
            publish()
            bound.set()
            pub.setsockopt(zmqffi.RCVTIMEO, -1)
            try:
                pub.recv()
            except zmqffi.ContextTerminated:
                pass
        threading.Thread(target=owner, daemon=True).start()
        bound.wait(30)
    else:
        publish()
    if how == "collected":  # dropped: the Socket and the Context are collected live
        del pub, ctx
        gc.collect()
        print("collected", flush=True)
"""

COUNT = 20_000
SUBSCRIBERS = 4


@pytest.mark.parametrize("how", ["exit", "collected", "daemon-thread"])
def test_a_publisher_that_exits_without_closing_delivers_everything(
        ctx: Context, tmp_path: Path, how: str) -> None:
    script = tmp_path / "publisher.py"
    script.write_text(textwrap.dedent(PUBLISHER))
    publisher = subprocess.Popen(
        [sys.executable, "-W", "always", str(script), str(COUNT), str(SUBSCRIBERS), how],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    subs = []
    try:
        assert publisher.stdout is not None
        first = publisher.stdout.readline().split()  # (EOF if it died: then it fails)
        assert first[:1] == ["bound"], first
        for _ in range(SUBSCRIBERS):
            sub = make(ctx, zmqffi.SUB, RCVHWM=0)
            sub.setsockopt(zmqffi.SUBSCRIBE, b"")
            sub.connect(first[1])
            subs.append(sub)
        out, err = publisher.communicate(timeout=DEADLINE)
        assert publisher.returncode == 0, err
        assert "sent" in out.split(), out
        assert "ResourceWarning" in err, err
        expected = [b"%08d" % i + b"." * 992 for i in range(COUNT)] + [b"end"]
        for sub in subs:
            got = []
            while not got or got[-1] != b"end":
                got.append(sub.recv())  # (RCVTIMEO: a lost message fails, never hangs)
            assert got == expected
    finally:
        publisher.kill()
        publisher.wait()
        for sub in subs:
            sub.close()


# --- the bound: an exit with messages queued for a peer that is not there -----------

# zmqffi's atexit hook is registered at its import: this one, registered before it,
# runs after it (last in, first out) and says how long zmqffi's took.
ABSENT_PEER = """
    import atexit, sys, threading, time
    atexit.register(lambda: print("exit took %.3f" % (time.monotonic() - start),
                                  flush=True))
    import zmqffi

    endpoint, linger, where = sys.argv[1:4]
    ctx = zmqffi.Context()
    ready = threading.Event()

    def queue_for_nobody():
        global sock
        sock = ctx.socket(zmqffi.DEALER)
        if linger != "default":
            sock.setsockopt(zmqffi.LINGER, int(linger))
        sock.connect(endpoint)  # nobody binds it
        for _ in range(10):
            sock.send(b"queued for nobody")
        ready.set()

    if where == "main":
        queue_for_nobody()
    else:  # a daemon thread owns it, and is blocked in recv at exit
        def owner():
            queue_for_nobody()
            try:
                sock.recv()
            except zmqffi.ContextTerminated:
                pass
        thread = threading.Thread(target=owner, daemon=True)
        thread.start()
        ready.wait(30)
        if where == "after-shutdown":  # the socket has seen the shutdown: libzmq now
            ctx.shutdown()             # refuses to change its LINGER
            thread.join(30)
    start = time.monotonic()
"""


@pytest.mark.parametrize("linger, where, at_least, below", [
    ("default", "main", BOUND, DEADLINE),  # LINGER -1: bounded by EXIT_LINGER_MS
    ("default", "daemon-thread", BOUND, DEADLINE),
    ("default", "after-shutdown", BOUND, DEADLINE),  # the exit stops waiting at the bound
    ("200", "main", 0.2, BOUND),  # the program's own LINGER is honoured
    ("0", "main", 0.0, BOUND),
], ids=["infinite", "infinite-daemon-thread", "infinite-after-shutdown", "200ms", "0ms"])
def test_an_exit_waits_for_an_absent_peer_only_that_long(
        tmp_path: Path, linger: str, where: str, at_least: float, below: float) -> None:
    done = run(tmp_path, ABSENT_PEER, f"tcp://127.0.0.1:{free_port()}", linger, where)
    took = exit_took(done)
    assert at_least * 0.9 <= took < below, took  # (timers may fire a hair early)
    assert "ResourceWarning" in done.stderr and "at exit" in done.stderr, done.stderr


WITH_EXCEPTION = """
    import time
    import zmqffi

    class Boom(Exception):
        pass

    start = time.monotonic()
    try:
        with zmqffi.Context() as ctx:
            push = ctx.socket(zmqffi.PUSH)
            push.connect("tcp://127.0.0.1:%d")  # nobody binds it
            push.send(b"queued for nobody")
            raise Boom
    except Boom:
        print("exit took %%.3f" %% (time.monotonic() - start))
"""


def test_with_left_by_an_exception_still_drops_what_is_queued(tmp_path: Path) -> None:
    done = run(tmp_path, WITH_EXCEPTION % free_port())
    assert exit_took(done) < BOUND  # linger 0, not EXIT_LINGER_MS
    assert "ResourceWarning" not in done.stderr, done.stderr


# --- fork: the child's exit does nothing to what it inherited ------------------------

FORKED = """
    import os, sys, time
    import zmqffi

    ctx = zmqffi.Context()
    push = ctx.socket(zmqffi.PUSH)
    push.connect("tcp://127.0.0.1:%d")  # nobody binds it
    push.send(b"queued for nobody")
    a, b = ctx.socket(zmqffi.PAIR), ctx.socket(zmqffi.PAIR)
    a.bind("inproc://after-fork")
    b.connect("inproc://after-fork")
    sys.stdout.flush()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        sys.exit(0)  # a normal exit: the atexit hooks run in the child
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status))
    print("exit took %%.3f" %% (time.monotonic() - start))
    a.send(b"still works")  # the child touched nothing of the parent's libzmq state
    assert b.recv() == b"still works"
    for sock in (push, a, b):
        sock.close(linger=0)
    ctx.term()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork()")
def test_a_forked_child_exits_without_touching_the_inherited_context(
        tmp_path: Path) -> None:
    done = run(tmp_path, FORKED % free_port())
    assert "child 0" in done.stdout, done.stdout + done.stderr
    assert exit_took(done) < BOUND  # no linger in the child
    # the parent closed and terminated everything: a warning could only be the child's
    assert "ResourceWarning" not in done.stderr, done.stderr
