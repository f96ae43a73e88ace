"""What the benchmark's scripts share: where things are, the sizes and rows, number
formats, logging and a free tcp port.

The scripts of this directory import it as ``common`` (a script's own directory is first
on ``sys.path``).
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORKERS = HERE / "workers.py"

KIB, MIB = 1024, 1024 * 1024
THR_SIZES = (1, 64, KIB, 64 * KIB, MIB)  # the throughput cells' sizes

# the rows of the tables, in their order
C_IMPL = "c"
PY_IMPLS = ("pyzmq", "pyzmq-nocopy", "zmqffi", "zmqffi-recv_into", "zmqffi-recv_msg",
            "zmqffi-zerocopy", "zmqffi-view", "zmqffi-batch", "zmqffi-raw", "zmqffi-raw_msg")
# one side async, the other the same library's blocking socket (throughput only)
ASYNC_IMPLS = ("pyzmq-asyncio-recv", "pyzmq-asyncio-send", "zmqffi-asyncio-recv",
               "zmqffi-asyncio-send", "zmqffi-trio-recv", "zmqffi-trio-send")
ALL_IMPLS = (C_IMPL, *PY_IMPLS, *ASYNC_IMPLS)


def log(text: str) -> None:
    """Progress goes to stderr: stdout carries the tables (and the workers' JSON)."""
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
