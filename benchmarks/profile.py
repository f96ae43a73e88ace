"""Profile zmqffi's send/recv hot paths with py-spy (CPython) and summarise by line.

    benchmarks/.venv-cpython311/bin/python benchmarks/profile.py [--pin 0,1] [--native]

Runs the throughput workers of workers.py (sender and receiver as separate processes
over tcp, as in run.py) under ``py-spy record --format raw`` and prints, per process,
where the samples fall: the innermost Python line of each sample (self time), and the
zmqffi lines on the stack (inclusive). With ``--native`` the C frames are kept and the
innermost native frame is reported too (time inside libzmq vs in the interpreter).
Writes the raw collapsed stacks to results/profile-*.txt (flamegraph.pl can draw them)
and the summary to results/profile-<date>.md.
"""

from __future__ import annotations

import argparse
import collections
import datetime as _dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import HERE, RESULTS, WORKERS, free_port, log

SCENARIOS = [
    # (impl, size, count)
    ("zmqffi", 1, 3_000_000),
    ("zmqffi-recv_into", 1, 3_000_000),
    ("zmqffi-recv_msg", 1, 2_000_000),
    ("zmqffi", 1024, 1_500_000),
    ("zmqffi", 1024 * 1024, 4_000),
    ("zmqffi-zerocopy", 1024 * 1024, 4_000),
    ("pyzmq", 1, 3_000_000),
    # one side async (the other blocking): --only zmqffi-asyncio-send etc.
    ("zmqffi-asyncio-send", 64, 2_000_000),
    ("zmqffi-asyncio-recv", 64, 2_000_000),
    ("zmqffi-trio-send", 64, 2_000_000),
    ("zmqffi-trio-recv", 64, 2_000_000),
]

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+?)(?::(?P<line>\d+))?\)$")


