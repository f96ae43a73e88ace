"""The chart: PUSH/PULL messages/s by message size (log-log), tcp and inproc side by
side, one line per row and interpreter, min–max bars; from one or more result files.

Needs matplotlib (imported when drawing, so that the other scripts run without it).
"""

from __future__ import annotations

import json
from pathlib import Path

from common import ALL_IMPLS, C_IMPL, THR_SIZES, fmt_size, log


def draw(files: list[Path], out: Path) -> Path:
    """Draw the runs of files into out (PNG)."""
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
    for handle, label in zip(h2, l2):
        if label not in labels:
            handles.append(handle)
            labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    dates = ", ".join(sorted({d["meta"]["date"][:10] for d in runs}))
    fig.suptitle(f"zmqffi vs pyzmq vs libzmq perf tools — {dates}")
    fig.tight_layout(rect=(0, 0.05 + 0.025 * ((len(labels) + 2) // 3), 1, 0.96))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    log(f"[bench] chart: {out}")
    return out


def can_draw() -> bool:
    """Whether this interpreter has matplotlib (PyPy may not: run.sh then draws with
    CPython, from the JSON)."""
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True
