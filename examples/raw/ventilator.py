#!/usr/bin/env python3
"""Task ventilator over the raw C API: the guide's C++ ventilator translated call for call.

Same endpoints, messages, options and output as examples/ventilator.py; the two are
interchangeable.
"""

from __future__ import annotations

import argparse
import random
import sys

from zhelpers import bind, check, check_ptr, set_int
from zmqffi import ffi, lib

# How long closing may wait to deliver the messages still queued (msec).
LINGER_MSEC = 5000
TASK_SIZE = 10  # bytes on the wire per task, NUL-padded
MONITOR = b"inproc://ventilator-monitor"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="tcp://*:5557", metavar="ENDPOINT",
                        help="where the workers fetch tasks (default: %(default)s); "
                             "with a wildcard port the real endpoint is printed first")
    parser.add_argument("--sink", default="tcp://localhost:5558", metavar="ENDPOINT",
                        help="the sink to signal the start of the batch (default: %(default)s)")
    parser.add_argument("--tasks", type=int, default=100, help="tasks to send (default: 100)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed the workloads, for a reproducible batch (default: random)")
    parser.add_argument("--max-workload", type=int, default=100, metavar="MSEC",
                        help="workloads are drawn from 1..MSEC (default: 100)")
    wait = parser.add_mutually_exclusive_group()
    wait.add_argument("--no-wait", action="store_true",
                      help="do not ask for Enter before sending (for scripts)")
    wait.add_argument("--wait-workers", type=int, default=0, metavar="N",
                      help="instead of asking for Enter, wait until N workers are connected")
    args = parser.parse_args(argv)
    if not 1 <= args.max_workload < 10 ** (TASK_SIZE - 1):
        parser.error(f"--max-workload must be 1..{10 ** (TASK_SIZE - 1) - 1}")
    return args


def bind_and_wait_for_workers(context: object, sender: object, endpoint: str, count: int) -> None:
    """Bind, then count completed handshakes on a monitor (see examples/ventilator.py)."""
    check(lib.zmq_socket_monitor(sender, MONITOR, lib.ZMQ_EVENT_HANDSHAKE_SUCCEEDED),
          "zmq_socket_monitor")
    monitor = check_ptr(lib.zmq_socket(context, lib.ZMQ_PAIR), "zmq_socket")
    check(lib.zmq_connect(monitor, MONITOR), "zmq_connect(monitor)")
    bind(sender, endpoint)
    print(f"Waiting for {count} workers…", flush=True)

    event = ffi.new("zmq_msg_t *")
    ready = 0
    while ready < count:
        #  Each event is two frames: 16-bit event number + 32-bit value, then the endpoint
        check(lib.zmq_msg_init(event), "zmq_msg_init")
        check(lib.zmq_msg_recv(event, monitor, 0), "zmq_msg_recv(monitor)")
        number = ffi.cast("uint16_t *", lib.zmq_msg_data(event))[0]
        check(lib.zmq_msg_recv(event, monitor, 0), "zmq_msg_recv(monitor)")
        check(lib.zmq_msg_close(event), "zmq_msg_close")
        if number == lib.ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            ready += 1

    check(lib.zmq_socket_monitor(sender, ffi.NULL, 0), "zmq_socket_monitor(NULL)")
    check(lib.zmq_close(monitor), "zmq_close(monitor)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    context = check_ptr(lib.zmq_ctx_new(), "zmq_ctx_new")

    #  Socket to send messages on
    sender = check_ptr(lib.zmq_socket(context, lib.ZMQ_PUSH), "zmq_socket")
    #  Instead of the C++'s final sleep(1): closing with a linger (see examples/ventilator.py)
    set_int(sender, lib.ZMQ_LINGER, LINGER_MSEC)
    if args.wait_workers:
        bind_and_wait_for_workers(context, sender, args.bind, args.wait_workers)
    else:
        bind(sender, args.bind)
        if not args.no_wait:
            print("Press Enter when the workers are ready: ", flush=True)
            sys.stdin.readline()
    print("Sending tasks to workers…\n", flush=True)

    #  The first message is "0" and signals start of batch
    sink = check_ptr(lib.zmq_socket(context, lib.ZMQ_PUSH), "zmq_socket")
    set_int(sink, lib.ZMQ_LINGER, LINGER_MSEC)
    check(lib.zmq_connect(sink, args.sink.encode()), f"zmq_connect({args.sink})")
    message = ffi.new("zmq_msg_t *")
    check(lib.zmq_msg_init_size(message, 2), "zmq_msg_init_size")
    ffi.memmove(lib.zmq_msg_data(message), b"0\0", 2)
    check(lib.zmq_msg_send(message, sink, 0), "zmq_msg_send")

    #  Initialize random number generator
    rng = random.Random(args.seed)

    #  Send the tasks
    total_msec = 0  # Total expected cost in msecs
    for _ in range(args.tasks):
        #  Random workload from 1 to --max-workload msecs
        workload = rng.randint(1, args.max_workload)
        total_msec += workload

        check(lib.zmq_msg_close(message), "zmq_msg_close")  # message.rebuild(10)
        check(lib.zmq_msg_init_size(message, TASK_SIZE), "zmq_msg_init_size")
        ffi.memmove(lib.zmq_msg_data(message), str(workload).encode().ljust(TASK_SIZE, b"\0"),
                    TASK_SIZE)
        check(lib.zmq_msg_send(message, sender, 0), "zmq_msg_send")
    check(lib.zmq_msg_close(message), "zmq_msg_close")
    print(f"Total expected cost: {total_msec} msec", flush=True)

    check(lib.zmq_close(sink), "zmq_close")
    check(lib.zmq_close(sender), "zmq_close")
    check(lib.zmq_ctx_term(context), "zmq_ctx_term")  # returns once all is sent (the linger)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # like a C program on SIGINT: the process ends, the OS cleans up
        sys.exit(130)
