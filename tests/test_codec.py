"""Tests for aranya_perf.codec: wire compatibility, typed bodies, chunking and reassembly."""

from __future__ import annotations

import random

import pytest
from google.protobuf.message import Message

from aranya_perf import codec
from aranya_perf.codec import (
    BODY_TYPES,
    DATA_KINDS,
    BodyDecodeError,
    Chunk,
    DuplicateChunkError,
    GapError,
    Reassembler,
    ReassemblyError,
    chunk_frames,
    decode_body,
    new_cmd,
    new_msg,
)
from aranya_perf.proto import aranya_pb2 as pb

# The values aranya (aranya-proto, aranyagopb) puts on the wire; a change here breaks interop.
REQUIRED_KINDS = {
    "EMPTY": 0,
    "MSG_DATA_DEFAULT": 1,
    "MSG_DATA_STDOUT": 1,
    "MSG_DATA_METRICS": 1,
    "MSG_DATA_STDERR": 2,
    "CMD_DATA_UPSTREAM": 3,
    "CMD_REJECT": 10,
    "CMD_SESSION_CLOSE": 11,
    "CMD_POD_CTR_EXEC": 12,
    "CMD_POD_CTR_ATTACH": 13,
    "CMD_POD_CTR_LOGS": 14,
    "CMD_POD_CTR_TTY_RESIZE": 15,
    "CMD_POD_PORT_FORWARD": 16,
    "CMD_NODE_INFO_GET": 17,
    "CMD_METRICS_CONFIG": 21,
    "CMD_METRICS_COLLECT": 22,
    "CMD_CRED_ENSURE": 31,
    "CMD_POD_LIST": 61,
    "CMD_POD_ENSURE": 62,
    "CMD_POD_DELETE": 63,
    "MSG_DONE": 100,
    "MSG_STATE": 101,
    "MSG_ERROR": 102,
    "MSG_NODE_STATUS": 111,
    "MSG_POD_STATUS": 161,
    "MSG_POD_STATUS_LIST": 162,
}

# One populated body per registered kind, so the round trip exercises real fields.
SAMPLE_BODIES: dict[int, Message] = {
    pb.CMD_REJECT: pb.RejectCmd(reason=pb.RejectCmd.REJECTION_ALREADY_CONNECTED, message="dup"),
    pb.CMD_SESSION_CLOSE: pb.SessionCloseCmd(sid=42),
    pb.CMD_NODE_INFO_GET: pb.NodeInfoGetCmd(kind=pb.NodeInfoGetCmd.NODE_INFO_ALL),
    pb.CMD_POD_CTR_EXEC: pb.ContainerExecOrAttachCmd(
        pod_uid="p1",
        container="c",
        stdout=True,
        stderr=True,
        command=["sh", "-c", "echo hi"],
        envs={"A": "1"},
    ),
    pb.CMD_POD_CTR_ATTACH: pb.ContainerExecOrAttachCmd(pod_uid="p1", container="c", stdin=True, tty=True),
    pb.CMD_POD_CTR_LOGS: pb.ContainerLogsCmd(pod_uid="p1", container="c", follow=True, tail_lines=10),
    pb.CMD_POD_PORT_FORWARD: pb.PodPortForwardCmd(pod_uid="p1", port=8080, protocol="tcp"),
    pb.MSG_STATE: pb.StateMsg(kind=pb.StateMsg.STATE_ONLINE, device_id="dev-1"),
    pb.MSG_ERROR: pb.ErrorMsg(kind=pb.ErrorMsg.ERR_TIMEOUT, description="slow", code=-3),
}


def header(seq: int, *, completed: bool = False, sid: int = 7, kind: int = pb.MSG_DATA_DEFAULT) -> pb.Header:
    return pb.Header(kind=kind, sid=sid, seq=seq, completed=completed)


