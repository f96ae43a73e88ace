#!/usr/bin/env python3
"""Fuzz: random sequences of the Pythonic API with random arguments (hypothesis stateful).

A RuleBasedStateMachine creates contexts, sockets, messages, pollers and monitors, and
calls their methods in random order with arguments drawn from valid values, edge values
and garbage of every type: bind/connect to real and malformed endpoints, send/recv
through connected pairs, options of every type, close/term/shutdown/destroy in any
order, calls from foreign threads, adopt(), objects dropped to the garbage collector,
views kept past close(). Checks:

  * no crash: the fuzz runs in a child process; a signal (segfault, abort) is a failure;
  * every error is a ZMQError (Again, ... included), a LifecycleError (ClosedError
    included), TypeError or ValueError -- anything else fails the run, with
    hypothesis's shrunk example (KeyError is allowed for Poller.unregister/modify of
    what is not registered, as pyzmq does);
  * what a view of a message shows never changes, even after close() and GC;
  * a fresh socket pair still carries a message whatever came before.

The fuzz never makes calls that legitimately block forever (a blocking recv, a proxy,
poll(None), LINGER=-1 with unreachable peers): send/recv always carry DONTWAIT.

    python stress/fuzz.py --seconds 60     # prints steps, errors by type, crashes
"""

from __future__ import annotations

import argparse
import collections
import gc
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from typing import Any, Callable

import common

ALLOWED = "ZMQError, LifecycleError (and subclasses), TypeError, ValueError"
PIPE_FD = -1


