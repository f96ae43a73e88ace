"""PUSH/PULL with a custom serialization (compressed JSON in two frames), the
high-water mark as an attribute, and a non-blocking drain that stops on zmq.Again."""

import json
import zlib

import zmqffi as zmq


def serialize(task):
    body = json.dumps(task).encode("utf-8")
    return [str(len(body)).encode(), zlib.compress(body)]


def deserialize(frames):
    size, body = frames
    data = zlib.decompress(body)
    assert len(data) == int(size)
    return json.loads(data)


ctx = zmq.Context()
pull = ctx.socket(zmq.PULL)
pull.linger = 0
pull.hwm = 50
pull.bind("tcp://127.0.0.1:*")
push = ctx.socket(zmq.PUSH)
push.linger = 0
push.sndtimeo = 5000
push.hwm = 50
push.connect(pull.last_endpoint)
print("hwm", push.hwm, push.sndhwm, push.rcvhwm)

tasks = [{"id": i, "work": "x" * (i * 100)} for i in range(20)]
for task in tasks:
    push.send_serialized(task, serialize)

done = []
while len(done) < len(tasks):
    try:
        done.append(pull.recv_serialized(deserialize, zmq.NOBLOCK))
    except zmq.Again:  # nothing queued yet: wait for more
        assert pull.poll(5000) == zmq.POLLIN
print("received", len(done), "tasks")
assert done == tasks

push.close()
pull.close()
ctx.term()
print("ok")
