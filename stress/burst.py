#!/usr/bin/env python3
"""Burst: the resident-memory peak of a burst of large frames, zmqffi beside pyzmq.

One case is one burst through PUSH/PULL: a sending thread of this process (its PUSH
socket created in that thread) sends a fresh ``bytes`` object per frame, the main
thread (PULL) receives them; high-water marks at their defaults (libzmq's queues
up to them are allowed memory; ``--hwm N`` sets a smaller one to keep them out of the
peak). The cases:

  library     zmqffi, pyzmq (skipped, with a note, when ``import zmq`` fails)
  frames      3,000 x 1 MiB; 20,000 x 64 KiB
  transport   tcp (127.0.0.1, wildcard port), inproc
  send        lent    zmqffi send(data) (bytes this large are lent by default);
                      pyzmq send(data, copy=False)
              copied  send(data, copy=True) in both
  recv        copy    recv() -> bytes
              view    zmqffi recv_msg(), its buffer, close();
                      pyzmq recv(copy=False), its buffer

Each case runs in a fresh child process (``--case NAME``), so that peaks don't mix.
Its peak is VmHWM at the end of the burst minus VmRSS at its start (VmHWM is reset at
the start where /proc/self/clear_refs allows it, so the burst's own peak is measured
even when the process was larger before). RSS just after the burst, after
gc.collect(), and after closing the socket and terminating the context tells whether
the memory is given back. Frames per second are for information only (the machine
may be shared).

There is no memory bound yet: each zmqffi case is compared with the same case on
pyzmq (ratio and difference of the peaks). Exit status 0 unless a case crashed or hung.

    python stress/burst.py                      # every case, full counts
    python stress/burst.py --short              # counts / 10, for CI
    python stress/burst.py --cases 1MiB-tcp --library zmqffi
    python stress/burst.py --hwm 10             # the peak without libzmq's queues
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import common

MIB = common.MIB
KIB = 1024
LIBRARIES = ("zmqffi", "pyzmq")
FRAMES = ((MIB, 3_000, "1MiB"), (64 * KIB, 20_000, "64KiB"))  # size, count, label
TRANSPORTS = ("tcp", "inproc")
SENDS = ("lent", "copied")
RECVS = ("copy", "view")
SHORT_DIVISOR = 10
CASE_SECONDS = 240  # a case's watchdog: longer than this is a hang
WAIT_MS = 60_000  # no single frame may take longer (then the call fails, not hangs)
RATIO_FLOOR_MIB = 1.0  # a pyzmq peak below this counts as this much in the ratio


@dataclass(frozen=True)
class Case:
    library: str
    size: int
    count: int
    size_label: str
    transport: str
    send: str
    recv: str
    hwm: int | None = None  # SNDHWM and RCVHWM; None: libzmq's default (1000)

    @property
    def name(self) -> str:
        return "-".join((self.library, self.size_label, self.transport, self.send, self.recv))

    @property
    def shape(self) -> str:
        """The case without its library: what zmqffi and pyzmq are compared on."""
        return self.name.split("-", 1)[1]


def all_cases(short: bool, hwm: int | None) -> list[Case]:
    divisor = SHORT_DIVISOR if short else 1
    return [Case(library, size, count // divisor, label, transport, send, recv, hwm)
            for library, (size, count, label), transport, send, recv
            in itertools.product(LIBRARIES, FRAMES, TRANSPORTS, SENDS, RECVS)]


# --- memory ------------------------------------------------------------------------

def peak_rss_mib() -> float:
    """The process's resident-memory high-water mark (VmHWM), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> bool:
    """Set VmHWM back to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


# --- the two libraries, as far as a burst needs them --------------------------------

@dataclass
class Library:
    module: Any
    send: dict[str, Callable[[Any, bytes], None]]
    recv: dict[str, Callable[[Any], tuple[int, int]]]  # -> (frame size, its last byte)


def zmqffi_library() -> Library:
    import zmqffi

    def recv_copy(sock: Any) -> tuple[int, int]:
        data = sock.recv()
        return len(data), data[-1]

    def recv_view(sock: Any) -> tuple[int, int]:
        # what a zero-copy user does: look at the frame through the view, close the
        # Message, drop the view
        msg = sock.recv_msg()
        view = msg.buffer
        seen = len(view), view[-1]
        msg.close()
        del view
        return seen

    return Library(zmqffi,
                   send={"lent": lambda sock, data: sock.send(data),
                         "copied": lambda sock, data: sock.send(data, copy=True)},
                   recv={"copy": recv_copy, "view": recv_view})


def pyzmq_library() -> Library:
    import zmq

    def recv_copy(sock: Any) -> tuple[int, int]:
        data = sock.recv()
        return len(data), data[-1]

    def recv_view(sock: Any) -> tuple[int, int]:
        frame = sock.recv(copy=False)
        view = frame.buffer
        seen = len(view), view[-1]
        del view, frame
        return seen

    return Library(zmq,
                   send={"lent": lambda sock, data: sock.send(data, copy=False),
                         "copied": lambda sock, data: sock.send(data, copy=True)},
                   recv={"copy": recv_copy, "view": recv_view})


LOADERS = {"zmqffi": zmqffi_library, "pyzmq": pyzmq_library}


def pyzmq_missing() -> str | None:
    """Why pyzmq can't be measured here, or None if it can."""
    try:
        import zmq  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any failure to import means: skip it
        return f"import zmq failed: {type(exc).__name__}: {exc}"
    return None


