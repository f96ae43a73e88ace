"""A zmq.Poller over two sockets, Socket.poll with timeouts, RCVTIMEO as an attribute
(zmq.Again when it expires) and the EVENTS attribute."""

import zmqffi as zmq

ctx = zmq.Context()
a_in = ctx.socket(zmq.PULL)
b_in = ctx.socket(zmq.PULL)
a_out = ctx.socket(zmq.PUSH)
b_out = ctx.socket(zmq.PUSH)
for sock in (a_in, b_in, a_out, b_out):
    sock.linger = 0
a_in.bind("inproc://a")
b_in.bind("inproc://b")
a_out.connect("inproc://a")
b_out.connect("inproc://b")

print("idle poll:", a_in.poll(timeout=10))
assert a_in.poll(timeout=10) == 0
assert a_out.poll(timeout=1000, flags=zmq.POLLOUT) == zmq.POLLOUT
assert a_out.events & zmq.POLLOUT

poller = zmq.Poller()
poller.register(a_in, zmq.POLLIN)
poller.register(b_in, zmq.POLLIN)
b_out.send_json({"from": "b"})
ready = dict(poller.poll(1000))
print("ready:", [name for name, sock in (("a", a_in), ("b", b_in)) if sock in ready])
assert ready == {b_in: zmq.POLLIN}
assert b_in.recv_json() == {"from": "b"}
a_out.send_string("from a")
assert dict(poller.poll(1000)) == {a_in: zmq.POLLIN}
print(a_in.recv_string())

a_in.rcvtimeo = 20
try:
    a_in.recv()
except zmq.Again:
    print("timed out after", a_in.rcvtimeo, "ms")
else:
    raise SystemExit("RCVTIMEO was not honoured")

for sock in (a_in, b_in, a_out, b_out):
    sock.close()
ctx.term()
print("ok")
