"""Socket options: every option of zmq_setsockopt(3) with its C type, and the conversion
of values to and from C for Socket.setsockopt and Socket.getsockopt."""

from __future__ import annotations

from typing import Any

from zmqffi._zmq import ffi, lib
from zmqffi.validation import bytes_like, int_arg

__all__ = ["OPTIONS", "TABLE", "TEXT", "option_info", "c_value", "c_buffer", "py_value",
           "py_bytes"]

# The one table of socket options: setsockopt, getsockopt, their error messages and the
# option attributes (sockopts.py, and its typed stub, tools/options_stub.py) all read it.
# Options of the draft API are used when built with it.
INT, INT64, UINT64, BYTES, STR, KEY = "int", "int64_t", "uint64_t", "bytes", "str", "key"
TABLE = {
    **dict.fromkeys("""
        RATE RECOVERY_IVL SNDBUF RCVBUF RCVMORE FD EVENTS TYPE LINGER RECONNECT_IVL
        BACKLOG RECONNECT_IVL_MAX SNDHWM RCVHWM MULTICAST_HOPS RCVTIMEO SNDTIMEO IPV4ONLY
        ROUTER_MANDATORY TCP_KEEPALIVE TCP_KEEPALIVE_CNT TCP_KEEPALIVE_IDLE
        TCP_KEEPALIVE_INTVL IMMEDIATE XPUB_VERBOSE ROUTER_RAW IPV6 MECHANISM PLAIN_SERVER
        CURVE_SERVER PROBE_ROUTER REQ_CORRELATE REQ_RELAXED CONFLATE ROUTER_HANDOVER TOS
        IPC_FILTER_PID IPC_FILTER_UID IPC_FILTER_GID GSSAPI_SERVER GSSAPI_PLAINTEXT
        HANDSHAKE_IVL XPUB_NODROP BLOCKY XPUB_MANUAL STREAM_NOTIFY INVERT_MATCHING
        HEARTBEAT_IVL HEARTBEAT_TTL HEARTBEAT_TIMEOUT XPUB_VERBOSER CONNECT_TIMEOUT
        TCP_MAXRT THREAD_SAFE MULTICAST_MAXTPDU VMCI_CONNECT_TIMEOUT USE_FD
        GSSAPI_PRINCIPAL_NAMETYPE GSSAPI_SERVICE_PRINCIPAL_NAMETYPE ZAP_ENFORCE_DOMAIN
        LOOPBACK_FASTPATH MULTICAST_LOOP ROUTER_NOTIFY XPUB_MANUAL_LAST_VALUE IN_BATCH_SIZE
        OUT_BATCH_SIZE WSS_TRUST_SYSTEM ONLY_FIRST_SUBSCRIBE RECONNECT_STOP PRIORITY
        """.split(), INT),
    "AFFINITY": UINT64, "MAXMSGSIZE": INT64, "VMCI_BUFFER_SIZE": UINT64,
    "VMCI_BUFFER_MIN_SIZE": UINT64, "VMCI_BUFFER_MAX_SIZE": UINT64,
    "ROUTING_ID": BYTES, "CONNECT_ROUTING_ID": BYTES, "SUBSCRIBE": BYTES,
    "UNSUBSCRIBE": BYTES, "XPUB_WELCOME_MSG": BYTES, "HELLO_MSG": BYTES,
    "DISCONNECT_MSG": BYTES,
    "LAST_ENDPOINT": STR, "ZAP_DOMAIN": STR, "SOCKS_PROXY": STR, "SOCKS_USERNAME": STR,
    "SOCKS_PASSWORD": STR, "PLAIN_USERNAME": STR, "PLAIN_PASSWORD": STR,
    "BINDTODEVICE": STR, "GSSAPI_PRINCIPAL": STR, "GSSAPI_SERVICE_PRINCIPAL": STR,
    "TCP_ACCEPT_FILTER": STR, "METADATA": STR, "WSS_KEY_PEM": STR, "WSS_CERT_PEM": STR,
    "WSS_TRUST_PEM": STR, "WSS_HOSTNAME": STR,
    "CURVE_PUBLICKEY": KEY, "CURVE_SECRETKEY": KEY, "CURVE_SERVERKEY": KEY,
}
# option number -> (name, C type), for the options this build of libzmq has
OPTIONS = {getattr(lib, "ZMQ_" + name): (name, kind) for name, kind in TABLE.items()
           if hasattr(lib, "ZMQ_" + name)}
TEXT = (BYTES, STR, KEY)  # the kinds whose value is a string of bytes


def option_info(option: int) -> tuple[str, str]:
    """(name, C type) of a socket option; unknown ones are tried as int (libzmq then
    answers EINVAL, and the message shows the number)."""
    if isinstance(option, bool) or not isinstance(option, int):
        raise TypeError(f"option must be an int such as zmqffi.LINGER, "
                        f"not {type(option).__name__}")
    return OPTIONS.get(option) or (str(int_arg(option, "option")), INT)


def c_value(option: int, value: Any) -> tuple[str, Any, Any, int]:
    """For setsockopt: (the option's name, ``value`` as set -- text of a str or key
    option encoded --, its C value, that value's size), or the TypeError or ValueError
    that names the option."""
    name, kind = option_info(option)
    if kind in TEXT:
        if kind != BYTES and isinstance(value, str):
            value = value.encode()
        if kind == STR and not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"setsockopt({name}) takes str or bytes, "
                            f"not {type(value).__name__}")
        raw = bytes_like(value, f"setsockopt({name}) value")
        return name, value, raw, len(raw)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"setsockopt({name}) takes an int, "
                        f"not {type(value).__name__}")
    try:
        raw = ffi.new(f"{kind} *", value)
    except OverflowError:
        raise ValueError(f"setsockopt({name}): {value} is out of range "
                         f"for a C {kind}") from None
    return name, value, raw, ffi.sizeof(kind)


def c_buffer(option: int) -> tuple[str, str, Any, Any]:
    """For getsockopt: (the option's name, its C type, a buffer for its value, a
    ``size_t *`` holding the buffer's size)."""
    name, kind = option_info(option)
    if kind in TEXT:
        capacity = 41 if kind == KEY else 1024  # 41 asks libzmq for Z85
        raw = ffi.new("char[]", capacity)
    else:
        raw = ffi.new(f"{kind} *")
        capacity = ffi.sizeof(kind)
    return name, kind, raw, ffi.new("size_t *", capacity)


def py_value(kind: str, raw: Any, size: Any) -> int | bytes | str:
    """The value that zmq_getsockopt wrote into c_buffer()'s buffer: int, bytes (keys
    as Z85) or str (UTF-8)."""
    if kind in TEXT:
        data = py_bytes(kind, raw, size)
        return data.decode() if kind == STR else data
    number: int = raw[0]
    return number


def py_bytes(kind: str, raw: Any, size: Any) -> bytes:
    """The bytes that zmq_getsockopt wrote into c_buffer()'s buffer for an option of
    a TEXT kind: a character string stops at its NUL, binary data is all ``size``."""
    data: bytes = (ffi.unpack(raw, size[0]) if kind == BYTES
                   else ffi.string(raw, size[0]))
    return data
