"""A 256 MiB message round-trips over every transport, without a copy on the way out
(a large bytes send lends its buffer) nor through the echoing side (recv_msg, then
send of the same Message). Marked ``large``: deselect with ``-m "not large"`` on a
machine without the ~1.5 GiB it needs at peak."""

from __future__ import annotations

import os
import time

import pytest

import zmqffi
from conftest import make
from zmqffi import Context

pytestmark = pytest.mark.large

SIZE = 256 * 1024 * 1024
TIMEOUT_MS = 60_000


def payload() -> bytes:
    """256 MiB that no shift or mix-up of chunks can match: each 1 MiB chunk is the
    same random block stamped with its index."""
    block = os.urandom(1024 * 1024)
    return b"".join(i.to_bytes(8, "little") + block[8:] for i in range(SIZE >> 20))


def test_256_mib_round_trip(ctx: Context, endpoint: str) -> None:
    data = payload()
    assert len(data) == SIZE
    near = make(ctx, zmqffi.PAIR, RCVTIMEO=TIMEOUT_MS, SNDTIMEO=TIMEOUT_MS)
    far = make(ctx, zmqffi.PAIR, RCVTIMEO=TIMEOUT_MS, SNDTIMEO=TIMEOUT_MS)
    near.bind(endpoint)
    far.connect(near.last_endpoint)

    started = time.monotonic()
    near.send(data)
    with far.recv_msg() as echoed:
        assert len(echoed) == SIZE
        far.send(echoed)  # forwarded as is
    assert near.recv() == data  # copied out; libzmq's copy is freed at once
    assert time.monotonic() - started < 30
    near.close()
    far.close()
