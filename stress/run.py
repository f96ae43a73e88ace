#!/usr/bin/env python3
"""Run every stress test, each in its own interpreter, and print one summary.

    python stress/run.py                 # soak, churn, fuzz (60 s), multihost, burst: full size
    python stress/run.py --short         # the CI size: about a minute
    python stress/run.py --only soak,fuzz --fuzz-seconds 300

Each script also runs alone (python stress/soak.py --help). Exit status 0 only if every
part passed (multihost counts as passed when it is skipped for want of root/netns).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ["soak", "churn", "fuzz", "multihost", "burst"]
TIMEOUTS = {"soak": 3600, "churn": 1800, "fuzz": 2400, "multihost": 1800, "burst": 1800}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="CI size")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts (default: {','.join(PARTS)})")
    parser.add_argument("--fuzz-seconds", type=float, default=None,
                        help="fuzz duration (default 60, 15 with --short)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter to run them with (default: this one)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")

    results: list[dict] = []
    failures = []
    for part in parts:
        cmd = [args.python, str(HERE / f"{part}.py")]
        if args.short:
            cmd.append("--short")
        if part == "fuzz" and args.fuzz_seconds is not None:
            cmd += ["--seconds", str(args.fuzz_seconds)]
        print(f"\n### {' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True,
                                  timeout=TIMEOUTS[part])
            output, code = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            code = "timeout"
        print("\n".join(line for line in output.splitlines()
                        if not line.startswith("RESULT ")), flush=True)
        found = [json.loads(line[7:]) for line in output.splitlines()
                 if line.startswith("RESULT ")]
        results += found
        if code != 0 or not found:
            failures.append(f"{part} (exit {code}, {time.monotonic() - t0:.0f} s)")

    print("\n### summary")
    for r in results:
        count = next((r[k] for k in ("messages", "round_trips", "cycles", "calls", "tasks",
                                     "count") if k in r), "")
        rate = next((r[k] for k in ("msgs_per_s", "round_trips_per_s", "cycles_per_s",
                                    "frames_per_s") if k in r), "")
        if "growth_after_warmup_mib" in r:
            rss = (f"RSS peak {r['rss_peak_mib']} final {r['rss_final_mib']} "
                   f"growth {r['growth_after_warmup_mib']} MiB")
        elif "peak_delta_mib" in r:  # burst: the burst's own peak
            rss = f"RSS peak +{r['peak_delta_mib']} (to {r['rss_peak_mib']}) MiB"
        else:
            rss = r.get("error", "")
        extra = "skipped: " + r["skipped"] if "skipped" in r else rss
        print(f"{'OK  ' if r['ok'] else 'FAIL'} {r['name']:28} {str(count):>11} "
              f"{str(rate) + '/s' if rate else '':>13}  crashes {r.get('crashes', 0)}  "
              f"{extra}")
    bad = [r["name"] for r in results if not r["ok"]]
    if bad or failures:
        print(f"FAILED: {', '.join(bad + failures)}")
        return 1
    print(f"all passed ({results[0]['interpreter'] if results else sys.version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
