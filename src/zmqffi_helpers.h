/* zmqffi's C helpers: their declarations, which are also their cffi cdef.

   build_ffi.py passes this text to ffi.cdef() after the cdef it generates from zmq.h,
   and zmqffi_helpers.c includes it before defining the helpers, so the C compiler
   checks every definition against the very declarations cffi binds, and cffi's API
   mode checks the struct's layout and the constants' values against the compiler.

   Because cffi's cdef reads it, this file holds only what cdef accepts: no #include,
   no include guard, no attributes, and #define only with an integer literal (hence no
   parentheses around the negative values). It relies on <stddef.h>, <stdint.h> and
   <zmq.h> being included before it (zmqffi_helpers.c does that; cdef knows these
   types and has zmq.h's declarations already).

   Everything is static (cdef ignores the storage class of a function and accepts it
   on a variable): the helpers live in the one translation unit of the extension,
   where the compiler may inline each into the cffi wrapper that calls it and keeps
   none of them as an exported symbol. So no other file may include this one. */

/* zmq_msg_init_data's free callback runs in libzmq's I/O thread, where taking the GIL
   can deadlock: it only records the ticket of the released buffer, and Python drains
   the record (zmqffi_drain_released) to drop its reference to the buffer. */
static int zmqffi_msg_init_lent(zmq_msg_t *msg, void *data, size_t size,
                                uintptr_t ticket);
/* Message(data): zmq_msg_init_size and the copy in one call. */
static int zmqffi_msg_init_copy(zmq_msg_t *msg, const void *data, size_t size);
/* Close and initialise again: an empty message, ready for reuse, in one call. */
static void zmqffi_msg_reset(zmq_msg_t *msg);
/* How many records wait; Python reads this variable as lib.zmqffi_released_pending,
   which is not a function call and so does not release the GIL (a racy peek is fine:
   the drain takes the lock). */
static size_t zmqffi_released_pending;
static size_t zmqffi_drain_released(uintptr_t *out, size_t max);

/* The per-socket state of the hot paths (send, recv, recv_into, the Message and batch
   calls), kept by Python's SocketState (zmqffi/_state.py). Each hot call is one cffi
   call that checks here, in C, that the calling thread owns the socket -- `owner` is its
   pthread_self(), 0 when no thread may call (closed, shut down, inherited across fork)
   -- and counts itself in `busy` while it is inside libzmq, so that a close from another
   thread (Context.destroy) waits for it. Both fields use sequentially consistent
   atomics: either the caller sees the owner cleared, or the closer sees busy > 0. A
   refused call returns ZMQFFI_NOT_OWNER and Python's slow path says which rule was
   broken. */
#define ZMQFFI_SMALL 4096
#define ZMQFFI_NOT_OWNER -2

typedef struct {
    void *handle;
    zmq_msg_t msg;               /* recv()'s message, reused for every frame */
    char *data;                  /* and, after each frame, its data and more flag: */
    int more;                    /* Python reads fields without a call */
    uintptr_t owner;
    int busy;
    char small[ZMQFFI_SMALL];    /* recv() copies frames up to this size out here */
} zmqffi_socket;

/* No owner yet: Python's SocketState.set_owner gives it one. */
static void zmqffi_socket_init(zmqffi_socket *s, void *handle);
/* own != 0: the calling thread becomes the owner; own == 0: no thread may call. */
static void zmqffi_socket_own(zmqffi_socket *s, int own);
static int zmqffi_socket_busy(zmqffi_socket *s);
/* The destructor of the struct's Python owner (ffi.gc). */
static void zmqffi_socket_release(zmqffi_socket *s);

/* send(bytes): 0, or -1 with errno set, or ZMQFFI_NOT_OWNER. */
static int zmqffi_send(zmqffi_socket *s, const void *data, size_t size, int flags);
/* recv(): receive into the socket's reused message and, when the frame fits, copy it
   into `small` too (Python then makes the bytes object from there). Returns the frame
   size, or -1 with errno set, or ZMQFFI_NOT_OWNER. */
static long long zmqffi_recv(zmqffi_socket *s, int flags);
/* recv() without flags: the same with one argument, which CPython's cffi passes
   without building a tuple of arguments. */
static long long zmqffi_recv_wait(zmqffi_socket *s);
/* recv_into(): the frame copied into the caller's buffer (truncated to `cap`); the
   frame's full size, past INT_MAX too (zmq_recv's int stops there), or -1 with errno
   set, or ZMQFFI_NOT_OWNER. */
static long long zmqffi_recv_into(zmqffi_socket *s, void *buf, size_t cap, int flags);
static int zmqffi_msg_send(zmqffi_socket *s, zmq_msg_t *msg, int flags);
/* recv_msg(): the frame's full size, or -1 with errno set, or ZMQFFI_NOT_OWNER. */
static long long zmqffi_msg_recv(zmqffi_socket *s, zmq_msg_t *msg, int flags);