def feed_frames(rx: Reassembler, frames: list[pb.Cmd | pb.Msg]) -> list[Chunk]:
    out: list[Chunk] = []
    for f in frames:
        out.extend(rx.feed(f.header, f.body))
    return out


# --- the wire format ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), sorted(REQUIRED_KINDS.items()))
def test_required_kind_values(name: str, value: int) -> None:
    assert pb.Kind.Value(name) == value
    assert getattr(pb, name) == value


def test_header_and_frame_field_numbers() -> None:
    fields = {f.name: f.number for f in pb.Header.DESCRIPTOR.fields}
    assert fields == {"kind": 1, "sid": 2, "seq": 3, "completed": 4}
    for frame in (pb.Cmd, pb.Msg):
        assert {f.name: f.number for f in frame.DESCRIPTOR.fields} == {"header": 1, "body": 11}
    assert pb.DESCRIPTOR.package == "aranya"
    sync = pb.DESCRIPTOR.services_by_name["EdgeDevice"].methods_by_name["Sync"]
    assert sync.input_type.name == "Msg" and sync.output_type.name == "Cmd"


def test_hand_encoded_wire_bytes() -> None:
    # Header: kind=17 (tag 1 varint 0x08), sid=5 (0x10), seq=1 (0x18), completed=1 (0x20).
    hdr = bytes([0x08, 17, 0x10, 5, 0x18, 1, 0x20, 1])
    # Cmd: header = field 1, length-delimited (tag 0x0a); body = field 11, length-delimited (11<<3|2 = 0x5a).
    expected = bytes([0x0A, len(hdr)]) + hdr + bytes([0x5A, 1]) + b"x"
    built = new_cmd(pb.CMD_NODE_INFO_GET, 5, b"x", seq=1, completed=True)
    assert built.SerializeToString() == expected
    reference = pb.Cmd(header=pb.Header(kind=17, sid=5, seq=1, completed=True), body=b"x")
    assert reference.SerializeToString() == expected
    assert new_msg(17, 5, b"x", seq=1, completed=True).SerializeToString() == expected
    assert pb.Cmd.FromString(expected) == built


def test_all_zero_header_is_still_on_the_wire() -> None:
    # aranya reads frame.Header unconditionally, so an all-default header must still be sent.
    assert new_cmd(pb.EMPTY, 0).SerializeToString() == b"\x0a\x00"
    assert new_msg(pb.EMPTY, 0).HasField("header")


def test_large_sid_and_seq_fit_uint64() -> None:
    frame = new_msg(pb.MSG_DONE, 2**64 - 1, seq=2**64 - 2)
    back = pb.Msg.FromString(frame.SerializeToString())
    assert (back.header.sid, back.header.seq) == (2**64 - 1, 2**64 - 2)


# --- bodies ------------------------------------------------------------------------------------


def test_body_registry_is_exactly_the_specified_kinds() -> None:
    expected = {
        pb.CMD_REJECT: pb.RejectCmd,
        pb.CMD_SESSION_CLOSE: pb.SessionCloseCmd,
        pb.CMD_NODE_INFO_GET: pb.NodeInfoGetCmd,
        pb.CMD_POD_CTR_EXEC: pb.ContainerExecOrAttachCmd,
        pb.CMD_POD_CTR_ATTACH: pb.ContainerExecOrAttachCmd,
        pb.CMD_POD_CTR_LOGS: pb.ContainerLogsCmd,
        pb.CMD_POD_PORT_FORWARD: pb.PodPortForwardCmd,
        pb.MSG_STATE: pb.StateMsg,
        pb.MSG_ERROR: pb.ErrorMsg,
    }
    assert expected == BODY_TYPES
    assert SAMPLE_BODIES.keys() == BODY_TYPES.keys()  # every registered kind gets a round trip below
    assert not DATA_KINDS & BODY_TYPES.keys()


