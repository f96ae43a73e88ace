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
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORKERS = HERE / "workers.py"

SCENARIOS = [
    # (impl, size, count)
    ("zmqffi", 1, 3_000_000),
    ("zmqffi-recv_into", 1, 3_000_000),
    ("zmqffi-recv_msg", 1, 2_000_000),
    ("zmqffi", 1024, 1_500_000),
    ("zmqffi", 1024 * 1024, 4_000),
    ("zmqffi-zerocopy", 1024 * 1024, 4_000),
    ("pyzmq", 1, 3_000_000),
]

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+?)(?::(?P<line>\d+))?\)$")


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def short_file(path: str) -> str:
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
    _, file, _ = frame_info(frame)
    return file.endswith(".py")


def summarise(raw: str, top: int = 12) -> tuple[str, int]:
    total = 0
    self_line = collections.Counter()
    incl_zmqffi = collections.Counter()
    native_leaf = collections.Counter()
    for frames, count in parse(raw):
        total += count
        py_frames = [f for f in frames if is_python(f)]
        if py_frames:
            func, file, line = frame_info(py_frames[-1])
            self_line[f"{short_file(file)}:{line} {func}"] += count
        seen = set()
        for f in py_frames:
            func, file, line = frame_info(f)
            if "zmqffi/" in file.replace("\\", "/") and "benchmarks" not in file:
                key = f"{short_file(file)}:{line} {func}"
                if key not in seen:
                    seen.add(key)
                    incl_zmqffi[key] += count
        if frames and not is_python(frames[-1]):
            func, file, _ = frame_info(frames[-1])
            native_leaf[f"{func} ({Path(file).name})" if file else func] += count
    out = []

    def table(title, counter):
        out.append(f"{title}\n")
        out.append("| samples | % | where |")
        out.append("|---:|---:|---|")
        for key, n in counter.most_common(top):
            out.append(f"| {n} | {100 * n / max(total, 1):.1f} | `{key}` |")
        out.append("")

    table("Innermost Python line (self):", self_line)
    if incl_zmqffi:
        table("zmqffi lines on the stack (inclusive):", incl_zmqffi)
    if native_leaf:
        table("Innermost native frame:", native_leaf)
    return "\n".join(out), total


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
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists() and not shutil.which(pyspy):
        sys.exit("py-spy not found: pip install py-spy")
    pin = a.pin.split(",") if a.pin else None
    RESULTS.mkdir(exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    report = [f"# py-spy profiles of the zmqffi hot paths — {stamp}", "",
              f"{sys.implementation.name} {sys.version.split()[0]}; py-spy rate {a.rate}/s; "
              f"native frames: {a.native}; pinning: "
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
        print(f"[profile] {tag}", file=sys.stderr, flush=True)
        recv = record(pyspy, [*base, "thr-recv", *opts], out_r, a.native, a.rate,
                      pin[0] if pin else None)
        time.sleep(1.0)  # py-spy start-up, then the receiver binds
        send = record(pyspy, [*base, "thr-send", *opts], out_s, a.native, a.rate,
                      pin[-1] if pin else None)
        r_out, r_err = recv.communicate(timeout=600)
        send.communicate(timeout=600)
        result = next((json.loads(l) for l in r_out.splitlines()
                       if l.startswith("{") and "elapsed" in l), None)
        rate = f"{count / result['elapsed']:,.0f} msg/s under py-spy" if result else r_err[-300:]
        report += [f"## {impl}, {size} B ({rate})", ""]
        for side, path in (("receiver", out_r), ("sender", out_s)):
            if not path.exists():
                report += [f"{side}: no profile written", ""]
                continue
            text, total = summarise(path.read_text())
            report += [f"### {side} ({total} samples, `{path.name}`)", "", text]
    md = RESULTS / f"profile-{stamp}.md"
    md.write_text("\n".join(report))
    print("\n".join(report))
    print(f"[profile] wrote {md}", file=sys.stderr)


if __name__ == "__main__":
    main()
