/* A PUSH and a PULL in one process over inproc, through libzmq's C API: the
   program that docs/raw.rst translates call for call to zmqffi.lib.
   cc parity.c -lzmq -o parity && ./parity */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

int main (void)
{
    void *context = zmq_ctx_new ();
    void *pull = zmq_socket (context, ZMQ_PULL);
    void *push = zmq_socket (context, ZMQ_PUSH);
    int rc = zmq_bind (pull, "inproc://parity");
    assert (rc == 0);
    rc = zmq_connect (push, "inproc://parity");
    assert (rc == 0);

    /* a buffer: zmq_send copies it, zmq_recv fills ours */
    rc = zmq_send (push, "hello", 5, 0);
    assert (rc == 5);
    char buffer[16];
    int size = zmq_recv (pull, buffer, sizeof buffer, 0);
    printf ("zmq_recv: %d bytes, %.*s\n", size, size, buffer);

    /* a message: zmq_msg_t, sized, filled, sent, received */
    zmq_msg_t message;
    rc = zmq_msg_init_size (&message, 6);
    assert (rc == 0);
    memcpy (zmq_msg_data (&message), "world!", 6);
    rc = zmq_msg_send (&message, push, 0);
    assert (rc == 6);
    rc = zmq_msg_init (&message);
    assert (rc == 0);
    rc = zmq_msg_recv (&message, pull, 0);
    printf ("zmq_msg_recv: %d bytes, %.*s, more=%d\n", rc, rc,
            (char *) zmq_msg_data (&message), zmq_msg_more (&message));
    zmq_msg_close (&message);

    /* an error: errno, as libzmq sets it */
    rc = zmq_recv (pull, buffer, sizeof buffer, ZMQ_DONTWAIT);
    printf ("zmq_recv: %d, %s\n", rc, zmq_strerror (zmq_errno ()));

    /* an int option, then the end: sockets first, then the context */
    int linger = 0;
    rc = zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    assert (rc == 0);
    zmq_close (push);
    zmq_close (pull);
    rc = zmq_ctx_term (context);
    assert (rc == 0);
    return 0;
}
