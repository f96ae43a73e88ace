"""ROUTER/DEALER with identities: a dealer named through the `identity` attribute, a
router that replies by name, and ROUTER_MANDATORY's error caught as ZMQError by errno."""

import zmqffi as zmq

ctx = zmq.Context()
router = ctx.socket(zmq.ROUTER)
router.linger = 0
router.rcvtimeo = 5000
router.router_mandatory = 1
router.bind("tcp://127.0.0.1:*")

dealers = []
for name in ("alpha", "bêta"):
    dealer = ctx.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.rcvtimeo = 5000
    dealer.setsockopt_string(zmq.IDENTITY, name)
    dealer.connect(router.last_endpoint)
    dealers.append(dealer)
print("identities", [d.identity for d in dealers],
      [d.getsockopt_string(zmq.ROUTING_ID) for d in dealers])

for dealer in dealers:
    dealer.send_string("hello from " + dealer.getsockopt_string(zmq.IDENTITY))
for _ in dealers:
    identity, text = router.recv_multipart()
    router.send_multipart([identity, ("welcome " + identity.decode()).encode()])
for dealer in dealers:
    print(dealer.recv_string())

try:
    router.send_multipart([b"nobody", b"lost?"])
except zmq.ZMQError as e:
    print("unroutable:", e.errno == zmq.EHOSTUNREACH)
    assert e.errno == zmq.EHOSTUNREACH
else:
    raise SystemExit("ROUTER_MANDATORY did not refuse an unknown peer")

for dealer in dealers:
    dealer.close()
router.close()
ctx.term()
print("ok")
