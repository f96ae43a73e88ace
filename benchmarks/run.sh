#!/usr/bin/env bash
# One command for the benchmark: builds the benchmark venv for an interpreter, installs
# zmqffi (from this working tree), pyzmq, trio and matplotlib into it, runs benchmarks/run.py
# there, and draws the chart (with the CPython venv when matplotlib is missing).
#
#   benchmarks/run.sh [--python python3|pypy3|/path/to/python] [run.py options...]
#
# e.g.  benchmarks/run.sh --pin 0,1
#       benchmarks/run.sh --python pypy3 --pin 0,1
#       benchmarks/run.sh --short --reps 1          # CI smoke run
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PYTHON=python3
if [[ "${1:-}" == "--python" ]]; then
    PYTHON="$2"
    shift 2
fi

venv_for() {  # venv_for INTERPRETER -> path of its benchmark venv, created and filled
    local py="$1" tag venv
    tag="$("$py" -c 'import sys; print(sys.implementation.name + "%d%d" % sys.version_info[:2])')"
    venv="$HERE/.venv-$tag"
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "[bench] creating $venv" >&2
        "$py" -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c 'import zmq, _cffi_backend' 2>/dev/null; then
        "$venv/bin/pip" install -q pyzmq cffi >&2  # cffi: zmqffi's own dependency
    fi
    if ! "$venv/bin/python" -c 'import trio' 2>/dev/null; then
        # for the zmqffi-trio rows (reported unavailable without it)
        "$venv/bin/pip" install -q trio >&2 \
            || echo "[bench] trio unavailable for $tag: no zmqffi-trio rows" >&2
    fi
    if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
        # may not build on PyPy: the chart is then drawn by the CPython venv
        "$venv/bin/pip" install -q matplotlib >&2 2>/dev/null \
            || echo "[bench] matplotlib unavailable for $tag: chart drawn by CPython" >&2
    fi
    install_zmqffi "$venv"
    echo "$venv"
}

install_zmqffi() {  # (re)install zmqffi from a snapshot of the working tree if it changed
    local venv="$1" files hash stamp snap
    cd "$ROOT"
    files="$(git ls-files -co --exclude-standard | grep -v '^benchmarks/' | sort)"
    hash="$( (echo "$files"; echo "$files" | xargs -d '\n' cat 2>/dev/null) | sha256sum | cut -c1-16)"
    stamp="$venv/.zmqffi-source"
    # (the import from / : from the checkout, `python -c` would find the unbuilt ./zmqffi,
    # fail, and reinstall every time)
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]] \
        && (cd / && "$venv/bin/python" -c 'import zmqffi') 2>/dev/null; then
        return
    fi
    echo "[bench] installing zmqffi from the working tree ($hash) into $venv" >&2
    # build from a copy: never write build products into the working tree
    snap="$(mktemp -d)"
    echo "$files" | tar -C "$ROOT" -cf - -T - | tar -C "$snap" -xf -
    "$venv/bin/pip" install -q --no-deps --force-reinstall "$snap" >&2
    rm -rf "$snap"
    echo "$hash" > "$stamp"
}

VENV="$(venv_for "$PYTHON")"
cd "$ROOT"
"$VENV/bin/python" "$HERE/run.py" "$@"

# the chart: this venv's matplotlib, or the CPython one's
if ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
    CHART_VENV="$(venv_for python3)"
    latest="$(ls -t "$HERE"/results/*.json | head -1)"
    "$CHART_VENV/bin/python" "$HERE/run.py" chart "$latest"
fi
