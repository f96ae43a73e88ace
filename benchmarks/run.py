"""zmqffi vs pyzmq vs libzmq's C perf tools, measured side by side in one run.

    python benchmarks/run.py [--reps 5] [--short] [--pin 0,1] [--impls ...] [--cells ...]
    python benchmarks/run.py chart [results/*.json] [-o chart.png]

(``benchmarks/run.sh`` makes the venv and calls this.) Cells: PUSH/PULL throughput over
tcp and inproc for 1 B, 64 B, 1 KiB, 64 KiB, 1 MiB; REQ/REP round trip over tcp and
inproc for 1 B and 1 KiB. Every repetition runs every cell for every implementation, in
turn (the order rotates each repetition), with the same message counts for all.
Method as libzmq's perf tools (see workers.py): throughput = count / time at the
receiver from the first to the last timed message; latency = time per round trip.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import signal
import socket
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORKERS = HERE / "workers.py"

KIB, MIB = 1024, 1024 * 1024
THR_SIZES = (1, 64, KIB, 64 * KIB, MIB)
LAT_SIZES = (1, KIB)

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

C_IMPL = "c"
PY_IMPLS = ("pyzmq", "pyzmq-nocopy", "zmqffi", "zmqffi-recv_into", "zmqffi-recv_msg",
            "zmqffi-zerocopy", "zmqffi-batch", "zmqffi-raw", "zmqffi-raw_msg")
ALL_IMPLS = (C_IMPL, *PY_IMPLS)
# zero-copy sends are for large messages: these rows run only the throughput cells of at
# least this size (--all-rows runs them everywhere)
IMPL_MIN_SIZE = {"pyzmq-nocopy": 64 * KIB, "zmqffi-zerocopy": 64 * KIB}
# batched sends/receives are for small messages: throughput cells up to this size
# (--all-rows: every throughput cell)
IMPL_MAX_SIZE = {"zmqffi-batch": KIB}
# rows that have no latency loop at all (not even with --all-rows)
THR_ONLY = {"zmqffi-batch"}
DESCRIPTIONS = {
    "c": "libzmq 4.3.4 perf tools (local_thr/remote_thr, inproc_thr, local_lat/remote_lat, inproc_lat)",
    "pyzmq": "pyzmq send(bytes) / recv() -> bytes",
    "pyzmq-nocopy": "pyzmq send(copy=False) / recv(copy=False) -> Frame",
    "zmqffi": "zmqffi send(bytes) / recv() -> bytes",
    "zmqffi-recv_into": "zmqffi send(bytes) / recv_into(preallocated bytearray)",
    "zmqffi-recv_msg": "zmqffi send(bytes) / recv_msg() -> Message (closed after use; REP echoes it)",
    "zmqffi-zerocopy": "zmqffi send(Message(data, copy=False)) / recv_msg()",
    "zmqffi-batch": "zmqffi send_many(1000 frames per call) / recv_many() -> list of bytes "
                    "(each frame a message; loops in C)",
    "zmqffi-raw": "zmqffi.lib.zmq_send / zmq_recv on preallocated cffi buffers",
    "zmqffi-raw_msg": "zmqffi.lib zmq_msg_init_size+zmq_msg_send / zmq_msg_recv (the C tools' calls)",
}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fmt_size(size: int) -> str:
    if size >= MIB:
        return f"{size // MIB} MiB"
    if size >= KIB:
        return f"{size // KIB} KiB"
    return f"{size} B"


def fmt_rate(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k"
    return f"{v:.0f}"


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def run(args) -> Path:
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
        "warmup": warmup, "warmup_note": "per Python run: min(warmup, count) messages or "
                                         "round trips before the timed ones; the C tools "
                                         "have none (as shipped)",
        "impls": {i: DESCRIPTIONS[i] for i in impls}, "unavailable": unavailable,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "zmqffi_source": _source_state(),
    }
    for cell in cells:
        cell["warmup"] = min(warmup, cell["count"])
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
    summarise(cells)
    data = {"meta": meta, "cells": cells}

    RESULTS.mkdir(exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    out = Path(args.output) if args.output else RESULTS / f"{interp_tag()}-{stamp}.json"
    out.write_text(json.dumps(data, indent=1))
    text = render(data)
    out.with_suffix(".md").write_text(text)
    print(text)
    log(f"[bench] wrote {out} and {out.with_suffix('.md')}")
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        log("[bench] no matplotlib under this interpreter: draw the chart with CPython: "
            f"python benchmarks/run.py chart {out}")
    else:
        chart([out], out.with_suffix(".png"))
    return out


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


def summarise(cells: list[dict]) -> None:
    for cell in cells:
        for impl, r in cell["results"].items():
            vals = r["values"]
            r["median"] = statistics.median(vals) if vals else None
            r["min"] = min(vals) if vals else None
            r["max"] = max(vals) if vals else None
            w = r["warmup_seconds"]
            r["warmup_median_seconds"] = statistics.median(w) if w else None
        med = {i: r["median"] for i, r in cell["results"].items()}
        for impl, r in cell["results"].items():
            for ref in ("c", "pyzmq"):
                key = f"vs_{ref}"
                if r["median"] is None or not med.get(ref):
                    r[key] = None
                elif cell["kind"] == "thr":  # rate: > 1 is faster than ref
                    r[key] = r["median"] / med[ref]
                else:  # time per round trip: < 1 is faster than ref
                    r[key] = r["median"] / med[ref]


# ------------------------------------------------------------------------------------
# the table
# ------------------------------------------------------------------------------------

def _fmt_val(kind: str, v: float | None) -> str:
    if v is None:
        return "—"
    return fmt_rate(v) if kind == "thr" else f"{v:.1f}"


def _fmt_ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def render(data: dict) -> str:
    meta, cells = data["meta"], data["cells"]
    m = meta["machine"]
    lines = [
        f"## {meta['interpreter']} — {meta['date']}",
        "",
        f"Machine: {m['cpu']} ({m['cpus']} CPUs), Linux {m['kernel']}. "
        f"Pinning: {meta['pin_note']}. Reps: {meta['reps']}"
        f"{' (short mode)' if meta['short'] else ''}. Warm-up: {meta['warmup']} "
        f"(capped at the cell's count). Run took {meta['seconds']} s.",
        "",
        f"zmqffi measured at: {meta.get('zmqffi_source', '?')}",
        "",
        "Versions: " + "; ".join(
            f"{k} {v.get('version', '')} (libzmq {v['libzmq']})".replace("  ", " ")
            for k, v in meta["versions"].items()),
        "",
    ]
    if meta["unavailable"]:
        lines += ["Not measured (unavailable): " + "; ".join(
            f"{k}: {v}" for k, v in meta["unavailable"].items()), ""]
    lines += [
        "Throughput in messages/s (higher is better); latency in µs per round trip "
        "(lower is better). ×C and ×pyzmq are ratios of medians: for throughput "
        "impl/ref (>1 = faster), for latency impl/ref (<1 = faster).",
        "",
        "| cell | impl | count | median | min – max | ×C | ×pyzmq | warm-up s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in cells:
        unit = "msg/s" if cell["kind"] == "thr" else "µs"
        for impl, r in cell["results"].items():
            w = r.get("warmup_median_seconds")
            err = f" ({len(r['errors'])} failed)" if r["errors"] else ""
            lines.append(
                f"| {cell['name']} | {impl}{err} | {cell['count']:,} | "
                f"{_fmt_val(cell['kind'], r['median'])} {unit} | "
                f"{_fmt_val(cell['kind'], r['min'])} – {_fmt_val(cell['kind'], r['max'])} | "
                f"{_fmt_ratio(r['vs_c'])} | {_fmt_ratio(r['vs_pyzmq'])} | "
                f"{'—' if w is None else f'{w:.3f}'} |")
    # compact matrix: medians with ×C
    impls = [i for i in ALL_IMPLS if any(i in c["results"] for c in cells)]
    lines += ["", "Summary: median (×C)", "",
              "| cell | " + " | ".join(impls) + " |",
              "|---|" + "---:|" * len(impls)]
    for cell in cells:
        row = []
        for impl in impls:
            r = cell["results"].get(impl)
            if r is None:
                row.append("")
                continue
            row.append(f"{_fmt_val(cell['kind'], r['median'])} ({_fmt_ratio(r['vs_c'])})")
        unit = "msg/s" if cell["kind"] == "thr" else "µs"
        lines.append(f"| {cell['name']} [{unit}] | " + " | ".join(row) + " |")
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------
# the chart
# ------------------------------------------------------------------------------------

def latest_per_interpreter() -> list[Path]:
    """The newest full run of each interpreter (a --short run only if there is no other)."""
    newest: dict[tuple[str, bool], Path] = {}
    for path in sorted(RESULTS.glob("*.json")):  # names sort by date within a tag
        tag = path.name.split("-", 1)[0]
        if tag in ("combined", "profile"):
            continue
        try:
            short = bool(json.loads(path.read_text())["meta"].get("short"))
        except (OSError, ValueError, KeyError):
            continue
        newest[(tag, short)] = path
    tags = {t for t, _ in newest}
    return [newest.get((t, False)) or newest[(t, True)] for t in sorted(tags)]


def chart(files: list[Path], out: Path) -> Path:
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    runs = [json.loads(Path(f).read_text()) for f in files]
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5), sharey=True)
    colors = {impl: f"C{i}" for i, impl in enumerate(ALL_IMPLS)}
    styles = ["-", "--", ":", "-."]
    c_drawn = False
    for n, data in enumerate(runs):
        interp = data["meta"]["interpreter"]
        for ax, transport in zip(axes, ("tcp", "inproc")):
            cells = sorted((c for c in data["cells"]
                            if c["kind"] == "thr" and c["transport"] == transport),
                           key=lambda c: c["size"])
            for impl in ALL_IMPLS:
                pts = [(c["size"], c["results"][impl]) for c in cells
                       if impl in c["results"] and c["results"][impl].get("median")]
                if not pts:
                    continue
                if impl == C_IMPL and c_drawn and ax is axes[0]:
                    continue  # the C tools do not depend on the interpreter: draw once
                if impl == C_IMPL and n > 0 and c_drawn:
                    continue
                xs = [p[0] for p in pts]
                ys = [p[1]["median"] for p in pts]
                lo = [p[1]["median"] - p[1]["min"] for p in pts]
                hi = [p[1]["max"] - p[1]["median"] for p in pts]
                label = ("C perf tools" if impl == C_IMPL else f"{impl} ({interp})")
                ax.errorbar(xs, ys, yerr=[lo, hi], label=label, color=colors[impl],
                            linestyle="-" if impl == C_IMPL else styles[n % len(styles)],
                            linewidth=2.5 if impl == C_IMPL else 1.5,
                            marker="o" if n == 0 else "s", markersize=4, capsize=2)
        if any(C_IMPL in c["results"] for c in data["cells"]):
            c_drawn = True
    for ax, transport in zip(axes, ("tcp", "inproc")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(list(THR_SIZES))
        ax.set_xticklabels([fmt_size(s) for s in THR_SIZES])
        ax.set_xlabel("message size")
        ax.set_title(f"PUSH/PULL {transport} throughput (median, min–max bars)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("messages / s")
    handles, labels = axes[0].get_legend_handles_labels()
    h2, l2 = axes[1].get_legend_handles_labels()
    for h, l in zip(h2, l2):
        if l not in labels:
            handles.append(h)
            labels.append(l)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    dates = ", ".join(sorted({d["meta"]["date"][:10] for d in runs}))
    fig.suptitle(f"zmqffi vs pyzmq vs libzmq perf tools — {dates}")
    fig.tight_layout(rect=(0, 0.05 + 0.025 * ((len(labels) + 2) // 3), 1, 0.96))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    log(f"[bench] chart: {out}")
    return out


# ------------------------------------------------------------------------------------

def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["chart"]:
        p = argparse.ArgumentParser(prog="run.py chart",
                                    description="draw the chart from result JSON files")
        p.add_argument("files", nargs="*", type=Path,
                       help="default: the newest result of each interpreter")
        p.add_argument("-o", "--output", type=Path)
        a = p.parse_args(argv[1:])
        files = a.files or latest_per_interpreter()
        if not files:
            sys.exit("no result files")
        if a.output:
            out = a.output
        elif len(files) == 1:
            out = files[0].with_suffix(".png")
        else:
            out = RESULTS / f"combined-{_dt.date.today().isoformat()}.png"
        chart(files, out)
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    p.add_argument("--short", action="store_true",
                   help=f"counts / {SHORT_DIVISOR} (CI smoke run; numbers are noisy)")
    p.add_argument("--pin", metavar="CPU[,CPU]",
                   help="pin with sched_setaffinity: one CPU pins everything to it; "
                        "'A,B' puts tcp receivers on A and senders on B, and inproc "
                        "(one process, two threads) on both")
    p.add_argument("--impls", nargs="+", choices=ALL_IMPLS, metavar="IMPL",
                   help="subset of: " + ", ".join(ALL_IMPLS))
    p.add_argument("--cells", nargs="+", metavar="REGEX",
                   help="subset of cells by id, e.g. thr-tcp lat- 'thr-inproc-1$'")
    p.add_argument("--warmup", type=int,
                   help="warm-up messages per Python run (default: 10000 on PyPy, 1000 "
                        "on CPython), capped at the cell's count")
    p.add_argument("--all-rows", action="store_true",
                   help="also run pyzmq-nocopy and zmqffi-zerocopy below 64 KiB and for "
                        "latency, and zmqffi-batch above 1 KiB (it has no latency loop)")
    p.add_argument("--timeout", type=float, default=300, help="per measurement, seconds")
    p.add_argument("-o", "--output", help="JSON path (default results/<interp>-<date>.json)")
    run(p.parse_args(argv))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
