#!/usr/bin/env python3
"""Task worker over the raw C API: the guide's C++ worker translated call for call to zmqffi.lib.

Same endpoints, messages, options and output as examples/worker.py; the two are interchangeable.
"""

from __future__ import annotations

import argparse
import errno
import re
import sys
import time

from zhelpers import check, check_ptr, set_int
from zmqffi import ffi, lib

# How long closing may wait to flush results still queued for the sink (msec).
LINGER_MSEC = 5000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ventilator", default="tcp://localhost:5557", metavar="ENDPOINT",
                        help="where the tasks come from (default: %(default)s)")
    parser.add_argument("--sink", default="tcp://localhost:5558", metavar="ENDPOINT",
                        help="where the results go (default: %(default)s)")
    parser.add_argument("--tasks", type=int, default=None,
                        help="exit after this many tasks (default: run forever)")
    parser.add_argument("--idle-timeout", type=float, default=None, metavar="SECONDS",
                        help="exit when no task arrives for this long (default: wait forever)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    context = check_ptr(lib.zmq_ctx_new(), "zmq_ctx_new")

    #  Socket to receive messages on
    receiver = check_ptr(lib.zmq_socket(context, lib.ZMQ_PULL), "zmq_socket")
    check(lib.zmq_connect(receiver, args.ventilator.encode()), f"zmq_connect({args.ventilator})")
    if args.idle_timeout is not None:
        set_int(receiver, lib.ZMQ_RCVTIMEO, int(args.idle_timeout * 1000))

    #  Socket to send messages to
    sender = check_ptr(lib.zmq_socket(context, lib.ZMQ_PUSH), "zmq_socket")
    check(lib.zmq_connect(sender, args.sink.encode()), f"zmq_connect({args.sink})")
    #  Closing with a linger flushes the last results (see examples/worker.py)
    set_int(sender, lib.ZMQ_LINGER, LINGER_MSEC)

    #  Process tasks (forever, unless --tasks or --idle-timeout)
    message = ffi.new("zmq_msg_t *")
    done = 0
    while args.tasks is None or done < args.tasks:
        check(lib.zmq_msg_init(message), "zmq_msg_init")
        if lib.zmq_msg_recv(message, receiver, 0) == -1:
            if lib.zmq_errno() != errno.EAGAIN:
                check(-1, "zmq_msg_recv")
            check(lib.zmq_msg_close(message), "zmq_msg_close")
            break  # idle for --idle-timeout: the batch is over
        smessage = ffi.buffer(lib.zmq_msg_data(message), lib.zmq_msg_size(message))[:]
        match = re.match(rb"\s*(\d+)", smessage)  # what `iss >> workload` reads
        workload = int(match.group(1)) if match else 0

        #  Do the work
        time.sleep(workload / 1000)

        #  Send results to sink
        check(lib.zmq_msg_close(message), "zmq_msg_close")
        check(lib.zmq_msg_init(message), "zmq_msg_init")  # message.rebuild()
        check(lib.zmq_msg_send(message, sender, 0), "zmq_msg_send")
        check(lib.zmq_msg_close(message), "zmq_msg_close")

        #  Simple progress indicator for the viewer
        print(".", end="", flush=True)
        done += 1

    check(lib.zmq_close(receiver), "zmq_close")
    check(lib.zmq_close(sender), "zmq_close")
    check(lib.zmq_ctx_term(context), "zmq_ctx_term")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # like a C program on SIGINT: the process ends, the OS cleans up
        sys.exit(130)
