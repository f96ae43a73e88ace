"""Build libzmq's own C perf tools from the pinned, checksum-verified libzmq tarball.

The tarball comes from ``vendor/libzmq/recipe.py`` (the same source zmqffi links), so the
C anchors and zmqffi run the same libzmq 4.3.4. In 4.3.4's CMakeLists.txt the perf tools
exist only in the shared-library branch, so this is a separate build (BUILD_SHARED=ON,
WITH_PERF_TOOL=ON) into its own cache directory. The tools get an RPATH to the freshly
built ``libzmq.so``: without it they would load the system's libzmq5 from /usr/lib.

    python benchmarks/build_perf_tools.py      # prints the bin directory

Cached under ``recipe.cache_dir()/perf-tools-4.3.4-<key>``, built once under a lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from common import HERE, log

ROOT = HERE.parent

sys.path.insert(0, str(ROOT / "vendor" / "libzmq"))
try:
    import recipe  # noqa: E402
finally:
    sys.path.pop(0)

TOOLS = ("local_thr", "remote_thr", "local_lat", "remote_lat", "inproc_thr", "inproc_lat")


def cmake_options(prefix: Path) -> list[str]:
    options = []
    # start from the recipe's options (same libzmq features: CURVE via tweetnacl, no
    # sodium, no bsd, no TLS, no drafts), then switch to the shared branch with tools
    overrides = {
        "-DBUILD_SHARED": "ON",
        "-DBUILD_STATIC": "OFF",
        "-DWITH_PERF_TOOL": "ON",
        "-DBUILD_TESTS": "OFF",
        "-DCMAKE_BUILD_TYPE": "Release",
        "-DWITH_LIBSODIUM": "OFF",
        "-DWITH_LIBBSD": "OFF",
        "-DCMAKE_POLICY_VERSION_MINIMUM": "3.5",
    }
    for opt in recipe.cmake_options(drafts=False):
        name = opt.split("=", 1)[0]
        if name not in overrides:
            options.append(opt)
    options += [f"{k}={v}" for k, v in overrides.items()]
    lib_dir = prefix / "lib"
    options += [
        f"-DCMAKE_INSTALL_PREFIX={prefix}",
        # the tools must load *this* libzmq.so, not Debian's /usr/lib libzmq.so.5
        f"-DCMAKE_INSTALL_RPATH={lib_dir}",
        "-DCMAKE_BUILD_WITH_INSTALL_RPATH=OFF",
        "-DCMAKE_INSTALL_RPATH_USE_LINK_PATH=OFF",
        "-DCMAKE_SKIP_RPATH=OFF",
        "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags",  # RPATH, not RUNPATH
    ]
    return options


def _run(command: list[str]) -> None:
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-20000:])
        raise RuntimeError(f"perf tools build step failed: {' '.join(command)}")


def check(bin_dir: Path, lib_dir: Path) -> None:
    """Every tool exists and resolves libzmq.so.5 to our lib dir (ldd)."""
    for tool in TOOLS:
        path = bin_dir / tool
        if not path.is_file():
            raise RuntimeError(f"perf tool missing after build: {path}")
        if shutil.which("ldd"):
            out = subprocess.run(["ldd", str(path)], stdout=subprocess.PIPE, text=True).stdout
            line = next((row for row in out.splitlines() if "libzmq" in row), "")
            if str(lib_dir) not in line:
                raise RuntimeError(f"{tool} does not load the vendored libzmq: {line.strip()!r}")


def build() -> dict:
    """Return {bin_dir, lib_dir, tools, sha256, ...}, building once if needed."""
    probe = cmake_options(Path("/PREFIX"))
    key = hashlib.sha256(json.dumps(probe).encode()).hexdigest()[:12]
    prefix = recipe.cache_dir() / f"perf-tools-{recipe.VERSION}-{key}"
    stamp = prefix / "zmqffi-perf-tools.json"
    with recipe.locked(recipe.cache_dir() / f".{prefix.name}.lock"):
        if stamp.is_file():
            info = json.loads(stamp.read_text())
            if all((Path(info["bin_dir"]) / t).is_file() for t in TOOLS):
                return info
        tarball, sha256 = recipe.obtain_tarball()
        started = time.monotonic()
        if prefix.exists():
            shutil.rmtree(prefix)
        with tempfile.TemporaryDirectory(prefix="zmqffi-perf-") as tmp:
            tmp_path = Path(tmp)
            with tarfile.open(tarball) as tar:
                tar.extractall(tmp_path)
            (source,) = [p.parent for p in tmp_path.glob("*/CMakeLists.txt")]
            build_dir = tmp_path / "build"
            cmake = shutil.which("cmake")
            if cmake is None:
                raise RuntimeError("cmake is needed to build the perf tools")
            log(f"[perf-tools] configuring {source.name} from {tarball.name} "
                "(shared, perf tools on)")
            _run([cmake, "-S", str(source), "-B", str(build_dir), *cmake_options(prefix)])
            log("[perf-tools] compiling libzmq.so and the perf tools")
            jobs = str(os.cpu_count() or 2)
            _run([cmake, "--build", str(build_dir), "--parallel", jobs])
            # CMake's install step rewrites each tool's RPATH to CMAKE_INSTALL_RPATH
            _run([cmake, "--install", str(build_dir)])
        check(prefix / "bin", prefix / "lib")
        info = {
            "version": recipe.VERSION,
            "prefix": str(prefix),
            "bin_dir": str(prefix / "bin"),
            "lib_dir": str(prefix / "lib"),
            "tools": list(TOOLS),
            "tarball": tarball.name,
            "sha256": sha256,
            "build_seconds": round(time.monotonic() - started, 1),
        }
        stamp.write_text(json.dumps(info, indent=2))
        log(f"[perf-tools] built in {info['build_seconds']} s into {prefix}")
        return info


if __name__ == "__main__":
    print(json.dumps(build(), indent=2))
