"""Check result JSON files against the targets of issue 5.

    python benchmarks/targets.py [results/*.json]    # default: newest run per interpreter

For each target cell it shows the target's main row and the best row that counts for it,
with the ratio the target names and whether it is met. For the per-message targets the main
row is the normal path (`zmqffi`: send(bytes)/recv()) and the rows that count are the
Pythonic ones (zmqffi, recv_into / recv_msg / zerocopy); the batched-small-messages target
is checked on `zmqffi-batch` (send_many/recv_many) alone, and that row does not count for
the per-message targets. Raw-layer rows (`zmqffi-raw*`) never count: they are the ceiling.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KIB, MIB, latest_per_interpreter  # noqa: E402

PYTHONIC = ("zmqffi", "zmqffi-recv_into", "zmqffi-recv_msg", "zmqffi-zerocopy")
BATCH = ("zmqffi-batch",)

# (label, cell ids, {interp: [(ref, op, threshold)]}[, rows that count; the first is the
# main row]; default: PYTHONIC, main row zmqffi)
TARGETS = [
    ("thr 1 B / 64 B, tcp + inproc",
     [f"thr-{t}-{s}" for t in ("tcp", "inproc") for s in (1, 64)],
     {"cpython": [("pyzmq", ">=", 1.2)], "pypy": [("pyzmq", ">=", 2.0), ("c", ">=", 0.5)]}),
    ("thr 1 KiB tcp", ["thr-tcp-1024"],
     {"cpython": [("pyzmq", ">=", 1.0)], "pypy": [("c", ">=", 0.85)]}),
    ("thr 64 KiB / 1 MiB tcp (zero-copy paths)", [f"thr-tcp-{s}" for s in (64 * KIB, MIB)],
     {"cpython": [("c", ">=", 0.8)], "pypy": [("c", ">=", 0.8)]}),
    ("thr 64 KiB / 1 MiB inproc (zero-copy paths)",
     [f"thr-inproc-{s}" for s in (64 * KIB, MIB)],
     {"cpython": [("c", ">=", 0.5)], "pypy": [("c", ">=", 0.5)]}),
    ("round trip, tcp + inproc", [f"lat-{t}-{s}" for t in ("tcp", "inproc") for s in (1, KIB)],
     {"cpython": [("c", "<=", 1.1)], "pypy": [("c", "<=", 1.1)]}),
    # "batched small messages": the small sizes of the per-message target above (1 B,
    # 64 B); the 1 KiB batch cells are measured too, but not part of this target
    ("batched small messages (zmqffi-batch)",
     [f"thr-{t}-{s}" for t in ("tcp", "inproc") for s in (1, 64)],
     {"cpython": [("c", ">=", 0.7)], "pypy": [("c", ">=", 0.8)]}, BATCH),
]


def ratio(cell, impl, ref):
    r, b = cell["results"].get(impl), cell["results"].get(ref)
    if not r or not b or not r.get("median") or not b.get("median"):
        return None
    return r["median"] / b["median"]


def check(data: dict) -> list[str]:
    family = "pypy" if data["meta"]["interp_tag"].startswith("pypy") else "cpython"
    cells = {c["id"]: c for c in data["cells"]}
    lines = [f"### {data['meta']['interpreter']} ({data['meta']['date']})", "",
             "| target | cell | ref | needed | main row | best row that counts | met? |",
             "|---|---|---|---|---:|---:|---|"]
    for label, ids, per, *rows in TARGETS:
        rows = rows[0] if rows else PYTHONIC
        main_row = rows[0]
        for cid in ids:
            cell = cells.get(cid)
            if cell is None:
                continue
            for ref, op, thr in per[family]:
                def ok(x, op=op, thr=thr):
                    return x is not None and (x >= thr if op == ">=" else x <= thr)
                normal = ratio(cell, main_row, ref)
                cands = [(ratio(cell, i, ref), i) for i in rows]
                cands = [c for c in cands if c[0] is not None]
                best = (max if op == ">=" else min)(cands) if cands else (None, "—")
                if normal is None and best[0] is None:
                    met = "not measured"
                else:
                    met = "yes" if ok(normal) else ("with " + best[1] if ok(best[0]) else "no")
                fmt = lambda x: "—" if x is None else f"{x:.2f}"  # noqa: E731
                lines.append(f"| {label} | {cell['name']} | ×{ref} | {op} {thr} | "
                             f"{fmt(normal)} | {fmt(best[0])} ({best[1]}) | {met} |")
    return lines + [""]


def main() -> None:
    files = [Path(f) for f in sys.argv[1:]] or latest_per_interpreter()
    out = []
    for f in files:
        out += check(json.loads(Path(f).read_text()))
    print("\n".join(out))


if __name__ == "__main__":
    main()