def child(seconds: float) -> int:
    import faulthandler

    from hypothesis import HealthCheck, settings
    from hypothesis import strategies as st
    from hypothesis.stateful import (Bundle, RuleBasedStateMachine, consumes,
                                     invariant, rule, run_state_machine_as_test)

    import zmqffi

    faulthandler.enable()
    common.watchdog(seconds + 300)  # a hang is a failure too
    recent: collections.deque[str] = collections.deque(maxlen=60)
    # a flight recorder: the calls of the current example, on disk before each call,
    # so that after a crash (a signal) the parent can show how it got there
    trace = open(os.environ["ZMQFFI_FUZZ_TRACE"], "w", buffering=1)
    last_progress = [time.monotonic()]

    def hang_report() -> None:
        """Before the watchdog fires: the calls that led to a hang (a thread runs while
        the main thread waits in C with the GIL released)."""
        while True:
            time.sleep(5)
            if time.monotonic() - last_progress[0] > 120:
                print("HANG: no call returned for 120 s; the last calls were:",
                      *recent, sep="\n  ", file=sys.stderr, flush=True)
                faulthandler.dump_traceback(all_threads=True)
                os._exit(3)

    threading.Thread(target=hang_report, daemon=True).start()
    warnings.simplefilter("ignore", ResourceWarning)  # GC of open objects is on purpose
    tmp = tempfile.mkdtemp(prefix="zmqffi-fuzz-")
    stats: collections.Counter[str] = collections.Counter()
    counter = itertools.count()
    global PIPE_FD
    PIPE_FD = os.pipe()[0]  # a plain file descriptor for the Poller

    def allowed(exc: BaseException, call: str) -> bool:
        if isinstance(exc, (zmqffi.ZMQError, zmqffi.LifecycleError, TypeError, ValueError)):
            return True
        return isinstance(exc, KeyError) and call in ("unregister", "modify")

    # --- argument strategies ----------------------------------------------------------
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    garbage = st.one_of(
        st.none(), st.booleans(), st.integers(), st.integers(-2 ** 70, 2 ** 70),
        st.floats(allow_nan=True), st.text(max_size=12), st.binary(max_size=24),
        st.lists(st.binary(max_size=4), max_size=3), st.just(Opaque()),
        st.builds(bytearray, st.binary(max_size=16)),
        st.builds(memoryview, st.binary(max_size=16)), st.just(zmqffi.Message))
    socket_types = [getattr(zmqffi, n) for n in
                    ("PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER", "PULL", "PUSH",
                     "XPUB", "XSUB", "STREAM")]
    kinds = st.one_of(st.sampled_from(socket_types), st.integers(-3, 40), garbage)
    endpoints = st.one_of(
        st.sampled_from(["inproc://a", "inproc://b", "inproc://zeromq.zap.01",
                         "tcp://127.0.0.1:*", "tcp://127.0.0.1:0", "tcp://127.0.0.1:1",
                         "tcp://*:*", f"ipc://{tmp}/a", f"ipc://{tmp}/b", "tcp://",
                         "tcp://127.0.0.1:99999", "tcp://127.0.0.1:-1", "tcp://:5",
                         "tcp://127.0.0.1:notaport", "nothing", "foo://x", "udp://*:*",
                         "ws://127.0.0.1:*", "inproc://", "inproc://a\0b", "ipc://",
                         "tcp://256.1.1.1:*", "tcp://[::1]:*", "tcp://localhost:*",
                         "tcp://127.0.0.1:0;127.0.0.1:1", "pgm://x", "tipc://x"]),
        st.text(max_size=30), st.builds(lambda t: "tcp://" + t, st.text(max_size=20)),
        st.builds(lambda t: "inproc://" + t, st.text(max_size=20)), garbage)
    option_names = sorted(name for name in dir(zmqffi) if name.isupper()
                          and isinstance(getattr(zmqffi, name), int)
                          and name in {v[0] for v in _options(zmqffi).values()})
    # USE_FD would hand libzmq a random descriptor of this process (ours to break);
    # LINGER is drawn separately: -1 with an unreachable peer makes term() wait forever.
    option_names = [n for n in option_names if n not in ("USE_FD", "LINGER")]
    options = st.one_of(st.sampled_from([getattr(zmqffi, n) for n in option_names]),
                        st.integers(-2, 120), garbage)
    values = st.one_of(st.integers(-2, 2000), st.integers(), st.binary(max_size=300),
                       st.text(max_size=60), st.sampled_from([b"", b"\0", "x" * 256]),
                       st.builds(lambda: zmqffi.curve_keypair()[0]), garbage)
    flags = st.one_of(st.sampled_from([0, zmqffi.SNDMORE]), st.integers(-2, 8), garbage)
    data = st.one_of(st.binary(max_size=64), st.binary(min_size=65536, max_size=70000),
                     st.builds(bytearray, st.binary(max_size=64)),
                     st.builds(memoryview, st.binary(max_size=64)), st.text(max_size=8),
                     garbage)
    lingers = st.one_of(st.none(), st.integers(0, 20), garbage.filter(
        lambda v: not isinstance(v, int) or isinstance(v, bool)))
    timeouts = st.one_of(st.integers(0, 5), st.floats(0, 5), garbage.filter(  # not None:
        lambda v: v is not None and (not isinstance(v, (int, float))  # that waits forever
                                     or isinstance(v, bool))))

    def nonblocking(value: Any) -> Any:
        """Flags that never block (blocking calls are excluded, not faults)."""
        if isinstance(value, int) and -2 ** 31 <= value < 2 ** 31:  # bool too (0 or 1)
            return int(value) | zmqffi.DONTWAIT
        return value

    class Machine(RuleBasedStateMachine):
        sockets = Bundle("sockets")
        messages = Bundle("messages")

        def __init__(self) -> None:
            super().__init__()
            self.contexts: list[zmqffi.Context] = []
            self.views: list[tuple[memoryview, bytes]] = []
            self.bound: list[str] = []
            self.poller = zmqffi.Poller()
            self.new_context()

        # -- plumbing --------------------------------------------------------------------
        def call(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
            stats["calls"] += 1
            last_progress[0] = time.monotonic()
            line = f"{name}{tuple(args)!r:.300}"
            recent.append(line)
            trace.write(line + "\n")
            os.fsync(trace.fileno()) if os.environ.get("ZMQFFI_FUZZ_FSYNC") else None
            try:
                result = fn(*args)
            except BaseException as exc:
                if not allowed(exc, name):
                    raise
                stats[f"error {type(exc).__name__}"] += 1
                return None
            stats["ok"] += 1
            return result

        @property
        def ctx(self) -> zmqffi.Context:
            return self.contexts[-1]

        def new_context(self) -> None:
            ctx = zmqffi.Context.instance()
            self.contexts.append(ctx)

        def teardown(self) -> None:
            recent.append("-- teardown")
            trace.seek(0)
            trace.truncate()
            for ctx in self.contexts:
                ctx.destroy(linger=0)
            for view, expected in self.views:
                assert bytes(view) == expected
            gc.collect()
            stats["examples"] += 1

        # -- contexts --------------------------------------------------------------------
        @rule()
        def context_again(self) -> None:
            if self.ctx.closed:
                self.new_context()
            else:  # a second live Context is refused
                self.call("Context", zmqffi.Context)

        @rule(how=st.sampled_from(["term", "shutdown", "destroy", "destroy-thread"]),
              linger=lingers)
        def end_context(self, how: str, linger: Any) -> None:
            ctx = self.ctx
            if how == "term":
                self.call("term", ctx.term)
            elif how == "shutdown":
                self.call("shutdown", ctx.shutdown)
            elif how == "destroy":
                self.call("destroy", ctx.destroy, linger)
            else:
                self.in_thread(lambda: self.call("destroy", ctx.destroy, linger))

        @rule(option=st.one_of(st.sampled_from([zmqffi.IO_THREADS, zmqffi.MAX_SOCKETS,
                                                zmqffi.IPV6, zmqffi.BLOCKY]), garbage),
              value=st.one_of(st.integers(-2, 2000), garbage), set_it=st.booleans())
        def context_option(self, option: Any, value: Any, set_it: bool) -> None:
            if set_it:
                self.call("ctx.set", self.ctx.set, option, value)
            else:
                self.call("ctx.get", self.ctx.get, option)

        # -- sockets ---------------------------------------------------------------------
        @rule(target=sockets, kind=kinds)
        def socket(self, kind: Any) -> Any:
            sock = self.call("socket", self.ctx.socket, kind)
            if sock is not None:
                self.call("setsockopt", sock.setsockopt, zmqffi.LINGER, 0)
            return sock

        @rule(sock=sockets, endpoint=endpoints, bind=st.booleans())
        def endpoint(self, sock: Any, endpoint: Any, bind: bool) -> None:
            if sock is None:
                return
            if bind:
                if self.call("bind", sock.bind, endpoint) is None and not sock.closed:
                    last = self.call("last_endpoint", lambda: sock.last_endpoint)
                    if last:
                        self.bound.append(last)
            else:
                self.call("connect", sock.connect, endpoint)

        @rule(sock=sockets, pick=st.integers(0, 50), unbind=st.booleans())
        def to_bound(self, sock: Any, pick: int, unbind: bool) -> None:
            if sock is None or not self.bound:
                return
            endpoint = self.bound[pick % len(self.bound)]
            if unbind:
                self.call("unbind", sock.unbind, endpoint)
                self.call("disconnect", sock.disconnect, endpoint)
            else:
                self.call("connect", sock.connect, endpoint)

        @rule(sock=sockets, payload=data, flag=flags, copy=st.sampled_from([None, True,
                                                                           False]))
        def send(self, sock: Any, payload: Any, flag: Any, copy: Any) -> None:
            if sock is not None:
                self.call("send", sock.send, payload, nonblocking(flag), copy)

        @rule(sock=sockets, parts=st.lists(data, max_size=4), flag=flags)
        def send_multipart(self, sock: Any, parts: list[Any], flag: Any) -> None:
            if sock is not None:
                self.call("send_multipart", sock.send_multipart, parts, nonblocking(flag))

        @rule(sock=sockets, flag=flags,
              how=st.sampled_from(["recv", "recv_multipart", "recv_msg", "recv_into"]),
              size=st.integers(0, 70000), readonly=st.booleans())
        def recv(self, sock: Any, flag: Any, how: str, size: int, readonly: bool) -> None:
            if sock is None:
                return
            flag = nonblocking(flag)
            if how == "recv_into":
                buf: Any = bytes(size) if readonly else bytearray(size)
                self.call("recv_into", sock.recv_into, buf, flag)
            elif how == "recv_msg":
                msg = self.call("recv_msg", sock.recv_msg, flag)
                if msg is not None:
                    self.views.append((msg.buffer, msg.bytes))
                    msg.close()
            else:
                self.call(how, getattr(sock, how), flag)

        @rule(sock=sockets, option=options, value=values, read=st.booleans())
        def option(self, sock: Any, option: Any, value: Any, read: bool) -> None:
            if sock is None:
                return
            if read:
                self.call("getsockopt", sock.getsockopt, option)
            else:
                self.call("setsockopt", sock.setsockopt, option, value)

        @rule(sock=sockets, linger=st.one_of(st.integers(0, 20), garbage))
        def linger(self, sock: Any, linger: Any) -> None:
            if sock is not None:
                self.call("setsockopt", sock.setsockopt, zmqffi.LINGER, linger)

        @rule(sock=sockets, linger=lingers)
        def close(self, sock: Any, linger: Any) -> None:
            if sock is not None:
                self.call("close", sock.close, linger)

        @rule(sock=sockets, what=st.sampled_from(["send", "recv", "close", "setsockopt",
                                                  "bind", "adopt-and-use"]))
        def foreign_thread(self, sock: Any, what: str) -> None:
            if sock is None:
                return

            def use() -> None:
                if what == "send":
                    self.call("send", sock.send, b"x", zmqffi.DONTWAIT)
                elif what == "recv":
                    self.call("recv", sock.recv, zmqffi.DONTWAIT)
                elif what == "close":
                    self.call("close", sock.close)
                elif what == "setsockopt":
                    self.call("setsockopt", sock.setsockopt, zmqffi.SNDHWM, 5)
                elif what == "bind":
                    self.call("bind", sock.bind, "inproc://foreign")
                elif self.call("adopt", sock.adopt) is None and not sock.closed:
                    self.call("send", sock.send, b"adopted", zmqffi.DONTWAIT)

            self.in_thread(use)
            if what == "adopt-and-use":  # hand it back, as a queue would
                self.call("adopt", sock.adopt)

        def in_thread(self, fn: Callable[[], None]) -> None:
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    fn()
                except BaseException as exc:  # noqa: BLE001 - re-raised below
                    errors.append(exc)

            thread = threading.Thread(target=run)
            thread.start()
            thread.join(30)
            assert not thread.is_alive(), "a call from another thread hung"
            if errors:
                raise errors[0]

        @rule(kind=kinds, bind=endpoints, use=st.booleans())
        def dropped_socket(self, kind: Any, bind: Any, use: bool) -> None:
            """A socket left to the garbage collector (ResourceWarning, linger 0)."""
            sock = self.call("socket", self.ctx.socket, kind)
            if sock is not None and use:
                self.call("bind", sock.bind, bind)
                self.call("send", sock.send, b"dropped", zmqffi.DONTWAIT)
            del sock
            gc.collect()

        # -- messages --------------------------------------------------------------------
        @rule(target=messages, payload=data, copy=st.booleans())
        def message(self, payload: Any, copy: bool) -> Any:
            return self.call("Message", zmqffi.Message, payload, copy)

        @rule(msg=messages, what=st.sampled_from(["bytes", "buffer", "len", "more", "get",
                                                  "gets", "close", "drop-view"]),
              arg=st.one_of(st.integers(-2, 10), st.sampled_from(
                  ["Peer-Address", "User-Id", "Socket-Type", "Routing-Id"]), garbage))
        def use_message(self, msg: Any, what: str, arg: Any) -> None:
            if msg is None:
                return
            if what == "buffer":
                view = self.call("buffer", lambda: msg.buffer)
                content = self.call("bytes", lambda: msg.bytes)
                if view is not None and content is not None:
                    self.views.append((view, content))
            elif what == "drop-view":
                if self.views:
                    self.views.pop(0)[0].release()
                    gc.collect()
            elif what in ("bytes", "more"):
                self.call(what, lambda: getattr(msg, what))
            elif what == "len":
                self.call("len", len, msg)
            elif what == "close":
                self.call("close", msg.close)
            else:
                self.call(what, getattr(msg, what), arg)

        @rule(sock=sockets, msg=consumes(messages), flag=flags)
        def send_message(self, sock: Any, msg: Any, flag: Any) -> None:
            if sock is not None and msg is not None:
                self.call("send", sock.send, msg, nonblocking(flag))
                msg.close()

        @rule(payload=data, view=st.booleans())
        def dropped_message(self, payload: Any, view: bool) -> None:
            msg = self.call("Message", zmqffi.Message, payload)
            if msg is not None and view:
                self.views.append((msg.buffer, msg.bytes))
            del msg
            gc.collect()

        # -- poller, monitor, devices, security --------------------------------------------
        @rule(sock=sockets, what=st.sampled_from(["register", "modify", "unregister",
                                                  "poll"]),
              flag=st.one_of(st.sampled_from([zmqffi.POLLIN, zmqffi.POLLOUT, 0]), garbage),
              timeout=timeouts, fd=st.booleans())
        def poll(self, sock: Any, what: str, flag: Any, timeout: Any, fd: bool) -> None:
            target = PIPE_FD if fd else sock
            if target is None:
                return
            if what == "poll":
                self.call("poll", self.poller.poll, timeout)
            else:
                self.call(what, getattr(self.poller, what), target,
                          *(() if what == "unregister" else (flag,)))

        @rule(sock=sockets, endpoint=st.one_of(st.none(), endpoints),
              events=st.one_of(st.just(zmqffi.EVENT_ALL), st.integers(0, 0xFFFF), garbage),
              pair=st.booleans())
        def monitor(self, sock: Any, endpoint: Any, events: Any, pair: bool) -> None:
            if sock is None:
                return
            if pair:
                mon = self.call("get_monitor_socket", sock.get_monitor_socket, events)
                if mon is not None:
                    self.call("recv_monitor_message", zmqffi.recv_monitor_message, mon,
                              zmqffi.DONTWAIT)
                    self.call("close", mon.close, 0)
            else:
                self.call("monitor", sock.monitor, endpoint, events)

        @rule(sock=sockets, other=st.one_of(garbage, st.just("socket")))
        def proxy(self, sock: Any, other: Any) -> None:
            """Only with a bad argument: a valid proxy blocks until the context ends."""
            if sock is not None and other != "socket":
                self.call("proxy", zmqffi.proxy, sock, other)

        @rule(fn=st.sampled_from(["z85_encode", "z85_decode", "curve_public", "has"]),
              arg=st.one_of(st.binary(max_size=50), st.text(max_size=50), garbage,
                            st.builds(lambda: zmqffi.curve_keypair()[1])))
        def security(self, fn: str, arg: Any) -> None:
            self.call(fn, getattr(zmqffi, fn), arg)

        # -- checks ----------------------------------------------------------------------
        @invariant()
        def views_unchanged(self) -> None:
            for view, expected in self.views:
                assert bytes(view) == expected, "a message view changed under us"

        @rule(payload=st.binary(max_size=100))
        def still_works(self, payload: bytes) -> None:
            if self.ctx.closed:
                return
            try:
                a, b = self.ctx.socket(zmqffi.PAIR), self.ctx.socket(zmqffi.PAIR)
            except zmqffi.ContextTerminated:
                return  # shut down: nothing works, by design
            with a, b:
                for s in (a, b):
                    s.setsockopt(zmqffi.LINGER, 0)
                    s.setsockopt(zmqffi.RCVTIMEO, 5000)
                endpoint = f"inproc://check-{next(counter)}"
                a.bind(endpoint)
                b.connect(endpoint)
                a.send(payload)
                assert b.recv() == payload
            stats["exchanges"] += 1

    Machine.TestCase.settings = settings(
        max_examples=25, stateful_step_count=40, deadline=None, database=None,
        suppress_health_check=list(HealthCheck))
    deadline = time.monotonic() + seconds
    runs = 0
    while time.monotonic() < deadline:
        run_state_machine_as_test(Machine, settings=Machine.TestCase.settings)
        runs += 1
    print("STATS " + json.dumps({"runs": runs, **stats}), flush=True)
    return 0


def _options(zmqffi: Any) -> dict[int, tuple[str, str]]:
    from zmqffi.options import OPTIONS
    return OPTIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="how long to fuzz (default 60)")
    parser.add_argument("--short", action="store_true", help="15 seconds (CI)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    seconds = 15.0 if args.short and args.seconds == 60.0 else args.seconds
    if args.child:
        return child(seconds)

    # The fuzz itself runs in a child: a crash (a signal) must not take the report down.
    t0 = time.monotonic()
    trace = os.path.join(tempfile.mkdtemp(prefix="zmqffi-fuzz-"), "trace")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                           "--seconds", str(seconds)], capture_output=True, text=True,
                          timeout=seconds + 600, env={**os.environ, "ZMQFFI_FUZZ_TRACE": trace})
    elapsed = time.monotonic() - t0
    stats: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("STATS "):
            stats = json.loads(line[6:])
    crashed = proc.returncode < 0
    ok = proc.returncode == 0
    if not ok:
        print(proc.stdout[-5000:])
        print(proc.stderr[-20000:], file=sys.stderr)
        if crashed:
            with open(trace) as calls:
                print("The calls of the example that crashed:", *calls, sep="\n  ",
                      file=sys.stderr)
    errors = {k[6:]: v for k, v in stats.items() if k.startswith("error ")}
    common.report(
        "fuzz", ok, crashes=int(crashed), returncode=proc.returncode,
        seconds=round(elapsed, 1), examples=stats.get("examples", 0),
        calls=stats.get("calls", 0), calls_ok=stats.get("ok", 0),
        exchanges_checked=stats.get("exchanges", 0),
        errors_by_type=json.dumps(errors, sort_keys=True),
        other_exceptions=0 if ok else "see above", allowed_errors=ALLOWED)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