@pytest.mark.parametrize("kind", sorted(SAMPLE_BODIES), ids=lambda k: pb.Kind.Name(k))
@pytest.mark.parametrize("make", [new_cmd, new_msg], ids=["cmd", "msg"])
def test_registered_body_round_trip(make, kind: int) -> None:
    body = SAMPLE_BODIES[kind]
    frame = make(kind, 9, body, seq=3, completed=True)
    assert frame.body == body.SerializeToString()
    back = type(frame).FromString(frame.SerializeToString())
    assert (back.header.kind, back.header.sid, back.header.seq, back.header.completed) == (kind, 9, 3, True)
    decoded = decode_body(back)
    assert type(decoded) is type(body)
    assert decoded == body


def test_registered_kind_with_empty_body_decodes_to_defaults() -> None:
    assert decode_body(new_msg(pb.MSG_ERROR, 1)) == pb.ErrorMsg()


@pytest.mark.parametrize("kind", [pb.MSG_DATA_DEFAULT, pb.MSG_DATA_STDERR, pb.CMD_DATA_UPSTREAM])
def test_data_kinds_are_raw_bytes(kind: int) -> None:
    # Bytes that would not parse as protobuf prove no decoding is attempted.
    raw = b"\xff\x00not protobuf\n"
    frame = pb.Msg.FromString(new_msg(kind, 1, raw).SerializeToString())
    assert decode_body(frame) == raw


@pytest.mark.parametrize("kind", [pb.MSG_DONE, pb.MSG_NODE_STATUS, pb.CMD_POD_LIST, 9999])
def test_unregistered_kinds_are_raw_bytes(kind: int) -> None:
    assert decode_body(new_cmd(kind, 1, b"\x08\x01")) == b"\x08\x01"


def test_bytes_like_bodies_are_accepted() -> None:
    assert new_cmd(pb.CMD_DATA_UPSTREAM, 1, bytearray(b"ab")).body == b"ab"
    assert new_msg(pb.MSG_DATA_DEFAULT, 1, memoryview(b"cd")).body == b"cd"


@pytest.mark.parametrize("bad", [b"\xff", b"\x12\x01\xff", b"\x0a\x05ab"], ids=["tag", "utf8", "truncated"])
def test_decode_error_is_a_clear_value_error(bad: bytes) -> None:
    frame = new_msg(pb.MSG_ERROR, 12, bad, seq=4)
    with pytest.raises(BodyDecodeError) as info:
        decode_body(frame)
    assert isinstance(info.value, ValueError)
    msg = str(info.value)
    assert "\n" not in msg
    assert "sid 12" in msg and "seq 4" in msg and "MSG_ERROR" in msg and "ErrorMsg" in msg


# --- chunking ----------------------------------------------------------------------------------

MAX = 16


