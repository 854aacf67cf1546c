"""Guards the frame codec on every frame's path, in every protocol version: building and parsing frames.

``time_encode`` is the send side (``Protocol.new_cmd``/``new_msg`` + ``SerializeToString``),
``time_decode`` the receive side (``FromString`` + ``Protocol.unpack`` + reading the body
as the gateway or a device does: ``read_command`` for commands, ``read_reply`` for
messages). Data kinds carry raw bytes and are measured per payload size; the other kinds
carry a body of realistic, fixed content, built through the protocol like the real ones
(pod commands go through CMD_RUNTIME from aranya-v0.2). All inputs are built in ``setup``.
"""

from __future__ import annotations

from typing import Any

from aranya_perf import protocol
from aranya_perf.protocol import NodeInfo, Op, PortForwardTarget, Protocol, Reply

KIB = 1024
SID = 1764620000000000001  # aranya's sids: the controller's clock in ns
POD = "0b8f5c1e-6a51-4d7e-9a0e-3f1c2d4b5a69"


def _payload(size: int) -> bytes:
    # Deterministic, not all one byte value (protobuf does not compress, but keep it honest anyway).
    unit = bytes(range(256))
    return (unit * (size // len(unit) + 1))[:size]


def _reader(p: Protocol, direction: str) -> Any:
    parse = (p.cmd_type if direction == "cmd" else p.msg_type).FromString
    unpack = p.unpack
    if direction == "cmd":

        def read(raw: bytes) -> Any:
            kind, _sid, _seq, _complete, payload = unpack(parse(raw))
            return p.read_command(kind, payload)
    else:

        def read(raw: bytes) -> Any:
            kind, _sid, _seq, _complete, payload = unpack(parse(raw))
            return p.read_reply(kind, payload)

    return read


class DataFrames:
    """Raw-bytes kinds (stdout/stderr and port-forward upstream) by payload size in bytes."""

    params = (list(protocol.NAMES), ["stdout", "stderr", "upstream"], [0, KIB, 32 * KIB])
    param_names = ["protocol", "kind", "size"]
    timeout = 60.0

    def setup(self, name: str, kind: str, size: int) -> None:
        p = protocol.get(name)
        self.direction = "cmd" if kind == "upstream" else "msg"
        self.new = p.new_cmd if self.direction == "cmd" else p.new_msg
        self.kind = {"stdout": p.msg.DATA, "stderr": p.msg.STDERR, "upstream": p.cmd.DATA_UPSTREAM}[kind]
        self.body = _payload(size)
        self.read = _reader(p, self.direction)
        self.wire = self.new(self.kind, SID, self.body, 7, True).SerializeToString()

    def time_encode(self, name: str, kind: str, size: int) -> None:
        self.new(self.kind, SID, self.body, 7, True).SerializeToString()

    def time_decode(self, name: str, kind: str, size: int) -> None:
        self.read(self.wire)


def _frames(p: Protocol) -> dict[str, tuple[str, int, bytes]]:
    """Frame name -> (direction, kind, payload), as the gateway and the devices build them."""
    out: dict[str, tuple[str, int, bytes]] = {}
    runtime = p.via_runtime(POD)
    for name, op, body in (
        ("exec", Op.EXEC, p.exec_body(POD, "app", ["ls", "-l", "/var/lib/app"], {"LANG": "C.UTF-8"})),
        ("logs", Op.LOGS, p.logs_body(POD, "app", tail_lines=100)),
        ("port_forward", Op.PORT_FORWARD, p.port_forward_body(PortForwardTarget(POD, 8080))),
    ):
        kind, payload, _label = p.command(op, body, runtime=runtime)
        out[name] = ("cmd", kind, payload)
    out["node_info_get"] = ("cmd", p.cmd.NODE_INFO_GET, p.node_info_get_body(True))
    out["session_close"] = ("cmd", p.cmd.SESSION_CLOSE, p.session_close_body(SID))
    info = NodeInfo(labels={"arhat.dev/role": "edge"}, annotations={"arhat.dev/site": "s-042"})
    out["node_status"] = ("msg", p.msg.NODE_STATUS, p.node_status_body(info, full=True))
    kind, payload = p.result(Reply.ERROR, p.error_body(0, "command terminated with non-zero exit code: 2", 2),
                             runtime=runtime)  # fmt: skip
    out["error"] = ("msg", kind, payload)
    out["online"] = ("msg", p.msg.STATE, p.unpack(p.online("dev-0-00042"))[4])
    return out


class BodyFrames:
    """Frames with a body: operator commands, node info, a node status, errors, the online state."""

    params = (list(protocol.NAMES), list(_frames(protocol.get(protocol.DEFAULT))))
    param_names = ["protocol", "frame"]
    timeout = 60.0

    def setup(self, name: str, frame: str) -> None:
        p = protocol.get(name)
        direction, self.kind, self.payload = _frames(p)[frame]
        self.new = p.new_cmd if direction == "cmd" else p.new_msg
        self.read = _reader(p, direction)
        self.wire = self.new(self.kind, SID, self.payload, 3).SerializeToString()

    def time_encode(self, name: str, frame: str) -> None:
        self.new(self.kind, SID, self.payload, 3).SerializeToString()

    def time_decode(self, name: str, frame: str) -> None:
        self.read(self.wire)
