"""pyzmq programs run unchanged: each program of tests/pyzmq_programs/ is written as a pyzmq
program is, but imports ``zmqffi as zmq``. It runs in a subprocess on zmqffi, then with
the import changed to pyzmq's, and both runs must succeed with the same output: what the
program uses means the same in both bindings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).resolve().parent / "pyzmq_programs"
NAMES = sorted(path.name for path in PROGRAMS.glob("*.py"))
PYZMQ_IMPORTS = {"import zmqffi as zmq\n": "import zmq\n",
                 "import zmqffi.asyncio\n": "import zmq.asyncio\n"}


def run(program: Path, cwd: Path) -> str:
    """The program's output; fails on a non-zero exit or on anything written to stderr
    (in dev mode, an unclosed socket or context shows there as a ResourceWarning)."""
    done = subprocess.run([sys.executable, "-X", "dev", str(program)], cwd=cwd,
                          capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and not done.stderr, \
        f"{program.name} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.stdout.endswith("ok\n"), done.stdout
    return done.stdout


def test_the_programs_are_there() -> None:
    assert len(NAMES) >= 4
    for name in NAMES:
        assert "import zmqffi as zmq\n" in (PROGRAMS / name).read_text()


@pytest.mark.parametrize("name", NAMES)
def test_a_pyzmq_program_runs_on_zmqffi_as_on_pyzmq(name: str, tmp_path: Path) -> None:
    # from tmp_path: the installed zmqffi, not the checkout's
    ours = run(PROGRAMS / name, tmp_path)
    pytest.importorskip("zmq")
    text = (PROGRAMS / name).read_text()
    for zmqffi_import, pyzmq_import in PYZMQ_IMPORTS.items():
        text = text.replace(zmqffi_import, pyzmq_import)
    assert "zmqffi" not in text
    (tmp_path / name).write_text(text)
    assert run(tmp_path / name, tmp_path) == ours
