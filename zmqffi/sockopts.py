"""Socket options: setsockopt/getsockopt, their _string forms, and every option as a
lowercase attribute (``sock.linger = 0``, ``sock.sndhwm``), as pyzmq has them.

The attributes are made from the one table of options (options.TABLE): reading one is
getsockopt, assigning one is setsockopt, with the same types and errors. A type checker
cannot see attributes made at run time, so it reads _sockopts.pyi instead, which
tools/options_stub.py writes from the same table (tests/test_typing.py keeps the two in
step): a misspelt option is an error there, and at run time an AttributeError, as Socket
has ``__slots__``. The draft API's options are attributes only in a build with it.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from zmqffi._zmq import lib
from zmqffi.constants import build_info
from zmqffi.options import TABLE, TEXT, c_buffer, c_value, option_info, py_bytes, py_value

if TYPE_CHECKING:
    from zmqffi._sockopts import OptionAttributes
    from zmqffi._state import SocketState

__all__ = ["SocketOptions", "ATTRIBUTES"]


class Option:
    """One socket option as an attribute of the socket: reading is getsockopt,
    assigning setsockopt."""

    __slots__ = ("name", "number")

    def __init__(self, name: str) -> None:
        self.name = name
        self.number: int | None = getattr(lib, "ZMQ_" + name, None)  # None: not built

    def number_in_build(self) -> int:
        if self.number is None:  # (an AttributeError: hasattr() says False)
            needs = ("is not in this build of libzmq" if build_info["drafts"] else
                     "needs libzmq's draft API (a build with ZMQFFI_DRAFTS=1)")
            raise AttributeError(f"socket option {self.name} {needs}")
        return self.number

    def __get__(self, sock: SocketOptions | None, owner: Any = None) -> Any:
        if sock is None:
            return self
        return sock.getsockopt(self.number_in_build())

    def __set__(self, sock: SocketOptions, value: Any) -> None:
        sock.setsockopt(self.number_in_build(), value)


class Subscription(Option):
    """SUBSCRIBE, UNSUBSCRIBE: libzmq cannot read them back, so reading the attribute
    gives what pyzmq has under that name, a method: ``sock.subscribe(b"topic")``."""

    __slots__ = ()

    def __get__(self, sock: SocketOptions | None, owner: Any = None) -> Any:
        if sock is None:
            return self
        return partial(sock.setsockopt, self.number_in_build())


class HighWaterMark(Option):
    """pyzmq's ``hwm``: assigning sets SNDHWM and RCVHWM; reading gives SNDHWM (pyzmq
    reads RCVHWM only when SNDHWM cannot be read, which libzmq 4 never refuses)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("SNDHWM")

    def __set__(self, sock: SocketOptions, value: Any) -> None:
        sock.setsockopt(lib.ZMQ_SNDHWM, value)
        sock.setsockopt(lib.ZMQ_RCVHWM, value)


# attribute name -> its descriptor: every option of the table but TYPE (Socket.type is
# the socket's own record, readable once closed), and pyzmq's two aliases
ATTRIBUTES: dict[str, Option] = {
    name.lower(): (Subscription if name in ("SUBSCRIBE", "UNSUBSCRIBE") else Option)(name)
    for name in TABLE if name != "TYPE"
}
ATTRIBUTES.update(identity=Option("ROUTING_ID"), hwm=HighWaterMark())

if not TYPE_CHECKING:  # (a type checker reads the class from _sockopts.pyi)
    OptionAttributes = type("OptionAttributes", (), {"__slots__": (), **ATTRIBUTES})


class SocketOptions(OptionAttributes):
    """The option calls of Socket (a mixin: Socket has the slots)."""

    __slots__ = ()
    if TYPE_CHECKING:
        _state: SocketState

    def setsockopt(self, option: int, value: Any) -> None:
        """Set a socket option; ``value`` has the option's type (int, bytes or str)."""
        name, value, raw, size = c_value(option, value)
        self._state.call(f"setsockopt({name})", lib.zmqffi_setsockopt, option, raw, size,
                         failed=f"setsockopt({name}, {value!r})")

    def _read(self, option: int) -> tuple[str, Any, Any]:
        """(C type, buffer, size) of ``option``, read by zmq_getsockopt."""
        name, kind, raw, size = c_buffer(option)
        self._state.call(f"getsockopt({name})", lib.zmqffi_getsockopt, option, raw, size)
        return kind, raw, size

    def getsockopt(self, option: int) -> int | bytes | str:
        """Read a socket option, as its C type: int, bytes (keys as Z85) or str."""
        return py_value(*self._read(option))

    set = setsockopt
    get = getsockopt

    def setsockopt_string(self, option: int, text: str, encoding: str = "utf-8") -> None:
        """Set a string or binary option to ``text`` encoded with ``encoding``."""
        name = text_option(option, "setsockopt_string")
        if not isinstance(text, str):
            raise TypeError(f"setsockopt_string({name}) takes a str, not "
                            f"{type(text).__name__} (setsockopt takes bytes)")
        self.setsockopt(option, text.encode(encoding))

    def getsockopt_string(self, option: int, encoding: str = "utf-8") -> str:
        """Read a string or binary option, decoded with ``encoding``."""
        text_option(option, "getsockopt_string")
        kind, raw, size = self._read(option)
        return py_bytes(kind, raw, size).decode(encoding)

    set_string = setsockopt_string
    get_string = getsockopt_string


def text_option(option: int, what: str) -> str:
    """The name of ``option``, or a TypeError if its value is not a string of bytes."""
    name, kind = option_info(option)
    if kind not in TEXT:
        raise TypeError(f"{what}({name}): {name} is not a string or binary option "
                        f"(use setsockopt/getsockopt)")
    return name
