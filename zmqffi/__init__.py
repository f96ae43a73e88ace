from zmqffi._zmq import ffi, lib