/* send() of a lent buffer: zmq_msg_init_data and the send in one call (each cffi call
   releases the GIL, and two Python threads on inproc pay a hand-over for every one).
   0; or -1 with errno set, or ZMQFFI_NOT_OWNER, `msg` then holding the lent buffer
   (send it again with zmqffi_msg_send, or close it); or ZMQFFI_NOT_LENT with errno
   set, `msg` untouched. */
#define ZMQFFI_NOT_LENT -4
static int zmqffi_send_lent(zmqffi_socket *s, zmq_msg_t *msg, void *data, size_t size,
                            uintptr_t ticket, int flags);

/* recv_many()/send_many(): loop in C over many small frames, one cffi call per batch.
   recv: the first frame waits as `flags` says, the others are taken only if already
   queued. Frames that fit are copied into `out` back to back, and `format` gets the
   struct module's format that splits `out` into them ("3s1s5s", NUL-terminated: one
   struct.unpack_from makes every bytes object in C); it needs room for 21 characters
   per frame and one more. A frame that does not fit stays in the socket's message and
   its size goes to *pending (else -1). Returns how many frames were copied, or -1 with
   errno set if the first failed, or ZMQFFI_NOT_OWNER. */
static int zmqffi_recv_many(zmqffi_socket *s, char *out, size_t cap, char *format,
                            int max, int flags, long long *pending);
/* send: `data` holds the frames back to back (`size` bytes in all), frame i of
   sizes[i] bytes. The frames from `start` on are sent, each with `flags`, stopping at
   the first failure. Returns how many of them were sent (errno set when fewer), or
   ZMQFFI_NOT_OWNER, or ZMQFFI_BAD_SIZES (nothing sent) when the sizes do not add up to
   `size`. */
#define ZMQFFI_BAD_SIZES -3
static int zmqffi_send_many(zmqffi_socket *s, const char *data, size_t size,
                            const size_t *sizes, int count, int start, int flags);

/* The socket's other calls, checked and counted in `busy` like the hot ones, so that
   a close from another thread waits for them too and no Python count is needed (on
   free-threaded Python a Python count loses updates). Each returns libzmq's result (0,
   or -1 with errno set), or ZMQFFI_NOT_OWNER. */
static int zmqffi_setsockopt(zmqffi_socket *s, int option, const void *value,
                             size_t size);
static int zmqffi_getsockopt(zmqffi_socket *s, int option, void *value, size_t *size);
static int zmqffi_bind(zmqffi_socket *s, const char *endpoint);
static int zmqffi_connect(zmqffi_socket *s, const char *endpoint);
static int zmqffi_unbind(zmqffi_socket *s, const char *endpoint);
static int zmqffi_disconnect(zmqffi_socket *s, const char *endpoint);
static int zmqffi_socket_monitor(zmqffi_socket *s, const char *endpoint, int events);
/* zmq_poll over `items`, inside all of `socks` (the sockets among the items, each
   entered as by a hot call): zmq_poll's result, or ZMQFFI_NOT_OWNER when the calling
   thread does not own one of them (then nothing was polled). */
static int zmqffi_poll(zmqffi_socket **socks, int nsocks, zmq_pollitem_t *items,
                       int nitems, long timeout);
/* zmq_proxy (or zmq_proxy_steerable when `steerable`), inside each of the sockets
   given (capture and control may be NULL): libzmq's result, or ZMQFFI_NOT_OWNER. */
static int zmqffi_proxy(zmqffi_socket *frontend, zmqffi_socket *backend,
                        zmqffi_socket *capture, zmqffi_socket *control, int steerable);

/* zmq_ctx_term in a thread of its own, waited for at most `ms` milliseconds: 0 once it
   returned 0, or -1 with its errno; -1 with errno ETIMEDOUT while it still waits (the
   thread stays in it, detached, and the context is never terminated). For the
   clean-up of a Context left live (at exit, or collected): a socket that has seen a
   shutdown refuses to change its LINGER, and with LINGER -1 and messages for an absent
   peer, zmq_ctx_term would wait for ever. (A Python thread cannot be started at exit
   on every version.) */
static int zmqffi_ctx_term_within(void *ctx, int ms);

/* Once per process, at import: the fork handlers of the release record's lock (a
   fork while libzmq's I/O thread holds it would leave the child's lock held forever:
   the handlers take it around fork(), and the child starts with it free). */
static void zmqffi_init(void);
/* For the fork test: hold the release record's lock for `ms` milliseconds, as
   libzmq's I/O thread does briefly when it releases a lent buffer. */
static void zmqffi_hold_release_lock(int ms);
/* 1 while zmqffi_hold_release_lock holds the lock. */
static int zmqffi_release_lock_held;

/* JSON describing where libzmq came from and what zmq.h declares (the text is
   generated at build time into zmqffi_build_info.h). */
static const char *zmqffi_build_info(void);
