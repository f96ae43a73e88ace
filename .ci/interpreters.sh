#!/usr/bin/env bash
# The interpreters tox needs beyond the machine's own, installed once per machine into
# ${ZMQFFI_CACHE:-~/.cache/zmqffi}/interpreters (outside the checkout); a second run only checks.
#
#   python3.14, python3.14t  CPython 3.14, with and without the GIL, built from Debian's tarball
#   python3.15               CPython 3.15, built the same way from Debian's tarball
#   pypy3.11                 Debian 13's pypy3: from apt on Debian 13; on Debian 12, whose libc
#                            is too old for it, inside a Debian 13 root made with debootstrap
#   pypy3.9                  Debian 12's pypy3, from apt (Debian 13 has none)
#
# Usage:
#   .ci/interpreters.sh                      install what is missing; print name=command lines
#                                            and env=FILE, a file to source for PATH
#   .ci/interpreters.sh with-pypy311 CMD...  run CMD where pypy3.11 is on PATH: on Debian 13
#                                            here, on Debian 12 inside the root, with the
#                                            checkout and the cache mounted at their own paths
#
# Pinned versions and checksums: interpreters.lock beside this file. Notes: INTERPRETERS.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
checkout=$(dirname "$here")
# shellcheck source-path=SCRIPTDIR source=interpreters.lock
. "$here/interpreters.lock"

cache=${ZMQFFI_CACHE:-$HOME/.cache/zmqffi}
dir=$cache/interpreters
mirror=${ZMQFFI_DEBIAN_MIRROR:-$DEBIAN_MIRROR_DEFAULT}
jobs=${ZMQFFI_BUILD_JOBS:-2}
root=$dir/pypy311-$PYPY311_SUITE

# Debian 12's libc (2.36) is older than the one Debian 13's pypy3 is linked against (2.38+).
case $(cut -d. -f1 /etc/debian_version) in
    12) pypy311_in_root=1 ;;
    *) pypy311_in_root=0 ;;
esac

log() { echo "interpreters: $*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo --preserve-env "$@"; fi
}

apt_install_missing() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return
    log "apt-get install ${missing[*]} (log: $dir/apt.log)"
    if ! { as_root apt-get update -q &&
           as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
         } >"$dir/apt.log" 2>&1; then
        tail -n 30 "$dir/apt.log" >&2
        die "apt-get failed; log: $dir/apt.log"
    fi
}

