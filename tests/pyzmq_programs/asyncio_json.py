"""asyncio: a server task and a client task exchanging JSON and strings over the async
sockets' coroutines, with an awaited poll."""

import asyncio

import zmqffi as zmq
import zmqffi.asyncio


async def server(sock):
    while True:
        request = await sock.recv_json()
        if request is None:
            await sock.send_string("bye")
            return
        await sock.send_json({"upper": request["text"].upper()})


async def client(sock):
    replies = []
    for text in ("hello", "wörld"):
        await sock.send_json({"text": text})
        assert await sock.poll(5000) == zmq.POLLIN
        replies.append((await sock.recv_json())["upper"])
    await sock.send_json(None)
    replies.append(await sock.recv_string())
    return replies


async def main():
    ctx = zmq.asyncio.Context()
    rep = ctx.socket(zmq.REP)
    req = ctx.socket(zmq.REQ)
    for sock in (rep, req):
        sock.linger = 0
        sock.rcvtimeo = sock.sndtimeo = 5000
    rep.bind("tcp://127.0.0.1:*")
    req.connect(rep.last_endpoint)
    try:
        _, replies = await asyncio.gather(server(rep), client(req))
    finally:
        req.close()
        rep.close()
        ctx.term()
    print(replies)
    assert replies == ["HELLO", "WÖRLD", "bye"]


asyncio.run(main())
print("ok")
