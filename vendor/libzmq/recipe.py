"""The pinned libzmq: where its source comes from, how it is verified, how it is built.

Used by ``build_ffi.py`` (and runnable on its own: ``python vendor/libzmq/recipe.py``
fetches, verifies and compiles into the cache, printing the install prefix).

Nothing of libzmq is kept in this repository: the source tarball is obtained at build
time, checked against the SHA-256 sums below, compiled once as a static, position
independent archive and cached under ``$ZMQFFI_CACHE`` (default
``$XDG_CACHE_HOME/zmqffi`` or ``~/.cache/zmqffi``), keyed by version and build options.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

VERSION = "4.3.4"

# Every tarball we accept, by file name. Both unpack to the same libzmq 4.3.4 tree
# (the Debian one is a git archive: no configure script, which CMake does not need).
ACCEPTED = {
    # upstream release, https://github.com/zeromq/libzmq/releases/tag/v4.3.4
    "zeromq-4.3.4.tar.gz":
        "c593001a89f5a85dd2ddf564805deb860e02471171b3f204944857336295c3e5",
    # Debian's source package zeromq3 4.3.4-6 (bookworm)
    "zeromq3_4.3.4.orig.tar.gz":
        "0ff5a531c9ffaf0dfdc7dc78d13d1383088f454896d252934c429b2554d10559",
}
UPSTREAM_URL = (
    "https://github.com/zeromq/libzmq/releases/download/v4.3.4/zeromq-4.3.4.tar.gz"
)
DEBIAN_SOURCE = ("zeromq3", "4.3.4-6", "bookworm")  # package, version, suite
DEBIAN_MIRROR = "http://deb.debian.org/debian"

ENV_TARBALL = "ZMQFFI_LIBZMQ_TARBALL"  # an explicit tarball to use
ENV_CACHE = "ZMQFFI_CACHE"

# tools/build_dist.py puts the tarball here, beside this file, when it makes the sdist
# (never committed): an install from the sdist then needs no download
SHIPPED_DIR = Path(__file__).resolve().parent


class ChecksumError(RuntimeError):
    pass


def log(text: str) -> None:
    print(f"[libzmq] {text}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(base) / "zmqffi").resolve()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path) -> str:
    """Return the tarball's SHA-256 if it is one we accept, else raise ChecksumError."""
    actual = sha256_of(path)
    if actual not in ACCEPTED.values():
        accepted = "\n".join(f"  {sha}  {name}" for name, sha in ACCEPTED.items())
        raise ChecksumError(
            f"refusing {path}: its SHA-256 is {actual}, which is not a pinned libzmq "
            f"{VERSION} tarball. Accepted:\n{accepted}"
        )
    return actual


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive lock on ``path`` (parallel tox envs must not build twice)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _download_upstream(dest: Path) -> Path | None:
    target = dest / "zeromq-4.3.4.tar.gz"
    log(f"downloading {UPSTREAM_URL}")
    try:
        with urllib.request.urlopen(UPSTREAM_URL, timeout=20) as response:
            data = response.read()
    except OSError as exc:
        log(f"upstream download failed ({exc})")
        return None
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def _apt_get_source(dest: Path) -> Path | None:
    """Fetch Debian's orig tarball with ``apt-get source``, leaving apt's config alone.

    A private sources list (one deb-src line naming the suite explicitly), private
    package lists and a private cache: the machine's /etc/apt is never changed.
    """
    if shutil.which("apt-get") is None:
        log("apt-get not available: cannot use Debian's source package")
        return None
    package, version, suite = DEBIAN_SOURCE
    with tempfile.TemporaryDirectory(prefix="zmqffi-apt-") as tmp:
        tmp_path = Path(tmp)
        for sub in ("lists/partial", "cache/archives/partial", "out"):
            (tmp_path / sub).mkdir(parents=True)
        sources = tmp_path / "sources.list"
        sources.write_text(f"deb-src {DEBIAN_MIRROR} {suite} main\n")
        options = [
            f"-oDir::Etc::SourceList={sources}",
            "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::State::Lists={tmp_path / 'lists'}",
            f"-oDir::Cache={tmp_path / 'cache'}",
            "-oDebug::NoLocking=1",
            "-oAPT::Sandbox::User=root" if os.geteuid() == 0 else "-q",
        ]
        log(f"fetching Debian source package {package}={version} ({suite})")
        for args in (["update"], ["source", "--download-only", f"{package}={version}"]):
            run = subprocess.run(
                ["apt-get", "-q", *options, *args], cwd=tmp_path / "out",
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            if run.returncode != 0:
                log(f"apt-get {args[0]} failed:\n{run.stdout}")
                return None
        orig = tmp_path / "out" / f"{package}_{VERSION}.orig.tar.gz"
        if not orig.exists():
            log("apt-get source did not produce the orig tarball")
            return None
        target = dest / orig.name
        shutil.copyfile(orig, target)
        return target


def obtain_tarball() -> tuple[Path, str]:
    """Find or fetch a pinned tarball; return (path, sha256). Raises when none works."""
    explicit = os.environ.get(ENV_TARBALL)
    if explicit:
        path = Path(explicit).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{ENV_TARBALL}={explicit}: no such file")
        return path, verify(path)

    for name in ACCEPTED:
        shipped = SHIPPED_DIR / name
        if shipped.is_file():
            return shipped, verify(shipped)

    downloads = cache_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    for name in ACCEPTED:
        cached = downloads / name
        if cached.is_file():
            try:
                return cached, verify(cached)
            except ChecksumError as exc:
                log(f"{exc}\nremoving the bad cached file")
                cached.unlink()

    for fetch in (_download_upstream, _apt_get_source):
        path = fetch(downloads)
        if path is None:
            continue
        try:
            return path, verify(path)
        except ChecksumError:
            path.unlink()
            raise
    raise RuntimeError(
        f"could not obtain libzmq {VERSION}: the upstream download and Debian's source "
        f"package both failed. Download one of {sorted(ACCEPTED)} yourself and point "
        f"{ENV_TARBALL} at it, or build against the system's libzmq with "
        f"ZMQFFI_USE_SYSTEM_LIBZMQ=1."
    )


def _cmake() -> str:
    cmake = shutil.which("cmake")
    if cmake is None:
        raise RuntimeError("cmake is needed to build libzmq: `pip install cmake` or "
                           "`apt-get install cmake`")
    return cmake


def _quiet(command: list[str]) -> None:
    """Run a build step, showing its (long, warning-laden) output only if it fails."""
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stdout)
        raise RuntimeError(f"libzmq build step failed: {' '.join(command)}")


