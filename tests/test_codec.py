"""Tests for aranya_perf.codec: chunking data into frames and reassembling one session's frames.

Version-neutral: frames are built with a protocol's ``new_msg``/``new_cmd`` and read back
with its ``unpack``; the wire bytes of each version are checked in test_conformance.py.
"""

from __future__ import annotations

import random

import pytest

from aranya_perf import protocol
from aranya_perf.codec import Chunk, DuplicateChunkError, GapError, Reassembler, ReassemblyError, chunk_frames

P = protocol.get(protocol.DEFAULT)
DATA = P.msg.DATA
STDERR = P.msg.STDERR


def header(
    seq: int, *, completed: bool = False, sid: int = 7, kind: int = DATA
) -> tuple[int, int, int, bool]:
    """The first four of ``Reassembler.feed``'s arguments, as ``Protocol.unpack`` gives them."""
    return kind, sid, seq, completed


def feed(rx: Reassembler, hdr: tuple[int, int, int, bool], body: bytes) -> list[Chunk]:
    return rx.feed(*hdr, body)


def feed_frames(rx: Reassembler, frames: list) -> list[Chunk]:
    out: list[Chunk] = []
    for f in frames:
        out.extend(rx.feed(*P.unpack(f)))
    return out


# --- chunking ----------------------------------------------------------------------------------

MAX = 16


