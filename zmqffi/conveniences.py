"""pyzmq's conveniences on Socket: text, JSON and serialized messages, and poll().

They are thin layers over send/recv/send_multipart/recv_multipart, with pyzmq's names
and meaning: send_string sends ``text.encode(encoding)`` as one frame; send_json sends
``json.dumps(obj, **kwargs)`` encoded as UTF-8; send_serialized sends the list of
frames ``serialize(obj)`` returns as one multipart message, and recv_serialized passes
the frames of one to ``deserialize``. The encoding and decoding are the functions below,
shared with the async sockets (_async.py), whose versions are coroutines.

Not provided: pyzmq's send_pyobj / recv_pyobj. Unpickling what arrives from the network
runs whatever code the sender chose; a program that trusts its peer can say so with
``send_serialized(obj, lambda o: [pickle.dumps(o)])`` and
``recv_serialized(lambda frames: pickle.loads(frames[0]))``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from zmqffi._zmq import lib
from zmqffi.validation import int_arg

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Conveniences", "encode_string", "decode_string", "encode_json",
           "decode_json", "serialized"]

T = TypeVar("T")


def encode_string(text: str, encoding: str) -> bytes:
    """The frame send_string sends."""
    if not isinstance(text, str):
        raise TypeError(f"send_string() takes a str, not {type(text).__name__} "
                        "(send() takes bytes)")
    return text.encode(encoding)


def decode_string(frame: bytes, encoding: str) -> str:
    return frame.decode(encoding)


def encode_json(obj: Any, dumps_kwargs: dict[str, Any]) -> bytes:
    """The frame send_json sends: JSON text in UTF-8, as pyzmq makes it."""
    return json.dumps(obj, **dumps_kwargs).encode("utf-8")


def decode_json(frame: bytes, loads_kwargs: dict[str, Any]) -> Any:
    return json.loads(frame.decode("utf-8"), **loads_kwargs)


def serialized(obj: Any, serialize: Callable[[Any], Sequence[Any]]) -> list[Any]:
    """The frames send_serialized sends: ``serialize(obj)``, a sequence of frames."""
    if not callable(serialize):
        raise TypeError(f"send_serialized() serialize must be callable (returning a "
                        f"list of frames), not {type(serialize).__name__}")
    frames = serialize(obj)
    if isinstance(frames, (bytes, bytearray, memoryview, str)):
        # (send_multipart would send each byte, or character, as a frame)
        raise TypeError(f"send_serialized(): serialize must return a list of frames, "
                        f"not {type(frames).__name__} (wrap one frame in a list)")
    return list(frames)


def check_deserialize(deserialize: Any) -> None:
    """Before anything is received: a receive that cannot be handed over loses it."""
    if not callable(deserialize):
        raise TypeError(f"recv_serialized() deserialize must be callable (taking the "
                        f"list of frames), not {type(deserialize).__name__}")


class Conveniences:
    """pyzmq's message conveniences (a mixin: Socket has the slots and the calls)."""

    __slots__ = ()
    if TYPE_CHECKING:  # what they are built on (socket.py)
        def send(self, data: Any, flags: int = 0, copy: bool | None = None) -> None: ...
        def recv(self, flags: int = 0) -> bytes: ...
        def send_multipart(self, parts: Iterable[Any], flags: int = 0,
                           copy: bool | None = None) -> None: ...
        def recv_multipart(self, flags: int = 0) -> list[bytes]: ...

    def send_string(self, text: str, flags: int = 0, encoding: str = "utf-8", *,
                    copy: bool | None = None) -> None:
        """Send ``text`` encoded with ``encoding`` as one frame."""
        self.send(encode_string(text, encoding), flags, copy)

    def recv_string(self, flags: int = 0, encoding: str = "utf-8") -> str:
        """Receive one frame, decoded with ``encoding``."""
        return decode_string(self.recv(flags), encoding)

    def send_json(self, obj: Any, flags: int = 0, **dumps_kwargs: Any) -> None:
        """Send ``obj`` as JSON (UTF-8) in one frame; ``dumps_kwargs`` go to json.dumps."""
        self.send(encode_json(obj, dumps_kwargs), flags)

    def recv_json(self, flags: int = 0, **loads_kwargs: Any) -> Any:
        """Receive one frame of JSON; ``loads_kwargs`` go to json.loads."""
        return decode_json(self.recv(flags), loads_kwargs)

    def send_serialized(self, obj: Any, serialize: Callable[[Any], Sequence[Any]],
                        flags: int = 0, *, copy: bool | None = None) -> None:
        """Send the frames ``serialize(obj)`` returns as one multipart message."""
        self.send_multipart(serialized(obj, serialize), flags, copy)

    def recv_serialized(self, deserialize: Callable[[list[bytes]], T],
                        flags: int = 0) -> T:
        """``deserialize(frames)`` of the frames of one multipart message."""
        check_deserialize(deserialize)
        return deserialize(self.recv_multipart(flags))

    def poll(self, timeout: float | None = None, flags: int = lib.ZMQ_POLLIN) -> int:
        """Wait up to ``timeout`` milliseconds (None: forever) for ``flags`` (POLLIN,
        POLLOUT) and return the events that are ready, 0 if none came in time."""
        from zmqffi.poll import Poller  # (poll.py imports socket.py, which imports this)

        if not int_arg(flags, "poll() flags", "short"):  # else: wait for nothing, forever
            raise ValueError("poll() flags must ask for POLLIN, POLLOUT or both, not 0")
        poller = Poller()
        poller.register(self, flags)
        return dict(poller.poll(timeout)).get(self, 0)