def cmake_options(drafts: bool) -> list[str]:
    on_off = "ON" if drafts else "OFF"
    return [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
        "-DCMAKE_POLICY_VERSION_MINIMUM=3.5",  # libzmq 4.3.4 predates CMake 4
        "-DCMAKE_INSTALL_LIBDIR=lib",
        "-DBUILD_SHARED=OFF",
        "-DBUILD_STATIC=ON",
        "-DBUILD_TESTS=OFF",
        "-DWITH_PERF_TOOL=OFF",
        "-DWITH_DOCS=OFF",
        "-DWITH_DOC=OFF",
        "-DENABLE_CPACK=OFF",
        "-DENABLE_PRECOMPILED=OFF",
        # CURVE with the bundled tweetnacl; without these two the build silently links
        # libsodium/libbsd when their -dev packages exist, and the archive needs them.
        "-DENABLE_CURVE=ON",
        "-DWITH_LIBSODIUM=OFF",
        "-DWITH_LIBBSD=OFF",
        "-DWITH_TLS=OFF",  # wss (drafts only) would pull in gnutls
        "-DWITH_NSS=OFF",
        f"-DENABLE_DRAFTS={on_off}",
    ]


def build(drafts: bool = False) -> dict:
    """Return the install description of a cached static libzmq, building it if needed.

    The result is a dict: prefix, include_dir, library (the .a), sha256 and tarball
    name of the source, drafts, cmake options.
    """
    options = cmake_options(drafts)
    key = hashlib.sha256(json.dumps(options).encode()).hexdigest()[:12]
    prefix = cache_dir() / f"libzmq-{VERSION}-{'draft' if drafts else 'stable'}-{key}"
    stamp = prefix / "zmqffi-build.json"
    with locked(cache_dir() / f".{prefix.name}.lock"):
        if stamp.is_file():
            return json.loads(stamp.read_text())
        tarball, sha256 = obtain_tarball()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="zmqffi-libzmq-") as tmp:
            tmp_path = Path(tmp)
            with tarfile.open(tarball) as tar:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.9.17 / 3.12
                    tar.extractall(tmp_path, filter="data")
                else:
                    tar.extractall(tmp_path)
            (source,) = [p.parent for p in tmp_path.glob("*/CMakeLists.txt")]
            build_dir = tmp_path / "build"
            cmake = _cmake()
            log(f"configuring {source.name} from {tarball.name}")
            _quiet([cmake, "-S", str(source), "-B", str(build_dir),
                    f"-DCMAKE_INSTALL_PREFIX={prefix}", *options])
            log("compiling (once; later builds reuse the cache)")
            jobs = str(os.cpu_count() or 2)
            _quiet([cmake, "--build", str(build_dir), "--target", "install",
                    "--parallel", jobs])
        info = {
            "version": VERSION,
            "prefix": str(prefix),
            "include_dir": str(prefix / "include"),
            "library": str(prefix / "lib" / "libzmq.a"),
            "tarball": tarball.name,
            "sha256": sha256,
            "drafts": drafts,
            "cmake_options": options,
            "build_seconds": round(time.monotonic() - started, 1),
        }
        stamp.write_text(json.dumps(info, indent=2))
        log(f"built in {info['build_seconds']} s into {prefix}")
        return info


if __name__ == "__main__":
    print(json.dumps(build(drafts=os.environ.get("ZMQFFI_DRAFTS") == "1"), indent=2))
