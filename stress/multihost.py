#!/usr/bin/env python3
"""Multi-host: the guide's pipeline across three network namespaces, with faulty links.

The ventilator and the sink (examples/ventilator.py, examples/sink.py) run in one
namespace ("hub"), a worker (examples/worker.py) in each of two others, each worker
reaching the hub through its own veth link:

    [w1] 10.77.1.2 --veth-- 10.77.1.1 [hub] 10.77.2.1 --veth-- 10.77.2.2 [w2]
                                 hub: ventilator *:5557, sink *:5558

Phases, each a full batch (the sink must receive one result per task; a role that
dies of a signal counts as a crash):

  baseline    no fault
  link-down   w1's link taken down (ip link set ... down) once a third of the results
              are in, brought back after --down-seconds: the batch completes once it
              is back (the TCP connection resumes, or zmqffi reconnects by itself)
  netem       tc netem delay and loss on w1's link: slower, nothing lost. Where the
              kernel has no netem (sch_netem), a tbf rate limit replaces it (slower,
              no loss) and the "flapping" phase stands in for loss
  flapping    w1's link toggled down/up every 150 ms for --flap-seconds: bursts of
              lost packets that TCP must retransmit; nothing lost

Needs root, iproute2 and network namespaces; everywhere else it says so and exits 0
(skipped). Namespaces and links are created here and always removed.

    sudo python stress/multihost.py [--tasks 300] [--short]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import common

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
VENT_PORT, SINK_PORT = 5557, 5558


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check,
                          timeout=30)


class Net:
    """Three namespaces and two veth links, removed by close()."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.hub, self.w1, self.w2 = (f"zq{r}{tag}" for r in ("h", "a", "b"))
        self.links = {}  # worker ns -> (hub-side device, worker-side device, hub address)
        self.created: list[str] = []
        for ns in (self.hub, self.w1, self.w2):
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for i, ns in enumerate((self.w1, self.w2), start=1):
            hub_dev, w_dev = f"zqh{i}{tag}", f"zqw{i}{tag}"
            sh("ip", "link", "add", hub_dev, "type", "veth", "peer", "name", w_dev)
            sh("ip", "link", "set", hub_dev, "netns", self.hub)
            sh("ip", "link", "set", w_dev, "netns", ns)
            sh("ip", "-n", self.hub, "addr", "add", f"10.77.{i}.1/24", "dev", hub_dev)
            sh("ip", "-n", ns, "addr", "add", f"10.77.{i}.2/24", "dev", w_dev)
            sh("ip", "-n", self.hub, "link", "set", hub_dev, "up")
            sh("ip", "-n", ns, "link", "set", w_dev, "up")
            self.links[ns] = (hub_dev, w_dev, f"10.77.{i}.1")

    def link(self, ns: str, up: bool) -> None:
        hub_dev = self.links[ns][0]
        sh("ip", "-n", self.hub, "link", "set", hub_dev, "up" if up else "down")

    def qdisc(self, ns: str, *spec: str) -> subprocess.CompletedProcess[str]:
        """The same qdisc on both ends of ns's link (so both directions suffer)."""
        hub_dev, w_dev, _ = self.links[ns]
        first = sh("ip", "netns", "exec", self.hub, "tc", "qdisc", "replace", "dev", hub_dev,
                   "root", *spec, check=False)
        if first.returncode != 0:
            return first
        return sh("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", w_dev, "root",
                  *spec, check=False)

    def clear_qdisc(self, ns: str) -> None:
        hub_dev, w_dev, _ = self.links[ns]
        sh("ip", "netns", "exec", self.hub, "tc", "qdisc", "del", "dev", hub_dev, "root",
           check=False)
        sh("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", w_dev, "root",
           check=False)

    def connections(self, ns: str, port: int) -> set[str]:
        """Local address:port of the worker's established tcp connections to ``port``."""
        out = sh("ip", "netns", "exec", ns, "ss", "-Htn", "state", "established",
                 check=False).stdout
        return {fields[2] for fields in map(str.split, out.splitlines())
                if len(fields) >= 4 and fields[3].endswith(f":{port}")}

    def close(self) -> None:
        for ns in self.created:
            sh("ip", "netns", "del", ns, check=False)
        self.created = []


