"""Guards the frame codec on every frame's path: building and serialising Cmd/Msg frames, parsing them back.

``time_encode`` is the send side (``codec.new_cmd``/``new_msg`` + ``SerializeToString``),
``time_decode`` the receive side (``FromString`` + ``codec.decode_body``). Data
kinds carry raw bytes and are measured per payload size; the other kinds carry
a protobuf body of realistic, fixed content. All inputs are built in ``setup``.
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import Message

from aranya_perf import codec
from aranya_perf.proto import aranya_pb2 as pb

KIB = 1024
MIB = 1024 * KIB
SID = 0x1234_5678_9ABC


def _payload(size: int) -> bytes:
    # Deterministic, not all one byte value (protobuf does not compress, but keep it honest anyway).
    unit = bytes(range(256))
    return (unit * (size // len(unit) + 1))[:size]


def _is_cmd(kind: int) -> bool:
    return pb.Kind.Name(kind).startswith("CMD_")


def _make(kind: int) -> Callable[..., pb.Cmd | pb.Msg]:
    return codec.new_cmd if _is_cmd(kind) else codec.new_msg


def _parser(kind: int) -> type[pb.Cmd] | type[pb.Msg]:
    return pb.Cmd if _is_cmd(kind) else pb.Msg


class DataFrames:
    """Raw-bytes kinds (stdout/stderr and port-forward upstream) by payload size in bytes."""

    params = (["MSG_DATA_DEFAULT", "MSG_DATA_STDERR", "CMD_DATA_UPSTREAM"], [0, KIB, 32 * KIB, MIB])
    param_names = ["kind", "size"]
    timeout = 60.0

    def setup(self, kind: str, size: int) -> None:
        self.kind = pb.Kind.Value(kind)
        self.new = _make(self.kind)
        self.parse = _parser(self.kind).FromString
        self.body = _payload(size)
        self.wire = self.new(self.kind, SID, self.body, seq=7, completed=True).SerializeToString()

    def time_encode(self, kind: str, size: int) -> None:
        self.new(self.kind, SID, self.body, seq=7, completed=True).SerializeToString()

    def time_decode(self, kind: str, size: int) -> None:
        codec.decode_body(self.parse(self.wire))


def _bodies() -> dict[str, Message | bytes]:
    return {
        "CMD_POD_CTR_EXEC": pb.ContainerExecOrAttachCmd(
            pod_uid="0b8f5c1e-6a51-4d7e-9a0e-3f1c2d4b5a69",
            container="app",
            stdout=True,
            stderr=True,
            command=["ls", "-l", "/var/lib/app"],
            envs={"ARANYA_PERF_STDOUT_BYTES": "2048", "LANG": "C.UTF-8"},
        ),
        "CMD_POD_CTR_LOGS": pb.ContainerLogsCmd(
            pod_uid="0b8f5c1e-6a51-4d7e-9a0e-3f1c2d4b5a69", container="app", tail_lines=100, timestamp=True
        ),
        "CMD_POD_PORT_FORWARD": pb.PodPortForwardCmd(
            pod_uid="0b8f5c1e-6a51-4d7e-9a0e-3f1c2d4b5a69", port=8080, protocol="tcp"
        ),
        "CMD_NODE_INFO_GET": pb.NodeInfoGetCmd(kind=pb.NodeInfoGetCmd.NODE_INFO_ALL),
        "CMD_SESSION_CLOSE": pb.SessionCloseCmd(sid=SID),
        "CMD_REJECT": pb.RejectCmd(
            reason=pb.RejectCmd.REJECTION_ALREADY_CONNECTED, message="device dev-0-00042 is already connected"
        ),
        "MSG_STATE": pb.StateMsg(kind=pb.StateMsg.STATE_ONLINE, device_id="dev-0-00042"),
        "MSG_ERROR": pb.ErrorMsg(
            kind=pb.ErrorMsg.ERR_COMMON, description="command terminated with non-zero exit code: 2", code=2
        ),
        "MSG_DONE": b"",
    }


class BodyFrames:
    """Kinds with a protobuf body (and MSG_DONE, the empty frame that ends most sessions)."""

    params = list(_bodies())
    param_names = ["kind"]
    timeout = 60.0

    def setup(self, kind: str) -> None:
        self.kind = pb.Kind.Value(kind)
        self.new = _make(self.kind)
        self.parse = _parser(self.kind).FromString
        self.body = _bodies()[kind]
        self.wire = self.new(self.kind, SID, self.body, seq=3).SerializeToString()

    def time_encode(self, kind: str) -> None:
        self.new(self.kind, SID, self.body, seq=3).SerializeToString()

    def time_decode(self, kind: str) -> None:
        codec.decode_body(self.parse(self.wire))
