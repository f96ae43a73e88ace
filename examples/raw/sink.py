#!/usr/bin/env python3
"""Task sink over the raw C API: the guide's C++ sink translated call for call to zmqffi.lib.

Same endpoints, messages, options and output as examples/sink.py; the two are interchangeable.
"""

from __future__ import annotations

import argparse
import errno
import sys
import time

from zhelpers import bind, check, check_ptr, set_int
from zmqffi import ffi, lib


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="tcp://*:5558", metavar="ENDPOINT",
                        help="where the workers send their results (default: %(default)s); "
                             "with a wildcard port the real endpoint is printed first")
    parser.add_argument("--tasks", type=int, default=100, help="results to collect (default: 100)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="once the batch has started, give up (exit 1) when no result "
                             "arrives for this long (default: wait forever)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    #  Prepare our context and socket
    context = check_ptr(lib.zmq_ctx_new(), "zmq_ctx_new")
    receiver = check_ptr(lib.zmq_socket(context, lib.ZMQ_PULL), "zmq_socket")
    bind(receiver, args.bind)

    #  Wait for start of batch
    message = ffi.new("zmq_msg_t *")
    check(lib.zmq_msg_init(message), "zmq_msg_init")
    check(lib.zmq_msg_recv(message, receiver, 0), "zmq_msg_recv")

    #  Start our clock now
    tstart = time.monotonic()
    if args.timeout is not None:
        set_int(receiver, lib.ZMQ_RCVTIMEO, int(args.timeout * 1000))

    #  Process the confirmations
    status = 0
    for task_nbr in range(args.tasks):
        if lib.zmq_msg_recv(message, receiver, 0) == -1:
            if lib.zmq_errno() != errno.EAGAIN:
                check(-1, "zmq_msg_recv")
            print(f"\nTimed out: received {task_nbr} of {args.tasks} results",
                  file=sys.stderr, flush=True)
            status = 1
            break
        if (task_nbr // 10) * 10 == task_nbr:
            print(":", end="", flush=True)
        else:
            print(".", end="", flush=True)

    if status == 0:
        #  Calculate and report duration of batch
        total_msec = int((time.monotonic() - tstart) * 1000)
        print(f"\nTotal elapsed time: {total_msec} msec\n", flush=True)

    check(lib.zmq_msg_close(message), "zmq_msg_close")
    check(lib.zmq_close(receiver), "zmq_close")
    check(lib.zmq_ctx_term(context), "zmq_ctx_term")
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # like a C program on SIGINT: the process ends, the OS cleans up
        sys.exit(130)
