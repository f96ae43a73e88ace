"""The async API's surface (API.md, "Async: zmqffi.asyncio and zmqffi.trio"): which calls
are coroutines, what the modules import, every coroutine refused from another thread,
and many senders on one socket over tcp. The behaviour of each call is in
test_asyncio.py, test_trio.py and test_async_contract.py."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

import zmqffi
from conftest import call_in_thread, close, fails, never_blocking_forever
from test_async_contract import BOTH, PROMPT, receives, sends
from zmqffi import Context, LifecycleError

# API.md's list: every other method of an async socket stays a plain call
COROUTINES = {"send", "send_multipart", "send_string", "send_json", "send_serialized",
              "recv", "recv_multipart", "recv_msg", "recv_into", "recv_string",
              "recv_json", "recv_serialized", "poll"}


@BOTH
def test_exactly_the_contracts_methods_are_coroutines(fl: Any) -> None:
    socket_class = fl.module.Socket
    public = {name for name in dir(socket_class)
              if not name.startswith("_") and callable(getattr(socket_class, name))}
    assert COROUTINES <= public
    awaited = {name for name in public
               if inspect.iscoroutinefunction(getattr(socket_class, name))}
    assert awaited == COROUTINES
    assert set(dir(zmqffi.Socket)) <= set(dir(socket_class))  # every method of Socket
    assert inspect.iscoroutinefunction(fl.module.Poller.poll)


IMPORTS = """
    import os, sys, sysconfig
    before = set(sys.modules)
    import zmqffi
    assert "trio" not in sys.modules, "import zmqffi imported trio"
    import zmqffi.asyncio
    stdlib = tuple(os.path.realpath(sysconfig.get_paths()[key]) + os.sep
                   for key in ("stdlib", "platstdlib"))

    def outside_stdlib(name):  # (the list leaves out some private modules, e.g. 3.15's)
        file = getattr(sys.modules[name], "__file__", None)
        return (name.partition(".")[0] not in sys.stdlib_module_names and file is not None
                and not os.path.realpath(file).startswith(stdlib))
    outside = {name for name in set(sys.modules) - before if outside_stdlib(name)}
    outside -= {"_cffi_backend"} | {name for name in outside if name.startswith("zmqffi")}
    assert not outside, f"zmqffi.asyncio imported {sorted(outside)}"
    assert "trio" not in sys.modules, "import zmqffi.asyncio imported trio"
    try:
        import trio  # noqa: F401
    except ImportError:
        print("no trio")
    else:
        del sys.modules["trio"]
        import zmqffi.trio  # noqa: F401
        assert "trio" in sys.modules
    print("ok")
"""


@pytest.mark.skipif(not hasattr(sys, "stdlib_module_names"), reason="Python 3.10+")
def test_asyncio_needs_the_standard_library_only_and_trio_is_imported_when_used() -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(IMPORTS)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr


@BOTH
def test_every_coroutine_is_refused_from_another_thread_and_takes_nothing(
        fl: Any, ctx: Context) -> None:
    pull = never_blocking_forever(fl.module.Socket(ctx, zmqffi.PULL))
    push = never_blocking_forever(fl.module.Socket(ctx, zmqffi.PUSH))
    owner = threading.current_thread()
    try:
        pull.bind("inproc://surface-refused")
        push.connect("inproc://surface-refused")

        async def send_one() -> None:
            await push.send(b'"still here"')
        fl.run(send_one)
        calls = {**receives(pull), "poll": lambda: pull.poll(0)}
        calls.update({name: (lambda send=send: send(b'"x"'))
                      for name, send in sends(push).items()})
        for call in calls.values():
            fails(lambda call=call: call_in_thread(lambda: fl.run(call)), LifecycleError,
                  "'helper'", repr(owner.name), str(owner.ident))

        async def receive() -> Any:
            return await fl.within(PROMPT, pull.recv)
        assert fl.run(receive) == (True, b'"still here"')  # the refusals took nothing
    finally:
        close(push, pull)


@BOTH
def test_many_tasks_sending_on_one_socket_over_tcp(fl: Any, ctx: Context) -> None:
    tasks, each = 8, 200
    pull = never_blocking_forever(zmqffi.Socket(ctx, zmqffi.PULL))
    push = never_blocking_forever(fl.module.Socket(ctx, zmqffi.PUSH), SNDHWM=4)
    pull.setsockopt(zmqffi.RCVHWM, 4)  # the senders wait for room, again and again
    try:
        pull.bind("tcp://127.0.0.1:*")
        push.connect(pull.last_endpoint)
        got: list[bytes] = []

        def read() -> None:
            pull.adopt()  # this thread's now
            got.extend(pull.recv() for _ in range(tasks * each))
        reader = threading.Thread(target=read, daemon=True)
        reader.start()

        async def sender(task: int) -> None:
            for i in range(each):
                await push.send(b"%d %d" % (task, i))

        async def main() -> None:
            async with fl.tasks() as start:
                outcomes = [start(lambda task=task: sender(task)) for task in range(tasks)]
                while any(outcome.value == "pending" for outcome in outcomes):
                    await fl.sleep(0.01)
            assert all(outcome.value is None for outcome in outcomes), outcomes
        fl.run(main)
        reader.join(PROMPT * 10)
        assert not reader.is_alive(), f"{len(got)} of {tasks * each} received"
        pull.adopt()  # back, to be closed here
        by_task: dict[int, list[int]] = {}
        for frame in got:
            task, i = map(int, frame.split())
            by_task.setdefault(task, []).append(i)
        assert by_task == {task: list(range(each)) for task in range(tasks)}  # in order
    finally:
        close(push, pull)
