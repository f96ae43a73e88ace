"""The examples, run the way their users run them: each one a subprocess over real tcp.

Every role binds a wildcard loopback port (`tcp://127.0.0.1:*`) and prints where it landed, so
tests never collide with each other or with the examples' fixed defaults. Every wait is bounded:
a thread per pipe collects the output, and each expectation has a deadline. Workloads are tiny
(a few msec), so the whole file runs in seconds.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Callable, NamedTuple
from collections.abc import Iterator

import pytest

import zmqffi

pytestmark = pytest.mark.skipif(os.name == "nt", reason="process groups and signals are POSIX")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LOOPBACK = "tcp://127.0.0.1:*"
TIMEOUT = 20.0  # s: bound on any one wait; generous for PyPy on a loaded CI machine
# Every child sees this, so that any process left behind can be found (see leftovers()).
TAG_VARIABLE = "ZMQFFI_EXAMPLES_TEST_TAG"

# One condition for all children's output: a test may wait on several processes at once.
OUTPUT = threading.Condition()


class Proc:
    """An example running as a subprocess, in its own process group, its output collected."""

    def __init__(self, argv: list[str], stdin: bool = False, tag: str = "",
                 env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.out = ""
        self.err = ""
        self.open_pipes = 2
        # Dev mode: a Message, socket or context left unclosed shows as a ResourceWarning.
        env = dict(os.environ, PYTHONDEVMODE="1", **{TAG_VARIABLE: tag}, **(env or {}))
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
        self.readers = [
            threading.Thread(target=self._collect, args=(pipe, name), daemon=True)
            for pipe, name in ((self.process.stdout, "out"), (self.process.stderr, "err"))]
        for reader in self.readers:
            reader.start()

    def _collect(self, pipe: IO[bytes], name: str) -> None:
        with pipe:
            while True:
                chunk = pipe.read1(4096)  # type: ignore[attr-defined]
                with OUTPUT:
                    if not chunk:
                        self.open_pipes -= 1
                        OUTPUT.notify_all()
                        return
                    setattr(self, name, getattr(self, name) + chunk.decode(errors="replace"))
                    OUTPUT.notify_all()

    def __repr__(self) -> str:
        return (f"<{' '.join(self.argv[1:])}: exit {self.process.poll()}\n"
                f"--- stdout\n{self.out}\n--- stderr\n{self.err}>")

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        """Wait until stdout matches `pattern`; fail if it ends first or on timeout."""
        found: list[re.Match[str]] = []

        def matched() -> bool:
            match = re.search(pattern, self.out)
            if match:
                found.append(match)
            elif self.open_pipes == 0:
                pytest.fail(f"{pattern!r} never came: {self!r}")
            return bool(match)

        wait_until(matched, timeout, f"{pattern!r} from {self!r}")
        return found[0]

    def endpoint(self, nth: int = 0) -> str:
        """Where the example bound: it prints "Bound to ENDPOINT" for each wildcard port."""
        self.expect(r"(Bound to \S+\n){%d}" % (nth + 1))
        return re.findall(r"Bound to (\S+)\n", self.out)[nth]

    def finish(self, timeout: float = TIMEOUT) -> int:
        """Wait for the exit status, with all output read."""
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout} s: {self!r}")
        for reader in self.readers:
            reader.join(timeout=timeout)
        return status

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        return self.finish()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)
        for reader in self.readers:
            reader.join(timeout=TIMEOUT)

    def assert_clean(self) -> None:
        """Nothing on stderr: no traceback, no ResourceWarning for anything left unclosed."""
        assert self.err == "", self


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    with OUTPUT:
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"timed out after {timeout} s waiting for {what}")
            OUTPUT.wait(remaining)


Start = Callable[..., Proc]


def example(script: str) -> list[str]:
    """The command that runs examples/<script>."""
    return [sys.executable, str(EXAMPLES / script)]


@pytest.fixture
def start() -> Iterator[Start]:
    """start(*command, stdin=False, env=None) runs a command (env: extra variables);
    whatever still runs is killed after."""
    procs: list[Proc] = []
    tag = uuid.uuid4().hex

    def _start(*argv: str, stdin: bool = False, env: dict[str, str] | None = None) -> Proc:
        proc = Proc(list(argv), stdin=stdin, tag=tag, env=env)
        procs.append(proc)
        return proc

    _start.tag = tag  # type: ignore[attr-defined]
    yield _start
    for proc in procs:
        proc.kill()


@pytest.fixture(autouse=True, scope="module")
def sigint_not_ignored() -> Iterator[None]:
    # A child inherits an *ignored* SIGINT (pytest run in a script's background), which would
    # make interrupt() a no-op; a handled one is reset to the default at exec.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def leftovers(tag: str) -> dict[int, str]:
    """The live processes started with this tag, pid: command line (Linux: from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if f"{TAG_VARIABLE}={tag}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":  # a zombie has exited already
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    found[int(entry.name)] = command
        except (OSError, IndexError, ValueError):
            continue  # not a process, gone meanwhile, or not ours to read
    return found


def wait_for_connections(endpoint: str, count: int) -> None:
    """Wait until `count` tcp connections are established to the local port of `endpoint`.

    For the roles that say nothing until work arrives: once connected, a process is past its
    imports (a Ctrl-C there would be a traceback) and gets its share of the work. Linux's
    /proc/net/tcp tells; elsewhere this returns at once (the tests only get slower).
    """
    table = Path("/proc/net/tcp")
    port = int(endpoint.rsplit(":", 1)[1])
    deadline = time.monotonic() + TIMEOUT
    while table.exists():
        rows = [line.split() for line in table.read_text().splitlines()[1:]]
        established = sum(int(row[1].rsplit(":", 1)[1], 16) == port and row[3] == "01"
                          for row in rows)  # the accepting side's rows; 01 = ESTABLISHED
        if established >= count:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{established} of {count} connections to {endpoint} after {TIMEOUT} s")
        time.sleep(0.01)  # polling the kernel's table: there is nothing to wait on


def seeded_workloads(seed: int, tasks: int, max_workload: int) -> list[int]:
    """The ventilators' documented draw: random.Random(seed).randint(1, max_workload)."""
    rng = random.Random(seed)
    return [rng.randint(1, max_workload) for _ in range(tasks)]


def sink_marks(tasks: int) -> str:
    return "".join(":" if n % 10 == 0 else "." for n in range(tasks))


def role(kind: str, name: str) -> str:
    """The script of a pipeline role: "py" for the Pythonic layer, "raw" for zmqffi.lib,
    "async" for zmqffi.asyncio."""
    if kind == "async":
        return f"async_{name}.py"
    return f"raw/{name}.py" if kind == "raw" else f"{name}.py"


def set_timeouts(*socks: zmqffi.Socket) -> None:
    for sock in socks:
        sock.setsockopt(zmqffi.RCVTIMEO, int(TIMEOUT * 1000))
        sock.setsockopt(zmqffi.SNDTIMEO, int(TIMEOUT * 1000))
        sock.setsockopt(zmqffi.LINGER, 0)


# --- each role against peers played by the test: the exact bytes on the wire -------------

@pytest.mark.parametrize("kind", ["py", "raw", "async"])
def test_ventilator_prompts_then_sends_the_wire_format(ctx: zmqffi.Context, start: Start,
                                                       kind: str) -> None:
    tasks, seed = 25, 11
    with ctx.socket(zmqffi.PULL) as sink, ctx.socket(zmqffi.PULL) as worker:
        set_timeouts(sink, worker)
        sink.bind(LOOPBACK)
        ventilator = start(*example(role(kind, "ventilator")), "--bind", LOOPBACK, "--sink",
                           sink.last_endpoint, "--tasks", str(tasks), "--seed", str(seed),
                           "--max-workload", "1000", stdin=True)
        endpoint = ventilator.endpoint()
        ventilator.expect(r"Press Enter when the workers are ready: \n")
        worker.connect(endpoint)
        assert ventilator.process.stdin is not None
        ventilator.process.stdin.write(b"\n")
        ventilator.process.stdin.close()

        assert sink.recv() == b"0\0"  # the start of the batch: 2 bytes
        received = [worker.recv() for _ in range(tasks)]
        assert ventilator.finish() == 0

    for task in received:  # a 10-byte NUL-padded decimal string
        assert re.fullmatch(rb"[1-9][0-9]{0,3}\0+", task) and len(task) == 10, task
    workloads = [int(task.rstrip(b"\0")) for task in received]
    assert workloads == seeded_workloads(seed, tasks, 1000)
    assert ventilator.out == (f"Bound to {endpoint}\n"
                              "Press Enter when the workers are ready: \n"
                              "Sending tasks to workers…\n\n"
                              f"Total expected cost: {sum(workloads)} msec\n")
    ventilator.assert_clean()


@pytest.mark.parametrize("kind", ["py", "raw", "async"])
def test_worker_answers_each_task_with_an_empty_message(ctx: zmqffi.Context, start: Start,
                                                        kind: str) -> None:
    # As the C++ worker reads them: NUL-padded, unpadded, with leading blanks.
    tasks = [b"3".ljust(10, b"\0"), b"1", b" 2\0\0\0\0\0\0\0", b"10".ljust(10, b"\0")]
    with ctx.socket(zmqffi.PUSH) as ventilator, ctx.socket(zmqffi.PULL) as sink:
        set_timeouts(ventilator, sink)
        ventilator.bind(LOOPBACK)
        sink.bind(LOOPBACK)
        worker = start(*example(role(kind, "worker")), "--ventilator", ventilator.last_endpoint,
                       "--sink", sink.last_endpoint, "--tasks", str(len(tasks)))
        for task in tasks:
            ventilator.send(task)
        results = [sink.recv() for _ in tasks]
        assert worker.finish() == 0
    assert results == [b""] * len(tasks)
    assert worker.out == "." * len(tasks)
    worker.assert_clean()


@pytest.mark.parametrize("kind", ["py", "raw", "async"])
def test_worker_exits_when_idle(start: Start, kind: str) -> None:
    # Nobody listens at port 9 (discard): no task ever comes.
    worker = start(*example(role(kind, "worker")), "--ventilator", "tcp://127.0.0.1:9",
                   "--sink", "tcp://127.0.0.1:9", "--idle-timeout", "0.2")
    assert worker.finish() == 0
    assert worker.out == ""
    worker.assert_clean()


@pytest.mark.parametrize("kind", ["py", "raw", "async"])
def test_sink_counts_results_after_the_start_message(ctx: zmqffi.Context, start: Start,
                                                     kind: str) -> None:
    tasks = 23
    sink = start(*example(role(kind, "sink")), "--bind", LOOPBACK, "--tasks", str(tasks))
    with ctx.socket(zmqffi.PUSH) as pusher:
        set_timeouts(pusher)
        pusher.connect(sink.endpoint())
        pusher.send(b"0\0")
        for _ in range(tasks):
            pusher.send(b"")
        assert sink.finish() == 0
    assert re.fullmatch(rf"Bound to \S+\n{sink_marks(tasks)}\nTotal elapsed time: \d+ msec\n\n",
                        sink.out), sink
    sink.assert_clean()


@pytest.mark.parametrize("kind", ["py", "raw", "async"])
def test_sink_gives_up_when_results_are_missing(ctx: zmqffi.Context, start: Start,
                                                kind: str) -> None:
    sink = start(*example(role(kind, "sink")), "--bind", LOOPBACK, "--tasks", "5",
                 "--timeout", "0.3")
    with ctx.socket(zmqffi.PUSH) as pusher:
        set_timeouts(pusher)
        pusher.connect(sink.endpoint())
        for message in (b"0\0", b"", b"", b""):
            pusher.send(message)
        assert sink.finish() == 1
    assert sink.out.endswith("\n:..")
    assert "Timed out: received 3 of 5 results" in sink.err


@pytest.mark.parametrize("script, defaults", [
    ("ventilator.py", ["tcp://*:5557", "tcp://localhost:5558"]),
    ("worker.py", ["tcp://localhost:5557", "tcp://localhost:5558"]),
    ("sink.py", ["tcp://*:5558"]),
    ("raw/ventilator.py", ["tcp://*:5557", "tcp://localhost:5558"]),
    ("raw/worker.py", ["tcp://localhost:5557", "tcp://localhost:5558"]),
    ("raw/sink.py", ["tcp://*:5558"]),
    ("async_ventilator.py", ["tcp://*:5557", "tcp://localhost:5558"]),
    ("async_worker.py", ["tcp://localhost:5557", "tcp://localhost:5558"]),
    ("async_sink.py", ["tcp://*:5558"]),
    ("hwserver.py", ["tcp://*:5555"]),
    ("hwclient.py", ["tcp://localhost:5555"]),
    ("wuserver.py", ["tcp://*:5556"]),
    ("wuclient.py", ["tcp://localhost:5556"]),
    ("msgbroker.py", ["tcp://*:5559", "tcp://*:5560"]),
])
def test_default_endpoints_are_the_guides(start: Start, script: str, defaults: list[str]) -> None:
    help_text = start(*example(script), "--help")
    assert help_text.finish() == 0
    text = " ".join(help_text.out.split())  # as argparse wrapped it, on one line
    for endpoint in defaults:
        assert f"(default: {endpoint})" in text


# --- whole pipelines: Pythonic and raw roles, in every mix -------------------------------

class Batch(NamedTuple):
    expected_cost: int  # msec, as the ventilator printed it
    workers: list[Proc]  # still running


def run_pipeline(start: Start, ventilator: list[str], worker: list[str], sink: list[str], *,
                 workers: int = 2, tasks: int = 20, seed: int = 7, max_workload: int = 3,
                 ventilator_waits: bool = True, worker_args: tuple[str, ...] = ()) -> Batch:
    """Run sink, workers and ventilator (commands taking the examples' options) to the end
    of one batch; check what the sink and the ventilator print."""
    sink_proc = start(*sink, "--bind", LOOPBACK, "--tasks", str(tasks), "--timeout", "10")
    sink_endpoint = sink_proc.endpoint()
    wait = ["--wait-workers", str(workers)] if ventilator_waits else ["--no-wait"]
    ventilator_proc = start(*ventilator, "--bind", LOOPBACK, "--sink", sink_endpoint,
                            "--tasks", str(tasks), "--seed", str(seed),
                            "--max-workload", str(max_workload), *wait)
    ventilator_endpoint = ventilator_proc.endpoint()
    worker_procs = [start(*worker, "--ventilator", ventilator_endpoint,
                          "--sink", sink_endpoint, *worker_args) for _ in range(workers)]

    assert sink_proc.finish() == 0, sink_proc
    assert ventilator_proc.finish() == 0, ventilator_proc
    assert re.fullmatch(rf"Bound to \S+\n{sink_marks(tasks)}\nTotal elapsed time: \d+ msec\n\n",
                        sink_proc.out), sink_proc
    cost = ventilator_proc.expect(r"Sending tasks to workers…\n\n"
                                  r"Total expected cost: (\d+) msec\n$")
    # A worker prints its "." just after sending the result: all of them, every task once.
    wait_until(lambda: sum(w.out.count(".") for w in worker_procs) >= tasks, TIMEOUT,
               "the workers' progress dots")
    assert sum(w.out.count(".") for w in worker_procs) == tasks
    for proc in (sink_proc, ventilator_proc):
        proc.assert_clean()
    return Batch(int(cost.group(1)), worker_procs)


@pytest.mark.parametrize("ventilator, worker, sink", [
    ("py", "py", "py"), ("raw", "raw", "raw"),
    ("raw", "py", "raw"), ("py", "raw", "py"), ("py", "py", "raw"), ("raw", "raw", "py"),
    ("async", "async", "async"), ("py", "async", "py"), ("async", "py", "async"),
    ("raw", "async", "py"),
])
def test_pipeline_roles_interoperate(start: Start, ventilator: str, worker: str,
                                     sink: str) -> None:
    batch = run_pipeline(start, example(role(ventilator, "ventilator")),
                         example(role(worker, "worker")), example(role(sink, "sink")),
                         tasks=20, seed=7, max_workload=3)
    assert batch.expected_cost == sum(seeded_workloads(7, 20, 3))
    for proc in batch.workers:  # the guide's workers run forever: Ctrl-C ends them
        assert proc.interrupt() == 130, proc
        assert "Traceback" not in proc.err


# --- the async roles: what async brings -------------------------------------------------

def test_async_worker_works_on_tasks_concurrently(ctx: zmqffi.Context, start: Start) -> None:
    # Eight tasks of 3 s each: one after the other they take 24 s, all at once about 3 s.
    # The bound is half the sequential time: it tells concurrent from sequential with a
    # wide margin for a loaded machine, it measures no speed.
    tasks, concurrency = 8, 8
    with ctx.socket(zmqffi.PUSH) as ventilator, ctx.socket(zmqffi.PULL) as sink:
        set_timeouts(ventilator, sink)
        ventilator.bind(LOOPBACK)
        sink.bind(LOOPBACK)
        worker = start(*example("async_worker.py"), "--ventilator", ventilator.last_endpoint,
                       "--sink", sink.last_endpoint, "--tasks", str(tasks),
                       "--concurrency", str(concurrency))
        wait_for_connections(ventilator.last_endpoint, 1)
        started = time.monotonic()
        for _ in range(tasks):
            ventilator.send(b"3000")
        results = [sink.recv() for _ in range(tasks)]
        elapsed = time.monotonic() - started
        assert worker.finish() == 0, worker
    assert results == [b""] * tasks
    assert elapsed < tasks * 3.0 / 2, f"{tasks} tasks of 3 s took {elapsed:.2f} s"
    assert worker.out == "." * tasks
    worker.assert_clean()


def test_async_worker_with_more_loops_than_tasks_exits_after_its_tasks(
        ctx: zmqffi.Context, start: Start) -> None:
    # Five loops, three tasks: once the third is taken, no loop may wait for a fourth.
    tasks = 3
    with ctx.socket(zmqffi.PUSH) as ventilator, ctx.socket(zmqffi.PULL) as sink:
        set_timeouts(ventilator, sink)
        ventilator.bind(LOOPBACK)
        sink.bind(LOOPBACK)
        worker = start(*example("async_worker.py"), "--ventilator", ventilator.last_endpoint,
                       "--sink", sink.last_endpoint, "--tasks", str(tasks), "--concurrency", "5")
        for _ in range(tasks):
            ventilator.send(b"2")
        results = [sink.recv() for _ in range(tasks)]
        assert worker.finish() == 0, worker
    assert results == [b""] * tasks
    assert worker.out == "." * tasks
    worker.assert_clean()


def test_async_workers_serve_the_blocking_ventilator_and_sink(start: Start) -> None:
    batch = run_pipeline(start, example("ventilator.py"), example("async_worker.py"),
                         example("sink.py"), workers=2, tasks=30, seed=5, max_workload=4,
                         worker_args=("--concurrency", "3"))
    assert batch.expected_cost == sum(seeded_workloads(5, 30, 4))
    for proc in batch.workers:  # they run forever, as the blocking ones: Ctrl-C ends them
        assert proc.interrupt() == 130, proc
        assert "Traceback" not in proc.err


# --- the one-command runner -------------------------------------------------------------

class Report(NamedTuple):
    per_worker: list[int]
    expected: int
    elapsed: int
    speedup: float
    workers: int


def pipeline_report(proc: Proc) -> Report:
    """The runner's closing lines."""
    match = re.search(r"Tasks per worker: +([\d, ]+)\nTotal expected cost: (\d+) msec\n"
                      r"Total elapsed time: (\d+) msec\n"
                      r"Speed-up over one worker: ([\d.]+)x with (\d+) workers?\n$", proc.out)
    assert match, proc
    per_worker, expected, elapsed, speedup, workers = match.groups()
    return Report([int(n) for n in per_worker.split(", ")], int(expected), int(elapsed),
                  float(speedup), int(workers))


@pytest.mark.parametrize("workers, raw", [(1, False), (4, False), (2, True)])
def test_pipeline_runner_completes_every_task(start: Start, workers: int, raw: bool) -> None:
    tasks, seed = 20, 3
    runner = start(*example("pipeline.py"), "--workers", str(workers), "--tasks", str(tasks),
                   "--seed", str(seed), "--max-workload", "5", *(["--raw"] if raw else []))
    assert runner.finish() == 0, runner
    report = pipeline_report(runner)
    assert sink_marks(tasks) in runner.out  # the progress, as the sink shows it
    assert report.workers == workers and len(report.per_worker) == workers
    assert sum(report.per_worker) == tasks
    assert report.expected == sum(seeded_workloads(seed, tasks, 5))
    assert report.speedup == pytest.approx(report.expected / max(report.elapsed, 1), abs=0.006)
    assert "Traceback" not in runner.err
    assert leftovers(start.tag) == {}  # type: ignore[attr-defined]


def test_pipeline_runner_mixes_async_and_blocking_roles(start: Start) -> None:
    tasks, seed = 20, 5
    runner = start(*example("pipeline.py"), "--async", "--workers", "3", "--tasks", str(tasks),
                   "--seed", str(seed), "--max-workload", "5", "--concurrency", "2")
    assert runner.finish() == 0, runner
    assert runner.out.startswith(
        "Pipeline: 1 ventilator, 3 workers, 1 sink, 20 tasks (async and blocking roles mixed)\n"
        "  async (zmqffi.asyncio): the sink; workers 1, 3, each working on up to 2 tasks at once\n"
        "  blocking (zmqffi):      the ventilator; worker 2\n"), runner
    report = pipeline_report(runner)
    assert sink_marks(tasks) in runner.out
    assert report.workers == 3 and sum(report.per_worker) == tasks
    assert report.expected == sum(seeded_workloads(seed, tasks, 5))
    assert "Traceback" not in runner.err
    assert leftovers(start.tag) == {}  # type: ignore[attr-defined]


def test_pipeline_runner_async_runs_the_roles_it_names(start: Start) -> None:
    runner = start(*example("pipeline.py"), "--async", "--workers", "4", "--tasks", "1000")
    runner.expect(r"\n:\.")  # the batch is running
    scripts = sorted(Path(command.split()[1]).name
                     for command in leftovers(start.tag).values()  # type: ignore[attr-defined]
                     if "pipeline.py" not in command)
    # (the ventilator may be gone already: it exits once every task has left)
    assert [name for name in scripts if name != "ventilator.py"] == [
        "async_sink.py", "async_worker.py", "async_worker.py", "worker.py", "worker.py"]
    assert runner.interrupt() == 130, runner
    assert "Interrupted" in runner.err
    assert leftovers(start.tag) == {}  # type: ignore[attr-defined]


def test_pipeline_runner_cleans_up_on_ctrl_c(start: Start) -> None:
    runner = start(*example("pipeline.py"), "--workers", "3", "--tasks", "1000")
    runner.expect(r"\n:\.")  # the batch is running
    assert runner.interrupt() == 130, runner
    assert "Interrupted" in runner.err
    assert leftovers(start.tag) == {}  # type: ignore[attr-defined]


def test_pipeline_runner_fails_when_a_result_is_missing(start: Start) -> None:
    runner = start(*example("pipeline.py"), "--workers", "2", "--tasks", "1000")
    runner.expect(r"\n:\.")
    victim = next(pid for pid, command in leftovers(start.tag).items()  # type: ignore
                  if "worker.py" in command)
    os.kill(victim, signal.SIGKILL)  # the tasks queued for it die with it
    assert runner.finish() == 1, runner
    assert "FAILED" in runner.err
    assert leftovers(start.tag) == {}  # type: ignore[attr-defined]


# --- the other patterns ---------------------------------------------------------------

def test_request_reply(start: Start) -> None:
    server = start(*example("hwserver.py"), "--bind", LOOPBACK, "--work", "1", "--requests", "3")
    endpoint = server.endpoint()
    client = start(*example("hwclient.py"), "--connect", endpoint, "--requests", "3",
                   "--timeout", "10")
    assert client.finish() == 0, client
    assert server.finish() == 0, server
    assert client.out == "Connecting to hello world server…\n" + "".join(
        f"Sending Hello {n}…\nReceived World {n}\n" for n in range(3))
    assert server.out == f"Bound to {endpoint}\n" + "Received Hello\n" * 3
    client.assert_clean()
    server.assert_clean()


def test_broker_between_clients_and_servers(start: Start) -> None:
    broker = start(*example("msgbroker.py"), "--frontend", LOOPBACK, "--backend", LOOPBACK)
    frontend, backend = broker.endpoint(0), broker.endpoint(1)
    servers = [start(*example("hwserver.py"), "--connect", backend, "--work", "1", "--reply", name)
               for name in ("A", "B")]
    wait_for_connections(backend, len(servers))
    clients = [start(*example("hwclient.py"), "--connect", frontend, "--requests", "4",
                     "--timeout", "10") for _ in range(2)]
    for client in clients:
        assert client.finish() == 0, client
        replies = re.findall(r"Received (\w+) (\d+)\n", client.out)
        assert [int(n) for _, n in replies] == list(range(4))
        assert {name for name, _ in replies} <= {"A", "B"}
        client.assert_clean()
    # Ctrl-C reaches a proxy and a blocking recv promptly.
    for proc in (broker, *servers):
        assert proc.interrupt() == 130, proc
        assert "Traceback" not in proc.err
    assert sum(server.out.count("Received Hello\n") for server in servers) == 8


def test_publish_subscribe(start: Start) -> None:
    server = start(*example("wuserver.py"), "--bind", LOOPBACK, "--zipcodes", "10", "--seed", "1")
    client = start(*example("wuclient.py"), "--connect", server.endpoint(), "--zipcode", "7",
                   "--updates", "20", "--timeout", "10")
    assert client.finish() == 0, client
    match = re.fullmatch(r"Collecting updates from weather server…\n"
                         r"Average temperature for zipcode '00007' was (-?\d+\.\d)F\n", client.out)
    assert match, client
    assert -80 <= float(match.group(1)) <= 134
    client.assert_clean()
    assert server.interrupt() == 130, server
    assert "Traceback" not in server.err
