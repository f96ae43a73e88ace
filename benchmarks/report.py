"""Reporting: medians and ratios of a run's raw values, its tables, and its files.

``summarise()`` adds median, min, max and the ratios to the ``c`` and ``pyzmq`` rows to each
cell's results; ``render()`` writes the Markdown tables (every row of every cell, then a
matrix of medians); ``save()`` writes ``results/<interp>-<date>.json`` and ``.md`` and
prints the tables.
"""

from __future__ import annotations

import datetime as _dt
import json
import statistics
from pathlib import Path

from common import ALL_IMPLS, RESULTS, fmt_rate, log


def summarise(cells: list[dict]) -> None:
    """Add median, min, max, the warm-up median and vs_c, vs_pyzmq to every result."""
    for cell in cells:
        for r in cell["results"].values():
            vals = r["values"]
            r["median"] = statistics.median(vals) if vals else None
            r["min"] = min(vals) if vals else None
            r["max"] = max(vals) if vals else None
            w = r["warmup_seconds"]
            r["warmup_median_seconds"] = statistics.median(w) if w else None
        med = {i: r["median"] for i, r in cell["results"].items()}
        for r in cell["results"].values():
            for ref in ("c", "pyzmq"):
                key = f"vs_{ref}"
                if r["median"] is None or not med.get(ref):
                    r[key] = None
                else:  # throughput: > 1 is faster than ref; latency: < 1 is faster
                    r[key] = r["median"] / med[ref]


def _fmt_val(kind: str, v: float | None) -> str:
    if v is None:
        return "—"
    return fmt_rate(v) if kind == "thr" else f"{v:.1f}"


def _fmt_ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def render(data: dict) -> str:
    """The run's Markdown: what and where, every row of every cell, then the matrix."""
    meta, cells = data["meta"], data["cells"]
    m = meta["machine"]
    capped = " (capped at the cell's count)" if meta.get("warmup_capped", True) else ""
    lines = [
        f"## {meta['interpreter']} — {meta['date']}",
        "",
        f"Machine: {m['cpu']} ({m['cpus']} CPUs), Linux {m['kernel']}. "
        f"Pinning: {meta['pin_note']}. Reps: {meta['reps']}"
        f"{' (short mode)' if meta['short'] else ''}. Warm-up: {meta['warmup']}"
        f"{capped}. Run took {meta['seconds']} s.",
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


def save(data: dict, output: str | None) -> Path:
    """Write the run as JSON (every value) and Markdown (the tables), print the tables."""
    RESULTS.mkdir(exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    tag = data["meta"]["interp_tag"]
    out = Path(output) if output else RESULTS / f"{tag}-{stamp}.json"
    out.write_text(json.dumps(data, indent=1))
    text = render(data)
    out.with_suffix(".md").write_text(text)
    print(text)
    log(f"[bench] wrote {out} and {out.with_suffix('.md')}")
    return out
