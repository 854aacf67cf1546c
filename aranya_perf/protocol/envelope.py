"""Frame envelopes: where one protocol version puts kind, sid, seq, complete and payload in Cmd and Msg.

Two shapes exist. ``HeaderEnvelope`` is aranya-2020-09's ``{header=1 {kind, sid, seq,
completed}, body=11}``; ``FlatEnvelope`` is every released version's ``{kind=1, sid=2,
seq=3, complete(d)=4, body|payload=11}``. Both build frames from plain values and read a
frame back as one tuple, ``(kind, sid, seq, complete, payload)``, so the codec, the
gateway and the devices never touch a version's field names. Reading is an
``operator.attrgetter`` (one C call per frame), because it runs for every frame.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

Frame = tuple[int, int, int, bool, bytes]
"""A frame as values: (kind, sid, seq, complete, payload)."""

MAX_KIND = 2**31 - 1
MAX_UINT64 = 2**64 - 1


def _bytes(payload: Any) -> bytes:
    if type(payload) is bytes:
        return payload
    if isinstance(payload, Message):
        return payload.SerializeToString()
    # upb's bytes fields accept only bytes, so bytearray/memoryview payloads are copied here.
    return bytes(payload)


class Envelope:
    """Builds and reads the Cmd and Msg frames of one version."""

    cmd_type: type[Message]
    msg_type: type[Message]
    unpack: Callable[[Message], Frame]
    """``frame -> (kind, sid, seq, complete, payload)``."""

    def new_cmd(self, kind: int, sid: int, payload: Any = b"", seq: int = 0, complete: bool = False) -> Any:
        raise NotImplementedError

    def new_msg(self, kind: int, sid: int, payload: Any = b"", seq: int = 0, complete: bool = False) -> Any:
        raise NotImplementedError

    def empty_frame_bytes(self) -> int:
        """Wire size of a Cmd whose fields all hold their largest value and whose payload is empty.

        aranya subtracts this from a transport's message limit to get its chunk size.
        """
        return self.new_cmd(MAX_KIND, MAX_UINT64, b"", MAX_UINT64, True).ByteSize()


class HeaderEnvelope(Envelope):
    """aranya-2020-09: ``Cmd/Msg {header=1 Header{kind, sid, seq, completed}, body=11}``."""

    def __init__(self, cmd_type: type[Message], msg_type: type[Message]) -> None:
        self.cmd_type, self.msg_type = cmd_type, msg_type
        self.unpack = operator.attrgetter(
            "header.kind", "header.sid", "header.seq", "header.completed", "body"
        )

    @staticmethod
    def _frame(make: Any, kind: int, sid: int, payload: Any, seq: int, complete: bool) -> Any:
        # Setting fields on the embedded header is about twice as fast with upb as
        # make(header=Header(...)), which builds a Header and then copies it in. The header is
        # always on the wire, even all-zero (0a 00): aranya read frame.Header unconditionally.
        frame = make(body=_bytes(payload))
        header = frame.header
        header.kind = kind
        header.sid = sid
        header.seq = seq
        header.completed = complete
        return frame

    def new_cmd(self, kind: int, sid: int, payload: Any = b"", seq: int = 0, complete: bool = False) -> Any:
        return self._frame(self.cmd_type, kind, sid, payload, seq, complete)

    def new_msg(self, kind: int, sid: int, payload: Any = b"", seq: int = 0, complete: bool = False) -> Any:
        return self._frame(self.msg_type, kind, sid, payload, seq, complete)


class FlatEnvelope(Envelope):
    """aranya-v0.1 and later: ``Cmd/Msg {kind=1, sid=2, seq=3, <complete>=4, <payload>=11}``.

    Only the names of fields 4 and 11 differ between versions (``completed``/``complete``,
    ``body``/``payload``); the wire is the same.
    """

    def __init__(
        self, cmd_type: type[Message], msg_type: type[Message], complete_field: str, payload_field: str
    ) -> None:
        self.cmd_type, self.msg_type = cmd_type, msg_type
        self.complete_field, self.payload_field = complete_field, payload_field
        self.unpack = operator.attrgetter("kind", "sid", "seq", complete_field, payload_field)

    def _frame(self, make: Any, kind: int, sid: int, payload: Any, seq: int, complete: bool) -> Any:
        return make(
            **{
                "kind": kind,
                "sid": sid,
                "seq": seq,
                self.complete_field: complete,
                self.payload_field: _bytes(payload),
            }
        )

    def new_cmd(self, kind: int, sid: int, payload: Any = b"", seq: int = 0, complete: bool = False) -> Any:
        return self._frame(self.cmd_type, kind, sid, payload, seq, complete)

    def new_msg(self, kind: int, sid: int, payload: Any = b"", seq: int = 0, complete: bool = False) -> Any:
        return self._frame(self.msg_type, kind, sid, payload, seq, complete)
