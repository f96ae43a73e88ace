"""zmq.h's integer constants under their short names (PUSH for ZMQ_PUSH), as this
module's globals, for ``from zmqffi._constants import *`` in zmqffi/__init__.py.

The values come from the build (zmqffi.constants), so they follow the zmq.h it used.
A type checker cannot run the build: it reads _constants.pyi, which
tools/constants_stub.py generates from the same zmq.h, so a misspelt constant is an
error there too.
"""

from __future__ import annotations

from zmqffi.constants import constants as _by_name

globals().update(_by_name)

__all__ = list(_by_name)
