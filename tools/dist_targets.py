"""The wheels zmqffi ships, the interpreter that builds each and the ones that check it:
shared by tools/build_dist.py and tools/check_dist.py.

An interpreter is found among pyenv's versions, then on PATH, then in what
.ci/interpreters.sh reports (it installs CPython 3.14, 3.14t, 3.15 and PyPy 3.11 once per
machine). On Debian 12, PyPy 3.11 runs in a Debian 13 root: its commands go through
``.ci/interpreters.sh with-pypy311``, which mounts the checkout and the cache at their own
paths, so every path handed to it must be inside one of them (its /tmp is its own).
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]


class Target(NamedTuple):
    name: str  # the wheel's python and ABI tags, as in its file name
    builder: str  # the interpreter that builds it
    checkers: tuple[str, ...]  # the interpreters it is installed into and tested with


TARGETS = (
    Target("cp310-cp310", "python3.10", ("python3.10",)),
    Target("cp311-cp311", "python3.11", ("python3.11",)),
    # one stable-ABI wheel for every CPython from 3.12 on (setup.py)
    Target("cp312-abi3", "python3.12", ("python3.12", "python3.13", "python3.14",
                                        "python3.15")),
    Target("cp314-cp314t", "python3.14t", ("python3.14t",)),
    Target("pp39-pypy39_pp73", "pypy3.9", ("pypy3.9",)),
    Target("pp311-pypy311_pp73", "pypy3.11", ("pypy3.11",)),
)


def log(text: str) -> None:
    print(f"[dist] {text}", file=sys.stderr, flush=True)


@functools.cache
def _reported() -> dict[str, list[str]]:
    """name -> command, as .ci/interpreters.sh prints them (installing what is missing)."""
    out = subprocess.run([str(REPO / ".ci" / "interpreters.sh")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    commands = {}
    for line in out.splitlines():
        name, sep, command = line.partition("=")
        if sep and name != "env":
            commands[name] = shlex.split(command)
    return commands


def command(name: str) -> list[str] | None:
    """How to run interpreter ``name`` (e.g. python3.12, pypy3.11), or None if absent.
    The last item is the interpreter; what comes before it is a wrapper to run it in."""
    if name == "pypy3.11" and "pypy3.11" in _reported():
        return _reported()[name]  # perhaps through with-pypy311
    version = name[len("python"):] if name.startswith("python") else None
    if version and not version.endswith("t"):
        pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
        for bin_dir in sorted(pyenv.glob(f"versions/{version}.*/bin"), reverse=True):
            if (bin_dir / name).is_file():
                return [str(bin_dir / name)]
    found = shutil.which(name)
    # pyenv's shims run only its global version: never take one
    if found and "/shims/" not in found:
        return [found]
    return _reported().get(name)


def wrapper_and_python(name: str) -> tuple[list[str], str]:
    """(the wrapper, maybe empty; the interpreter), or SystemExit naming what is missing."""
    found = command(name)
    if found is None:
        raise SystemExit(f"{name} not found (on PATH, in pyenv, or from "
                         f".ci/interpreters.sh): see .ci/INTERPRETERS.md")
    return found[:-1], found[-1]


def run(argv: list[Any], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    log(" ".join("<script>" if "\n" in str(a) else shlex.quote(str(a)) for a in argv))
    return subprocess.run([str(a) for a in argv], check=True, **kwargs)


def venv(name: str, directory: Path, fresh: bool = False) -> tuple[list[str], Path]:
    """A virtual environment of interpreter ``name`` at ``directory`` (kept if there,
    unless ``fresh``); returns (the wrapper to run it in, its python)."""
    wrapper, python = wrapper_and_python(name)
    if fresh or not (directory / "bin" / "python").exists():
        run([*wrapper, python, "-m", "venv", "--clear", directory])
    return wrapper, directory / "bin" / "python"
