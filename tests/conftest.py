"""Shared fixtures. ZeroMQ allows one Context per process, and zmqffi enforces it: each
test that needs one takes the ``ctx`` fixture, which checks at teardown that the test
closed what it opened and then destroys the context, so no test leaks into the next."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import zmqffi

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def ctx() -> Iterator[zmqffi.Context]:
    context = zmqffi.Context()
    try:
        yield context
    finally:
        left_open = [state.describe() for state in context._sockets]
        context.destroy(linger=0)
        assert not left_open, f"the test left sockets open: {left_open}"


@pytest.fixture
def ipc_endpoint(tmp_path: Path) -> str:
    return f"ipc://{tmp_path}/sock"


@pytest.fixture(params=["tcp", "ipc", "inproc"])
def endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A bindable endpoint of each transport (tcp on a wildcard loopback port)."""
    return {
        "tcp": "tcp://127.0.0.1:*",
        "ipc": f"ipc://{tmp_path}/sock",
        "inproc": f"inproc://test-{os.getpid()}-{request.node.name}",
    }[request.param]


def bound(sock: zmqffi.Socket, endpoint: str) -> str:
    """Bind ``sock`` and return the endpoint a peer connects to."""
    sock.bind(endpoint)
    return sock.last_endpoint


TIMEOUT_MS = 5000  # every blocking call of a test socket gives up after this


def make(ctx: zmqffi.Context, kind: int, **options: Any) -> zmqffi.Socket:
    """A socket that never blocks a test forever (options set before bind/connect)."""
    sock = ctx.socket(kind)
    sock.setsockopt(zmqffi.LINGER, 0)
    sock.setsockopt(zmqffi.RCVTIMEO, TIMEOUT_MS)
    sock.setsockopt(zmqffi.SNDTIMEO, TIMEOUT_MS)
    for name, value in options.items():
        sock.setsockopt(getattr(zmqffi, name), value)
    return sock


def python() -> str:
    return sys.executable


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "large: needs ~1.5 GiB of memory (a 256 MiB message round trip); "
                   'deselect with -m "not large"')