# --- one case, in this process -------------------------------------------------------

def endpoint_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value  # pyzmq gives bytes


def options(zmq: Any, sock: Any, hwm: int | None) -> Any:
    sock.setsockopt(zmq.RCVTIMEO, WAIT_MS)
    sock.setsockopt(zmq.SNDTIMEO, WAIT_MS)
    sock.setsockopt(zmq.LINGER, WAIT_MS)
    if hwm is not None:
        sock.setsockopt(zmq.SNDHWM, hwm)
        sock.setsockopt(zmq.RCVHWM, hwm)
    return sock


class Sender(threading.Thread):
    """Sends ``case.count`` frames from a PUSH socket created in this thread, once told to go."""

    def __init__(self, lib: Library, ctx: Any, endpoint: str, case: Case) -> None:
        super().__init__(name="burst-sender", daemon=True)
        self.lib, self.ctx, self.endpoint, self.case = lib, ctx, endpoint, case
        self.ready, self.go = threading.Event(), threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            zmq, send = self.lib.module, self.lib.send[self.case.send]
            sock = options(zmq, self.ctx.socket(zmq.PUSH), self.case.hwm)
            try:
                sock.connect(self.endpoint)
                template = bytearray(self.case.size)
                self.ready.set()
                self.go.wait()
                for i in range(self.case.count):
                    # a new bytes object per frame, as an application would make; its
                    # last byte numbers it, for the receiver to check
                    template[-1] = i & 0xFF
                    send(sock, bytes(template))
            finally:
                sock.close()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the main thread
            self.error = exc
            self.ready.set()


def run_case(case: Case) -> dict[str, Any]:
    lib = LOADERS[case.library]()
    zmq, recv = lib.module, lib.recv[case.recv]
    ctx = zmq.Context()
    pull = options(zmq, ctx.socket(zmq.PULL), case.hwm)
    pull.bind("tcp://127.0.0.1:*" if case.transport == "tcp" else "inproc://burst")
    sender = Sender(lib, ctx, endpoint_text(pull.last_endpoint), case)
    sender.start()
    if not sender.ready.wait(WAIT_MS / 1000) or sender.error is not None:
        raise RuntimeError(f"the sender did not start: {sender.error!r}")

    gc.collect()
    hwm_reset = reset_peak_rss()
    start = common.rss_mib()
    t0 = time.perf_counter()
    sender.go.set()
    for i in range(case.count):
        size, last = recv(pull)
        if size != case.size or last != i & 0xFF:
            raise AssertionError(f"frame {i}: {size} bytes ending in {last}, expected "
                                 f"{case.size} ending in {i & 0xFF}")
    seconds = time.perf_counter() - t0
    sender.join(WAIT_MS / 1000)
    if sender.is_alive():
        raise RuntimeError("the sender did not finish")
    if sender.error is not None:
        raise sender.error
    peak = peak_rss_mib()
    after = common.rss_mib()
    gc.collect()
    after_gc = common.rss_mib()
    pull.close()
    ctx.term()  # (zmqffi drops the lent buffers libzmq gave back, if no send did since)
    after_term = common.rss_mib()
    return {"library": case.library, "size": case.size, "count": case.count,
            "transport": case.transport, "send": case.send, "recv": case.recv,
            "peak_delta_mib": round(peak - start, 1), "rss_start_mib": round(start, 1),
            "rss_peak_mib": round(peak, 1), "rss_after_mib": round(after, 1),
            "rss_after_gc_mib": round(after_gc, 1), "rss_after_term_mib": round(after_term, 1),
            "frames_per_s": round(case.count / seconds), "seconds": round(seconds, 2),
            "hwm": case.hwm, "hwm_reset": hwm_reset}


# --- every case, each in a child -----------------------------------------------------

