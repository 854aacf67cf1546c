"""Session data on the wire: cutting data into frames and putting one session's frames back together.

Version-neutral: frames are built with a ``Protocol``'s ``new_cmd``/``new_msg`` and read back
with its ``unpack`` as ``(kind, sid, seq, complete, payload)``, so the same chunking and
reassembly serve every protocol version, on the gateway (controller side) and in the
simulated devices (agent side).

Sequence numbers count the frames one side sends within one session, from 0; the last
frame of a session's stream has ``complete`` set. Large data is cut into frames of at most
``max_payload`` bytes (aranya: 64 KiB minus an empty frame, ``Protocol.max_payload``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""gRPC send/receive message limit that the gateway and the load generator both configure."""

NewFrame = Callable[..., Any]
"""``Protocol.new_cmd`` or ``Protocol.new_msg``: ``(kind, sid, payload, seq, complete) -> frame``."""


def chunk_frames(
    new: NewFrame,
    kind: int,
    sid: int,
    data: bytes,
    *,
    max_payload: int,
    start_seq: int = 0,
    complete: bool = True,
) -> Iterator[Any]:
    """Cut ``data`` into frames of ``kind`` with consecutive seqs from ``start_seq``.

    With ``complete`` the last frame has ``complete`` set. Empty data gives one
    empty frame. Raises ``ValueError`` at call time (not on first iteration)
    when ``max_payload`` is not positive.
    """
    if max_payload <= 0:
        raise ValueError(f"max_payload must be > 0, got {max_payload}")
    return _chunks(new, kind, sid, data, max_payload, start_seq, complete)


def _chunks(
    new: NewFrame, kind: int, sid: int, data: bytes, max_payload: int, seq: int, complete: bool
) -> Iterator[Any]:
    size = len(data)
    if size <= max_payload:
        # Common case: one frame, and a bytes input needs no copy at all.
        yield new(kind, sid, data if type(data) is bytes else bytes(data), seq, complete)
        return
    view = memoryview(data)
    for offset in range(0, size, max_payload):
        end = offset + max_payload
        # One copy per chunk: the memoryview slice is free, bytes() is the copy protobuf needs.
        yield new(kind, sid, bytes(view[offset:end]), seq, complete and end >= size)
        seq += 1


@dataclass(frozen=True, slots=True)
class Chunk:
    kind: int
    seq: int
    body: bytes
    complete: bool


def _fmt_seqs(seqs: list[int], limit: int = 10) -> str:
    if len(seqs) <= limit:
        return ", ".join(map(str, seqs))
    return ", ".join(map(str, seqs[:limit])) + f", ... ({len(seqs)} in all)"


class ReassemblyError(ValueError):
    """A session's frames cannot be put back together."""


class GapError(ReassemblyError):
    """A sequence number is missing when the stream completes (or too many frames wait behind it)."""


class DuplicateChunkError(ReassemblyError):
    """A sequence number arrived twice."""


