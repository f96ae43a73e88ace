/* zmqffi's C helpers, compiled into the cffi extension zmqffi._zmq (they are not part
   of libzmq's API). What each one does is said at its declaration in
   zmqffi_helpers.h, which is also the helpers' cffi cdef.

   build_ffi.py makes this file part of the same translation unit as cffi's generated
   wrappers (the extension's source is `#include "zmqffi_helpers.c"`), and every helper
   is static, as the header declares it: the compiler may inline a helper into the
   wrapper that calls it, so that a hot call makes no C call but the one into libzmq,
   and no helper becomes a symbol of the shared object.

   zmqffi_build_info.h is generated at build time (build_ffi.prepare). */

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <zmq.h>
#include "zmqffi_build_info.h"
#include "zmqffi_helpers.h"

/* --- buffers lent to libzmq -------------------------------------------------------- */

static pthread_mutex_t zmqffi_released_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *zmqffi_released = NULL;
static size_t zmqffi_released_count = 0, zmqffi_released_capacity = 0;
static size_t zmqffi_released_pending = 0;
static int zmqffi_initialised = 0;
static int zmqffi_release_lock_held = 0;

/* libzmq's free callback: runs in an I/O thread, so it takes no GIL, only our lock. */
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

static int zmqffi_msg_init_lent(zmq_msg_t *msg, void *data, size_t size,
                                uintptr_t ticket)
{
    return zmq_msg_init_data(msg, data, size, zmqffi_record_release, (void *) ticket);
}

static int zmqffi_msg_init_copy(zmq_msg_t *msg, const void *data, size_t size)
{
    if (zmq_msg_init_size(msg, size) != 0)
        return -1;
    memcpy(zmq_msg_data(msg), data, size);
    return 0;
}

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

/* --- the socket's hot calls (see zmqffi_socket in the header) ---------------------- */

static void zmqffi_socket_init(zmqffi_socket *s, void *handle)
{
    s->handle = handle;
    zmq_msg_init(&s->msg);
}

static void zmqffi_socket_own(zmqffi_socket *s, int own)
{
    __atomic_store_n(&s->owner, own ? (uintptr_t) pthread_self() : 0, __ATOMIC_SEQ_CST);
}

static int zmqffi_socket_busy(zmqffi_socket *s)
{
    return __atomic_load_n(&s->busy, __ATOMIC_SEQ_CST);
}

static void zmqffi_socket_release(zmqffi_socket *s)
{
    zmq_msg_close(&s->msg);
}

/* Count the call in `busy` first, then check the owner: a closer that clears the owner
   and then sees busy == 0 knows no call is inside libzmq, nor will enter. */
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

static long long zmqffi_recv_wait(zmqffi_socket *s)
{
    return zmqffi_recv(s, 0);
}

static long long zmqffi_recv_into(zmqffi_socket *s, void *buf, size_t cap, int flags)
{
    zmq_msg_t msg;
    size_t size;
    if (!zmqffi_enter(s))
        return ZMQFFI_NOT_OWNER;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, s->handle, flags) < 0) {
        int errnum = errno;
        zmqffi_leave(s);
        zmq_msg_close(&msg);
        errno = errnum;
        return -1;
    }
    zmqffi_leave(s);
    size = zmq_msg_size(&msg);
    memcpy(buf, zmq_msg_data(&msg), size < cap ? size : cap);
    zmq_msg_close(&msg);
    return (long long) size;
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

static long long zmqffi_msg_recv(zmqffi_socket *s, zmq_msg_t *msg, int flags)
{
    int rc;
    if (!zmqffi_enter(s))
        return ZMQFFI_NOT_OWNER;
    rc = zmq_msg_recv(msg, s->handle, flags);
    zmqffi_leave(s);
    return rc < 0 ? -1 : zmqffi_full_size(rc, msg);
}

static int zmqffi_send_lent(zmqffi_socket *s, zmq_msg_t *msg, void *data, size_t size,
                            uintptr_t ticket, int flags)
{
    if (zmqffi_msg_init_lent(msg, data, size, ticket) != 0)
        return ZMQFFI_NOT_LENT;
    return zmqffi_msg_send(s, msg, flags);
}

/* --- batches ----------------------------------------------------------------------- */

/* Append `size` in decimal and 's' to a struct format; return the end. */
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

/* --- build ------------------------------------------------------------------------- */

/* --- the socket's other calls ------------------------------------------------------- */

#define ZMQFFI_INSIDE(s, call)          \
    do {                                \
        int rc_;                        \
        if (!zmqffi_enter(s))           \
            return ZMQFFI_NOT_OWNER;    \
        rc_ = (call);                   \
        zmqffi_leave(s);                \
        return rc_;                     \
    } while (0)

static int zmqffi_setsockopt(zmqffi_socket *s, int option, const void *value,
                             size_t size)
{
    ZMQFFI_INSIDE(s, zmq_setsockopt(s->handle, option, value, size));
}

static int zmqffi_getsockopt(zmqffi_socket *s, int option, void *value, size_t *size)
{
    ZMQFFI_INSIDE(s, zmq_getsockopt(s->handle, option, value, size));
}

static int zmqffi_bind(zmqffi_socket *s, const char *endpoint)
{
    ZMQFFI_INSIDE(s, zmq_bind(s->handle, endpoint));
}

static int zmqffi_connect(zmqffi_socket *s, const char *endpoint)
{
    ZMQFFI_INSIDE(s, zmq_connect(s->handle, endpoint));
}