def short_file(path: str) -> str:
    for marker in ("zmqffi/", "zmq/"):
        if marker in path and "benchmarks" not in path:
            return marker + path.split(marker, 1)[1]
    for marker in ("site-packages/", "benchmarks/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return Path(path).name


def parse(raw: str):
    """Yield (frames innermost-last, count) from py-spy's raw (collapsed) output."""
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        yield stack.split(";"), int(count)


def frame_info(frame: str):
    m = FRAME.match(frame)
    if not m:
        return frame, "", ""
    return m["func"], m["file"], m["line"] or ""


def is_python(frame: str) -> bool:
    _, file, line = frame_info(frame)
    return bool(line) and not file.endswith((".so", ".so.6", ".so.1.0")) and (
        file.endswith(".py") or file.startswith("<frozen") or ".c" not in file)


def source_line(key: str) -> str:
    """The code of 'file.py:N (func)' as installed in this interpreter's environment."""
    import linecache
    path, _, rest = key.partition(":")
    number = int(rest.split(" ", 1)[0] or 0)
    if path.startswith("zmqffi/"):
        try:
            import zmqffi
        except ImportError:
            return ""
        full = Path(zmqffi.__file__).parent / path.split("/", 1)[1]
    else:
        full = HERE / path
    return linecache.getline(str(full), number).strip().replace("|", "\\|")[:90]


HOT = ("recv_thr", "send_thr")  # the measured loops of workers.py
SYSCALLS = {"poll", "epoll_wait", "write", "read", "recv", "send", "sendto", "recvfrom",
            "futex", "__lll_lock_wait", "syscall"}


def native_category(frame: str) -> str:
    func, file, _ = frame_info(frame)
    lib_name = Path(file).name
    if func in SYSCALLS or func.startswith("__GI_") or lib_name.startswith("libc.so"):
        return f"libc/kernel: {func}" if func in SYSCALLS else "libc"
    if "_cffi_backend" in lib_name or func.startswith("_cffi_") or "zmqffi._zmq.c" in file:
        return "cffi"
    if func.startswith(("zmq::", "zmq_")) or "libzmq" in lib_name or (
            "zmqffi" in file and "_zmq" in lib_name):
        return "libzmq"
    if "zmq/backend" in file or (lib_name.startswith("_zmq.cpython") and "zmqffi" not in file):
        return "pyzmq (Cython)"
    if "libpython" in lib_name or func.startswith(("_Py", "Py")):
        return "CPython runtime"
    return lib_name or "native"


def summarise(raw: str, count: int = 0, rate: int = 0, top: int = 14) -> tuple[str, int]:
    """Per Python line of the hot loop: where its samples end (Python itself, cffi,
    libzmq, the kernel, the interpreter runtime); then the hottest native leaves."""
    total = outside = 0
    per_line: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    leaves = collections.Counter()
    for frames, n_samples in parse(raw):
        total += n_samples
        hot = next((i for i, f in enumerate(frames)
                    if frame_info(f)[0].endswith(HOT)), None)
        if hot is None:
            outside += n_samples
            continue
        frames = frames[hot:]
        py_idx = max(i for i, f in enumerate(frames) if is_python(f))
        func, file, line = frame_info(frames[py_idx])
        key = f"{short_file(file)}:{line} ({func.rsplit('.', 1)[-1]})"
        native = frames[py_idx + 1:]
        if not native:
            cat = "Python"
        else:
            cats = [native_category(f) for f in native]
            # a wait or a syscall anywhere below counts as that syscall; else the leaf
            cat = next((c for c in reversed(cats) if c.startswith("libc/kernel")), cats[-1])
            if cat == "libc":
                cat = next((c for c in reversed(cats) if c != "libc"), "libc")
            leaves[f"{frame_info(native[-1])[0]} [{native_category(native[-1])}]"] += n_samples
        per_line[key][cat] += n_samples
    hot_total = total - outside
    cats = collections.Counter()
    for c in per_line.values():
        cats.update(c)
    order = [c for c, _ in cats.most_common()]
    out = [f"{hot_total} samples in the measured loop ({outside} elsewhere: start-up, "
           "imports, connect). py-spy drops idle samples (a thread asleep in a blocking "
           "call), so these are CPU samples; ns/msg = CPU time per message on that line "
           "(includes the warm-up messages' share, ~0.03%).", "",
           "| line | ns/msg | total % | " + " | ".join(order) + " |",
           "|---|---:|---:|" + "---:|" * len(order)]
    pct = lambda n: f"{100 * n / max(hot_total, 1):.1f}"  # noqa: E731
    per_msg = (lambda n: f"{1e9 * n / rate / count:.0f}") if count and rate else (
        lambda n: "")
    for key, c in sorted(per_line.items(), key=lambda kv: -sum(kv[1].values()))[:top]:
        out.append(f"| `{key}` `{source_line(key)}` | {per_msg(sum(c.values()))} | "
                   f"{pct(sum(c.values()))} | "
                   + " | ".join(pct(c[o]) if c[o] else "" for o in order) + " |")
    out.append(f"| **all** | {per_msg(hot_total)} | 100 | "
               + " | ".join(pct(cats[o]) for o in order) + " |")
    out.append("")
    if leaves:
        out += ["Hottest native leaf functions:", "", "| % | function |", "|---:|---|"]
        for key, n in leaves.most_common(top):
            out.append(f"| {pct(n)} | `{key}` |")
        out.append("")
    return "\n".join(out), total


def summarise_vmprof(path: Path, top: int = 14) -> tuple[str, int]:
    """PyPy: self and inclusive samples per function below the measured loop (vmprof on
    PyPy has no line numbers and no native frames: JIT-compiled code is attributed to
    the Python function it came from, inlined callees included)."""
    import vmprof
    tree = vmprof.read_profile(str(path)).get_tree()
    self_n: collections.Counter = collections.Counter()
    incl: collections.Counter = collections.Counter()
    total = [0]

    def name(node) -> str:
        parts = node.name.split(":")
        if len(parts) >= 4:
            return f"{short_file(':'.join(parts[3:]))}:{parts[2]} {parts[1]}"
        return node.name

    def walk(node, inside: bool) -> None:
        here = inside or name(node).endswith(HOT)
        if here:
            if name(node).endswith(HOT) and not inside:
                total[0] += node.count
            kids = sum(c.count for c in node.children.values())
            self_n[name(node)] += node.count - kids
            incl[name(node)] += node.count
        for child in node.children.values():
            walk(child, here)

    walk(tree, False)
    n = max(total[0], 1)
    out = [f"{total[0]} vmprof samples in the measured loop.", "",
           "| function | self % | inclusive % |", "|---|---:|---:|"]
    for key, c in self_n.most_common(top):
        out.append(f"| `{key}` | {100 * c / n:.1f} | {100 * incl[key] / n:.1f} |")
    return "\n".join(out + [""]), total[0]


def jit_summary(path: Path) -> str:
    if not path.exists():
        return ""
    keep = ("Tracing", "Backend", "TOTAL", "abort", "Total # of loops", "Total # of bridges")
    lines = [row.strip() for row in path.read_text().splitlines()
             if row.strip().startswith(keep)]
    lines = [row for row in lines if not (row.startswith("abort") and row.endswith("\t0"))]
    return "PyPy JIT summary: " + "; ".join(" ".join(row.split()) for row in lines)


def record_pypy(argv: list[str], base: Path, cpus: str | None) -> subprocess.Popen:
    env = dict(os.environ, ZMQFFI_BENCH_VMPROF=str(base),
               PYPYLOG=f"jit-summary:{base}-jit.txt")
    if cpus and shutil.which("taskset"):
        argv = ["taskset", "-c", cpus, *argv]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def record(pyspy: str, argv: list[str], out: Path, native: bool, rate: int,
           cpus: str | None) -> subprocess.Popen:
    cmd = [pyspy, "record", "--format", "raw", "--rate", str(rate), "--output", str(out)]
    if native:
        cmd.append("--native")
    cmd += ["--", *argv]
    if cpus and shutil.which("taskset"):
        cmd = ["taskset", "-c", cpus, *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pin", help="'A,B': receiver on CPU A, sender on CPU B")
    p.add_argument("--native", action="store_true", help="keep C frames (py-spy --native)")
    p.add_argument("--rate", type=int, default=1000, help="samples/s")
    p.add_argument("--only", nargs="*", help="impl names to profile")
    a = p.parse_args()
    pypy = sys.implementation.name == "pypy"
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if pypy:
        try:
            import vmprof  # noqa: F401
        except ImportError:
            sys.exit("on PyPy this uses vmprof: pip install vmprof")
    elif not Path(pyspy).exists() and not shutil.which(pyspy):
        sys.exit("py-spy not found: pip install py-spy")
    pin = a.pin.split(",") if a.pin else None
    RESULTS.mkdir(exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    report = [f"# {'vmprof' if pypy else 'py-spy'} profiles of the zmqffi hot paths — {stamp}",
              "", f"{sys.implementation.name} {sys.version.split()[0]}; "
              + ("vmprof period 0.2 ms (function level: PyPy's vmprof has no lines and no "
                 "native frames); " if pypy else
                 f"py-spy rate {a.rate}/s; native frames: {a.native}; ")
              + "pinning: "
              f"{'receiver CPU %s, sender CPU %s' % (pin[0], pin[-1]) if pin else 'none'}. "
              "PUSH/PULL over tcp, sender and receiver in separate processes.", ""]
    for impl, size, count in SCENARIOS:
        if a.only and impl not in a.only:
            continue
        ep = f"tcp://127.0.0.1:{free_port()}"
        base = [sys.executable, str(WORKERS)]
        opts = ["--impl", impl, "--size", str(size), "--count", str(count),
                "--warmup", "1000", "--endpoint", ep]
        tag = f"{impl}-{size}"
        out_r = RESULTS / f"profile-{stamp}-{tag}-recv.txt"
        out_s = RESULTS / f"profile-{stamp}-{tag}-send.txt"
        log(f"[profile] {tag}")
        if pypy:
            opts[opts.index("--warmup") + 1] = "10000"
            stem = RESULTS / f"profile-{stamp}-{tag}"
            out_r = Path(f"{stem}-thr-recv.vmprof")
            out_s = Path(f"{stem}-thr-send.vmprof")
            recv = record_pypy([*base, "thr-recv", *opts], stem, pin[0] if pin else None)
            time.sleep(0.5)
            send = record_pypy([*base, "thr-send", *opts], stem, pin[-1] if pin else None)
        else:
            recv = record(pyspy, [*base, "thr-recv", *opts], out_r, a.native, a.rate,
                          pin[0] if pin else None)
            time.sleep(1.0)  # py-spy start-up, then the receiver binds
            send = record(pyspy, [*base, "thr-send", *opts], out_s, a.native, a.rate,
                          pin[-1] if pin else None)
        r_out, r_err = recv.communicate(timeout=600)
        send.communicate(timeout=600)
        result = next((json.loads(row) for row in r_out.splitlines()
                       if row.startswith("{") and "elapsed" in row), None)
        rate = (f"{count / result['elapsed']:,.0f} msg/s under the profiler" if result
                else r_err[-300:])
        report += [f"## {impl}, {size} B ({rate})", ""]
        for side, path in (("receiver", out_r), ("sender", out_s)):
            if not path.exists():
                report += [f"{side}: no profile written", ""]
                continue
            if pypy:
                text, total = summarise_vmprof(path)
            else:
                text, total = summarise(path.read_text(), count, a.rate)
            report += [f"### {side} ({total} samples, `{path.name}`)", "", text]
        if pypy:
            report += [jit_summary(Path(f"{stem}-jit.txt")), ""]
    md = RESULTS / f"profile-{stamp}-{sys.implementation.name}.md"
    md.write_text("\n".join(report))
    print("\n".join(report))
    log(f"[profile] wrote {md}")


if __name__ == "__main__":
    main()
