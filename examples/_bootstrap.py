"""Make `python examples/pipeline.py` work on a fresh checkout.

If this interpreter cannot import zmqffi, create the repository's `.venv` (git-ignored),
pip-install the repository into it (plus `cmake` from PyPI when none is on PATH: libzmq is
compiled once, at install time) and re-execute the calling script with that venv's python.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
# Set in the re-executed process: if zmqffi is still missing there, fail instead of looping.
MARKER = "ZMQFFI_EXAMPLES_BOOTSTRAPPED"
CHECK = "import zmqffi; zmqffi.Context"


def _has_zmqffi() -> bool:
    try:
        import zmqffi
    except ImportError:
        return False
    return hasattr(zmqffi, "Context")  # a raw-only build cannot run the examples


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(command: list[str], env: dict[str, str]) -> None:
    print("+", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, env=env)


def ensure_zmqffi() -> None:
    """Return if zmqffi is importable; else install it into .venv and re-exec (never returns)."""
    if _has_zmqffi():
        return
    if os.environ.get(MARKER):
        sys.exit(f"zmqffi is still not importable from {sys.executable} after bootstrapping; "
                 f"try `{_venv_python()} -m pip install {ROOT}` and read its errors")

    python = _venv_python()
    env = dict(os.environ)
    # The venv's bin first, so that a cmake installed there is found by the libzmq build.
    env["PATH"] = os.pathsep.join([str(python.parent), env.get("PATH", "")])
    # -I: do not let the current directory (maybe the repository, without the compiled
    # extension) shadow the installed package.
    if not python.exists() or subprocess.run([str(python), "-I", "-c", CHECK],
                                             capture_output=True).returncode != 0:
        print(f"zmqffi is not installed for {sys.executable}: installing it into {VENV} "
              "(once; this compiles libzmq and takes a minute)", file=sys.stderr, flush=True)
        if not python.exists():
            _run([sys.executable, "-m", "venv", str(VENV)], env)
        if shutil.which("cmake", path=env["PATH"]) is None:
            _run([str(python), "-m", "pip", "install", "cmake"], env)
        _run([str(python), "-m", "pip", "install", str(ROOT)], env)

    env[MARKER] = "1"
    script = os.path.abspath(sys.argv[0])
    if os.name == "nt":  # no real exec on Windows: run it and pass its status on
        sys.exit(subprocess.run([str(python), script, *sys.argv[1:]], env=env).returncode)
    os.execve(str(python), [str(python), script, *sys.argv[1:]], env)
