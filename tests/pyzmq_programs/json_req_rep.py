"""REQ/REP with JSON: a client asks for sums, a server answers (one thread, tcp)."""

import zmqffi as zmq

ctx = zmq.Context()
server = ctx.socket(zmq.REP)
server.linger = 0
server.rcvtimeo = server.sndtimeo = 5000
server.bind("tcp://127.0.0.1:*")
client = ctx.socket(zmq.REQ)
client.linger = 0
client.rcvtimeo = client.sndtimeo = 5000
client.connect(server.last_endpoint)

for numbers in ([1, 2, 3], [], [2.5, -1]):
    client.send_json({"op": "sum", "args": numbers})
    request = server.recv_json()
    server.send_json({"result": sum(request["args"]), "échoed": request["op"]},
                     ensure_ascii=False, sort_keys=True)
    reply = client.recv_json()
    print(numbers, "->", reply["result"], reply["échoed"])
    assert reply["result"] == sum(numbers)

client.close()
server.close()
ctx.term()
print("ok")
