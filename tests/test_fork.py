"""fork(): the child cannot use the context and sockets it inherited (each call says
so; close, term, destroy and garbage collection do nothing, silently) but can make its
own Context; the parent's are untouched.

Each check runs in a forked child, waited for with a deadline: a regression kills the
child and fails the test instead of hanging the suite."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
import traceback
import warnings
from typing import Callable

import pytest

import zmqffi
from conftest import SLOW_WAIT, pipe
from zmqffi import Context, LifecycleError


def in_child(check: Callable[[], None], timeout: float = SLOW_WAIT) -> None:
    """Run ``check`` in a forked child; fail with its traceback if it raised, or if it
    has not exited within ``timeout`` (then it is killed)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read_fd)
            check()
            os.write(write_fd, b"ok")
            code = 0
        except BaseException:
            os.write(write_fd, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    deadline = time.monotonic() + timeout
    status = None
    while status is None:
        done, raw_status = os.waitpid(pid, os.WNOHANG)
        if done:
            status = raw_status
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_fd)
            pytest.fail(f"the forked child did not exit within {timeout} s")
        else:
            time.sleep(0.01)  # polling the child's exit, bounded by the deadline
    with os.fdopen(read_fd, "rb") as report:
        text = report.read().decode()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, text or status
    assert text == "ok", text


def exchange_in_a_new_context() -> None:
    with Context() as ctx:
        for endpoint in ("inproc://child", "tcp://127.0.0.1:*"):
            push, pull = pipe(ctx, endpoint)
            push.send_multipart([b"child", b"works"])
            assert pull.recv_multipart() == [b"child", b"works"]
            push.close()
            pull.close()


fork_warning = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@fork_warning
def test_fork_child_cannot_use_the_inherited_context_and_sockets(ctx: Context) -> None:
    push, pull = pipe(ctx, "inproc://parent")
    push.send(b"queued in the parent")

    def check() -> None:
        for name, call in {
            "ctx.socket": lambda: ctx.socket(zmqffi.PUSH),
            "ctx.get": lambda: ctx.get(zmqffi.IO_THREADS),
            "send": lambda: push.send(b"x"),
            "send_many": lambda: push.send_many([b"x"]),
            "recv": lambda: pull.recv(zmqffi.DONTWAIT),
            "recv_into": lambda: pull.recv_into(bytearray(8), zmqffi.DONTWAIT),
            "recv_msg": lambda: pull.recv_msg(zmqffi.DONTWAIT),
            "recv_many": lambda: pull.recv_many(flags=zmqffi.DONTWAIT),
            "setsockopt": lambda: pull.setsockopt(zmqffi.LINGER, 0),
        }.items():
            try:
                call()
            except LifecycleError as exc:
                assert "fork" in str(exc), (name, str(exc))
            else:
                raise AssertionError(f"{name} worked on an inherited object")
        exchange_in_a_new_context()

    in_child(check)
    # the parent's sockets were not touched by the child
    assert pull.recv() == b"queued in the parent"
    push.send(b"after the fork")
    assert pull.recv() == b"after the fork"
    push.close()
    pull.close()


@fork_warning
def test_fork_child_close_term_destroy_and_gc_do_nothing_silently() -> None:
    ctx = Context()
    push, pull = pipe(ctx, "tcp://127.0.0.1:*")
    kept = [ctx, push, pull]
    del ctx, push, pull

    def check() -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            inherited_ctx, push, pull = kept
            push.close()
            push.close(linger=0)
            assert inherited_ctx._sockets  # pull is still "open" in the parent's eyes
            try:
                inherited_ctx.term()  # no LifecycleError: nothing here to refuse
                inherited_ctx.destroy(linger=0)
            except BaseException as exc:
                raise AssertionError(f"term/destroy in the child raised {exc!r}") from exc
            del inherited_ctx, push, pull
            kept.clear()  # the last references: the garbage collector finds them open
            for _ in range(3):
                gc.collect()
        assert not caught, [str(w.message) for w in caught]
        exchange_in_a_new_context()

    in_child(check)
    # the parent's context and sockets are intact
    ctx, push, pull = kept
    push.send(b"parent still works")
    assert pull.recv() == b"parent still works"
    push.close()
    pull.close()
    ctx.term()


@fork_warning
def test_fork_without_a_context_then_child_makes_its_own() -> None:
    in_child(exchange_in_a_new_context)


@fork_warning
def test_fork_while_a_thread_holds_the_release_lock_leaves_the_child_a_free_one() -> None:
    # libzmq's I/O thread holds the lock of the record of released lent buffers while
    # it records one; a fork() at that moment copied a held lock into the child, whose
    # first drain (the first lent send) then waited forever. The fork handlers take
    # the lock around fork(). Here a thread holds it for a while, as the I/O thread
    # does briefly; the fork happens in the middle.
    lib = zmqffi.lib
    holder = threading.Thread(target=lib.zmqffi_hold_release_lock, args=(500,))
    holder.start()  # (the cffi call releases the GIL while it holds the lock)
    deadline = time.monotonic() + SLOW_WAIT
    while not lib.zmqffi_release_lock_held:  # reading the variable calls nothing
        assert time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.001)  # polling a state, bounded by the deadline
    try:
        # drains (takes the lock) in the child: must not wait for the parent's thread
        in_child(lambda: lib.zmqffi_drain_released(
            zmqffi.ffi.new("uintptr_t[]", 1), 1) and None, timeout=10)
    finally:
        holder.join(SLOW_WAIT)
