"""Wire compatibility with C++: pipelines that mix zmqffi's roles with C++ (cppzmq) ones.

The C++ ventilator, worker and sink below are compiled at test time with g++ against Debian's
cppzmq-dev and libzmq3-dev (the system libzmq, not zmqffi's vendored one). They speak the
guide's wire format strictly: the worker refuses a task that is not 10 bytes of decimal digits
and NUL padding, the sink a start message other than "0\\0" or a non-empty result. They take
the examples' command-line options, so the pipeline runner of test_examples.py drives them.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# The helpers and fixtures of the examples' tests (imported by path: tests/ is no package).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import free_port  # noqa: E402
from test_examples import (  # noqa: E402
    TIMEOUT, Proc, Start, example, role, run_pipeline, seeded_workloads, sigint_not_ignored,
    sink_marks, start, wait_for_connections, wait_until,
)

__all__ = ["sigint_not_ignored", "start"]  # fixtures, used by name

CPP_ROLES = r"""
// The pipeline's three roles in C++ with cppzmq, selected by argv[1]; the options are those
// of examples/*.py. Written for zmqffi's interop tests.
#include <zmq.hpp>

#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <thread>

using Options = std::map<std::string, std::string>;

static std::string option(const Options &options, const std::string &name,
                          const std::string &fallback) {
    auto found = options.find(name);
    return found == options.end() ? fallback : found->second;
}

// A wildcard port is only known once bound: print it, as the Python roles do.
static void bind(zmq::socket_t &socket, const std::string &endpoint) {
    socket.bind(endpoint);
    if (endpoint.size() > 2 && endpoint.substr(endpoint.size() - 2) == ":*")
        std::cout << "Bound to " << socket.get(zmq::sockopt::last_endpoint) << std::endl;
}

static int ventilator(const Options &options) {
    zmq::context_t context(1);
    zmq::socket_t sender(context, zmq::socket_type::push);
    sender.set(zmq::sockopt::linger, 5000);  // the destructors wait until all is sent
    bind(sender, option(options, "--bind", "tcp://*:5557"));
    // No prompt: PUSH holds the tasks until a worker connects.
    std::cout << "Sending tasks to workers…\n" << std::endl;

    zmq::socket_t sink(context, zmq::socket_type::push);
    sink.set(zmq::sockopt::linger, 5000);
    sink.connect(option(options, "--sink", "tcp://localhost:5558"));
    sink.send(zmq::buffer("0", 2), zmq::send_flags::none);  // "0" and its NUL

    const int tasks = std::stoi(option(options, "--tasks", "100"));
    const int max_workload = std::stoi(option(options, "--max-workload", "100"));
    const int seed = std::stoi(option(options, "--seed", "0"));
    long total_msec = 0;
    for (int task_nbr = 0; task_nbr < tasks; ++task_nbr) {
        // Not random: the test computes the same sum.
        const int workload = 1 + (seed + 37 * task_nbr) % max_workload;
        total_msec += workload;
        std::string task = std::to_string(workload);
        task.resize(10, '\0');  // NUL-padded to 10 bytes
        sender.send(zmq::buffer(task), zmq::send_flags::none);
    }
    std::cout << "Total expected cost: " << total_msec << " msec" << std::endl;
    return 0;
}

static int worker(const Options &options) {
    zmq::context_t context(1);
    zmq::socket_t receiver(context, zmq::socket_type::pull);
    receiver.connect(option(options, "--ventilator", "tcp://localhost:5557"));
    zmq::socket_t sender(context, zmq::socket_type::push);
    sender.set(zmq::sockopt::linger, 5000);
    sender.connect(option(options, "--sink", "tcp://localhost:5558"));

    const int tasks = std::stoi(option(options, "--tasks", "-1"));
    for (int done = 0; tasks < 0 || done < tasks; ++done) {
        zmq::message_t task;
        if (!receiver.recv(task, zmq::recv_flags::none))
            return 1;
        const std::string text = task.to_string();
        const size_t digits = text.find_first_not_of("0123456789");
        if (text.size() != 10 || digits == 0 || digits == std::string::npos
                || text.find_first_not_of('\0', digits) != std::string::npos) {
            std::cerr << "bad task of " << text.size() << " bytes" << std::endl;
            return 2;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(text.substr(0, digits))));
        sender.send(zmq::message_t(), zmq::send_flags::none);
        std::cout << "." << std::flush;
    }
    return 0;
}

