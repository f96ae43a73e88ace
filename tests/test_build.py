"""The build: the raw layer covers zmq.h (and the module its constants), the version
and capabilities built, libzmq linked statically and privately, and the recipe refuses a
tarball whose checksum is not pinned."""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import zmqffi
from zmqffi import build_info, lib

from conftest import REPO

VENDORED = build_info["origin"] == "vendored"
EXTENSION = Path(zmqffi._zmq.__file__)


def header_names(text: str, drafts: bool) -> tuple[set[str], set[str]]:
    """zmq.h read independently of the generator: exported functions, integer macros."""
    if not drafts:
        text = re.sub(r"#ifdef ZMQ_BUILD_DRAFT_API.*?#endif // ZMQ_BUILD_DRAFT_API",
                      "", text, flags=re.S)
    # join continued lines, drop comments
    text = re.sub(r"/\*.*?\*/", "", text.replace("\\\n", " "), flags=re.S)
    functions = set(re.findall(r"ZMQ_EXPORT[^;]*?(zmq_\w+)\s*\(", text))
    constants = set()
    for name, value in re.findall(r"^\s*#\s*define\s+(ZMQ_\w+)[ \t]+(.+)$", text, re.M):
        if '"' not in value and "__" not in value:
            constants.add(name)
    return functions, constants


def test_every_function_and_integer_constant_of_zmq_h_is_on_lib():
    functions, constants = header_names(build_info["zmq_h"], build_info["drafts"])
    assert len(functions) >= 60 and len(constants) >= 150  # the parse found the header
    assert "zmq_msg_init_data" in functions and "ZMQ_EVENT_ALL" in constants
    assert sorted(f for f in functions if not hasattr(lib, f)) == []
    assert sorted(c for c in constants if not isinstance(getattr(lib, c, None), int)) == []
    # and under their short names at module level
    assert all(getattr(zmqffi, c[4:]) == getattr(lib, c) for c in constants)


def test_header_is_the_one_built_against():
    if VENDORED:
        assert Path(build_info["header"]).read_text() == build_info["zmq_h"]
    assert lib.ZMQ_VERSION == 40304 or not VENDORED
    assert zmqffi.zmq_version() == "%d.%d.%d" % zmqffi.zmq_version_info()


def test_versions_and_capabilities() -> None:
    assert zmqffi.zmq_version() == "4.3.4"
    assert zmqffi.zmq_version_info() == (4, 3, 4)
    assert isinstance(zmqffi.__version__, str) and zmqffi.__version__
    assert zmqffi.has("curve") is True
    assert zmqffi.has("ipc") is True
    assert zmqffi.has("no-such-capability") is False
    with pytest.raises(TypeError):
        zmqffi.has(b"curve")  # type: ignore[arg-type]


def test_constants_match_the_raw_layer() -> None:
    for name in ("PUSH", "PULL", "SNDHWM", "DONTWAIT", "SNDMORE", "POLLIN",
                 "EVENT_CONNECTED", "CURVE_SERVER"):
        assert getattr(zmqffi, name) == getattr(zmqffi.lib, "ZMQ_" + name)
    with pytest.raises(AttributeError):
        zmqffi.NO_SUCH_CONSTANT  # noqa: B018


def test_parity_command_exits_zero_and_reports_full_coverage():
    run = subprocess.run([sys.executable, "-m", "zmqffi", "parity"],
                         stdout=subprocess.PIPE, text=True, timeout=60)
    assert run.returncode == 0, run.stdout
    assert re.search(r"functions: (\d+)/\1 ", run.stdout)
    assert re.search(r"constants: (\d+)/\1 ", run.stdout)


def test_info_command_names_origin_checksum_and_capabilities():
    run = subprocess.run([sys.executable, "-m", "zmqffi"], stdout=subprocess.PIPE,
                         text=True, timeout=60)
    assert run.returncode == 0
    assert f"libzmq {zmqffi.zmq_version()}" in run.stdout
    assert "curve=yes" in run.stdout
    if VENDORED:
        assert build_info["sha256"] in run.stdout
    # a wheel made by tools/build_dist.py says so; anything compiled at install or in place
    # is a source build
    assert build_info["build"] in ("wheel", "source")
    assert re.search(rf"^build {build_info['build']} ", run.stdout, re.M), run.stdout


def test_curve_uses_builtin_tweetnacl():
    assert lib.zmq_has(b"curve") == 1
    assert zmqffi.has("curve")