class Reassembler:
    """Puts one session's incoming frames back in sequence order.

    ``feed`` returns the chunks that are now deliverable in order (possibly
    none, when a frame arrived early and waits behind a gap). Raises
    ``DuplicateChunkError`` for a seq already seen, ``GapError`` when a
    completed frame leaves holes or more than ``max_pending`` frames wait.
    ``done`` is true once the completed frame and all before it were delivered.
    ``reordered`` counts frames that arrived ahead of their turn.

    Rules, in the order ``feed`` applies them (a raising ``feed`` changes nothing):

    - seq below the next expected one, or already waiting: ``DuplicateChunkError``
      (after ``done`` that is any seq up to the completed one);
    - seq above a completed frame already received: ``GapError`` (frame after completion);
    - seq more than ``max_pending`` ahead of the next expected one: ``GapError``. This is
      the ``len(pending) > max_pending`` limit applied early: for the gap to fill, every
      seq in between would have to wait too. It also bounds ``missing()``;
    - a completed frame below a frame already received: ``GapError``.

    A completed frame that arrives while gaps remain below it waits like any early
    frame; call ``check_complete`` when the stream ends or times out to turn the
    remaining holes into a ``GapError``.
    """

    __slots__ = ("_completed_seq", "_expected", "_parts", "_pending", "_sid", "max_pending", "reordered")

    def __init__(self, max_pending: int = 1024) -> None:
        if max_pending < 0:
            raise ValueError(f"max_pending must be >= 0, got {max_pending}")
        self.max_pending = max_pending
        self.reordered = 0
        self._expected = 0
        self._pending: dict[int, Chunk] = {}
        self._parts: list[bytes] = []
        self._completed_seq: int | None = None
        self._sid: int | None = None  # remembered only for check_complete's message

    def feed(self, kind: int, sid: int, seq: int, complete: bool, body: bytes) -> list[Chunk]:
        """Accept one frame (as ``Protocol.unpack`` reads it); return the chunks now deliverable, in order."""
        expected = self._expected
        pending = self._pending
        if seq < expected or seq in pending:
            raise DuplicateChunkError(f"sid {sid}: duplicate seq {seq} (next expected {expected})")
        completed_seq = self._completed_seq
        if completed_seq is not None and seq > completed_seq:
            raise GapError(f"sid {sid}: seq {seq} is a frame after completion at seq {completed_seq}")
        if seq - expected > self.max_pending:
            raise GapError(
                f"sid {sid}: seq {seq} is more than max_pending={self.max_pending} "
                f"ahead of expected seq {expected}"
            )
        if complete:
            # A completed frame below one already held contradicts that frame; one below the
            # first completed frame (checked above) is the same contradiction.
            if completed_seq is not None or (pending and max(pending) > seq):
                above = completed_seq if completed_seq is not None else max(pending)
                raise GapError(f"sid {sid}: completed seq {seq} but seq {above} was already received")
            self._completed_seq = seq
            self._sid = sid

        if seq != expected:
            pending[seq] = Chunk(kind, seq, body, complete)
            self.reordered += 1
            return []

        parts = self._parts
        parts.append(body)
        out = [Chunk(kind, seq, body, complete)]
        expected += 1
        if pending:
            while (chunk := pending.pop(expected, None)) is not None:
                parts.append(chunk.body)
                out.append(chunk)
                expected += 1
        self._expected = expected
        return out

    @property
    def done(self) -> bool:
        completed_seq = self._completed_seq
        return completed_seq is not None and self._expected > completed_seq

    @property
    def expected(self) -> int:
        """The seq the next in-order frame must have."""
        return self._expected

    @property
    def completed_seq(self) -> int | None:
        """The seq of the completed frame once received (delivered or waiting), else None."""
        return self._completed_seq

    @property
    def pending_count(self) -> int:
        """How many frames wait behind a gap."""
        return len(self._pending)

    def missing(self) -> list[int]:
        """Seqs below the highest one received that have not arrived, ascending."""
        pending = self._pending
        if not pending:
            return []
        return [s for s in range(self._expected, max(pending)) if s not in pending]

    def check_complete(self) -> None:
        """Raise ``GapError`` naming the missing seqs if the completed frame arrived but not all before it.

        Call on stream end or timeout. A stream whose completed frame never arrived
        does not raise here: whether that is an error is the caller's call.
        """
        completed_seq = self._completed_seq
        if completed_seq is None or self._expected > completed_seq:
            return
        missing = self.missing()
        raise GapError(
            f"sid {self._sid}: completed at seq {completed_seq} but missing seq {_fmt_seqs(missing)}"
        )

    def data(self) -> bytes:
        """Convenience: all bodies delivered so far, concatenated."""
        parts = self._parts
        if len(parts) > 1:
            # Collapse so repeated calls do not re-join everything delivered so far.
            parts[:] = [b"".join(parts)]
        return parts[0] if parts else b""