# Download a file from the Debian mirror into the cache, refusing it unless its SHA-256 is
# the pinned one; a cached copy is checked again before use.
fetch() {
    local path=$1 sha256=$2
    local file=$dir/downloads/${path##*/}
    mkdir -p "$dir/downloads"
    if [ -f "$file" ] && echo "$sha256  $file" | sha256sum --check --status; then
        echo "$file"
        return
    fi
    log "downloading $mirror/$path"
    curl -fsSL --retry 3 -o "$file.part" "$mirror/$path"
    local actual
    actual=$(sha256sum "$file.part" | cut -d' ' -f1)
    if [ "$actual" != "$sha256" ]; then
        rm -f "$file.part"
        die "refusing $path: SHA-256 $actual, pinned $sha256"
    fi
    mv "$file.part" "$file"
    echo "$file"
}

# build_cpython NAME VERSION POOL_PATH SHA256 [CONFIGURE_ARGS...]: compile CPython into
# $dir/cpython-VERSION[t] unless it is there already, and link bin/pythonNAME to it.
# Plain -O2 builds: PGO and LTO would triple the build time, and the tests measure
# behaviour, not speed.
build_cpython() {
    local name=$1 version=$2 path=$3 sha256=$4
    shift 4
    local suffix=${name#"${name%t}"}  # "t" for the free-threaded build
    local prefix=$dir/cpython-$version$suffix
    local python=$prefix/bin/python$name
    # a prefix counts once its build finished and its interpreter still starts
    if [ ! -f "$prefix/.complete" ] || ! "$python" -c '' 2>/dev/null; then
        local tarball build_dir=$dir/build/cpython-$version$suffix
        local build_log=$dir/build/cpython-$version$suffix.log
        tarball=$(fetch "$path" "$sha256")
        rm -rf "$prefix" "$build_dir"
        mkdir -p "$build_dir"
        tar -xJf "$tarball" -C "$build_dir" --strip-components=1
        log "building CPython $name ($version) with make -j$jobs; log: $build_log"
        local start=$SECONDS
        if ! (cd "$build_dir" &&
              ./configure --prefix="$prefix" --disable-test-modules "$@" &&
              make -j"$jobs" &&
              make altinstall) >"$build_log" 2>&1; then
            tail -n 30 "$build_log" >&2
            die "building CPython $name failed; log: $build_log"
        fi
        # A module left out for a missing -dev package only shows up here, not as an error.
        "$python" -c 'import ssl, ctypes, sqlite3, venv, zlib, bz2, lzma, readline, ensurepip' ||
            die "CPython $name lacks a module pip, venv or the tests need; log: $build_log"
        "$python" -m pip --version >/dev/null || die "CPython $name has no pip"
        rm -rf "$build_dir"
        touch "$prefix/.complete"
        log "CPython $name built in $((SECONDS - start)) s"
    fi
    mkdir -p "$dir/bin"
    ln -sfn "$python" "$dir/bin/python$name"
}

# A Debian 13 root holding pypy3 and what building and testing zmqffi needs. debootstrap
# runs in a private mount namespace, so the mounts it makes in the root end with it.
make_pypy311_root() {
    [ -f "$root/.complete" ] && [ -x "$root/usr/bin/pypy3.11" ] && return
    local start=$SECONDS
    log "debootstrap $PYPY311_SUITE into $root (for pypy3.11; log: $root.log)"
    as_root rm -rf --one-file-system "$root.tmp"
    if ! as_root unshare --mount --propagation private -- \
            debootstrap --variant=minbase --include="$PYPY311_ROOT_PACKAGES" \
            "$PYPY311_SUITE" "$root.tmp" "$mirror" >"$root.log" 2>&1; then
        tail -n 30 "$root.log" >&2
        die "debootstrap failed; log: $root.log"
    fi
    as_root find "$root.tmp/var/cache/apt/archives" -name '*.deb' -delete  # no later use
    as_root rm -rf --one-file-system "$root"
    as_root mv "$root.tmp" "$root"
    as_root unshare --mount --propagation private -- "$here/interpreters.sh" _enter / -- \
        pypy3.11 -c 'import sys; assert sys.version_info[:2] == (3, 11)' ||
        die "the root's pypy3.11 does not run"
    as_root touch "$root/.complete"
    log "root made in $((SECONDS - start)) s ($(du -sh --one-file-system "$root" | cut -f1))"
}

# with-pypy311: on Debian 12, enter the root in a private mount namespace (the mounts go
# away with the command, however it ends) and run the command there.
with_pypy311() {
    [ "$#" -gt 0 ] || die "usage: $0 with-pypy311 COMMAND [ARGS...]"
    if [ "$pypy311_in_root" -eq 0 ]; then
        exec "$@"
    fi
    [ -f "$root/.complete" ] || die "no PyPy 3.11 root yet: run $0 first"
    mkdir -p "$cache"
    local binds=("$checkout" "$(cd "$cache" && pwd)")
    # the tests read the seed chapter from the shared/ folder beside the checkout, if any
    [ -d "$checkout/../shared" ] && binds+=("$(cd "$checkout/../shared" && pwd)")
    as_root unshare --mount --propagation private -- \
        "$here/interpreters.sh" _enter "$PWD" "${binds[@]}" -- "$@"
}

# _enter CWD BIND... -- COMMAND...: the part of with-pypy311 that runs in the namespace.
enter_root() {
    local cwd=$1 path
    shift
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"         # /dev/shm for multiprocessing, /dev/pts
    mount -t tmpfs tmpfs "$root/tmp"       # ipc:// endpoints, pytest's tmp_path
    mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
    # the host's CA bundle: pip reaches PyPI through whatever CAs this machine trusts
    mount --bind -o ro /etc/ssl/certs "$root/etc/ssl/certs"
    while [ "$1" != "--" ]; do
        path=$1
        shift
        mkdir -p "$root$path"
        mount --bind "$path" "$root$path"
    done
    shift
    # shellcheck disable=SC2016  # $1 and $@ belong to the inner sh
    exec chroot "$root" /usr/bin/env \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        sh -c 'cd "$1" 2>/dev/null || cd /; shift; exec "$@"' sh "$cwd" "$@"
}

install_all() {
    mkdir -p "$dir"
    exec 9>"$dir/.lock"
    flock 9  # another run on this machine finishes first; then this one only checks

    local packages=(build-essential pkg-config curl ca-certificates xz-utils
                    libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev
                    libsqlite3-dev libreadline-dev libncurses-dev
                    pypy3 pypy3-venv pypy3-dev)
    [ "$pypy311_in_root" -eq 1 ] && packages+=(debootstrap)
    apt_install_missing "${packages[@]}"

    build_cpython 3.14 "$CPYTHON314_VERSION" "$CPYTHON314_PATH" "$CPYTHON314_SHA256"
    build_cpython 3.14t "$CPYTHON314_VERSION" "$CPYTHON314_PATH" "$CPYTHON314_SHA256" \
        --disable-gil
    build_cpython 3.15 "$CPYTHON315_VERSION" "$CPYTHON315_PATH" "$CPYTHON315_SHA256"
    [ "$pypy311_in_root" -eq 1 ] && make_pypy311_root

    echo "export PATH=\"$dir/bin:\$PATH\"" >"$dir/env.sh"

    local name
    for name in 3.14 3.14t 3.15; do
        echo "python$name=$dir/bin/python$name"
    done
    if [ "$pypy311_in_root" -eq 1 ]; then
        echo "pypy3.11=$here/interpreters.sh with-pypy311 pypy3.11"
        echo "pypy3.9=$(command -v pypy3.9)"
    else
        command -v pypy3.11 >/dev/null || die "apt's pypy3 is not PyPy 3.11 here"
        echo "pypy3.11=$(command -v pypy3.11)"
        log "no pypy3.9: Debian 13 has no PyPy 3.9 (its pypy3 is 3.11)"
    fi
    echo "env=$dir/env.sh"
}

case ${1:-} in
    "") install_all ;;
    with-pypy311) shift; with_pypy311 "$@" ;;
    _enter) shift; enter_root "$@" ;;
    *) die "usage: $0 [with-pypy311 COMMAND [ARGS...]]" ;;
esac