@pytest.mark.skipif(not VENDORED, reason="the system build links libzmq.so by design")
def test_extension_does_not_need_libzmq_so():
    ldd = subprocess.run(["ldd", str(EXTENSION)], stdout=subprocess.PIPE, text=True,
                         timeout=30).stdout
    assert "libzmq" not in ldd
    assert "libsodium" not in ldd and "libbsd" not in ldd


@pytest.mark.skipif(not VENDORED, reason="the system build links libzmq.so by design")
def test_extension_keeps_libzmq_symbols_private():
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(EXTENSION)],
                             stdout=subprocess.PIPE, text=True, timeout=30).stdout
    exported = [line.split()[-1] for line in symbols.splitlines() if line.strip()]
    assert not [s for s in exported if s.startswith("zmq_")]
    assert any(s.startswith("PyInit_") for s in exported) or sys.implementation.name == "pypy"


def test_extension_exports_only_its_init_function():
    # the C helpers, static and built with hidden visibility, are not symbols of the .so
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(EXTENSION)],
                             stdout=subprocess.PIPE, text=True, timeout=30).stdout
    exported = [line.split()[-1] for line in symbols.splitlines() if line.strip()]
    assert exported in (["PyInit__zmq"], ["_cffi_pypyinit__zmq"]), exported


def test_helpers_c_compiles_on_its_own_without_warnings():
    """What ``python build_ffi.py --check-c`` runs, against the zmq.h built against."""
    spec = importlib.util.spec_from_file_location("zmqffi_build_ffi",
                                                  REPO / "build_ffi.py")
    build_ffi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_ffi)
    if not build_ffi.compiler_found():
        pytest.skip("no C compiler here to check src/zmqffi_helpers.c with")
    run = build_ffi.check_c([str(Path(build_info["header"]).parent)],
                            drafts=build_info["drafts"])
    assert run.returncode == 0, f"{' '.join(run.args)}\n{run.stdout}"


SCRIPT_WITH_PYZMQ = r"""
import sys
import zmq, zmqffi
# zmqffi first, pyzmq second, both live in one process, talking over tcp
with zmqffi.Context() as ours, ours.socket(zmqffi.PULL) as pull:
    pull.setsockopt(zmqffi.RCVTIMEO, 5000)
    pull.bind("tcp://127.0.0.1:*")
    theirs = zmq.Context()
    push = theirs.socket(zmq.PUSH)
    push.connect(pull.last_endpoint)
    push.send(b"from pyzmq")
    got = pull.recv()
    push.close(); theirs.term()
print(got.decode(), zmq.zmq_version(), zmqffi.zmq_version())
"""


def test_pyzmq_and_zmqffi_share_a_process():
    pytest.importorskip("zmq")
    flags = os.RTLD_GLOBAL | os.RTLD_NOW
    # RTLD_GLOBAL is the hard case: exported libzmq symbols would cross-bind
    script = f"import sys; sys.setdlopenflags({flags})\n" + SCRIPT_WITH_PYZMQ
    run = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=60)
    assert run.returncode == 0, run.stdout
    assert run.stdout.startswith("from pyzmq ")


def load_recipe():
    spec = importlib.util.spec_from_file_location(
        "zmqffi_recipe", REPO / "vendor" / "libzmq" / "recipe.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    return recipe


def test_recipe_refuses_a_tampered_tarball(tmp_path, monkeypatch):
    recipe = load_recipe()
    tarball = tmp_path / "zeromq-4.3.4.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        member = tarfile.TarInfo("zeromq-4.3.4/CMakeLists.txt")
        payload = b"project(evil)\n"
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    monkeypatch.setenv(recipe.ENV_TARBALL, str(tarball))
    with pytest.raises(recipe.ChecksumError, match="not a pinned libzmq"):
        recipe.obtain_tarball()


def test_recipe_refuses_a_modified_copy_of_a_pinned_tarball(tmp_path, monkeypatch):
    recipe = load_recipe()
    cached = [recipe.cache_dir() / "downloads" / name for name in recipe.ACCEPTED]
    real = next((p for p in cached if p.is_file()), None)
    if real is None:
        pytest.skip("no pinned tarball in the cache (system build)")
    assert recipe.verify(real) in recipe.ACCEPTED.values()
    data = bytearray(gzip.decompress(real.read_bytes()))
    data[-1000] ^= 1  # one bit flipped inside the archive
    tampered = tmp_path / real.name
    tampered.write_bytes(gzip.compress(bytes(data)))
    monkeypatch.setenv(recipe.ENV_TARBALL, str(tampered))
    with pytest.raises(recipe.ChecksumError):
        recipe.obtain_tarball()
