"""Generate the cffi binding ``zmqffi._zmq`` from libzmq's own ``zmq.h``.

Nothing here lists libzmq's functions or constants by hand. At build time:

1. libzmq is obtained: the pinned, checksum-verified release compiled once into a
   cache (``vendor/libzmq/recipe.py``), or the system's (``ZMQFFI_USE_SYSTEM_LIBZMQ=1``).
2. Its ``zmq.h`` is run through the C preprocessor for this platform (with
   ``ZMQ_BUILD_DRAFT_API`` when ``ZMQFFI_DRAFTS=1``). Every declaration that comes from
   ``zmq.h`` itself becomes cdef text; every object-like integer macro that ``zmq.h``
   defines becomes ``#define NAME ...`` so that cffi takes its value from the compiler.
3. cffi's out-of-line API mode compiles the extension, linking the static archive and
   keeping its symbols private (``--exclude-libs``), so another libzmq in the same
   process (pyzmq's) cannot cross-bind with ours.

zmqffi's own C helpers are real C files, ``src/zmqffi_helpers.c`` and
``src/zmqffi_helpers.h``. The header's declarations are also their cdef (appended to the
one generated from zmq.h), and the extension's source includes the .c, so the compiler
checks the helpers against the declarations cffi binds and can inline them into cffi's
wrappers.

The work runs in cffi's ``pre_run`` hook of ``build_ext`` (see ``setup.py``), never at
import: setuptools imports this file for every command, ``sdist`` included.
``python build_ffi.py`` prints the generated cdef, for inspection;
``python build_ffi.py --check-c`` compiles the helpers alone with every warning an error.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
USE_SYSTEM = os.environ.get("ZMQFFI_USE_SYSTEM_LIBZMQ") == "1"
DRAFTS = os.environ.get("ZMQFFI_DRAFTS") == "1"
# tools/build_dist.py sets it for the wheels it makes, so that `python -m zmqffi` can tell
# a wheel's extension from one compiled where it was installed
WHEEL = os.environ.get("ZMQFFI_BUILD_WHEEL") == "1"

# The hand-written C helpers (src/): the header is also their cdef, and the extension's
# source includes the .c, so that cffi's wrappers and the static helpers are one
# translation unit (the compiler can inline a helper into its wrapper). Hidden
# visibility by default: the module's init function is the only symbol to export.
SRC = HERE / "src"
HELPERS_C = SRC / "zmqffi_helpers.c"
HELPERS_H = SRC / "zmqffi_helpers.h"
HELPERS_FLAGS = ["-fvisibility=hidden"]

ffibuilder = FFI()
ffibuilder.set_source(
    "zmqffi._zmq", f'#include "{HELPERS_C.name}"',
    include_dirs=[str(SRC)], depends=[str(HELPERS_C), str(HELPERS_H)],
    extra_compile_args=HELPERS_FLAGS,
)


# --- reading zmq.h -------------------------------------------------------------------

def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")


def _preprocess(header: Path, flags: list[str]) -> str:
    command = [*_compiler(), "-E", *flags, str(header)]
    return subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout


def _lines_from(header: Path, preprocessed: str) -> list[str]:
    """Keep only the lines that the preprocessor attributes to ``header`` itself."""
    kept, current = [], None
    for line in preprocessed.splitlines():
        marker = re.match(r'#\s*\d+\s+"([^"]*)"', line)
        if marker:
            current = marker.group(1)
            continue
        if current is not None and os.path.realpath(current) == str(header.resolve()):
            kept.append(line)
    return kept


def _strip_attributes(text: str) -> str:
    """Remove ``__attribute__ ((...))`` (balanced parentheses), which cdef cannot read."""
    out, i = [], 0
    while True:
        start = text.find("__attribute__", i)
        if start < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:start])
        j = text.index("(", start)
        depth = 0
        while True:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                break
        i = j


def _opaque_structs(text: str) -> str:
    """Structs whose only members are named ``_`` are opaque storage: let the compiler
    size them (``...;``) rather than restating a platform-dependent layout."""
    def replace(match: re.Match) -> str:
        members = [m.strip() for m in match.group(2).split(";") if m.strip()]
        if members and all(re.search(r"\b_\s*(\[[^\]]*\])?$", m) for m in members):
            return f"struct {match.group(1)} {{ ...; }}"
        return match.group(0)
    return re.sub(r"struct\s+(\w+)\s*\{([^{}]*)\}", replace, text)


INTEGER_VALUE = re.compile(r"^[\w\s(),+\-|&<>*~]+$")


def generate(header: Path, drafts: bool) -> tuple[str, list[str], list[str]]:
    """Return (cdef text, exported function names, integer constant names) of zmq.h."""
    flags = ["-DZMQ_BUILD_DRAFT_API"] if drafts else []
    include = [f"-I{header.parent}"]
    code = "\n".join(
        line for line in _lines_from(header, _preprocess(header, [*include, *flags]))
        if not line.startswith("#")
    )
    code = _opaque_structs(_strip_attributes(code))
    code = re.sub(r"[ \t]+", " ", code)

    # Functions: every prototype of zmq.h (ZMQ_EXPORT expanded to a visibility
    # attribute, already stripped). A declaration is "name (" before its ";".
    functions = sorted(set(re.findall(r"\b(zmq_\w+)\s*\([^;{}]*\)\s*;", code)))

    # Constants: every object-like macro that zmq.h's text defines and that is still
    # defined after preprocessing, with an integer-looking value (the compiler gives
    # the value; a non-integer would fail the build loudly, not silently).
    macros = {}
    for line in _preprocess(header, [*include, *flags, "-dM"]).splitlines():
        m = re.match(r"#define (\w+) (.*)$", line)
        if m:
            macros[m.group(1)] = m.group(2).strip()
    named_in_header = set(re.findall(r"^\s*#\s*define\s+(\w+)(?=\s|$)",
                                     header.read_text(), re.M))
    constants = sorted(
        name for name in named_in_header
        if name in macros and not name.startswith("__")
        and macros[name] and INTEGER_VALUE.match(macros[name])
    )
    cdef = "\n".join([
        code,
        *(f"#define {name} ..." for name in constants),
        HELPERS_H.read_text(),
    ])
    return cdef, functions, constants


# --- where libzmq comes from -----------------------------------------------------------

def _pkg_config(*args: str) -> list[str]:
    out = subprocess.run(["pkg-config", *args, "libzmq"], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return shlex.split(out)


def libzmq() -> dict:
    """Describe the libzmq to build against: header, compile and link settings."""
    if USE_SYSTEM:
        include_dir = _pkg_config("--variable=includedir")[0]
        return {
            "origin": "system",
            "version": _pkg_config("--modversion")[0],
            "header": str(Path(include_dir) / "zmq.h"),
            "sha256": None,
            "include_dirs": [include_dir],
            "compile_args": _pkg_config("--cflags-only-other"),
            "link_args": _pkg_config("--libs"),
            "objects": [],
        }
    sys.path.insert(0, str(HERE / "vendor" / "libzmq"))
    try:
        import recipe
    finally:
        sys.path.pop(0)
    built = recipe.build(drafts=DRAFTS)
    return {
        "origin": "vendored",
        "version": built["version"],
        "header": str(Path(built["include_dir"]) / "zmq.h"),
        "sha256": built["sha256"],
        "tarball": built["tarball"],
        "include_dirs": [built["include_dir"]],
        "compile_args": [],
        # the archive is C++: it needs libstdc++; keep its symbols out of our exports
        "link_args": ["-Wl,--exclude-libs,ALL", "-lstdc++", "-lpthread"],
        "objects": [built["library"]],
    }


def _c_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid C string literal here


def prepare(ext, ffi: FFI) -> None:
    """cffi's pre_run hook: obtain libzmq, generate the cdef, configure the extension."""
    source = libzmq()
    header = Path(source["header"])
    cdef, functions, constants = generate(header, DRAFTS)
    ffi.cdef(cdef)
    info = {
        "origin": source["origin"],
        "libzmq_version": source["version"],
        "sha256": source["sha256"],
        "tarball": source.get("tarball"),
        "drafts": DRAFTS,
        "build": "wheel" if WHEEL else "source",
        "header": str(header),
        "functions": functions,
        "constants": constants,
        "zmq_h": header.read_text(),
    }
    generated = Path(tempfile.mkdtemp(prefix="zmqffi-gen-"))
    info_h = generated / "zmqffi_build_info.h"
    info_h.write_text(f"#define ZMQFFI_BUILD_INFO {_c_string(json.dumps(info))}\n")
    # setuptools skips an extension whose sources are older than the built one; the
    # generated C often is unchanged while what it includes (this header: the origin,
    # wheel or source, drafts) or links (the libzmq archive) is not. A fresh header
    # rebuilds every time: a reused build/ must never keep a stale build_info.
    ext.depends += [str(info_h), *source["objects"]]
    ext.include_dirs[:0] = [str(generated), *source["include_dirs"]]
    ext.extra_compile_args += source["compile_args"] + (
        ["-DZMQ_BUILD_DRAFT_API"] if DRAFTS else [])
    ext.extra_objects += source["objects"]
    ext.extra_link_args += source["link_args"]


