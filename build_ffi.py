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

The work runs in cffi's ``pre_run`` hook of ``build_ext`` (see ``setup.py``), never at
import: setuptools imports this file for every command, ``sdist`` included.
``python build_ffi.py`` prints the generated cdef, for inspection.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
USE_SYSTEM = os.environ.get("ZMQFFI_USE_SYSTEM_LIBZMQ") == "1"
DRAFTS = os.environ.get("ZMQFFI_DRAFTS") == "1"

# Hand-written C helpers compiled into the extension (not part of libzmq's API).
# * zmq_msg_init_data's free callback runs in libzmq's I/O thread, where taking the
#   GIL can deadlock; it only records the ticket of the released buffer, and Python
#   drains the record (zmqffi_drain_released) to drop its reference to the buffer.
# * zmqffi_socket and the hot calls on it (send, recv, recv_into, the Message and batch
#   calls): one cffi call each, with the thread-ownership check and the count of calls
#   in progress done in C (see the comment at the struct).
# * zmqffi_build_info(): JSON describing where libzmq came from and what zmq.h declares.
HELPERS_SOURCE = r"""
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <zmq.h>
#include "zmqffi_build_info.h"

static pthread_mutex_t zmqffi_released_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *zmqffi_released = NULL;
static size_t zmqffi_released_count = 0, zmqffi_released_capacity = 0;
/* How many records wait; Python reads this variable as lib.zmqffi_released_pending, which
   is not a function call and so does not release the GIL (a racy peek is fine: the
   drain takes the lock). */
static size_t zmqffi_released_pending = 0;

static void zmqffi_record_release(void *data, void *hint)
{
    (void) data;
    pthread_mutex_lock(&zmqffi_released_lock);
    if (zmqffi_released_count == zmqffi_released_capacity) {
        size_t capacity = zmqffi_released_capacity ? 2 * zmqffi_released_capacity : 64;
        uintptr_t *grown = realloc(zmqffi_released, capacity * sizeof(uintptr_t));
        if (grown == NULL)
            abort();  /* dropping the record would leak the buffer forever */
        zmqffi_released = grown;
        zmqffi_released_capacity = capacity;
    }
    zmqffi_released[zmqffi_released_count++] = (uintptr_t) hint;
    __atomic_store_n(&zmqffi_released_pending, zmqffi_released_count, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&zmqffi_released_lock);
}

static int zmqffi_msg_init_lent(zmq_msg_t *msg, void *data, size_t size, uintptr_t ticket)
{
    return zmq_msg_init_data(msg, data, size, zmqffi_record_release, (void *) ticket);
}

/* Message(data): zmq_msg_init_size and the copy in one call. */
static int zmqffi_msg_init_copy(zmq_msg_t *msg, const void *data, size_t size)
{
    if (zmq_msg_init_size(msg, size) != 0)
        return -1;
    memcpy(zmq_msg_data(msg), data, size);
    return 0;
}

/* Close and initialise again: an empty message, ready for reuse, in one call. */
static void zmqffi_msg_reset(zmq_msg_t *msg)
{
    zmq_msg_close(msg);
    zmq_msg_init(msg);
}

static size_t zmqffi_drain_released(uintptr_t *out, size_t max)
{
    size_t n;
    pthread_mutex_lock(&zmqffi_released_lock);
    n = zmqffi_released_count < max ? zmqffi_released_count : max;
    memcpy(out, zmqffi_released + (zmqffi_released_count - n), n * sizeof(uintptr_t));
    zmqffi_released_count -= n;
    __atomic_store_n(&zmqffi_released_pending, zmqffi_released_count, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&zmqffi_released_lock);
    return n;
}

/* The per-socket state of the hot paths (send, recv, recv_into, the Message and batch
   calls), kept by Python's _Core. Each hot call is one cffi call that checks here, in C,
   that the calling thread owns the socket -- `owner` is its pthread_self(), 0 when no
   thread may call (closed, shut down, inherited across fork) -- and counts itself in
   `busy` while it is inside libzmq, so that a close from another thread
   (Context.destroy) waits for it. Both fields use sequentially consistent atomics:
   either the caller sees the owner cleared, or the closer sees busy > 0. A refused call
   returns ZMQFFI_NOT_OWNER and Python's slow path says which rule was broken. */
#define ZMQFFI_SMALL 4096
#define ZMQFFI_NOT_OWNER (-2)

typedef struct {
    void *handle;
    zmq_msg_t msg;               /* recv()'s message, reused for every frame */
    char *data;                  /* and, after each frame, its data and more flag: */
    int more;                    /* Python reads fields without a call */
    uintptr_t owner;
    int busy;
    char small[ZMQFFI_SMALL];    /* recv() copies frames up to this size out here */
} zmqffi_socket;

/* (no owner yet: Python's _Core.set_owner gives it one) */
static void zmqffi_socket_init(zmqffi_socket *s, void *handle)
{
    s->handle = handle;
    zmq_msg_init(&s->msg);
}

/* own != 0: the calling thread becomes the owner; own == 0: no thread may call. */
static void zmqffi_socket_own(zmqffi_socket *s, int own)
{
    __atomic_store_n(&s->owner, own ? (uintptr_t) pthread_self() : 0, __ATOMIC_SEQ_CST);
}

static int zmqffi_socket_busy(zmqffi_socket *s)
{
    return __atomic_load_n(&s->busy, __ATOMIC_SEQ_CST);
}

/* the destructor of the struct's Python owner (ffi.gc) */
static void zmqffi_socket_release(zmqffi_socket *s)
{
    zmq_msg_close(&s->msg);
}

static int zmqffi_enter(zmqffi_socket *s)
{
    __atomic_add_fetch(&s->busy, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&s->owner, __ATOMIC_SEQ_CST) == (uintptr_t) pthread_self())
        return 1;
    __atomic_sub_fetch(&s->busy, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static void zmqffi_leave(zmqffi_socket *s)
{
    __atomic_sub_fetch(&s->busy, 1, __ATOMIC_SEQ_CST);  /* leaves errno alone */
}

/* send(bytes): 0, or -1 with errno set, or ZMQFFI_NOT_OWNER. */
static int zmqffi_send(zmqffi_socket *s, const void *data, size_t size, int flags)
{
    int rc;
    if (!zmqffi_enter(s))
        return ZMQFFI_NOT_OWNER;
    rc = zmq_send(s->handle, data, size, flags);
    zmqffi_leave(s);
    return rc < 0 ? -1 : 0;
}

/* A frame's full size from zmq_msg_recv's result, which stops at INT_MAX. */
static long long zmqffi_full_size(int rc, zmq_msg_t *msg)
{
    return rc < INT_MAX ? rc : (long long) zmq_msg_size(msg);
}

/* After a frame of zmq_msg_recv's result `rc` came into the socket's message: note its
   data and more flag, and return its full size. */
static long long zmqffi_frame_in(zmqffi_socket *s, int rc)
{
    s->data = zmq_msg_data(&s->msg);
    s->more = zmq_msg_more(&s->msg);
    return zmqffi_full_size(rc, &s->msg);
}

/* recv(): receive into the socket's reused message and, when the frame fits, copy it
   into `small` too (Python then makes the bytes object from there). Returns the frame
   size, or -1 with errno set, or ZMQFFI_NOT_OWNER. */
static long long zmqffi_recv(zmqffi_socket *s, int flags)
{
    long long size;
    int rc;
    if (!zmqffi_enter(s))
        return ZMQFFI_NOT_OWNER;
    rc = zmq_msg_recv(&s->msg, s->handle, flags);
    zmqffi_leave(s);
    if (rc < 0)
        return -1;
    size = zmqffi_frame_in(s, rc);
    if (size <= ZMQFFI_SMALL)
        memcpy(s->small, s->data, (size_t) size);
    return size;
}

/* recv() without flags: the same with one argument, which CPython's cffi passes
   without building a tuple of arguments (about 500 of a call's 1,600 instructions). */
static long long zmqffi_recv_wait(zmqffi_socket *s)
{
    return zmqffi_recv(s, 0);
}

/* recv_into(): zmq_recv into the caller's buffer; the frame's full size. */
static int zmqffi_recv_into(zmqffi_socket *s, void *buf, size_t cap, int flags)
{
    int size;
    if (!zmqffi_enter(s))
        return ZMQFFI_NOT_OWNER;
    size = zmq_recv(s->handle, buf, cap, flags);
    zmqffi_leave(s);
    return size;
}

static int zmqffi_msg_send(zmqffi_socket *s, zmq_msg_t *msg, int flags)
{
    int rc;
    if (!zmqffi_enter(s))
        return ZMQFFI_NOT_OWNER;
    rc = zmq_msg_send(msg, s->handle, flags);
    zmqffi_leave(s);
    return rc < 0 ? -1 : 0;
}

/* recv_msg(): the frame's full size, or -1 with errno set, or ZMQFFI_NOT_OWNER. */
static long long zmqffi_msg_recv(zmqffi_socket *s, zmq_msg_t *msg, int flags)
{
    int rc;
    if (!zmqffi_enter(s))
        return ZMQFFI_NOT_OWNER;
    rc = zmq_msg_recv(msg, s->handle, flags);
    zmqffi_leave(s);
    return rc < 0 ? -1 : zmqffi_full_size(rc, msg);
}

/* send() of a lent buffer: zmq_msg_init_data and the send in one call (each cffi call
   releases the GIL, and two Python threads on inproc pay a hand-over for every one).
   0; or -1 with errno set, or ZMQFFI_NOT_OWNER, `msg` then holding the lent buffer
   (send it again with zmqffi_msg_send, or close it); or ZMQFFI_NOT_LENT with errno set,
   `msg` untouched. */
#define ZMQFFI_NOT_LENT (-4)

static int zmqffi_send_lent(zmqffi_socket *s, zmq_msg_t *msg, void *data, size_t size,
                            uintptr_t ticket, int flags)
{
    if (zmqffi_msg_init_lent(msg, data, size, ticket) != 0)
        return ZMQFFI_NOT_LENT;
    return zmqffi_msg_send(s, msg, flags);
}

/* recv_many()/send_many(): loop in C over many small frames, one cffi call per batch.
   recv: the first frame waits as `flags` says, the others are taken only if already
   queued. Frames that fit are copied into `out` back to back, and `format` gets the
   struct module's format that splits `out` into them ("3s1s5s", NUL-terminated: one
   struct.unpack_from makes every bytes object in C); it needs room for 21 characters
   per frame and one more. A frame that does not fit stays in the socket's message and
   its size goes to *pending (else -1). Returns how many frames were copied, or -1 with
   errno set if the first failed, or ZMQFFI_NOT_OWNER. */
static char *zmqffi_format_size(char *format, size_t size)
{
    char digits[20];
    int n = 0;
    do
        digits[n++] = (char) ('0' + size % 10);
    while ((size /= 10) != 0);
    while (n)
        *format++ = digits[--n];
    *format++ = 's';
    return format;
}

static int zmqffi_recv_many(zmqffi_socket *s, char *out, size_t cap, char *format,
                            int max, int flags, long long *pending)
{
    int n = 0;
    size_t used = 0;
    *pending = -1;
    *format = '\0';
    if (!zmqffi_enter(s))
        return ZMQFFI_NOT_OWNER;
    while (n < max) {
        long long size;
        int rc = zmq_msg_recv(&s->msg, s->handle, n == 0 ? flags : flags | ZMQ_DONTWAIT);
        if (rc < 0) {
            if (n == 0)
                n = -1;
            break;
        }
        size = zmqffi_frame_in(s, rc);
        if (used + (size_t) size > cap) {
            *pending = size;
            break;
        }
        memcpy(out + used, s->data, (size_t) size);
        used += (size_t) size;
        format = zmqffi_format_size(format, (size_t) size);
        *format = '\0';
        n++;
    }
    zmqffi_leave(s);
    return n;
}

/* send: `data` holds the frames back to back (`size` bytes in all), frame i of sizes[i]
   bytes. The frames from `start` on are sent, each with `flags`, stopping at the first
   failure. Returns how many of them were sent (errno set when fewer), or
   ZMQFFI_NOT_OWNER, or ZMQFFI_BAD_SIZES (nothing sent) when the sizes do not add up to
   `size`. */
#define ZMQFFI_BAD_SIZES (-3)

static int zmqffi_send_many(zmqffi_socket *s, const char *data, size_t size,
                            const size_t *sizes, int count, int start, int flags)
{
    size_t total = 0, offset = 0;
    int n;
    for (n = 0; n < count; n++) {
        total += sizes[n];
        if (n < start)
            offset += sizes[n];
    }
    if (total != size)
        return ZMQFFI_BAD_SIZES;
    if (!zmqffi_enter(s))
        return ZMQFFI_NOT_OWNER;
    for (n = start; n < count; n++) {
        if (zmq_send(s->handle, data + offset, sizes[n], flags) < 0)
            break;
        offset += sizes[n];
    }
    zmqffi_leave(s);
    return n - start;
}

static const char *zmqffi_build_info(void)
{
    return ZMQFFI_BUILD_INFO;
}
"""