@pytest.mark.parametrize("size", [0, 1, MAX - 1, MAX, MAX + 1, 2 * MAX, 5 * MAX + 3])
def test_chunk_sizes_and_flags(size: int) -> None:
    data = bytes(range(256))[:size] if size <= 256 else bytes(size)
    frames = list(chunk_frames(pb.Msg, pb.MSG_DATA_STDOUT, 3, data, max_payload=MAX, start_seq=5))
    assert len(frames) == max(1, -(-size // MAX))
    assert all(type(f) is pb.Msg for f in frames)
    assert [f.header.seq for f in frames] == list(range(5, 5 + len(frames)))
    assert [f.header.completed for f in frames] == [False] * (len(frames) - 1) + [True]
    assert all(f.header.kind == pb.MSG_DATA_STDOUT and f.header.sid == 3 for f in frames)
    assert all(len(f.body) == MAX for f in frames[:-1])
    assert 0 < len(frames[-1].body) <= MAX or size == 0
    assert b"".join(f.body for f in frames) == data


def test_empty_data_gives_one_empty_frame() -> None:
    (frame,) = chunk_frames(pb.Cmd, pb.CMD_DATA_UPSTREAM, 1, b"")
    assert type(frame) is pb.Cmd
    assert frame.body == b"" and frame.header.completed and frame.header.seq == 0


def test_chunk_without_complete_never_sets_completed() -> None:
    frames = list(chunk_frames(pb.Msg, pb.MSG_DATA_DEFAULT, 1, b"a" * 40, max_payload=MAX, complete=False))
    assert len(frames) == 3
    assert not any(f.header.completed for f in frames)


def test_chunk_accepts_bytes_like_data() -> None:
    frames = list(chunk_frames(pb.Msg, pb.MSG_DATA_DEFAULT, 1, bytearray(b"xyz"), max_payload=2))
    assert [f.body for f in frames] == [b"xy", b"z"]


@pytest.mark.parametrize("bad", [0, -1])
def test_chunk_rejects_non_positive_max_payload_at_call_time(bad: int) -> None:
    with pytest.raises(ValueError, match="max_payload"):
        chunk_frames(pb.Msg, pb.MSG_DATA_DEFAULT, 1, b"abc", max_payload=bad)


def test_chunk_default_max_payload() -> None:
    data = bytes(codec.DEFAULT_MAX_PAYLOAD + 1)
    frames = list(chunk_frames(pb.Msg, pb.MSG_DATA_DEFAULT, 1, data))
    assert [len(f.body) for f in frames] == [codec.DEFAULT_MAX_PAYLOAD, 1]


def test_large_random_data_survives_the_wire_and_reassembly() -> None:
    rng = random.Random(1234)
    data = rng.randbytes(1_000_003)
    frames = list(chunk_frames(pb.Msg, pb.MSG_DATA_STDOUT, 77, data, max_payload=4096))
    assert len(frames) == 245
    wire = [pb.Msg.FromString(f.SerializeToString()) for f in frames]
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
    assert rx.feed(header(0), b"a") == [Chunk(pb.MSG_DATA_DEFAULT, 0, b"a", False)]
    assert rx.feed(header(1, kind=pb.MSG_DATA_STDERR), b"b") == [Chunk(pb.MSG_DATA_STDERR, 1, b"b", False)]
    assert rx.feed(header(2, completed=True), b"c") == [Chunk(pb.MSG_DATA_DEFAULT, 2, b"c", True)]
    assert rx.done and rx.reordered == 0 and rx.expected == 3 and rx.completed_seq == 2
    assert rx.data() == b"abc"
    assert rx.data() == b"abc"  # repeated calls are stable
    rx.check_complete()


def test_shuffled_frames_reassemble_identically() -> None:
    data = random.Random(7).randbytes(50_000)
    frames = list(chunk_frames(pb.Msg, pb.MSG_DATA_DEFAULT, 3, data, max_payload=512))
    random.Random(42).shuffle(frames)
    rx = Reassembler()
    chunks = feed_frames(rx, frames)
    assert rx.done
    assert rx.reordered > 0
    assert [c.seq for c in chunks] == list(range(len(frames)))
    assert chunks[-1].completed and not any(c.completed for c in chunks[:-1])
    assert rx.data() == data
    assert rx.pending_count == 0 and rx.missing() == []


def test_early_frames_wait_then_flush_in_order() -> None:
    rx = Reassembler()
    assert rx.feed(header(2), b"c") == []
    assert rx.feed(header(1), b"b") == []
    assert rx.reordered == 2 and rx.pending_count == 2
    assert rx.missing() == [0]
    assert [c.seq for c in rx.feed(header(0), b"a")] == [0, 1, 2]
    assert rx.data() == b"abc" and rx.pending_count == 0


def test_duplicates_are_rejected() -> None:
    rx = Reassembler()
    rx.feed(header(0), b"a")
    with pytest.raises(DuplicateChunkError, match=r"sid 7: duplicate seq 0"):
        rx.feed(header(0), b"a")
    rx.feed(header(3), b"d")
    with pytest.raises(DuplicateChunkError, match="seq 3"):
        rx.feed(header(3), b"d")  # a duplicate of a frame still waiting
    assert rx.data() == b"a" and rx.reordered == 1


def test_completed_frame_waits_behind_gaps_and_check_complete_names_them() -> None:
    rx = Reassembler()
    rx.feed(header(0), b"a")
    assert rx.feed(header(4, completed=True), b"e") == []
    rx.feed(header(2), b"c")
    assert not rx.done
    assert rx.missing() == [1, 3]
    with pytest.raises(GapError, match=r"sid 7: completed at seq 4 but missing seq 1, 3") as info:
        rx.check_complete()
    assert "\n" not in str(info.value)
    rx.feed(header(1), b"b")
    assert [c.seq for c in rx.feed(header(3), b"d")] == [3, 4]
    assert rx.done and rx.data() == b"abcde"
    rx.check_complete()


def test_check_complete_without_completed_frame_does_not_raise() -> None:
    rx = Reassembler()
    rx.feed(header(1), b"b")
    rx.check_complete()  # truncation without a completed frame is the caller's call
    assert rx.missing() == [0]


def test_frame_beyond_completed_seq_is_a_gap_error() -> None:
    rx = Reassembler()
    rx.feed(header(3, completed=True), b"d")
    with pytest.raises(GapError, match="after completion at seq 3"):
        rx.feed(header(5), b"f")


def test_completed_frame_below_a_received_frame_is_a_gap_error() -> None:
    rx = Reassembler()
    rx.feed(header(5), b"f")
    with pytest.raises(GapError, match="completed seq 2 but seq 5"):
        rx.feed(header(2, completed=True), b"c")
    # The failed feed left no trace: 2 can still arrive as an ordinary frame.
    assert rx.completed_seq is None
    assert rx.feed(header(2), b"c") == []


def test_second_completed_frame_is_a_gap_error() -> None:
    rx = Reassembler()
    rx.feed(header(5, completed=True), b"f")
    with pytest.raises(GapError, match="completed seq 2 but seq 5"):
        rx.feed(header(2, completed=True), b"c")


def test_after_done_feeds_are_duplicates_or_gaps() -> None:
    rx = Reassembler()
    rx.feed(header(0), b"a")
    rx.feed(header(1, completed=True), b"b")
    assert rx.done
    with pytest.raises(DuplicateChunkError):
        rx.feed(header(1), b"b")
    with pytest.raises(DuplicateChunkError):
        rx.feed(header(0), b"a")
    with pytest.raises(GapError, match="frame after completion"):
        rx.feed(header(2), b"c")
    assert rx.data() == b"ab"


def test_max_pending_limits_waiting_frames() -> None:
    rx = Reassembler(max_pending=3)
    for seq in (1, 2, 3):
        assert rx.feed(header(seq), b"x") == []
    with pytest.raises(GapError, match=r"seq 4 is more than max_pending=3 ahead of expected seq 0"):
        rx.feed(header(4), b"x")
    assert rx.pending_count == 3 and rx.reordered == 3
    assert len(rx.feed(header(0), b"x")) == 4


def test_far_future_seq_is_rejected_without_waiting() -> None:
    # Also keeps missing() bounded: a stray huge seq never becomes the "highest seen".
    rx = Reassembler(max_pending=8)
    with pytest.raises(GapError, match="max_pending"):
        rx.feed(header(2**63), b"x")
    assert rx.missing() == [] and rx.pending_count == 0


def test_max_pending_zero_allows_only_in_order() -> None:
    rx = Reassembler(max_pending=0)
    rx.feed(header(0), b"a")
    with pytest.raises(GapError):
        rx.feed(header(2), b"c")
    with pytest.raises(ValueError):
        Reassembler(max_pending=-1)


def test_error_hierarchy() -> None:
    assert issubclass(GapError, ReassemblyError) and issubclass(DuplicateChunkError, ReassemblyError)
    assert issubclass(ReassemblyError, ValueError) and issubclass(BodyDecodeError, ValueError)