# --- checking the helpers' C on its own ------------------------------------------------

# Every warning an error. Without cffi's wrappers, which call them, the static helpers
# are unused here, hence -Wno-unused-function; -Wmissing-prototypes flags a helper
# defined without the header's static declaration (one cdef would not bind, or exported).
CHECK_FLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
               "-Wmissing-prototypes", "-Wstrict-prototypes"]


def compiler_found() -> bool:
    return shutil.which(_compiler()[0]) is not None


def check_c(include_dirs: list[str], compile_args: list[str] = (),
            drafts: bool = False) -> subprocess.CompletedProcess:
    """Compile src/zmqffi_helpers.c on its own with CHECK_FLAGS, against the zmq.h found
    in ``include_dirs`` and a stand-in zmqffi_build_info.h (the real one exists only
    during a build). The result holds the compiler's command and output; its
    returncode is 0 when the C is clean."""
    with tempfile.TemporaryDirectory(prefix="zmqffi-check-c-") as tmp:
        Path(tmp, "zmqffi_build_info.h").write_text('#define ZMQFFI_BUILD_INFO "{}"\n')
        command = [
            *_compiler(), *CHECK_FLAGS, *HELPERS_FLAGS, *compile_args,
            *(["-DZMQ_BUILD_DRAFT_API"] if drafts else []),
            f"-I{tmp}", f"-I{SRC}", *(f"-I{d}" for d in include_dirs),
            "-c", str(HELPERS_C), "-o", str(Path(tmp, "zmqffi_helpers.o")),
        ]
        return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--check-c"]:
        source = libzmq()
        run = check_c(source["include_dirs"], source["compile_args"], DRAFTS)
        print(" ".join(run.args))
        print(run.stdout, end="")
        print(f"{HELPERS_C.name}: {'clean' if run.returncode == 0 else 'FAILED'}")
        sys.exit(run.returncode)
    elif sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]} [--check-c]")
    print(generate(Path(libzmq()["header"]), DRAFTS)[0])
