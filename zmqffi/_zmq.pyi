# The compiled cffi extension that build_ffi.py generates from zmq.h. Its contents are
# known only after the build (and differ with drafts or the system's libzmq), so a type
# checker takes both objects as Any; the Pythonic layer states the types it returns.
from typing import Any

ffi: Any
lib: Any
