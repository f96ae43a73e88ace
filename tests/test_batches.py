"""send_many / recv_many: batches of small messages looped in C."""

from __future__ import annotations

import array

import pytest

import zmqffi
from zmqffi.socket import BATCH_BYTES

from conftest import pipe


@pytest.fixture
def push_pull(ctx, endpoint):
    push, pull = pipe(ctx, endpoint)
    with push, pull:
        yield push, pull


def drain(pull, count):
    frames = []
    while len(frames) < count:
        frames += pull.recv_many()
    return frames


def test_every_frame_arrives_in_order_and_intact(push_pull):
    push, pull = push_pull
    # fewer than the queues hold (SNDHWM + RCVHWM over inproc): this thread sends all
    # before it receives any
    frames = [b"%d" % i * (i % 7) for i in range(1500)]
    assert push.send_many(frames) == len(frames)
    assert drain(pull, len(frames)) == frames


def test_frames_of_any_bytes_like_type_and_an_empty_batch(push_pull):
    push, pull = push_pull
    assert push.send_many([]) == 0
    assert push.send_many([b"a", bytearray(b"bc"), memoryview(b"def"), b""]) == 4
    assert drain(pull, 4) == [b"a", b"bc", b"def", b""]


def test_max_frames_bounds_a_batch(push_pull):
    push, pull = push_pull
    push.send_many([b"x"] * 10)
    # at most 3; over tcp the others may still be on their way, so maybe fewer
    first = pull.recv_many(max_frames=3)
    assert 1 <= len(first) <= 3 and set(first) == {b"x"}
    assert drain(pull, 10 - len(first)) == [b"x"] * (10 - len(first))


def test_a_frame_larger_than_the_batch_buffer_is_not_lost(push_pull):
    push, pull = push_pull
    big = bytes(range(256)) * 4096  # 1 MiB: more than recv_many's buffer
    push.send_many([b"small", big, b"after"])
    assert drain(pull, 3) == [b"small", big, b"after"]


def test_a_small_frame_that_overflows_a_nearly_full_batch_is_not_lost(push_pull):
    push, pull = push_pull
    # the first frame leaves room for less than the second, though the second is small
    first = b"f" * (BATCH_BYTES - 50)
    push.send_many([first, b"s" * 100, b"t"])
    assert drain(pull, 3) == [first, b"s" * 100, b"t"]


def test_frames_are_sent_as_bytes_whatever_their_item_size(push_pull):
    push, pull = push_pull
    words = array.array("i", [1, 2, 3])  # len() 3, 12 bytes
    assert push.send_many([b"a", memoryview(words), words, b"z"]) == 4
    assert drain(pull, 4) == [b"a", words.tobytes(), words.tobytes(), b"z"]


def test_recv_many_waits_like_recv_and_times_out_with_again(push_pull):
    push, pull = push_pull
    pull.setsockopt(zmqffi.RCVTIMEO, 50)
    with pytest.raises(zmqffi.Again, match="recv_many"):
        pull.recv_many()
    with pytest.raises(zmqffi.Again):
        pull.recv_many(flags=zmqffi.DONTWAIT)
    push.send(b"one")
    assert pull.recv_many() == [b"one"]


def test_send_many_at_the_high_water_mark_reports_how_many_went(ctx):
    with ctx.socket(zmqffi.PUSH) as push:
        push.setsockopt(zmqffi.SNDHWM, 10)
        push.connect("tcp://127.0.0.1:1")  # a peer that never comes: the queue fills
        sent = push.send_many([b"x"] * 100, zmqffi.DONTWAIT)
        assert 0 < sent < 100
        with pytest.raises(zmqffi.Again, match="send_many"):
            push.send_many([b"y"], zmqffi.DONTWAIT)
        push.close(linger=0)


def test_bad_input_is_refused_before_anything_is_sent(push_pull):
    push, pull = push_pull
    with pytest.raises(TypeError, match="frame 1 must be bytes-like, not str"):
        push.send_many([b"ok", "text"])
    with pytest.raises(ValueError, match="max_frames"):
        pull.recv_many(0)
    push.send(b"after")
    assert pull.recv() == b"after"  # nothing of the refused batch went out
