"""CURVE keys and Z85 (zmq_curve_keypair, zmq_curve_public, zmq_z85_encode/decode)."""

from __future__ import annotations

from zmqffi._zmq import ffi, lib
from zmqffi.errors import raise_errno
from zmqffi.validation import bytes_like

__all__ = ["curve_keypair", "curve_public", "z85_encode", "z85_decode"]


def curve_keypair() -> tuple[bytes, bytes]:
    """A new CURVE key pair (public, secret), each 40 Z85 characters as bytes."""
    public, secret = ffi.new("char[41]"), ffi.new("char[41]")
    if lib.zmq_curve_keypair(public, secret) != 0:
        raise_errno("curve_keypair")
    return ffi.string(public), ffi.string(secret)


def curve_public(secret: bytes | str) -> bytes:
    """The Z85 public key for a Z85 secret key (40 characters)."""
    if isinstance(secret, str):
        secret = secret.encode("ascii")
    if not isinstance(secret, bytes):
        raise TypeError(f"curve_public() takes str or bytes, not {type(secret).__name__}")
    if len(secret) != 40:
        raise ValueError("curve_public() takes a 40-character Z85 secret key")
    public = ffi.new("char[41]")
    if lib.zmq_curve_public(public, secret) != 0:
        raise_errno("curve_public")
    key: bytes = ffi.string(public)
    return key


def z85_encode(data: bytes) -> bytes:
    """Z85-encode ``data``, whose length must be a multiple of 4."""
    src = bytes_like(data, "z85_encode() data")
    if len(src) % 4:
        raise ValueError(f"z85_encode() needs a length that is a multiple of 4, "
                         f"not {len(src)}")
    out = ffi.new("char[]", len(src) * 5 // 4 + 1)
    if lib.zmq_z85_encode(out, ffi.cast("uint8_t *", src), len(src)) == ffi.NULL:
        raise_errno("z85_encode")
    encoded: bytes = ffi.string(out)
    return encoded


def z85_decode(text: bytes | str) -> bytes:
    """Decode Z85 ``text`` (str or bytes), whose length must be a multiple of 5."""
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("z85_decode(): Z85 text is ASCII") from None
    if not isinstance(text, bytes):
        raise TypeError(f"z85_decode() takes str or bytes, not {type(text).__name__}")
    if len(text) % 5:
        raise ValueError(f"z85_decode() needs a length that is a multiple of 5, "
                         f"not {len(text)}")
    if b"\0" in text:
        raise ValueError("z85_decode(): NUL is not a Z85 character")
    if not text:  # libzmq refuses "", though z85_encode(b"") gives it
        return b""
    out = ffi.new("uint8_t[]", len(text) * 4 // 5 or 1)
    if lib.zmq_z85_decode(out, text) == ffi.NULL:
        raise ValueError(f"z85_decode(): not valid Z85: {text[:45]!r}")
    decoded: bytes = ffi.unpack(ffi.cast("char *", out), len(text) * 4 // 5)
    return decoded
