#!/usr/bin/env python3
"""Run the ZeroMQ guide's parallel pipeline with one command: a sink, N workers, a ventilator.

Each role is its own process (examples/sink.py, worker.py, ventilator.py) and they talk over
tcp on free loopback ports. The ventilator deals a batch of tasks (each "costs" a random
1..100 msec) to the workers, which send their results to the sink; the run ends with the total
expected cost (the time one worker alone would take), the elapsed time, and the speed-up.

    python examples/pipeline.py                   # 4 workers, 100 tasks
    python examples/pipeline.py --workers 8 --tasks 400 --seed 1
    python examples/pipeline.py --async           # async and blocking roles, mixed

With --async the sink is examples/async_sink.py (zmqffi.asyncio), the ventilator the blocking
one, and the workers alternate: odd ones async (examples/async_worker.py, each working on
--concurrency tasks at once), even ones blocking. They share the wire format, so any mix
works. PUSH deals the tasks round-robin, so every worker gets the same share: an async worker
gets through its share sooner, and the blocking ones set the pace of the batch.

Exits 0 when the sink received every result, 1 otherwise; every process it started is
stopped on the way out, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import _bootstrap

HERE = Path(__file__).resolve().parent
# Bounds on every wait, in seconds. Each role is a fresh interpreter: PyPy, or a loaded CI
# machine, can take a while to start one.
STARTUP_TIMEOUT = 60.0
RESULT_TIMEOUT = 10.0  # the sink gives up when no result comes for this long
STOP_TIMEOUT = 2.0  # per escalation step when stopping a process

Event = tuple["Role", Optional[str]]  # (role, text read; None at end of output)


class Role:
    """One child process; a thread forwards its stdout, as it comes, to a shared queue."""

    def __init__(self, name: str, script: Path, args: list[str], events: queue.Queue[Event]):
        self.name = name
        self.output = ""
        self.ended = False
        # Its own session (process group): Ctrl-C in the terminal reaches only us, and we
        # stop the children in order, then can kill each one's whole group.
        self.process = subprocess.Popen(
            [sys.executable, str(script), *args], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, start_new_session=(os.name != "nt"))
        self.reader = threading.Thread(target=self._forward, args=(events,), daemon=True)
        self.reader.start()

    def _forward(self, events: queue.Queue[Event]) -> None:
        assert self.process.stdout is not None
        with self.process.stdout as stdout:
            while True:
                chunk = os.read(stdout.fileno(), 4096)  # what is there: dots come one by one
                if not chunk:
                    break
                events.put((self, chunk.decode(errors="replace")))
        events.put((self, None))

    def signal(self, signum: int) -> None:
        if self.process.poll() is not None:
            return
        if os.name == "nt":
            self.process.kill()
        else:
            os.killpg(self.process.pid, signum)


def numbered(noun: str, numbers: list[int]) -> str:
    """numbered("worker", [1, 3]) -> "workers 1, 3"."""
    return f"{noun}{'s' * (len(numbers) != 1)} {', '.join(map(str, numbers))}"


class Pipeline:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.scripts = HERE / "raw" if args.raw else HERE
        self.events: queue.Queue[Event] = queue.Queue()
        self.roles: list[Role] = []
        self.sink: Role | None = None
        self.workers: list[Role] = []
        self.ventilator: Role | None = None
        self.tty = sys.stdout.isatty()
        self.shown = 0  # results already shown (when not on a terminal)

    def start(self, name: str, script: str, args: list[str]) -> Role:
        role = Role(name, self.scripts / script, args, self.events)
        self.roles.append(role)
        return role

    def wait_for(self, done: Callable[[], bool], timeout: float, what: str,
                 may_end: tuple[Role, ...] = ()) -> None:
        """Read the children's output until done() holds; fail on timeout or if a role ends
        first (but those in `may_end`)."""
        deadline = time.monotonic() + timeout
        while not done():
            try:
                role, text = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}") from None
            if text is None:
                role.ended = True
                try:
                    role.process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass  # its output ended anyway; stop() deals with it
                if not done() and role not in may_end:
                    raise RuntimeError(f"{role.name} ended (exit status {role.process.returncode}) "
                                       f"while waiting for {what}")
            else:
                role.output += text
                self.show_progress()

    def bound_endpoint(self, role: Role) -> str:
        self.wait_for(lambda: "\n" in role.output, STARTUP_TIMEOUT, f"the {role.name} to bind")
        match = re.match(r"Bound to (\S+)", role.output)
        if not match:
            raise RuntimeError(f"unexpected first line from the {role.name}: {role.output!r}")
        return match.group(1)

    def results(self) -> int:
        # The sink prints ":" or "." per result, after its "Bound to" line.
        assert self.sink is not None
        _, _, marks = self.sink.output.partition("\n")
        return len(re.findall(r"[:.]", marks.partition("Total")[0]))

    def tasks_per_worker(self) -> list[int]:
        return [worker.output.count(".") for worker in self.workers]  # a "." per task

    def show_progress(self) -> None:
        if self.sink is None or not self.workers:
            return
        done, total = self.results(), self.args.tasks
        if self.tty:
            width = 40
            bar = "#" * (width * done // total) if total else ""
            per_worker = " ".join(map(str, self.tasks_per_worker()))
            print(f"\r[{bar:<{width}}] {done}/{total} results  tasks per worker: {per_worker}",
                  end="", flush=True)
        else:  # a log: the sink's own marks, as they come
            marks = "".join(":" if n % 10 == 0 else "." for n in range(self.shown, done))
            print(marks, end="", flush=True)
            self.shown = done

    def run(self) -> int:
        args = self.args
        n = args.workers
        print(f"Pipeline: 1 ventilator, {n} worker{'s' * (n != 1)}, 1 sink, {args.tasks} tasks"
              f"{' (raw roles)' if args.raw else ''}"
              f"{' (async and blocking roles mixed)' if args.async_ else ''}", flush=True)
        # With --async: odd-numbered workers async, even-numbered ones blocking.
        async_workers = list(range(1, n + 1, 2)) if args.async_ else []
        if args.async_:
            blocking_workers = list(range(2, n + 1, 2))
            print(f"  async (zmqffi.asyncio): the sink; {numbered('worker', async_workers)}, "
                  f"each working on up to {args.concurrency} tasks at once")
            print("  blocking (zmqffi):      the ventilator"
                  f"{'; ' + numbered('worker', blocking_workers) if blocking_workers else ''}",
                  flush=True)
        loopback = "tcp://127.0.0.1:*"  # the system picks a free port; the role prints it
        self.sink = self.start("sink", "async_sink.py" if args.async_ else "sink.py", [
            "--bind", loopback, "--tasks", str(args.tasks), "--timeout", str(RESULT_TIMEOUT)])
        sink_endpoint = self.bound_endpoint(self.sink)

        seed = [] if args.seed is None else ["--seed", str(args.seed)]
        self.ventilator = self.start("ventilator", "ventilator.py", [
            "--bind", loopback, "--sink", sink_endpoint, "--tasks", str(args.tasks),
            "--max-workload", str(args.max_workload), "--wait-workers", str(n), *seed])
        ventilator_endpoint = self.bound_endpoint(self.ventilator)

        for number in range(1, n + 1):
            endpoints = ["--ventilator", ventilator_endpoint, "--sink", sink_endpoint]
            if number in async_workers:
                self.workers.append(self.start(f"worker {number}", "async_worker.py", [
                    *endpoints, "--concurrency", str(args.concurrency)]))
            else:
                self.workers.append(self.start(f"worker {number}", "worker.py", endpoints))

        ventilator = self.ventilator
        self.wait_for(lambda: "Sending tasks" in ventilator.output, STARTUP_TIMEOUT,
                      f"{n} workers to connect")
        # Bounded by what one worker alone would need, plus slack; the sink itself gives up
        # sooner when results stop coming.
        batch_timeout = args.tasks * args.max_workload / 1000 + STARTUP_TIMEOUT
        sink = self.sink
        self.wait_for(lambda: sink.ended and ventilator.ended, batch_timeout,
                      "the sink to collect every result", may_end=(sink, ventilator))
        try:  # each worker prints its "." just after sending: let the last ones arrive
            self.wait_for(lambda: sum(self.tasks_per_worker()) >= args.tasks, STOP_TIMEOUT,
                          "the workers' last progress dots")
        except RuntimeError:
            pass  # only the per-worker counts below would be short
        if self.tty or self.shown:
            print()

        expected = re.search(r"Total expected cost: (\d+) msec", ventilator.output)
        elapsed = re.search(r"Total elapsed time: (\d+) msec", sink.output)
        received = self.results()
        if sink.process.returncode != 0 or not elapsed or received != args.tasks:
            print(f"FAILED: the sink received {received} of {args.tasks} results", file=sys.stderr)
            return 1
        if not expected:
            print("FAILED: the ventilator did not report its expected cost", file=sys.stderr)
            return 1
        expected_msec, elapsed_msec = int(expected.group(1)), int(elapsed.group(1))
        print(f"Tasks per worker:   {', '.join(map(str, self.tasks_per_worker()))}")
        print(f"Total expected cost: {expected_msec} msec")
        print(f"Total elapsed time: {elapsed_msec} msec")
        # One worker alone would take the expected cost: the ratio is what the others bring.
        print(f"Speed-up over one worker: {expected_msec / max(elapsed_msec, 1):.2f}x "
              f"with {n} worker{'s' * (n != 1)}", flush=True)
        return 0

    def stop(self) -> None:
        """Stop every process started: Ctrl-C first (each role closes its sockets), then kill."""
        for sig in (signal.SIGINT, getattr(signal, "SIGKILL", signal.SIGTERM)):
            running = [role for role in self.roles if role.process.poll() is None]
            for role in running:
                role.signal(sig)
            deadline = time.monotonic() + STOP_TIMEOUT
            for role in running:
                try:
                    role.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        for role in self.roles:  # their output ends with them: the pipes get closed
            role.reader.join(timeout=STOP_TIMEOUT)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="worker processes (default: 4)")
    parser.add_argument("--tasks", type=int, default=100, help="tasks in the batch (default: 100)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed the workloads, for a reproducible batch (default: random)")
    parser.add_argument("--max-workload", type=int, default=100, metavar="MSEC",
                        help="workloads are drawn from 1..MSEC (default: 100)")
    roles = parser.add_mutually_exclusive_group()
    roles.add_argument("--raw", action="store_true",
                       help="run the roles of examples/raw/ (the C API, call for call)")
    roles.add_argument("--async", dest="async_", action="store_true",
                       help="run the async sink (zmqffi.asyncio), the blocking ventilator, "
                            "and async and blocking workers in turn")
    parser.add_argument("--concurrency", type=int, default=4, metavar="N",
                        help="with --async: tasks each async worker works on at once "
                             "(default: 4)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.tasks < 1 or args.concurrency < 1:
        parser.error("--workers, --tasks and --concurrency must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _bootstrap.ensure_zmqffi()  # the roles need zmqffi: on a fresh checkout, install it first
    # A plain `kill` should clean up like Ctrl-C does. Handling SIGINT explicitly also means
    # the children start with its default (Ctrl-C -> KeyboardInterrupt) even when we were
    # started with it ignored (e.g. in the background of a script), so stop() can use it.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    pipeline = Pipeline(args)
    try:
        return pipeline.run()
    except RuntimeError as error:
        print(f"\nFAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted", file=sys.stderr)
        return 130
    finally:
        pipeline.stop()


if __name__ == "__main__":
    sys.exit(main())
