"""Install what tools/build_dist.py put in dist/ and test it, offline:

    python tools/check_dist.py [--only TAG,...] [--no-sdist]

Each wheel goes into a fresh venv of each interpreter that tools/dist_targets.py names for
it (the abi3 wheel into 3.12 to 3.15), with no network (``unshare --net``: a namespace
with only a loopback) and a PATH holding nothing but the venv (no cc, c++ or cmake); its
dependencies come from a wheelhouse filled beforehand, online. Then ``python -m zmqffi``
(which must say it is a wheel build), ``python -m zmqffi parity``, on a free-threaded
CPython a check that importing zmqffi leaves the GIL off, and the smoke tests below run
from outside the checkout.

The sdist goes the same way into a CPython 3.11 venv, offline but with the compiler and
CMake on PATH, and with an empty libzmq cache: libzmq is compiled from the tarball inside
the sdist, and anything that tried to download would fail.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from dist_targets import REPO, TARGETS, command, log, run, venv

DIST = REPO / "dist"
WORK = REPO / "build" / "dist"
# the pipeline example; a round trip over tcp, ipc and inproc; CURVE
SMOKE_TESTS = [
    "tests/test_examples.py::test_pipeline_runner_completes_every_task",
    "tests/test_patterns.py::test_push_pull",
    "tests/test_patterns.py::test_req_rep",
    "tests/test_security.py::test_curve_server_accepts_a_client_holding_its_public_key",
]
TEST_DEPS = ["pytest", "pytest-timeout"]
SDIST_INTERPRETER = "python3.11"

# Runs inside the network namespace: $1 the venv's bin, $2 the wheel or sdist, $3 the
# wheelhouse, $4 "wheel" or "source" (what `python -m zmqffi` must say), $5 whether to hide
# the toolchain ("no-toolchain") or keep it; then the test dependencies. Past the PATH
# change only shell builtins and the venv's commands are used.
OFFLINE_SCRIPT = r"""
set -eu
ip link set lo up
work=$(mktemp -d)
venv_bin=$1 package=$2 wheelhouse=$3 build=$4 toolchain=$5
shift 5
if [ "$toolchain" = no-toolchain ]; then
    export PATH=$venv_bin
    for tool in cc gcc c++ g++ cmake; do
        if command -v "$tool" >/dev/null; then echo "$tool is on PATH" >&2; exit 1; fi
    done
else
    export PATH=$venv_bin:$PATH
fi
python -m pip install -q --no-index --no-cache-dir --find-links "$wheelhouse" \
    "$package" "$@"
cd "$work"
described=$(python -m zmqffi)
echo "$described"
case $described in
    *"
build $build"*) ;;
    *) echo "python -m zmqffi does not say: build $build" >&2; exit 1 ;;
esac
python -m zmqffi parity
# on a free-threaded CPython an extension that does not declare itself safe without the
# GIL turns it back on when imported
python -c 'import sys, sysconfig, zmqffi
if sysconfig.get_config_var("Py_GIL_DISABLED") and sys._is_gil_enabled():
    sys.exit("import zmqffi enabled the GIL")'
PYTHONDEVMODE=1 python -m pytest -q -p no:cacheprovider $SMOKE_TESTS
"""


def offline(wrapper: list[str], venv_python: Path, package: Path, wheelhouse: Path,
            build: str, toolchain: bool, env: dict[str, str] | None = None) -> None:
    tests = " ".join(str(REPO / test) for test in SMOKE_TESTS)
    script = OFFLINE_SCRIPT.replace("$SMOKE_TESTS", tests)
    run([*wrapper, "unshare", "--net", "/bin/sh", "-c", script, "check",
         venv_python.parent, package, wheelhouse, build,
         "toolchain" if toolchain else "no-toolchain", *TEST_DEPS], env=env)


def fill_wheelhouse(wrapper: list[str], venv_python: Path, wheelhouse: Path,
                    extra: tuple[str, ...] = ()) -> None:
    """Wheels of the dependencies, online; ``pip wheel`` builds any that PyPI has only as
    an sdist for this interpreter (cffi for a CPython newer than its wheels)."""
    run([*wrapper, venv_python, "-m", "pip", "wheel", "-q", "-w", wheelhouse,
         "cffi>=1.15; platform_python_implementation != 'PyPy'", *TEST_DEPS, *extra])


def check_wheel(wheel: Path, interpreter: str) -> None:
    directory = WORK / f"check-{interpreter}"
    wrapper, python = venv(interpreter, directory / "venv", fresh=True)
    wheelhouse = directory / "wheelhouse"
    fill_wheelhouse(wrapper, python, wheelhouse)
    offline(wrapper, python, wheel, wheelhouse, "wheel", toolchain=False)


def check_sdist(sdist: Path) -> None:
    directory = WORK / "check-sdist"
    wrapper, python = venv(SDIST_INTERPRETER, directory / "venv", fresh=True)
    wheelhouse = directory / "wheelhouse"
    fill_wheelhouse(wrapper, python, wheelhouse, ("setuptools>=77",))
    cache = directory / "empty-cache"  # so libzmq is compiled from the sdist's tarball
    shutil.rmtree(cache, ignore_errors=True)
    offline(wrapper, python, sdist, wheelhouse, "source", toolchain=True,
            env={**os.environ, "ZMQFFI_CACHE": str(cache)})
    if (cache / "downloads").exists():  # recipe.py makes it only when it looks there
        raise SystemExit("the sdist's install looked for libzmq's tarball outside the sdist")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated wheel tags (default: all)")
    parser.add_argument("--no-sdist", action="store_true", help="skip the sdist")
    args = parser.parse_args()
    started = time.monotonic()
    timings = []
    for target in TARGETS:
        if args.only and target.name not in args.only.split(","):
            continue
        wheels = sorted(DIST.glob(f"zmqffi-*-{target.name}-*.whl"))
        if not wheels and target.builder == "pypy3.9" and command("pypy3.9") is None:
            log("no pypy3.9 here (Debian 13 has none): no pp39 wheel to check")
            continue
        if len(wheels) != 1:
            raise SystemExit(f"expected one {target.name} wheel in dist/, found {wheels}: "
                             f"run tools/build_dist.py first")
        for interpreter in target.checkers:
            begun = time.monotonic()
            check_wheel(wheels[0], interpreter)
            timings.append((f"{wheels[0].name} on {interpreter}", time.monotonic() - begun))
    if not args.no_sdist:
        (sdist,) = DIST.glob("zmqffi-*.tar.gz")
        begun = time.monotonic()
        check_sdist(sdist)
        timings.append((f"{sdist.name} on {SDIST_INTERPRETER}", time.monotonic() - begun))
    print(f"install checks passed ({time.monotonic() - started:.0f} s):")
    for what, seconds in timings:
        print(f"  {seconds:5.0f} s  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
