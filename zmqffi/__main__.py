"""``python -m zmqffi``: what this zmqffi is built from.
``python -m zmqffi parity``: how much of zmq.h the raw layer exposes (exit 1 if not all).
"""

from __future__ import annotations

import platform
import re
import sys

import zmqffi
from zmqffi import build_info, lib

CAPABILITIES = ("ipc", "pgm", "tipc", "norm", "curve", "gssapi", "draft")


def built_as_wheel() -> bool:
    """Whether tools/build_dist.py compiled the extension for a wheel (build_ffi.py
    records it in build_info)."""
    return build_info.get("build") == "wheel"


def describe() -> int:
    info = build_info
    print(f"zmqffi {zmqffi.__version__}")
    print(f"libzmq {zmqffi.zmq_version()} ({info['origin']}"
          f"{', drafts' if info['drafts'] else ''})")
    if info["origin"] == "vendored":
        print(f"  source {info['tarball']} sha256 {info['sha256']}")
    print(f"  header {info['header']}"
          f"{' (on the machine that built the wheel)' if built_as_wheel() else ''}")
    print("build wheel (tools/build_dist.py: nothing was compiled at install)"
          if built_as_wheel() else
          "build source (compiled where it was installed, or in place)")
    print("capabilities " + " ".join(
        f"{cap}={'yes' if zmqffi.has(cap) else 'no'}" for cap in CAPABILITIES))
    print(f"python {platform.python_implementation()} {platform.python_version()} "
          f"({sys.executable})")
    return 0


def declared_in_header(text: str, drafts: bool) -> dict[str, list[str]]:
    """Read zmq.h's text plainly (not the generator's way): the names after each
    ZMQ_EXPORT, and each ``#define ZMQ_X value`` with a value that is not a string;
    the draft section counts only in a draft build."""
    if not drafts:
        text = re.sub(r"#ifdef ZMQ_BUILD_DRAFT_API.*?#endif // ZMQ_BUILD_DRAFT_API", "",
                      text, flags=re.S)
    functions = re.findall(r"ZMQ_EXPORT\s[^;(]*?\b(zmq_\w+)\s*\(", text)
    constants = [name for name, value in
                 re.findall(r"^#define (ZMQ_\w+)[ \t]+([^\n]+)", text, flags=re.M)
                 if '"' not in value and "__" not in value]
    return {"functions": sorted(set(functions)), "constants": sorted(set(constants))}


def parity() -> int:
    missing = 0
    header = declared_in_header(build_info["zmq_h"], build_info["drafts"])
    for kind in ("functions", "constants"):
        declared = header[kind]
        absent = [name for name in declared if not hasattr(lib, name)]
        present = len(declared) - len(absent)
        print(f"{kind}: {present}/{len(declared)} of zmq.h present "
              f"({100.0 * present / max(1, len(declared)):.1f}%)")
        for name in absent:
            print(f"  missing: {name}")
        missing += len(absent)
    return 1 if missing else 0


def main(argv: list[str]) -> int:
    if argv == ["parity"]:
        return parity()
    if argv:
        print("usage: python -m zmqffi [parity]", file=sys.stderr)
        return 2
    return describe()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
