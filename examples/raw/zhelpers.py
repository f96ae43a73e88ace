"""Small helpers shared by the raw examples, in the spirit of the guide's zhelpers.hpp.

Only `zmqffi.lib` and `zmqffi.ffi` are used: nothing here is checked for you, so every call
that can fail goes through `check()`, as a C program tests each return code.
"""

from __future__ import annotations

from zmqffi import ffi, lib


def check(rc: int, call: str) -> int:
    """Raise OSError, naming the call, when a libzmq call returned -1."""
    if rc == -1:
        errno = lib.zmq_errno()
        raise OSError(errno, f"{call}: {ffi.string(lib.zmq_strerror(errno)).decode()}")
    return rc


def check_ptr(pointer: object, call: str) -> object:
    """Raise OSError, naming the call, when a libzmq call returned NULL."""
    if pointer == ffi.NULL:
        check(-1, call)
    return pointer


def set_int(socket: object, option: int, value: int) -> None:
    """zmq_setsockopt for an int option."""
    check(lib.zmq_setsockopt(socket, option, ffi.new("int *", value), ffi.sizeof("int")),
          f"zmq_setsockopt({option})")


def last_endpoint(socket: object) -> str:
    """The endpoint a socket bound last (ZMQ_LAST_ENDPOINT), e.g. the real port of a wildcard."""
    size = ffi.new("size_t *", 256)
    buffer = ffi.new("char[]", size[0])
    check(lib.zmq_getsockopt(socket, lib.ZMQ_LAST_ENDPOINT, buffer, size),
          "zmq_getsockopt(ZMQ_LAST_ENDPOINT)")
    return ffi.string(buffer).decode()


def bind(socket: object, endpoint: str) -> None:
    """zmq_bind; with a wildcard port, print the real endpoint so a launcher can tell the peers."""
    check(lib.zmq_bind(socket, endpoint.encode()), f"zmq_bind({endpoint})")
    if endpoint.endswith((":*", ":0")):
        print(f"Bound to {last_endpoint(socket)}", flush=True)
