"""Property-based fuzzing of what reads bytes and sequence numbers from the wire: the codec (chunking,
reassembly), sessions, and every protocol version's decoders.

Ill-formed input must be rejected with the module's own error (``ReassemblyError``, ``ValueError``,
``ProtocolError``), never another exception, never a hang (the deadline). Bounded for CI: about
``FUZZ_EXAMPLES`` examples per target; ``ARANYA_PERF_FUZZ_EXAMPLES=100000`` runs a long local fuzz.
"""

from __future__ import annotations

import contextlib
import os
import random

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aranya_perf import protocol
from aranya_perf.codec import Reassembler, ReassemblyError, chunk_frames
from aranya_perf.protocol import Command, ProtocolError, Reply
from aranya_perf.protocol.versions import _BODY_NAMES
from aranya_perf.session import MAX_SID, Session, SessionIds, SessionTable

FUZZ_EXAMPLES = int(os.environ.get("ARANYA_PERF_FUZZ_EXAMPLES", "500"))
# A generous deadline: each example takes well under a millisecond, so only a hang (or a
# quadratic blow-up) reaches it, not a busy shared machine.
settings.register_profile(
    "fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=2000,
    database=None,  # nothing written into the checkout; a failure prints its reproduction
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
FUZZ = settings.get_profile("fuzz")
# The suite's 180 s per test, stretched for long local runs by 0.1 s an example (each takes ~1 ms).
pytestmark = pytest.mark.timeout(180 + FUZZ_EXAMPLES // 10)

VERSIONS = [protocol.get(name) for name in protocol.NAMES]
UINT64 = st.integers(0, 2**64 - 1)
ANY_INT = st.one_of(st.integers(-(2**70), 2**70), st.integers(-3, 300))
PAYLOAD = st.binary(max_size=512)


def _protobuf_like() -> st.SearchStrategy[bytes]:
    """Bytes that are often almost a protobuf message: valid tags and lengths with random contents,
    messages nested in field 1 (a message field in most bodies), and deeply nested groups."""
    field = st.tuples(st.integers(1, 20), st.sampled_from([0, 1, 2, 5]), st.binary(max_size=40)).map(_field)
    fields = st.lists(field, max_size=8).map(b"".join)
    nested = st.tuples(st.integers(1, 150), fields).map(lambda t: _nest(*t))
    groups = st.integers(1, 300).map(lambda n: _varint(1 << 3 | 3) * n + _varint(1 << 3 | 4) * n)
    return st.one_of(PAYLOAD, fields, nested, groups)


def _nest(depth: int, inner: bytes) -> bytes:
    for _ in range(depth):
        inner = _field((1, 2, inner))
    return inner


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(spec: tuple[int, int, bytes]) -> bytes:
    number, wire, data = spec
    tag = _varint(number << 3 | wire)
    if wire == 0:
        return tag + _varint(int.from_bytes(data[:9] or b"\0", "little"))
    if wire == 1:
        return tag + data[:8].ljust(8, b"\0")
    if wire == 5:
        return tag + data[:4].ljust(4, b"\0")
    return tag + _varint(len(data)) + data


# --- codec ----------------------------------------------------------------------------------------


@FUZZ
@given(
    version=st.sampled_from(VERSIONS),
    data=st.binary(max_size=4096),
    max_payload=st.integers(1, 700),
    sid=UINT64,
    order=st.randoms(use_true_random=False),
)
def test_chunks_reassemble_in_any_order(
    version: protocol.Protocol, data: bytes, max_payload: int, sid: int, order: random.Random
) -> None:
    frames = list(chunk_frames(version.new_msg, version.msg.DATA, sid, data, max_payload=max_payload))
    assert len(frames) == max(1, -(-len(data) // max_payload))
    wire = [version.msg_type.FromString(f.SerializeToString()) for f in frames]  # through the wire format
    order.shuffle(wire)
    rx = Reassembler(max_pending=len(wire))
    delivered = []
    for frame in wire:
        kind, got_sid, seq, complete, body = version.unpack(frame)
        assert (kind, got_sid) == (version.msg.DATA, sid)
        delivered += [c.seq for c in rx.feed(kind, got_sid, seq, complete, body)]
    rx.check_complete()
    assert rx.done and delivered == list(range(len(frames))) and rx.data() == data


@FUZZ
@given(max_payload=st.integers(-(2**40), 0))
def test_chunking_refuses_a_payload_size_below_one(max_payload: int) -> None:
    with pytest.raises(ValueError, match="max_payload"):
        chunk_frames(lambda *a: a, 1, 1, b"x", max_payload=max_payload)


FRAME = st.tuples(st.one_of(st.integers(-2, 40), UINT64), st.booleans(), st.binary(max_size=8))


@FUZZ
@given(max_pending=st.integers(0, 8), frames=st.lists(FRAME, max_size=40))
def test_reassembler_takes_any_frames_or_raises_its_own_error(
    max_pending: int, frames: list[tuple[int, bool, bytes]]
) -> None:
    rx = Reassembler(max_pending=max_pending)
    delivered: list[bytes] = []
    for seq, complete, body in frames:
        before = (rx.expected, rx.pending_count, rx.completed_seq, rx.reordered, rx.missing())
        try:
            chunks = rx.feed(1, 7, seq, complete, body)
        except ReassemblyError:
            assert (rx.expected, rx.pending_count, rx.completed_seq, rx.reordered, rx.missing()) == before
            continue
        delivered += [c.body for c in chunks]
        assert rx.expected == len(delivered)  # in order, from seq 0, none twice
        assert rx.pending_count <= max_pending
        assert all(rx.expected <= s for s in rx.missing())
    assert rx.data() == b"".join(delivered)
    try:
        rx.check_complete()
    except ReassemblyError:
        assert rx.completed_seq is not None and not rx.done


@FUZZ
@given(max_pending=st.integers(-(2**40), -1))
def test_reassembler_refuses_a_negative_limit(max_pending: int) -> None:
    with pytest.raises(ValueError):
        Reassembler(max_pending=max_pending)


# --- sessions -------------------------------------------------------------------------------------


@FUZZ
@given(start=ANY_INT, draws=st.integers(1, 5))
def test_session_ids_from_any_start(start: int, draws: int) -> None:
    try:
        ids = SessionIds(start)
    except ValueError:
        assert not 0 <= start <= MAX_SID
        return
    sids = [ids.next() for _ in range(draws)]
    assert all(1 <= s <= MAX_SID for s in sids) and len(set(sids)) == draws


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("open"), st.one_of(st.none(), ANY_INT, st.integers(0, 5)), st.floats(0, 10)),
        st.tuples(st.just("close"), st.integers(-1, 8), st.just(0.0)),
        st.tuples(st.just("expire"), st.just(0), st.floats(0, 20)),
    ),
    max_size=40,
)


@FUZZ
@given(start=st.one_of(st.integers(1, 5), st.integers(MAX_SID - 3, MAX_SID)), ops=OPS)
def test_session_table_keeps_sids_unique_or_raises_value_error(
    start: int, ops: list[tuple[str, int | None, float]]
) -> None:
    table = SessionTable(SessionIds(start))
    live: dict[int, Session] = {}
    now = 0.0
    for op, sid, value in ops:
        if op == "open":
            try:
                s = table.open(Session(1), now=now, timeout=value, sid=sid)
            except ValueError:
                assert sid is not None and (sid in live or not 0 <= sid <= MAX_SID)
                continue
            assert s.sid not in live and (sid is not None or s.sid != 0)
            live[s.sid] = s
        elif op == "close":
            assert table.close(sid) is live.pop(sid, None)
        else:
            now = max(now, value)
            for s in table.expired(now):
                assert live.pop(s.sid) is s and s.deadline is not None and s.deadline <= now
        assert len(table) == len(live) and all(sid in table for sid in live)


# --- every protocol version's decoders -----------------------------------------------------------


def _decoders(p: protocol.Protocol) -> dict[str, object]:
    readers = {
        "read_state": p.read_state,
        "read_reject": p.read_reject,
        "read_error": p.read_error,
        "read_node_status": p.read_node_status,
        "read_pod_status_list": p.read_pod_status_list,
    }
    for name in _BODY_NAMES:
        readers[f"decode {name}"] = lambda payload, name=name: p.decode(name, payload)
    return readers


DECODERS = [(p, name) for p in VERSIONS for name in _decoders(p)]


@FUZZ
@given(case=st.sampled_from(DECODERS), payload=_protobuf_like())
def test_body_decoders_raise_only_protocol_error(case: tuple[protocol.Protocol, str], payload: bytes) -> None:
    version, name = case
    with contextlib.suppress(ProtocolError):
        _decoders(version)[name](payload)


KINDS = st.one_of(st.integers(-3, 40), st.integers(-(2**31), 2**31 - 1))


@FUZZ
@given(version=st.sampled_from(VERSIONS), kind=KINDS, payload=_protobuf_like())
def test_command_and_reply_readers_raise_only_protocol_error(
    version: protocol.Protocol, kind: int, payload: bytes
) -> None:
    try:
        command = version.read_command(kind, payload)
    except ProtocolError:
        pass
    else:
        assert isinstance(command, Command) and isinstance(command.label, str)
        if command.op is protocol.Op.PORT_FORWARD:
            version.read_port_forward(command.body)
    reply, body = version.read_reply(kind, payload)
    assert isinstance(reply, Reply) and isinstance(body, bytes)


@FUZZ
@given(version=st.sampled_from(VERSIONS), data=_protobuf_like(), cmd=st.booleans())
def test_frames_off_the_wire_read_or_raise_protocol_error(
    version: protocol.Protocol, data: bytes, cmd: bool
) -> None:
    """Bytes a transport hands on: protobuf refuses them (``DecodeError``, which every transport
    catches), or the frame unpacks and its payload is read as the version reads it."""
    frame_type = version.cmd_type if cmd else version.msg_type
    try:
        frame = frame_type.FromString(data)
    except DecodeError:
        return
    kind, _sid, _seq, _complete, payload = version.unpack(frame)
    with contextlib.suppress(ProtocolError):
        version.read_command(kind, payload) if cmd else version.read_reply(kind, payload)