def can_run() -> str | None:
    """None if namespaces work here, else why not."""
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "needs root (ip netns add)"
    if not shutil.which("ip"):
        return "needs iproute2 (the ip command)"
    probe = f"zqprobe{os.getpid() % 100000}"
    result = sh("ip", "netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"ip netns add is not permitted here: {result.stderr.strip()}"
    sh("ip", "netns", "del", probe, check=False)
    for role in ("ventilator.py", "worker.py", "sink.py"):
        if not (EXAMPLES / role).exists():
            return f"examples/{role} is missing"
    return None


class Role:
    """One example script in a namespace; its output is read as it comes."""

    def __init__(self, ns: str, script: str, *args: str) -> None:
        self.name = f"{script} in {ns}"
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-u", str(EXAMPLES / script),
             *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        self.output = bytearray()
        self.results = 0  # for the sink: ':' and '.' it printed
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                return
            self.output += chunk
            progress = self.output.split(b"\n", 1)[0]  # the sink's line of ':' and '.'
            self.results = progress.count(b":") + progress.count(b".")

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def text(self) -> str:
        return self.output.decode(errors="replace")


def batch(net: Net, tasks: int, workload: int, fault: Any = None,
          sink_timeout: float = 60.0) -> dict[str, Any]:
    """One batch; ``fault(net, sink, w1, notes)`` runs in a thread meanwhile."""
    sink = Role(net.hub, "sink.py", "--bind", f"tcp://*:{SINK_PORT}", "--tasks",
                str(tasks), "--timeout", str(sink_timeout))
    ventilator = Role(net.hub, "ventilator.py", "--bind", f"tcp://*:{VENT_PORT}",
                      "--sink", f"tcp://127.0.0.1:{SINK_PORT}", "--tasks", str(tasks),
                      "--seed", "7", "--max-workload", str(workload), "--wait-workers", "2")
    workers = [Role(ns, "worker.py", "--ventilator",
                    f"tcp://{net.links[ns][2]}:{VENT_PORT}",
                    "--sink", f"tcp://{net.links[ns][2]}:{SINK_PORT}",
                    "--idle-timeout", str(sink_timeout))
               for ns in (net.w1, net.w2)]
    roles = [sink, ventilator, *workers]
    notes: dict[str, Any] = {}
    fault_thread = None
    if fault is not None:
        fault_thread = threading.Thread(target=fault, args=(net, sink, workers[0], notes),
                                        daemon=True)
        fault_thread.start()
    t0 = time.monotonic()
    sink_rc = sink.wait(sink_timeout * 3 + 60)
    wall = time.monotonic() - t0
    if fault_thread is not None:
        fault_thread.join(60)
    vent_rc = ventilator.wait(30)
    for worker in workers:  # they idle until --idle-timeout: the batch is over
        worker.stop()
    codes = [sink_rc, vent_rc] + [w.proc.returncode for w in workers]
    crashes = sum(1 for rc in codes if rc is not None and rc < 0
                  and rc not in (-15, -9))  # SIGTERM/SIGKILL are ours
    elapsed = None
    for line in sink.text().splitlines():
        if line.startswith("Total elapsed time:"):
            elapsed = int(line.split()[3])
    ok = sink_rc == 0 and crashes == 0
    if not ok:
        for role in roles:
            print(f"--- {role.name} (exit {role.proc.returncode}):\n{role.text()[-2000:]}",
                  file=sys.stderr)
    return {"tasks": tasks, "results": tasks if sink_rc == 0 else "incomplete",
            "sink_exit": sink_rc, "batch_msec": elapsed, "wall_seconds": round(wall, 2),
            "crashes": crashes, **notes}


def wait_results(sink: Role, count: int, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while sink.results < count:
        if time.monotonic() > deadline or sink.proc.poll() is not None:
            return False
        time.sleep(0.01)  # watching another process's output: nothing to block on
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300, help="tasks per batch (300)")
    parser.add_argument("--workload", type=int, default=20,
                        help="each task costs 1..N msec (20)")
    parser.add_argument("--down-seconds", type=float, default=3.0,
                        help="how long the link stays down (3)")
    parser.add_argument("--flap-seconds", type=float, default=4.0,
                        help="how long the link flaps (4)")
    parser.add_argument("--short", action="store_true",
                        help="100 tasks, 1.5 s down, 2 s of flapping (CI)")
    args = parser.parse_args(argv)
    if args.short:
        args.tasks, args.down_seconds = min(args.tasks, 100), min(args.down_seconds, 1.5)
        args.flap_seconds = min(args.flap_seconds, 2.0)
    why = can_run()
    if why is not None:
        print(f"multihost: SKIPPED: {why}")
        common.report("multihost", True, skipped=why, crashes=0)
        return 0
    common.watchdog(1800)
    net = Net()
    failed = 0
    try:
        phases: list[tuple[str, Any]] = [("baseline", None)]

        def link_down(net: Net, sink: Role, w1: Role, notes: dict[str, Any]) -> None:
            if not wait_results(sink, args.tasks // 3):
                return
            before = net.connections(net.w1, SINK_PORT)
            net.link(net.w1, up=False)
            notes["link_down_at_result"] = sink.results
            time.sleep(args.down_seconds)  # the outage itself
            notes["results_while_down"] = sink.results - notes["link_down_at_result"]
            net.link(net.w1, up=True)
            seen: set[str] = set()
            while sink.proc.poll() is None:  # w1's connection(s) to the sink from now on
                seen |= net.connections(net.w1, SINK_PORT)
                time.sleep(0.02)
            notes["link_down_seconds"] = args.down_seconds
            notes["w1_to_sink_tcp"] = ("the same connection resumed" if seen <= before
                                       else f"reconnected ({len(seen - before)} new)")

        phases.append(("link-down", link_down))

        probe = net.qdisc(net.w1, "netem", "delay", "40ms", "10ms", "loss", "5%")
        net.clear_qdisc(net.w1)
        has_netem = probe.returncode == 0

        def slow(net: Net, sink: Role, w1: Role, notes: dict[str, Any]) -> None:
            if has_netem:
                spec = ["netem", "delay", "40ms", "10ms", "loss", "5%"]
            else:
                spec = ["tbf", "rate", "16kbit", "burst", "2kb", "latency", "5s"]
                notes["netem"] = ("not in this kernel (sch_netem): a tbf rate limit "
                                  "instead, no loss; see the flapping phase")
            result = net.qdisc(net.w1, *spec)
            notes["qdisc"] = " ".join(spec) if result.returncode == 0 else \
                f"failed: {result.stderr.strip()}"
            wait_results(sink, args.tasks)
            net.clear_qdisc(net.w1)

        phases.append(("netem" if has_netem else "netem (tbf fallback)", slow))

        def flapping(net: Net, sink: Role, w1: Role, notes: dict[str, Any]) -> None:
            # once w1 works (it prints a dot per task: its tasks have arrived; the
            # ventilator only lingers 5 s for undelivered ones), flap its link for
            # --flap-seconds, then leave it up: TCP retransmits what was lost
            deadline = time.monotonic() + 60
            while b"." not in w1.output and time.monotonic() < deadline:
                time.sleep(0.01)  # watching another process's output
            flaps, end = 0, time.monotonic() + args.flap_seconds
            while time.monotonic() < end and sink.proc.poll() is None:
                net.link(net.w1, up=False)
                time.sleep(0.15)  # the outage itself
                net.link(net.w1, up=True)
                time.sleep(0.15)
                flaps += 1
            notes["flaps"] = f"{flaps} x (150 ms down, 150 ms up)"

        phases.append(("flapping", flapping))

        for name, fault in phases:
            figures = batch(net, args.tasks, args.workload, fault)
            ok = figures["results"] == args.tasks and figures["crashes"] == 0
            if name.startswith("netem") and "failed" in str(figures.get("qdisc", "")):
                ok = False
            common.report(f"multihost {name}", ok, **figures)
            failed += not ok
    finally:
        net.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
