"""Every integer constant of zmq.h, without its ZMQ_ prefix (zmqffi.PUSH, zmqffi.ETERM).

The names come from the list the generator recorded in the extension (build_info),
so this module follows whatever zmq.h the binding was built from. Also the names of the
socket types, for messages (a leaf module: argument checks and the socket state use it).
"""

from __future__ import annotations

import json
from typing import Any

from zmqffi._zmq import ffi, lib

build_info: dict[str, Any] = json.loads(ffi.string(lib.zmqffi_build_info()))

constants: dict[str, int] = {
    (name[4:] if name.startswith("ZMQ_") else name): getattr(lib, name)
    for name in build_info["constants"]
}

# socket type -> its name, for the types this build has (the draft ones with drafts)
SOCKET_TYPE_NAMES: dict[int, str] = {
    getattr(lib, "ZMQ_" + name): name
    for name in ("PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER", "PULL", "PUSH",
                 "XPUB", "XSUB", "STREAM", "SERVER", "CLIENT", "RADIO", "DISH", "GATHER",
                 "SCATTER", "DGRAM", "PEER", "CHANNEL")
    if hasattr(lib, "ZMQ_" + name)
}
