"""Measuring: the cells, the rows that run in each, and running them.

``run()`` runs every cell for every row, in turn, ``--reps`` times (the order of the rows
rotates each repetition), and returns the raw values with what was measured and where
(``{"meta": ..., "cells": ...}``); ``report.py`` summarises and prints them. Each Python
measurement is one or two ``workers.py`` processes; the C rows are libzmq's own perf tools
(``build_perf_tools.py``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import signal
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (ALL_IMPLS, ASYNC_IMPLS, C_IMPL, HERE, KIB, MIB, WORKERS, fmt_rate, fmt_size,
                    free_port, log)

# messages (throughput) or round trips (latency) per cell, the same for every
# implementation; chosen so a cell takes about 0.5-2 s for the Python implementations
FULL_COUNTS = {
    ("thr", "tcp", 1): 1_000_000, ("thr", "tcp", 64): 1_000_000,
    ("thr", "tcp", KIB): 500_000, ("thr", "tcp", 64 * KIB): 30_000,
    ("thr", "tcp", MIB): 1_000,
    ("thr", "inproc", 1): 1_000_000, ("thr", "inproc", 64): 1_000_000,
    ("thr", "inproc", KIB): 500_000, ("thr", "inproc", 64 * KIB): 50_000,
    # 10,000: at 2,000 (4-10 ms for C) PyPy's JIT had not warmed up (warm-up is capped
    # at the count): zmqffi zero-copy ran at 31 k msg/s after 2,000 messages, 316 k after
    # 40,000, the same loop
    ("thr", "inproc", MIB): 10_000,
    ("lat", "tcp", 1): 10_000, ("lat", "tcp", KIB): 10_000,
    ("lat", "inproc", 1): 10_000, ("lat", "inproc", KIB): 10_000,
}
SHORT_DIVISOR = 100

# zero-copy sends are for large messages: these rows run only the throughput cells of at
# least this size (--all-rows runs them everywhere)
IMPL_MIN_SIZE = {"pyzmq-nocopy": 64 * KIB, "zmqffi-zerocopy": 64 * KIB,
                 "zmqffi-view": 64 * KIB}
# batched sends/receives are for small messages, and the async rows measure the cost
# of waiting through an event loop per message: throughput cells up to this size
# (--all-rows: every throughput cell)
IMPL_MAX_SIZE = {"zmqffi-batch": KIB, **{row: KIB for row in ASYNC_IMPLS}}
# rows that have no latency loop at all (not even with --all-rows)
THR_ONLY = {"zmqffi-batch", "zmqffi-view", *ASYNC_IMPLS}
DESCRIPTIONS = {
    "c": "libzmq 4.3.4 perf tools (local_thr/remote_thr, inproc_thr, "
         "local_lat/remote_lat, inproc_lat)",
    "pyzmq": "pyzmq send(bytes) / recv() -> bytes",
    "pyzmq-nocopy": "pyzmq send(copy=False) / recv(copy=False) -> Frame",
    "zmqffi": "zmqffi send(bytes) / recv() -> bytes",
    "zmqffi-recv_into": "zmqffi send(bytes) / recv_into(preallocated bytearray)",
    "zmqffi-recv_msg": "zmqffi send(bytes) / recv_msg() -> Message "
                       "(closed after use; REP echoes it)",
    "zmqffi-zerocopy": "zmqffi send(Message(data, copy=False)) / recv_msg()",
    "zmqffi-view": "zmqffi send(bytes) / recv_msg(), read through msg.buffer, the view "
                   "dropped after close() (zero copy as a user keeps it)",
    "zmqffi-batch": "zmqffi send_many(1000 frames per call) / recv_many() -> list of bytes "
                    "(each frame a message; loops in C)",
    "zmqffi-raw": "zmqffi.lib.zmq_send / zmq_recv on preallocated cffi buffers",
    "zmqffi-raw_msg": "zmqffi.lib zmq_msg_init_size+zmq_msg_send / zmq_msg_recv "
                      "(the C tools' calls)",
    "pyzmq-asyncio-recv": "pyzmq zmq.asyncio PULL, await recv() in asyncio.run "
                          "(default loop) / blocking pyzmq PUSH",
    "pyzmq-asyncio-send": "pyzmq zmq.asyncio PUSH, await send(bytes) in asyncio.run "
                          "(default loop) / blocking pyzmq PULL",
    "zmqffi-asyncio-recv": "zmqffi.asyncio PULL, await recv() in asyncio.run "
                           "(default loop) / blocking zmqffi PUSH",
    "zmqffi-asyncio-send": "zmqffi.asyncio PUSH, await send(bytes) in asyncio.run "
                           "(default loop) / blocking zmqffi PULL",
    "zmqffi-trio-recv": "zmqffi.trio PULL, await recv() in trio.run / blocking zmqffi PUSH",
    "zmqffi-trio-send": "zmqffi.trio PUSH, await send(bytes) in trio.run / "
                        "blocking zmqffi PULL",
}


def cell_name(kind: str, transport: str, size: int) -> str:
    what = "PUSH/PULL" if kind == "thr" else "REQ/REP rtt"
    return f"{what} {transport} {fmt_size(size)}"


def interp_tag() -> str:
    impl = sys.implementation.name
    return f"{impl}{sys.version_info[0]}{sys.version_info[1]}"


def interp_desc() -> str:
    if sys.implementation.name == "pypy":
        v = sys.pypy_version_info  # type: ignore[attr-defined]
        return (f"PyPy {v.major}.{v.minor}.{v.micro} (Python "
                f"{platform.python_version()})")
    return f"{platform.python_implementation()} {platform.python_version()}"


def machine_desc() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "machine": platform.machine()}


# ------------------------------------------------------------------------------------
# running one measurement
# ------------------------------------------------------------------------------------

class Failed(RuntimeError):
    pass


class Runner:
    def __init__(self, pin: list[int] | None, timeout: float, c_bin: Path | None):
        self.pin = pin
        self.timeout = timeout
        self.c_bin = c_bin

    def _cpus(self, side: str) -> set[int] | None:
        """receiver side: the first pinned CPU; sender: the last; both: all of them."""
        if not self.pin:
            return None
        if side == "recv":
            return {self.pin[0]}
        if side == "send":
            return {self.pin[-1]}
        return set(self.pin)

    def spawn(self, argv: list[str], side: str) -> subprocess.Popen:
        cpus = self._cpus(side)
        preexec = None
        if cpus and shutil.which("taskset"):
            argv = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *argv]
        elif cpus and hasattr(os, "sched_setaffinity"):  # (PyPy 3.9's os lacks it)
            preexec = lambda: os.sched_setaffinity(0, cpus)  # noqa: E731
        elif cpus:
            raise SystemExit("--pin needs taskset or os.sched_setaffinity")
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, preexec_fn=preexec, start_new_session=True)

    def finish(self, procs: list[subprocess.Popen], deadline: float) -> list[str]:
        outs = []
        try:
            for p in procs:
                out, err = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
                if p.returncode != 0:
                    cmd = [a for a in p.args if not a.startswith("-")][:4]
                    raise Failed(f"{' '.join(Path(a).name for a in cmd)}: exit "
                                 f"{p.returncode}: {(err or out).strip()[-600:]}")
                outs.append(out)
        except subprocess.TimeoutExpired:
            raise Failed(f"timed out after {self.timeout:.0f} s") from None
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        return outs

    # -- libzmq's C perf tools --------------------------------------------------------

    def c(self, kind: str, transport: str, size: int, count: int) -> dict:
        b = self.c_bin
        deadline = time.monotonic() + self.timeout
        if kind == "thr" and transport == "inproc":
            (out,) = self.finish([self.spawn([str(b / "inproc_thr"), str(size), str(count)],
                                             "both")], deadline)
            return {"value": _c_field(out, r"mean throughput: (\d+) \[msg/s\]")}
        if kind == "lat" and transport == "inproc":
            (out,) = self.finish([self.spawn([str(b / "inproc_lat"), str(size), str(count)],
                                             "both")], deadline)
            # the tools print half a round trip ("average latency"): report the round trip
            return {"value": 2 * _c_field(out, r"average latency: ([\d.]+) \[us\]")}
        ep = f"tcp://127.0.0.1:{free_port()}"
        local, remote = ("local_thr", "remote_thr") if kind == "thr" else ("local_lat",
                                                                           "remote_lat")
        server = self.spawn([str(b / local), ep, str(size), str(count)], "recv")
        time.sleep(0.05)  # let it bind (a connect before the bind would retry after 100 ms)
        client = self.spawn([str(b / remote), ep, str(size), str(count)], "send")
        if kind == "thr":
            out, _ = self.finish([server, client], deadline)
            return {"value": _c_field(out, r"mean throughput: (\d+) \[msg/s\]")}
        (out,) = self.finish([client], deadline)
        # local_lat sleeps 1 s before closing (to flush its last reply, already received)
        try:
            server.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        return {"value": 2 * _c_field(out, r"average latency: ([\d.]+) \[us\]")}

    # -- Python implementations (workers.py) ------------------------------------------

    def py(self, impl: str, kind: str, transport: str, size: int, count: int,
           warmup: int) -> dict:
        base = [sys.executable, str(WORKERS)]
        opts = ["--impl", impl, "--size", str(size), "--count", str(count),
                "--warmup", str(warmup)]
        deadline = time.monotonic() + self.timeout
        if transport == "inproc":
            role = "thr-inproc" if kind == "thr" else "lat-inproc"
            (out,) = self.finish([self.spawn([*base, role, *opts], "both")], deadline)
            res = json.loads(out.splitlines()[-1])
        else:
            ep = f"tcp://127.0.0.1:{free_port()}"
            server_role, client_role = (("thr-recv", "thr-send") if kind == "thr"
                                        else ("lat-rep", "lat-req"))
            server = self.spawn([*base, server_role, *opts, "--endpoint", ep], "recv")
            line = server.stdout.readline()  # {"ready": true} once bound
            if not line:
                self.finish([server], deadline)
                raise Failed(f"{server_role} exited before binding")
            client = self.spawn([*base, client_role, *opts, "--endpoint", ep], "send")
            out_s, out_c = self.finish([server, client], deadline)
            res = json.loads((out_s if kind == "thr" else out_c).splitlines()[-1])
        elapsed = res["elapsed"]
        value = count / elapsed if kind == "thr" else elapsed / count * 1e6
        return {"value": value, "warmup_seconds": res["warmup_seconds"]}


def _c_field(out: str, pattern: str) -> float:
    m = re.search(pattern, out)
    if not m:
        raise Failed(f"unexpected perf tool output: {out.strip()[-300:]}")
    return float(m.group(1))


# ------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------

def probe(runner: Runner, impl: str) -> str | None:
    """None if impl works here, else why not (e.g. the Pythonic layer not there yet)."""
    try:
        runner.py(impl, "thr", "inproc", 64, 50, 0)
        if impl not in THR_ONLY:
            runner.py(impl, "lat", "inproc", 64, 20, 0)
    except Failed as exc:
        return str(exc).splitlines()[-1][:300]
    return None


def selected_cells(args) -> list[dict]:
    cells = []
    for (kind, transport, size), count in FULL_COUNTS.items():
        if args.short:
            count = max(count // SHORT_DIVISOR, 200)
        cid = f"{kind}-{transport}-{size}"
        if args.cells and not any(re.search(c, cid) for c in args.cells):
            continue
        cells.append({"id": cid, "name": cell_name(kind, transport, size), "kind": kind,
                      "transport": transport, "size": size, "count": count,
                      "unit": "msg/s" if kind == "thr" else "us/roundtrip",
                      "results": {}})
    return cells


def runs_cell(impl: str, cell: dict, all_rows: bool) -> bool:
    """Whether row impl runs in this cell (see IMPL_MIN_SIZE, IMPL_MAX_SIZE, THR_ONLY)."""
    if impl in THR_ONLY and cell["kind"] != "thr":
        return False
    if all_rows:
        return True
    if impl in IMPL_MIN_SIZE and (cell["kind"] != "thr" or cell["size"] < IMPL_MIN_SIZE[impl]):
        return False
    if impl in IMPL_MAX_SIZE and cell["size"] > IMPL_MAX_SIZE[impl]:
        return False
    return True


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # so that Runner.finish kills the measurement's processes


def run(args) -> dict:
    """Every selected cell for every selected row, args.reps times: the raw values."""
    import build_perf_tools  # noqa: PLC0415 - next to this file

    signal.signal(signal.SIGTERM, _interrupt)

    pin = [int(c) for c in args.pin.split(",")] if args.pin else None
    impls = [i for i in ALL_IMPLS if not args.impls or i in args.impls]
    c_bin = None
    if C_IMPL in impls:
        c_bin = Path(build_perf_tools.build()["bin_dir"])
    runner = Runner(pin, args.timeout, c_bin)
    is_pypy = sys.implementation.name == "pypy"
    warmup = args.warmup if args.warmup is not None else (10_000 if is_pypy else 1_000)

    unavailable = {}
    for impl in impls:
        if impl != C_IMPL:
            why = probe(runner, impl)
            if why:
                unavailable[impl] = why
                log(f"[bench] {impl}: unavailable, skipped: {why}")
    impls = [i for i in impls if i not in unavailable]

    cells = selected_cells(args)
    versions = _versions()
    meta = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "interpreter": interp_desc(), "interp_tag": interp_tag(),
        "machine": machine_desc(), "versions": versions,
        "pin": args.pin or None,
        "pin_note": ("tcp: receiver process on CPU %s, sender process on CPU %s; inproc "
                     "(one process): CPUs %s" % (pin[0], pin[-1], ",".join(map(str, pin)))
                     if pin else "not pinned"),
        "reps": args.reps, "short": args.short,
        "warmup": warmup, "warmup_capped": args.warmup is None,
        "warmup_note": "per Python run: min(warmup, count) messages or round trips before "
                       "the timed ones (not capped at the count when --warmup is given); "
                       "the C tools have none (as shipped)",
        "impls": {i: DESCRIPTIONS[i] for i in impls}, "unavailable": unavailable,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "zmqffi_source": _source_state(),
    }
    for cell in cells:
        # the default is capped at the count (a slow row's run stays short); an explicit
        # --warmup is not: PyPy compiles a path only after it ran thousands of times,
        # and the async rows' wait comes once per few hundred messages
        cell["warmup"] = warmup if args.warmup is not None else min(warmup, cell["count"])
        for impl in impls:
            if not runs_cell(impl, cell, args.all_rows):
                continue
            cell["results"][impl] = {"values": [], "warmup_seconds": [], "errors": []}
    cells = [cell for cell in cells if cell["results"]]  # e.g. --impls zmqffi-batch: no lat-
    if not cells:
        raise SystemExit("no cell has a row to run (see --impls, --cells, --all-rows)")

    started = time.monotonic()
    total = args.reps * sum(len(cell["results"]) for cell in cells)
    done = 0
    for rep in range(args.reps):
        for cell in cells:
            here = list(cell["results"])
            order = here[rep % len(here):] + here[:rep % len(here)]
            for impl in order:
                done += 1
                r = cell["results"][impl]
                try:
                    if impl == C_IMPL:
                        res = runner.c(cell["kind"], cell["transport"], cell["size"],
                                       cell["count"])
                    else:
                        res = runner.py(impl, cell["kind"], cell["transport"], cell["size"],
                                        cell["count"], cell["warmup"])
                except Failed as exc:
                    r["errors"].append(str(exc))
                    log(f"[bench {done}/{total}] rep {rep + 1} {cell['name']} {impl}: "
                        f"FAILED {exc}")
                    continue
                r["values"].append(res["value"])
                if "warmup_seconds" in res:
                    r["warmup_seconds"].append(res["warmup_seconds"])
                shown = (fmt_rate(res["value"]) + " msg/s" if cell["kind"] == "thr"
                         else f"{res['value']:.1f} us")
                log(f"[bench {done}/{total}] rep {rep + 1} {cell['name']:<24} {impl:<17} "
                    f"{shown}")
    meta["seconds"] = round(time.monotonic() - started, 1)
    return {"meta": meta, "cells": cells}


def _source_state() -> str:
    """The zmqffi commit measured (run.sh installs the working tree as it is)."""
    root = HERE.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %s"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "zmqffi", "build_ffi.py", "vendor"],
                               stdout=subprocess.PIPE, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (+ uncommitted changes)" if dirty else "")


def _versions() -> dict:
    v = {}
    for probe_code, key in (
        ("import zmq; print(zmq.__version__, zmq.zmq_version())", "pyzmq"),
        ("import zmqffi; from zmqffi import ffi, lib; m, n, p = ffi.new('int*'), "
         "ffi.new('int*'), ffi.new('int*'); lib.zmq_version(m, n, p); "
         "print(getattr(zmqffi, '__version__', '?'), '%d.%d.%d' % (m[0], n[0], p[0]))",
         "zmqffi"),
    ):
        # not from the checkout: there `python -c` would import the unbuilt ./zmqffi
        run = subprocess.run([sys.executable, "-c", probe_code], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, cwd=tempfile.gettempdir())
        if run.returncode == 0:
            pkg, lib = run.stdout.split()
            v[key] = {"version": pkg, "libzmq": lib}
    v["c"] = {"libzmq": "4.3.4 (perf tools built from the pinned tarball)"}
    return v