static int zmqffi_unbind(zmqffi_socket *s, const char *endpoint)
{
    ZMQFFI_INSIDE(s, zmq_unbind(s->handle, endpoint));
}

static int zmqffi_disconnect(zmqffi_socket *s, const char *endpoint)
{
    ZMQFFI_INSIDE(s, zmq_disconnect(s->handle, endpoint));
}

static int zmqffi_socket_monitor(zmqffi_socket *s, const char *endpoint, int events)
{
    ZMQFFI_INSIDE(s, zmq_socket_monitor(s->handle, endpoint, events));
}

static int zmqffi_poll(zmqffi_socket **socks, int nsocks, zmq_pollitem_t *items,
                       int nitems, long timeout)
{
    int entered, rc;
    for (entered = 0; entered < nsocks; entered++)
        if (!zmqffi_enter(socks[entered]))
            break;
    if (entered == nsocks)
        rc = zmq_poll(items, nitems, timeout);
    else
        rc = ZMQFFI_NOT_OWNER;
    {
        int errnum = errno;
        while (entered > 0)
            zmqffi_leave(socks[--entered]);
        errno = errnum;
    }
    return rc;
}

static int zmqffi_proxy(zmqffi_socket *frontend, zmqffi_socket *backend,
                        zmqffi_socket *capture, zmqffi_socket *control, int steerable)
{
    zmqffi_socket *socks[4] = {frontend, backend, capture, control};
    void *handles[4] = {NULL, NULL, NULL, NULL};
    int i, entered = 0, rc = ZMQFFI_NOT_OWNER, errnum;
    for (i = 0; i < 4; i++) {
        if (socks[i] == NULL)
            continue;
        if (!zmqffi_enter(socks[i]))
            goto out;
        entered |= 1 << i;
        handles[i] = socks[i]->handle;
    }
    if (steerable)
        rc = zmq_proxy_steerable(handles[0], handles[1], handles[2], handles[3]);
    else
        rc = zmq_proxy(handles[0], handles[1], handles[2]);
out:
    errnum = errno;
    for (i = 0; i < 4; i++)
        if (entered & (1 << i))
            zmqffi_leave(socks[i]);
    errno = errnum;
    return rc;
}

/* --- a bounded zmq_ctx_term ------------------------------------------------------------ */

/* Shared by the caller and the thread; the last of the two to let go frees it. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t finished;
    void *ctx;
    int done, rc, errnum, refs;
} zmqffi_term_job;

static void zmqffi_term_job_drop(zmqffi_term_job *job)
{
    int last;
    pthread_mutex_lock(&job->lock);
    last = --job->refs == 0;
    pthread_mutex_unlock(&job->lock);
    if (last) {
        pthread_cond_destroy(&job->finished);
        pthread_mutex_destroy(&job->lock);
        free(job);
    }
}

static void *zmqffi_term_thread(void *arg)
{
    zmqffi_term_job *job = arg;
    int rc;
    do
        rc = zmq_ctx_term(job->ctx);
    while (rc != 0 && errno == EINTR);
    pthread_mutex_lock(&job->lock);
    job->rc = rc;
    job->errnum = rc ? errno : 0;
    job->done = 1;
    pthread_cond_signal(&job->finished);
    pthread_mutex_unlock(&job->lock);
    zmqffi_term_job_drop(job);
    return NULL;
}

static int zmqffi_ctx_term_within(void *ctx, int ms)
{
    zmqffi_term_job *job = calloc(1, sizeof *job);
    pthread_attr_t attr;
    pthread_t thread;
    struct timespec deadline;
    int started, done, rc, errnum;

    if (job == NULL) {
        errno = ENOMEM;
        return -1;
    }
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->finished, NULL);
    job->ctx = ctx;
    job->refs = 2;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    started = pthread_create(&thread, &attr, zmqffi_term_thread, job);
    pthread_attr_destroy(&attr);
    if (started != 0) {
        job->refs = 1;
        zmqffi_term_job_drop(job);
        errno = started;
        return -1;
    }
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&job->lock);
    while (!job->done
           && pthread_cond_timedwait(&job->finished, &job->lock, &deadline) != ETIMEDOUT)
        ;
    done = job->done;
    rc = job->rc;
    errnum = job->errnum;
    pthread_mutex_unlock(&job->lock);
    zmqffi_term_job_drop(job);
    if (!done) {
        errno = ETIMEDOUT;
        return -1;
    }
    errno = errnum;
    return rc;
}

/* --- fork ------------------------------------------------------------------------------ */

static void zmqffi_before_fork(void)
{
    pthread_mutex_lock(&zmqffi_released_lock);
}

static void zmqffi_after_fork(void)
{
    pthread_mutex_unlock(&zmqffi_released_lock);
}

static void zmqffi_init(void)
{
    if (__atomic_exchange_n(&zmqffi_initialised, 1, __ATOMIC_SEQ_CST) == 0)
        pthread_atfork(zmqffi_before_fork, zmqffi_after_fork, zmqffi_after_fork);
}

static void zmqffi_hold_release_lock(int ms)
{
    struct timespec pause;
    pause.tv_sec = ms / 1000;
    pause.tv_nsec = (long) (ms % 1000) * 1000000L;
    pthread_mutex_lock(&zmqffi_released_lock);
    __atomic_store_n(&zmqffi_release_lock_held, 1, __ATOMIC_SEQ_CST);
    nanosleep(&pause, NULL);
    __atomic_store_n(&zmqffi_release_lock_held, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&zmqffi_released_lock);
}

static const char *zmqffi_build_info(void)
{
    return ZMQFFI_BUILD_INFO;
}
