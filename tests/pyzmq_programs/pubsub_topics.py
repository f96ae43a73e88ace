"""PUB/SUB with text topics: subscriptions by setsockopt_string, by subscribe(), and by
assigning the attribute; a publisher that waits for its subscriber with poll()."""

import zmqffi as zmq

ctx = zmq.Context()
pub = ctx.socket(zmq.PUB)
pub.linger = 0
pub.bind("tcp://127.0.0.1:*")
sub = ctx.socket(zmq.SUB)
sub.linger = 0
sub.rcvhwm = 100
sub.rcvtimeo = 5000
sub.setsockopt_string(zmq.SUBSCRIBE, "weather")
sub.subscribe(b"news")
sub.subscribe = b"sport"
sub.connect(pub.last_endpoint)

# a subscription reaches the publisher some time after connect: publish until one arrives
for _ in range(500):
    pub.send_string("weather probe")
    if sub.poll(10):
        break
else:
    raise SystemExit("the subscription never arrived")
pub.send_string("weather synced")  # after every probe: receive up to it
while sub.recv_string() != "weather synced":
    pass

for text in ("weather sunny", "stocks up", "news zeromq", "sport won", "news café",
             "news end"):
    pub.send_string(text, encoding="latin-1")
received = []
while not received or received[-1] != "news end":
    received.append(sub.recv_string(encoding="latin-1"))
print(received)
assert received == ["weather sunny", "news zeromq", "sport won", "news café", "news end"]

sub.close()
pub.close()
ctx.term()
print("ok")