def run_child(case: Case, short: bool) -> dict[str, Any]:
    """Run one case in a fresh interpreter; its RESULT, or one saying how it failed."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", case.name]
    if short:
        cmd.append("--short")
    if case.hwm is not None:
        cmd += ["--hwm", str(case.hwm)]
    try:  # (the child's stderr, a traceback or the watchdog's stacks, passes through)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True,
                              timeout=CASE_SECONDS + 30)
        output, error = proc.stdout, (f"exit {proc.returncode}" if proc.returncode else "")
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        error = "hung (killed)"
    found = [json.loads(line[7:]) for line in output.splitlines()
             if line.startswith("RESULT ")]
    if error or not found:
        return {"name": case.name, "ok": False, "interpreter": common.interpreter(),
                "library": case.library, "error": error or "no RESULT"}
    return found[-1]


def comparisons(results: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """For each case measured on both libraries: (zmqffi's peak / pyzmq's, the
    difference in MiB), keyed by the case's shape. A bound on zmqffi's memory
    relative to pyzmq's would be checked on these."""
    peaks = {(r["library"], r["name"].split("-", 1)[1]): r["peak_delta_mib"]
             for r in results if "peak_delta_mib" in r}
    out = {}
    for (library, shape), ours in peaks.items():
        theirs = peaks.get(("pyzmq", shape))
        if library == "zmqffi" and theirs is not None:
            out[shape] = (ours / max(theirs, RATIO_FLOOR_MIB), ours - theirs)
    return out


# the table's columns: heading, RESULT key
COLUMNS = (("peak", "peak_delta_mib"), ("start", "rss_start_mib"), ("VmHWM", "rss_peak_mib"),
           ("after", "rss_after_mib"), ("after gc", "rss_after_gc_mib"),
           ("term", "rss_after_term_mib"), ("frames/s", "frames_per_s"))


def table(results: list[dict[str, Any]], hwm: int | None) -> None:
    versus = comparisons(results)
    print(f"\n### burst ({common.interpreter()}, SNDHWM/RCVHWM {hwm or 'default'}): "
          "RSS in MiB; peak = VmHWM at the end - VmRSS at the start; after, after gc, "
          "term: RSS after the burst, after gc.collect(), after closing and terminating")
    header = (f"{'case':32}" + "".join(f" {heading:>9}" for heading, _ in COLUMNS)
              + "  zmqffi vs pyzmq: peak ratio (difference)")
    print(header)
    print("-" * len(header))
    for r in results:
        if "peak_delta_mib" not in r:
            why = f"FAILED: {r['error']}" if "error" in r else f"skipped: {r.get('skipped')}"
            print(f"{r['name']:32} {why}")
            continue
        shape = r["name"].split("-", 1)[1]
        compared = ""
        if r["library"] == "zmqffi" and shape in versus:
            ratio, diff = versus[shape]
            compared = f"x{ratio:.2f} ({diff:+.1f})"
        figures = "".join(f" {r[key]:>9,}" if isinstance(r[key], int) else f" {r[key]:>9.1f}"
                          for _, key in COLUMNS)
        print(f"{r['name']:32}{figures}  {compared}")
    if any(r.get("hwm_reset") is False for r in results):
        print("note: VmHWM could not be reset at the start of a burst; a larger "
              "process before it hides the burst's own peak")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true",
                        help=f"counts / {SHORT_DIVISOR}, for CI")
    parser.add_argument("--cases", default="",
                        help="run only the cases whose name contains this")
    parser.add_argument("--library", choices=("zmqffi", "pyzmq", "both"), default="both")
    parser.add_argument("--hwm", type=int, default=None,
                        help="SNDHWM and RCVHWM (default: libzmq's, 1000); a small one "
                             "keeps libzmq's queues out of the peak")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # the child: run this one case
    args = parser.parse_args(argv)
    cases = all_cases(args.short, args.hwm)

    if args.case:
        common.watchdog(CASE_SECONDS)
        case = next((c for c in cases if c.name == args.case), None)
        if case is None:
            parser.error(f"unknown case {args.case!r}")
        figures = run_case(case)
        common.report(case.name, True, **figures)
        return 0

    cases = [c for c in cases if args.cases in c.name
             and args.library in (c.library, "both")]
    if not cases:
        parser.error(f"no case matches {args.cases!r} with --library {args.library}")
    skip_pyzmq = pyzmq_missing() if any(c.library == "pyzmq" for c in cases) else None
    results = []
    if skip_pyzmq:
        print(f"note: pyzmq cases skipped ({skip_pyzmq})", flush=True)
        cases = [c for c in cases if c.library != "pyzmq"]
        results.append({"name": "burst-pyzmq", "ok": True, "interpreter": common.interpreter(),
                        "library": "pyzmq", "skipped": skip_pyzmq})
    for case in cases:
        result = run_child(case, args.short)
        results.append(result)
        if "peak_delta_mib" in result:
            print(f"{case.name:32} peak {result['peak_delta_mib']:7.1f} MiB "
                  f"{result['frames_per_s']:9,} frames/s", flush=True)
        else:
            print(f"{case.name:32} FAILED: {result['error']}", flush=True)
    for result in results:  # for stress/run.py
        print("RESULT " + json.dumps(result))
    table(results, args.hwm)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