@pytest.mark.parametrize("size", [0, 1, MAX - 1, MAX, MAX + 1, 2 * MAX, 5 * MAX + 3])
def test_chunk_sizes_and_flags(size: int) -> None:
    data = bytes(range(256))[:size] if size <= 256 else bytes(size)
    frames = list(chunk_frames(P.new_msg, DATA, 3, data, max_payload=MAX, start_seq=5))
    assert len(frames) == max(1, -(-size // MAX))
    assert all(type(f) is P.msg_type for f in frames)
    unpacked = [P.unpack(f) for f in frames]
    assert [u[2] for u in unpacked] == list(range(5, 5 + len(frames)))
    assert [u[3] for u in unpacked] == [False] * (len(frames) - 1) + [True]
    assert all(u[0] == DATA and u[1] == 3 for u in unpacked)
    assert all(len(u[4]) == MAX for u in unpacked[:-1])
    assert 0 < len(unpacked[-1][4]) <= MAX or size == 0
    assert b"".join(u[4] for u in unpacked) == data


def test_empty_data_gives_one_empty_frame() -> None:
    (frame,) = chunk_frames(P.new_cmd, P.cmd.DATA_UPSTREAM, 1, b"", max_payload=MAX)
    assert type(frame) is P.cmd_type
    assert P.unpack(frame) == (P.cmd.DATA_UPSTREAM, 1, 0, True, b"")


def test_chunk_without_complete_never_sets_completed() -> None:
    frames = list(chunk_frames(P.new_msg, DATA, 1, b"a" * 40, max_payload=MAX, complete=False))
    assert len(frames) == 3
    assert not any(P.unpack(f)[3] for f in frames)


def test_chunk_accepts_bytes_like_data() -> None:
    frames = list(chunk_frames(P.new_msg, DATA, 1, bytearray(b"xyz"), max_payload=2))
    assert [P.unpack(f)[4] for f in frames] == [b"xy", b"z"]


@pytest.mark.parametrize("bad", [0, -1])
def test_chunk_rejects_non_positive_max_payload_at_call_time(bad: int) -> None:
    with pytest.raises(ValueError, match="max_payload"):
        chunk_frames(P.new_msg, DATA, 1, b"abc", max_payload=bad)


@pytest.mark.parametrize("name", protocol.NAMES)
def test_frames_of_aranyas_chunk_size_fit_its_64_kib_message(name: str) -> None:
    p = protocol.get(name)
    data = bytes(p.max_payload + 1)
    frames = list(
        chunk_frames(p.new_msg, p.msg.DATA, 2**64 - 1, data, max_payload=p.max_payload, start_seq=2**64 - 3)
    )
    assert [len(p.unpack(f)[4]) for f in frames] == [p.max_payload, 1]
    assert max(f.ByteSize() for f in frames) <= 64 * 1024 + 10  # the payload's own length prefix


def test_large_random_data_survives_the_wire_and_reassembly() -> None:
    rng = random.Random(1234)
    data = rng.randbytes(1_000_003)
    frames = list(chunk_frames(P.new_msg, DATA, 77, data, max_payload=4096))
    assert len(frames) == 245
    wire = [P.msg_type.FromString(f.SerializeToString()) for f in frames]
    rx = Reassembler()
    chunks = feed_frames(rx, wire)
    assert rx.done and rx.reordered == 0
    assert [c.seq for c in chunks] == list(range(len(frames)))
    assert rx.data() == data
    assert b"".join(c.body for c in chunks) == data


# --- reassembly --------------------------------------------------------------------------------


def test_in_order_delivery() -> None:
    rx = Reassembler()
    assert not rx.done
    assert rx.data() == b""
    assert feed(rx, header(0), b"a") == [Chunk(DATA, 0, b"a", False)]
    assert feed(rx, header(1, kind=STDERR), b"b") == [Chunk(STDERR, 1, b"b", False)]
    assert feed(rx, header(2, completed=True), b"c") == [Chunk(DATA, 2, b"c", True)]
    assert rx.done and rx.reordered == 0 and rx.expected == 3 and rx.completed_seq == 2
    assert rx.data() == b"abc"
    assert rx.data() == b"abc"  # repeated calls are stable
    rx.check_complete()


def test_shuffled_frames_reassemble_identically() -> None:
    data = random.Random(7).randbytes(50_000)
    frames = list(chunk_frames(P.new_msg, DATA, 3, data, max_payload=512))
    random.Random(42).shuffle(frames)
    rx = Reassembler()
    chunks = feed_frames(rx, frames)
    assert rx.done
    assert rx.reordered > 0
    assert [c.seq for c in chunks] == list(range(len(frames)))
    assert chunks[-1].complete and not any(c.complete for c in chunks[:-1])
    assert rx.data() == data
    assert rx.pending_count == 0 and rx.missing() == []


def test_early_frames_wait_then_flush_in_order() -> None:
    rx = Reassembler()
    assert feed(rx, header(2), b"c") == []
    assert feed(rx, header(1), b"b") == []
    assert rx.reordered == 2 and rx.pending_count == 2
    assert rx.missing() == [0]
    assert [c.seq for c in feed(rx, header(0), b"a")] == [0, 1, 2]
    assert rx.data() == b"abc" and rx.pending_count == 0


def test_duplicates_are_rejected() -> None:
    rx = Reassembler()
    feed(rx, header(0), b"a")
    with pytest.raises(DuplicateChunkError, match=r"sid 7: duplicate seq 0"):
        feed(rx, header(0), b"a")
    feed(rx, header(3), b"d")
    with pytest.raises(DuplicateChunkError, match="seq 3"):
        feed(rx, header(3), b"d")  # a duplicate of a frame still waiting
    assert rx.data() == b"a" and rx.reordered == 1


def test_completed_frame_waits_behind_gaps_and_check_complete_names_them() -> None:
    rx = Reassembler()
    feed(rx, header(0), b"a")
    assert feed(rx, header(4, completed=True), b"e") == []
    feed(rx, header(2), b"c")
    assert not rx.done
    assert rx.missing() == [1, 3]
    with pytest.raises(GapError, match=r"sid 7: completed at seq 4 but missing seq 1, 3") as info:
        rx.check_complete()
    assert "\n" not in str(info.value)
    feed(rx, header(1), b"b")
    assert [c.seq for c in feed(rx, header(3), b"d")] == [3, 4]
    assert rx.done and rx.data() == b"abcde"
    rx.check_complete()


def test_check_complete_without_completed_frame_does_not_raise() -> None:
    rx = Reassembler()
    feed(rx, header(1), b"b")
    rx.check_complete()  # truncation without a completed frame is the caller's call
    assert rx.missing() == [0]


def test_frame_beyond_completed_seq_is_a_gap_error() -> None:
    rx = Reassembler()
    feed(rx, header(3, completed=True), b"d")
    with pytest.raises(GapError, match="after completion at seq 3"):
        feed(rx, header(5), b"f")


def test_completed_frame_below_a_received_frame_is_a_gap_error() -> None:
    rx = Reassembler()
    feed(rx, header(5), b"f")
    with pytest.raises(GapError, match="completed seq 2 but seq 5"):
        feed(rx, header(2, completed=True), b"c")
    # The failed feed left no trace: 2 can still arrive as an ordinary frame.
    assert rx.completed_seq is None
    assert feed(rx, header(2), b"c") == []


def test_second_completed_frame_is_a_gap_error() -> None:
    rx = Reassembler()
    feed(rx, header(5, completed=True), b"f")
    with pytest.raises(GapError, match="completed seq 2 but seq 5"):
        feed(rx, header(2, completed=True), b"c")


def test_after_done_feeds_are_duplicates_or_gaps() -> None:
    rx = Reassembler()
    feed(rx, header(0), b"a")
    feed(rx, header(1, completed=True), b"b")
    assert rx.done
    with pytest.raises(DuplicateChunkError):
        feed(rx, header(1), b"b")
    with pytest.raises(DuplicateChunkError):
        feed(rx, header(0), b"a")
    with pytest.raises(GapError, match="frame after completion"):
        feed(rx, header(2), b"c")
    assert rx.data() == b"ab"


def test_max_pending_limits_waiting_frames() -> None:
    rx = Reassembler(max_pending=3)
    for seq in (1, 2, 3):
        assert feed(rx, header(seq), b"x") == []
    with pytest.raises(GapError, match=r"seq 4 is more than max_pending=3 ahead of expected seq 0"):
        feed(rx, header(4), b"x")
    assert rx.pending_count == 3 and rx.reordered == 3
    assert len(feed(rx, header(0), b"x")) == 4


def test_far_future_seq_is_rejected_without_waiting() -> None:
    # Also keeps missing() bounded: a stray huge seq never becomes the "highest seen".
    rx = Reassembler(max_pending=8)
    with pytest.raises(GapError, match="max_pending"):
        feed(rx, header(2**63), b"x")
    assert rx.missing() == [] and rx.pending_count == 0


def test_max_pending_zero_allows_only_in_order() -> None:
    rx = Reassembler(max_pending=0)
    feed(rx, header(0), b"a")
    with pytest.raises(GapError):
        feed(rx, header(2), b"c")
    with pytest.raises(ValueError):
        Reassembler(max_pending=-1)


def test_error_hierarchy() -> None:
    assert issubclass(GapError, ReassemblyError) and issubclass(DuplicateChunkError, ReassemblyError)
    assert issubclass(ReassemblyError, ValueError)