HELPERS_CDEF = """
int zmqffi_msg_init_lent(zmq_msg_t *msg, void *data, size_t size, uintptr_t ticket);
int zmqffi_msg_init_copy(zmq_msg_t *msg, const void *data, size_t size);
void zmqffi_msg_reset(zmq_msg_t *msg);
extern size_t zmqffi_released_pending;
size_t zmqffi_drain_released(uintptr_t *out, size_t max);
#define ZMQFFI_SMALL ...
#define ZMQFFI_NOT_OWNER ...
typedef struct {
    zmq_msg_t msg; char *data; int more; char small[...]; ...;
} zmqffi_socket;
void zmqffi_socket_init(zmqffi_socket *s, void *handle);
void zmqffi_socket_own(zmqffi_socket *s, int own);
int zmqffi_socket_busy(zmqffi_socket *s);
void zmqffi_socket_release(zmqffi_socket *s);
int zmqffi_send(zmqffi_socket *s, const void *data, size_t size, int flags);
long long zmqffi_recv(zmqffi_socket *s, int flags);
long long zmqffi_recv_wait(zmqffi_socket *s);
int zmqffi_recv_into(zmqffi_socket *s, void *buf, size_t cap, int flags);
int zmqffi_msg_send(zmqffi_socket *s, zmq_msg_t *msg, int flags);
long long zmqffi_msg_recv(zmqffi_socket *s, zmq_msg_t *msg, int flags);
#define ZMQFFI_NOT_LENT ...
int zmqffi_send_lent(zmqffi_socket *s, zmq_msg_t *msg, void *data, size_t size,
                     uintptr_t ticket, int flags);
int zmqffi_recv_many(zmqffi_socket *s, char *out, size_t cap, char *format, int max,
                     int flags, long long *pending);
#define ZMQFFI_BAD_SIZES ...
int zmqffi_send_many(zmqffi_socket *s, const char *data, size_t size,
                     const size_t *sizes, int count, int start, int flags);
const char *zmqffi_build_info(void);
"""

ffibuilder = FFI()
ffibuilder.set_source("zmqffi._zmq", HELPERS_SOURCE)


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
        HELPERS_CDEF,
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
        "header": str(header),
        "functions": functions,
        "constants": constants,
        "zmq_h": header.read_text(),
    }
    generated = Path(tempfile.mkdtemp(prefix="zmqffi-gen-"))
    (generated / "zmqffi_build_info.h").write_text(
        f"#define ZMQFFI_BUILD_INFO {_c_string(json.dumps(info))}\n"
    )
    ext.include_dirs[:0] = [str(generated), *source["include_dirs"]]
    ext.extra_compile_args += source["compile_args"] + (
        ["-DZMQ_BUILD_DRAFT_API"] if DRAFTS else [])
    ext.extra_objects += source["objects"]
    ext.extra_link_args += source["link_args"]


if __name__ == "__main__":
    print(generate(Path(libzmq()["header"]), DRAFTS)[0])
