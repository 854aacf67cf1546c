"""Guards large-data handling: cutting data into frames and putting one session's frames back together.

``time_chunk`` builds every frame of ``size`` bytes with ``codec.chunk_frames``
(aranya's chunk size, 64 KiB minus an empty frame, in the default protocol version),
which the device does for exec output, logs and port-forward data. ``time_reassemble``
feeds those frames through a fresh ``codec.Reassembler`` in order, or shuffled with a
fixed seed (most frames arrive early and wait behind a gap), as the gateway does per
session. Joining the data is
left out: that is one memcpy, and its page faults would drown the bookkeeping.
"""

from __future__ import annotations

import random

from aranya_perf import codec, protocol

P = protocol.get(protocol.DEFAULT)

MIB = 1024 * 1024
SEED = 20240601
SID = 0x1234_5678_9ABC


def _payload(size: int) -> bytes:
    unit = bytes(range(256))
    return (unit * (size // len(unit) + 1))[:size]


class Chunk:
    params = [64 * 1024, MIB, 16 * MIB]
    param_names = ["size"]
    timeout = 60.0

    def setup(self, size: int) -> None:
        self.data = _payload(size)

    def time_chunk(self, size: int) -> None:
        for _ in codec.chunk_frames(P.new_msg, P.msg.DATA, SID, self.data, max_payload=P.max_payload):
            pass


class Reassemble:
    params = (["in_order", "shuffled"], [MIB, 16 * MIB])
    param_names = ["order", "size"]
    timeout = 60.0

    def setup(self, order: str, size: int) -> None:
        data = _payload(size)
        frames = list(codec.chunk_frames(P.new_msg, P.msg.DATA, SID, data, max_payload=P.max_payload))
        if order == "shuffled":
            random.Random(SEED).shuffle(frames)
        # (kind, sid, seq, complete, payload) tuples as the gateway's read loop hands them over.
        self.frames = [P.unpack(f) for f in frames]

    def time_reassemble(self, order: str, size: int) -> None:
        r = codec.Reassembler()  # default max_pending (1024) holds all 257 frames of 16 MiB
        feed = r.feed
        for frame in self.frames:
            feed(*frame)
        if not r.done:
            raise AssertionError("reassembly did not complete")
