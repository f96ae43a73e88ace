"""What the stress scripts share: resident memory, a hang watchdog, the report."""

from __future__ import annotations

import faulthandler
import json
import os
import platform
import resource
import statistics
import sys
import time
from typing import Any

MIB = 1024 * 1024


def rss_mib() -> float:
    """Resident memory now, in MiB (VmRSS; the peak from getrusage without /proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (MIB if sys.platform == "darwin" else 1024)


def interpreter() -> str:
    impl = platform.python_implementation()
    return f"{impl} {platform.python_version()}"


class Memory:
    """Samples RSS while ``total`` units of work are done, and judges its trend.

    The first ``warmup`` fraction (10%) is warm-up: allocator pools, the JIT, queues
    and socket buffers filling up. After it, a single sample says little (1 MiB
    messages in flight come and go, PyPy's GC frees in waves), so the verdict compares
    medians: ``growth`` = median RSS of the last 20% of the samples minus the median of
    those just after warm-up (10%..30%); it must stay under ``bound_mib``. A leak of
    any steady size shows up there; the spread of the samples is reported too."""

    def __init__(self, total: int, bound_mib: float, warmup: float = 0.1,
                 samples: int = 100) -> None:
        self.total, self.bound, self.warmup = total, bound_mib, warmup
        self.every = max(1, total // samples)
        self.start = rss_mib()
        self.samples: list[tuple[int, float]] = [(0, self.start)]

    def sample(self, done: int) -> None:
        self.samples.append((done, rss_mib()))

    def maybe(self, done: int) -> None:
        if done % self.every == 0:
            self.sample(done)

    def _window(self, low: float, high: float) -> list[float]:
        picked = [rss for done, rss in self.samples
                  if self.total * low <= done <= self.total * high]
        return picked or [self.samples[-1][1]]

    @property
    def base(self) -> float:
        """Median RSS just after warm-up."""
        return statistics.median(self._window(self.warmup, self.warmup + 0.2))

    @property
    def end(self) -> float:
        """Median RSS over the last 20%."""
        return statistics.median(self._window(0.8, 1.0))

    @property
    def peak(self) -> float:
        return max(rss for _, rss in self.samples)

    @property
    def final(self) -> float:
        return self.samples[-1][1]

    @property
    def growth(self) -> float:
        return self.end - self.base

    @property
    def ok(self) -> bool:
        return self.growth < self.bound

    def figures(self) -> dict[str, Any]:
        after = [rss for done, rss in self.samples if done >= self.total * self.warmup]
        return {"rss_start_mib": round(self.start, 1),
                "rss_after_warmup_mib": round(self.base, 1),
                "rss_peak_mib": round(self.peak, 1), "rss_final_mib": round(self.final, 1),
                "rss_spread_after_warmup_mib": round(max(after) - min(after), 1),
                "growth_after_warmup_mib": round(self.growth, 1),
                "growth_bound_mib": self.bound, "memory_flat": self.ok}


def watchdog(seconds: float) -> None:
    """A hang is a failure: after ``seconds``, print every thread's stack and exit 1."""
    faulthandler.dump_traceback_later(seconds, exit=True)


def report(name: str, ok: bool, **figures: Any) -> None:
    """Print the figures for people, then one RESULT line for stress/run.py."""
    print(f"== {name} ({interpreter()}): {'OK' if ok else 'FAILED'}")
    for key, value in figures.items():
        if isinstance(value, float):
            value = f"{value:,.1f}"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        print(f"   {key:28} {value}")
    print("RESULT " + json.dumps({"name": name, "ok": ok, "interpreter": interpreter(),
                                  **figures}), flush=True)


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0


def pid() -> int:
    return os.getpid()