static int sink(const Options &options) {
    zmq::context_t context(1);
    zmq::socket_t receiver(context, zmq::socket_type::pull);
    bind(receiver, option(options, "--bind", "tcp://*:5558"));

    zmq::message_t message;
    const bool received = bool(receiver.recv(message, zmq::recv_flags::none));
    if (!received || message.to_string() != std::string("0", 2)) {
        std::cerr << "bad start message of " << message.size() << " bytes" << std::endl;
        return 2;
    }
    const auto start = std::chrono::steady_clock::now();
    if (options.count("--timeout"))
        receiver.set(zmq::sockopt::rcvtimeo, int(std::stod(options.at("--timeout")) * 1000));

    const int tasks = std::stoi(option(options, "--tasks", "100"));
    for (int task_nbr = 0; task_nbr < tasks; ++task_nbr) {
        if (!receiver.recv(message, zmq::recv_flags::none)) {
            std::cerr << "\nTimed out: received " << task_nbr << " of " << tasks << " results"
                      << std::endl;
            return 1;
        }
        if (message.size() != 0) {
            std::cerr << "bad result of " << message.size() << " bytes" << std::endl;
            return 2;
        }
        std::cout << (task_nbr % 10 == 0 ? ":" : ".") << std::flush;
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    std::cout << "\nTotal elapsed time: " << elapsed.count() << " msec\n" << std::endl;
    return 0;
}

int main(int argc, char *argv[]) {
    Options options;
    for (int i = 2; i < argc; ++i) {
        const std::string name = argv[i];
        options[name] = (name == "--no-wait" || i + 1 == argc) ? "" : argv[++i];
    }
    const std::string role = argc > 1 ? argv[1] : "";
    try {
        if (role == "ventilator") return ventilator(options);
        if (role == "worker") return worker(options);
        if (role == "sink") return sink(options);
    } catch (const zmq::error_t &error) {
        std::cerr << role << ": " << error.what() << std::endl;
        return 3;
    }
    std::cerr << "usage: " << argv[0] << " ventilator|worker|sink [--option value]..." << std::endl;
    return 64;
}
"""


@pytest.fixture(scope="module")
def cpp_roles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C++ roles, compiled once for this module; a skip if the toolchain is missing."""
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("g++ is not installed (Debian: apt-get install g++)")
    directory = tmp_path_factory.mktemp("cpp")
    source = directory / "pipeline_roles.cpp"
    source.write_text(CPP_ROLES, encoding="utf-8")
    binary = directory / "pipeline_roles"
    build = subprocess.run(
        [compiler, "-std=c++17", "-O1", "-Wall", "-o", str(binary), str(source), "-lzmq"],
        capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        if "zmq.hpp" in build.stderr:
            pytest.skip("zmq.hpp is missing (Debian: apt-get install cppzmq-dev)")
        if "-lzmq" in build.stderr or "zmq.h:" in build.stderr:
            pytest.skip("libzmq's development files are missing (Debian: libzmq3-dev)")
        pytest.fail(f"the C++ roles did not compile:\n{build.stderr}")
    return binary


def command(kind: str, name: str, cpp_roles: Path) -> list[str]:
    """A role's command: kind "cpp" for the C++ one, else as test_examples.role()."""
    return [str(cpp_roles), name] if kind == "cpp" else example(role(kind, name))


def stop_worker(worker: Proc, kind: str) -> None:
    # Ctrl-C: Python roles exit with 130, C++ ones die of the signal.
    assert worker.interrupt() == (-signal.SIGINT if kind == "cpp" else 130), worker
    assert "Traceback" not in worker.err and "bad" not in worker.err, worker


@pytest.mark.parametrize("ventilator, worker, sink", [
    ("cpp", "py", "cpp"),  # Python workers serve a C++ ventilator and sink
    ("cpp", "raw", "cpp"),
    ("py", "cpp", "py"),  # C++ workers serve a Python ventilator and sink
    ("raw", "cpp", "raw"),
    ("py", "py", "cpp"),  # a C++ sink checks the start message and the results
    ("cpp", "cpp", "raw"),
    ("cpp", "cpp", "cpp"),  # the C++ roles alone, to tell their faults from ours
])
def test_mixed_pipeline(start: Start, cpp_roles: Path, ventilator: str, worker: str,
                        sink: str) -> None:
    tasks, seed, max_workload = 20, 5, 4
    # A Python ventilator waits for its two workers. The C++ one does not: PUSH holds the
    # tasks until a worker connects and deals them to whoever is there, so it gets one
    # worker, told to expect them all (a second might still be starting when all is done).
    waits = ventilator != "cpp"
    batch = run_pipeline(start, command(ventilator, "ventilator", cpp_roles),
                         command(worker, "worker", cpp_roles), command(sink, "sink", cpp_roles),
                         workers=2 if waits else 1, tasks=tasks, seed=seed,
                         max_workload=max_workload, ventilator_waits=waits,
                         worker_args=() if waits else ("--tasks", str(tasks)))
    if ventilator == "cpp":
        expected = sum(1 + (seed + 37 * n) % max_workload for n in range(tasks))
    else:
        expected = sum(seeded_workloads(seed, tasks, max_workload))
    assert batch.expected_cost == expected
    for proc in batch.workers:
        if waits:
            stop_worker(proc, worker)
        else:
            assert proc.finish() == 0, proc
            proc.assert_clean()


# --- the guide's own C++ programs, when the seed chapter is there -------------------------

SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seed"

# What the seed's worker needs of the guide's zhelpers.hpp (not shipped with the chapter),
# and a way to move its hard-coded endpoints to free ports: each literal becomes a lookup
# of an environment variable, falling back to the literal.
SEED_SHIM = r"""
#pragma once
#include <zmq.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <sstream>
#include <thread>
static inline void s_sleep(int msecs) {
    std::this_thread::sleep_for(std::chrono::milliseconds(msecs));
}
static inline const char *seed_endpoint(const char *variable, const char *literal) {
    const char *value = std::getenv(variable);
    return value ? value : literal;
}
"""
SEED_ENDPOINTS = {  # literal in the seed -> the variable replacing it
    "tcp://*:5557": "SEED_TASKS_BIND",
    "tcp://localhost:5557": "SEED_TASKS",
    "tcp://*:5558": "SEED_RESULTS_BIND",
    "tcp://localhost:5558": "SEED_RESULTS",
}


@pytest.fixture(scope="module")
def seed_programs(cpp_roles: Path) -> dict[str, Path]:
    """The seed chapter's ventilator, worker and sink, compiled (read at test time, never
    committed); a skip when the chapter is not next to the repository."""
    chapters = sorted(SEED_DIR.glob("*.txt")) if SEED_DIR.is_dir() else []
    text = next((t for t in (c.read_text(encoding="utf-8") for c in chapters)
                 if "Task ventilator in C++" in t), None)
    if text is None:
        pytest.skip(f"the seed chapter with the C++ pipeline is not in {SEED_DIR}")
    blocks = re.findall(r"```c\+\+\n(.*?)```", text, re.DOTALL)
    directory = cpp_roles.parent
    (directory / "zhelpers.hpp").write_text(SEED_SHIM, encoding="utf-8")
    builds = {}
    for name in ("ventilator", "worker", "sink"):
        code = next(b for b in blocks if f"Task {name} in C++" in b)
        for literal, variable in SEED_ENDPOINTS.items():
            code = code.replace(f'"{literal}"', f'seed_endpoint("{variable}", "{literal}")')
        source = directory / f"seed_{name}.cpp"
        source.write_text(code, encoding="utf-8")
        builds[name] = subprocess.Popen(  # the three at once
            ["g++", "-std=c++17", "-w", "-include", str(directory / "zhelpers.hpp"),
             "-o", str(directory / f"seed_{name}"), str(source), "-lzmq"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = {name: build.communicate(timeout=300)[0] for name, build in builds.items()}
    for name, build in builds.items():
        assert build.returncode == 0, f"the seed's {name} did not compile:\n{outputs[name]}"
    return {name: directory / f"seed_{name}" for name in builds}


def seed_environment() -> tuple[dict[str, str], str, str]:
    """Variables moving the seed's endpoints (fixed ports in the seed) to free ports; the
    two endpoints to connect to."""
    tasks, results = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    env = {"SEED_TASKS_BIND": tasks, "SEED_TASKS": tasks,
           "SEED_RESULTS_BIND": results, "SEED_RESULTS": results}
    return env, tasks, results


def test_python_workers_serve_the_seeds_ventilator_and_sink(start: Start,
                                                           seed_programs: dict[str, Path]) -> None:
    env, tasks, results = seed_environment()
    sink = start(str(seed_programs["sink"]), env=env)
    ventilator = start(str(seed_programs["ventilator"]), stdin=True, env=env)
    ventilator.expect(r"Press Enter when the workers are ready: \n")
    workers = [start(*example(role(kind, "worker")), "--ventilator", tasks, "--sink", results)
               for kind in ("py", "py", "raw", "raw")]
    # Press Enter when the workers are ready, as the prompt says: else the first one to
    # connect gets most of the batch, and the test takes seconds longer.
    wait_for_connections(tasks, len(workers))
    assert ventilator.process.stdin is not None
    ventilator.process.stdin.write(b"\n")  # the guide's 100 tasks of 1..100 msec
    ventilator.process.stdin.close()

    assert sink.finish() == 0, sink
    assert re.fullmatch(rf"{sink_marks(100)}\nTotal elapsed time: \d+ msec\n\n", sink.out), sink
    assert ventilator.finish() == 0, ventilator
    # The Python ventilator prints exactly this too.
    assert re.fullmatch(r"Press Enter when the workers are ready: \nSending tasks to workers…\n\n"
                        r"Total expected cost: \d+ msec\n", ventilator.out), ventilator
    wait_until(lambda: sum(w.out.count(".") for w in workers) >= 100, TIMEOUT, "the last dots")
    assert sum(w.out.count(".") for w in workers) == 100
    for worker in workers:
        stop_worker(worker, "py")


@pytest.mark.parametrize("kind", ["py", "raw"])
def test_the_seeds_workers_serve_a_python_ventilator_and_sink(
        start: Start, seed_programs: dict[str, Path], kind: str) -> None:
    env, tasks, results = seed_environment()
    sink = start(*example(role(kind, "sink")), "--bind", results, "--tasks", "20",
                 "--timeout", "10")
    ventilator = start(*example(role(kind, "ventilator")), "--bind", tasks, "--sink", results,
                       "--tasks", "20", "--seed", "2", "--max-workload", "5",
                       "--wait-workers", "2")
    ventilator.expect("Waiting for 2 workers")
    workers = [start(str(seed_programs["worker"]), env=env) for _ in range(2)]

    assert sink.finish() == 0, sink
    assert re.fullmatch(rf"{sink_marks(20)}\nTotal elapsed time: \d+ msec\n\n", sink.out), sink
    assert ventilator.finish() == 0, ventilator
    expected = sum(seeded_workloads(2, 20, 5))
    assert ventilator.out.endswith(f"Total expected cost: {expected} msec\n"), ventilator
    wait_until(lambda: sum(w.out.count(".") for w in workers) >= 20, TIMEOUT, "the last dots")
    assert sum(w.out.count(".") for w in workers) == 20
    for worker in workers:
        stop_worker(worker, "cpp")
