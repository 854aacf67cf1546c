"""``Protocol``: one aranya device-protocol version behind one object.

A ``Protocol`` owns a version's generated modules, its kind numbers and names, its
envelope, its bodies and its behaviour flags. Everything else in the suite (codec,
sessions, gateway, simulated devices, operators, metrics labels, reports) works with
semantic values (an ``Op``, a ``RejectReason``, a ``NodeInfo``) and asks the protocol for
the bytes, so that one code path speaks every version. ``versions.py`` builds the four
instances; nothing outside this package imports generated code.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from google.protobuf.message import DecodeError, Message

from aranya_perf.protocol.envelope import Envelope

HOST_CONTAINER = "host"
"""aranya's virtual container name for the device itself (exec, attach on the host)."""

PROTOCOL_METADATA_KEY = "x-aranya-perf-protocol"
"""gRPC metadata in which the suite's devices name their version (a real agent sends none)."""

MAX_GRPC_MESSAGE = 64 * 1024
"""aranya's gRPC data size: payloads are chunked at this minus an empty frame's size."""


class ProtocolError(ValueError):
    """Unknown protocol name, or bytes that are not what the version says they must be."""


class BodyDecodeError(ProtocolError):
    """A payload does not parse as the body its kind carries."""


class ProtocolMismatch(ProtocolError):
    """The two ends of a stream speak different protocol versions."""


class Op(enum.Enum):
    """What a controller command asks of a device, whatever number and route a version gives it."""

    DATA_UPSTREAM = "data_upstream"
    SESSION_CLOSE = "session_close"
    REJECT = "reject"
    NODE_INFO = "node_info"
    EXEC = "exec"
    ATTACH = "attach"
    LOGS = "logs"
    TTY_RESIZE = "tty_resize"
    PORT_FORWARD = "port_forward"
    METRICS_CONFIG = "metrics_config"
    METRICS_COLLECT = "metrics_collect"
    POD_LIST = "pod_list"
    UNSUPPORTED = "unsupported"


class Reply(enum.Enum):
    """What a device message means to the session it belongs to."""

    DATA = "data"  # stdout, the default data stream (metrics, port-forward bytes, stream-continue)
    STDERR = "stderr"
    DONE = "done"
    ERROR = "error"
    STATE = "state"
    NODE_STATUS = "node_status"
    POD_STATUS_LIST = "pod_status_list"
    OTHER = "other"


class RejectReason(enum.Enum):
    """Why a controller turns a device away; each version has its own numbers (and, in 2020-09, names)."""

    INVALID_PROTO = "invalid_proto"
    ALREADY_CONNECTED = "already_connected"
    NODE_CHECK_FAILURE = "node_check_failure"  # initial NODE_INFO_GET(ALL) not answered with a node status
    POD_CHECK_FAILURE = "pod_check_failure"  # initial pod list failed (other than not supported)
    INTERNAL_SERVER_ERROR = "internal_server_error"


class ErrorKind(enum.IntEnum):
    """``ErrorMsg.Kind``: the same numbers in every version."""

    ERR_COMMON = 0
    ERR_NOT_FOUND = 1
    ERR_ALREADY_EXISTS = 2
    ERR_NOT_SUPPORTED = 3
    ERR_TIMEOUT = 4


@dataclass(frozen=True, slots=True)
class DeviceError:
    """A decoded ``ErrorMsg``."""

    kind: int
    description: str
    code: int

    @property
    def kind_name(self) -> str:
        try:
            return ErrorKind(self.kind).name
        except ValueError:
            return str(self.kind)


@dataclass(frozen=True, slots=True)
class Command:
    """A controller command as a device reads it."""

    op: Op
    label: str  # e.g. "CMD_EXEC", "CMD_RUNTIME:CMD_EXEC", "CMD_POD_CTR_EXEC"
    body: Any  # the decoded body message, raw bytes for data, or None
    via_runtime: bool = False


@dataclass(frozen=True, slots=True)
class PortForwardTarget:
    pod_uid: str
    port: int
    network: str = "tcp"
    address: str = ""


@dataclass(frozen=True, slots=True)
class Flags:
    """How a version behaves, beyond its numbers."""

    runtime: bool
    """Pod targets (exec, logs, port-forward of a pod, pod list) go through CMD_RUNTIME."""
    stream_continue: bool
    """The agent opens a stream with an empty data frame, and aranya sends operator input
    (CMD_DATA_UPSTREAM) only after the device's first data frame."""
    port_forward_address: bool
    """``PortForwardCmd {pod_uid, network, address, port}`` instead of ``{pod_uid, port, protocol}``."""
    metrics_target: bool
    """``MetricsConfigCmd``/``MetricsCollectCmd`` carry a ``target`` (node or container)."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a simulated device reports about itself in ``NodeStatusMsg``."""

    os: str = "linux"
    os_image: str = "Debian GNU/Linux 12 (bookworm)"
    arch: str = "arm64"
    kernel_version: str = "6.1.0-18-arm64"
    boot_id: str = ""
    machine_id: str = ""
    system_uuid: str = ""
    runtime_name: str = "containerd"
    runtime_version: str = "1.7.2"
    cpu_count: int = 4
    memory_bytes: int = 4 * 1024**3
    storage_bytes: int = 32 * 1024**3
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PodInfo:
    uid: str
    containers: Mapping[str, str]  # name -> image id
    started_at: str = "2026-11-27T12:00:00Z"


class Kinds:
    """Kind numbers of one direction, as attributes by semantic name; None where the version has none."""

    def __init__(self, numbers: Mapping[str, int | None]) -> None:
        self.__dict__.update(numbers)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("kind numbers are read-only")

    def __getattr__(self, name: str) -> int | None:
        # Only reached for a name the version was not built with; it tells type checkers what the
        # attributes set in __init__ hold.
        raise AttributeError(f"no kind named {name}")

    def items(self) -> list[tuple[str, int | None]]:
        return list(self.__dict__.items())


CMD_KINDS = (
    "DATA_UPSTREAM", "SESSION_CLOSE", "REJECT", "NODE_INFO_GET", "EXEC", "ATTACH", "LOGS",
    "TTY_RESIZE", "PORT_FORWARD", "METRICS_CONFIG", "METRICS_COLLECT", "CRED_ENSURE", "POD_LIST",
    "RUNTIME",
)  # fmt: skip
MSG_KINDS = ("DATA", "STDERR", "DONE", "STATE", "ERROR", "NODE_STATUS", "POD_STATUS_LIST", "RUNTIME")
RT_KINDS = (
    "EXEC", "ATTACH", "LOGS", "TTY_RESIZE", "PORT_FORWARD", "POD_LIST", "POD_STATUS_LIST", "ERROR",
    "DONE", "METRICS_CONFIG", "METRICS_COLLECT",
)  # fmt: skip


_OPS: tuple[tuple[Op, str | None, str | None, str | None], ...] = (
    # op, semantic Cmd kind, semantic runtime packet kind, body
    (Op.DATA_UPSTREAM, "DATA_UPSTREAM", None, None),
    (Op.SESSION_CLOSE, "SESSION_CLOSE", None, "SessionCloseCmd"),
    (Op.REJECT, "REJECT", None, "RejectCmd"),
    (Op.NODE_INFO, "NODE_INFO_GET", None, "NodeInfoGetCmd"),
    (Op.EXEC, "EXEC", "EXEC", "ExecOrAttachCmd"),
    (Op.ATTACH, "ATTACH", "ATTACH", "ExecOrAttachCmd"),
    (Op.LOGS, "LOGS", "LOGS", "LogsCmd"),
    (Op.TTY_RESIZE, "TTY_RESIZE", "TTY_RESIZE", "TerminalResizeCmd"),
    (Op.PORT_FORWARD, "PORT_FORWARD", "PORT_FORWARD", "PortForwardCmd"),
    (Op.METRICS_CONFIG, "METRICS_CONFIG", "METRICS_CONFIG", "MetricsConfigCmd"),
    (Op.METRICS_COLLECT, "METRICS_COLLECT", "METRICS_COLLECT", "MetricsCollectCmd"),
    (Op.POD_LIST, "POD_LIST", "POD_LIST", "PodListCmd"),
)
"""What each op is called, directly and inside a runtime packet, and which body it carries."""


class Protocol:
    """One version of aranya's device protocol. Build through ``aranya_perf.protocol.get(name)``."""

    def __init__(
        self,
        *,
        name: str,
        source: str,
        service: str,
        pb: ModuleType,
        rt: ModuleType | None,
        envelope: Envelope,
        cmd_enum: Any,
        msg_enum: Any,
        cmd_kinds: Mapping[str, int | None],
        msg_kinds: Mapping[str, int | None],
        rt_kinds: Mapping[str, int | None],
        reject_reasons: Mapping[RejectReason, int],
        reject_enum: Any,
        bodies: Mapping[str, type[Message]],
        flags: Flags,
    ) -> None:
        self.name = name
        self.source = source
        self.service = service
        self.method = f"/{service}/Sync"
        self.flags = flags
        self._pb, self._rt = pb, rt
        self.envelope = envelope
        self.cmd_type, self.msg_type = envelope.cmd_type, envelope.msg_type
        self.new_cmd = envelope.new_cmd
        self.new_msg = envelope.new_msg
        self.unpack = envelope.unpack
        self.cmd = Kinds(cmd_kinds)
        self.msg = Kinds(msg_kinds)
        self.rt = Kinds(rt_kinds)
        self._cmd_enum, self._msg_enum, self._reject_enum = cmd_enum, msg_enum, reject_enum
        self._reject_reasons = dict(reject_reasons)
        self._reject_by_number = {v: k for k, v in reject_reasons.items()}
        self._bodies = dict(bodies)
        self.max_payload = MAX_GRPC_MESSAGE - envelope.empty_frame_bytes()
        """aranya's chunk size: data larger than this travels in several frames."""
        m = self.msg
        # Where a version has no body type of that name (a collect without body), the payload is raw.
        self._cmd_ops: dict[int, tuple[Op, str | None]] = {}
        self._rt_ops: dict[int, tuple[Op, str | None]] = {}
        for op, cmd_kind, rt_kind, body in _OPS:
            body_name = body if body in self._bodies else None
            for kinds, table, key in ((self.cmd, self._cmd_ops, cmd_kind), (self.rt, self._rt_ops, rt_kind)):
                number = getattr(kinds, key) if key is not None else None
                if number is not None:
                    table[number] = (op, body_name)
        self._cmd_by_op = {op: kind for kind, (op, _) in self._cmd_ops.items()}
        self._rt_by_op = {op: kind for kind, (op, _) in self._rt_ops.items()}
        replies = {
            m.DATA: Reply.DATA,
            m.STDERR: Reply.STDERR,
            m.DONE: Reply.DONE,
            m.ERROR: Reply.ERROR,
            m.STATE: Reply.STATE,
            m.NODE_STATUS: Reply.NODE_STATUS,
            m.POD_STATUS_LIST: Reply.POD_STATUS_LIST,
        }
        replies.pop(None, None)
        self.replies: dict[int, Reply] = replies  # type: ignore[assignment]
        """Msg kind -> meaning, for every kind but MSG_RUNTIME (see ``read_reply``)."""
        self.data_kinds = frozenset(k for k in (m.DATA, m.STDERR) if k is not None)
        self._labels: dict[tuple[str, int], str] = {}

    def __repr__(self) -> str:
        return f"<Protocol {self.name}>"

    # -- names -------------------------------------------------------------------------------

    def cmd_name(self, kind: int) -> str:
        """The version's own name of a Cmd kind (the first alias), or the number if unknown."""
        return self._name("c", self._cmd_enum, kind)

    def msg_name(self, kind: int) -> str:
        """The version's own name of a Msg kind (the first alias), or the number if unknown."""
        return self._name("m", self._msg_enum, kind)

    def rt_name(self, kind: int) -> str:
        if self._rt is None:
            return str(kind)
        return self._name("r", self._rt.PacketType, kind)

    def _name(self, space: str, enum_type: Any, kind: int) -> str:
        key = (space, kind)
        name = self._labels.get(key)
        if name is None:
            try:
                name = enum_type.Name(kind)
            except ValueError:
                name = str(kind)
            self._labels[key] = name
        return name

    def enum_values(self, which: str) -> dict[str, int]:
        """Every name -> number of one of the version's enums: ``cmd``, ``msg``, ``reject`` or ``runtime``
        (aliases included), as the version table in docs/protocol.md lists them."""
        enum_type = {"cmd": self._cmd_enum, "msg": self._msg_enum, "reject": self._reject_enum}.get(which)
        if which == "runtime":
            enum_type = self._rt.PacketType if self._rt is not None else None
            if enum_type is None:
                return {}
        if enum_type is None:
            raise ProtocolError(f"no enum {which!r}; known: cmd, msg, reject, runtime")
        return {v.name: v.number for v in enum_type.DESCRIPTOR.values}

    def command_label(self, kind: int, rt_kind: int | None = None) -> str:
        """How reports and metrics name a command: ``CMD_EXEC``, or ``CMD_RUNTIME:CMD_EXEC`` when routed."""
        if rt_kind is None:
            return self.cmd_name(kind)
        return f"{self.cmd_name(kind)}:{self.rt_name(rt_kind)}"

    def reject_name(self, reason: int) -> str:
        return self._name("x", self._reject_enum, reason)

    def reject_reason(self, number: int) -> RejectReason | None:
        return self._reject_by_number.get(number)

    def reject_number(self, reason: RejectReason) -> int:
        return self._reject_reasons[reason]

    # -- bodies ------------------------------------------------------------------------------

    def body_type(self, name: str) -> type[Message]:
        """A body message class by its semantic name (e.g. ``ExecOrAttachCmd``, also in 2020-09)."""
        try:
            return self._bodies[name]
        except KeyError:
            raise ProtocolError(f"{self.name} has no {name} body") from None

    def decode(self, name: str, payload: bytes, what: str = "") -> Any:
        body_type = self.body_type(name)
        try:
            return body_type.FromString(payload)
        except DecodeError as exc:
            where = f"{what}: " if what else ""
            raise BodyDecodeError(
                f"{where}payload is not a valid {self.name} {body_type.DESCRIPTOR.name}: {exc}"
            ) from None

    def online(self, device_id: str) -> Any:
        """The device's first Msg: ``MSG_STATE {STATE_ONLINE, device_id}`` on sid 0."""
        body = self._bodies["StateMsg"](kind=1, device_id=device_id)
        return self.new_msg(self.msg.STATE, 0, body, 0, True)

    def offline(self, device_id: str) -> Any:
        body = self._bodies["StateMsg"](kind=2, device_id=device_id)
        return self.new_msg(self.msg.STATE, 0, body, 0, True)

    def read_state(self, payload: bytes) -> tuple[str | None, str]:
        """``("online"|"offline"|None, device_id)``; raises ``BodyDecodeError`` for a broken StateMsg."""
        state = self.decode("StateMsg", payload, "MSG_STATE")
        return {1: "online", 2: "offline"}.get(state.kind), state.device_id

    def reject(self, reason: RejectReason, message: str) -> Any:
        """``CMD_REJECT`` on sid 0, seq 0, complete (as aranya sends it)."""
        body = self._bodies["RejectCmd"](reason=self._reject_reasons[reason], message=message)
        return self.new_cmd(self.cmd.REJECT, 0, body, 0, True)

    def read_reject(self, payload: bytes) -> tuple[str, str]:
        """``(reason name, message)`` of a CMD_REJECT payload."""
        body = self.decode("RejectCmd", payload, "CMD_REJECT")
        return self.reject_name(body.reason), body.message

    def error_body(self, kind: int, description: str, code: int = 0) -> bytes:
        return self._bodies["ErrorMsg"](kind=kind, description=description, code=code).SerializeToString()

    def read_error(self, payload: bytes) -> DeviceError:
        body = self.decode("ErrorMsg", payload, "MSG_ERROR")
        return DeviceError(body.kind, body.description, body.code)

    def session_close_body(self, sid: int) -> bytes:
        return self._bodies["SessionCloseCmd"](sid=sid).SerializeToString()

    def node_info_get_body(self, all_info: bool) -> bytes:
        return self._bodies["NodeInfoGetCmd"](kind=1 if all_info else 0).SerializeToString()

    def exec_body(
        self,
        pod_uid: str,
        container: str,
        command: Sequence[str],
        envs: Mapping[str, str] | None = None,
        *,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        tty: bool = False,
    ) -> bytes:
        return self._bodies["ExecOrAttachCmd"](
            pod_uid=pod_uid,
            container=container,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            tty=tty,
            command=list(command),
            envs=dict(envs or {}),
        ).SerializeToString()

    def logs_body(
        self, pod_uid: str, container: str, *, tail_lines: int = -1, follow: bool = False, since: str = ""
    ) -> bytes:
        # aranya sends -1 for "no limit" in tail_lines and bytes_limit.
        return self._bodies["LogsCmd"](
            pod_uid=pod_uid,
            container=container,
            follow=follow,
            since=since,
            tail_lines=tail_lines,
            bytes_limit=-1,
        ).SerializeToString()

    def port_forward_body(self, target: PortForwardTarget) -> bytes:
        make = self._bodies["PortForwardCmd"]
        if self.flags.port_forward_address:
            body = make(
                pod_uid=target.pod_uid, network=target.network, address=target.address, port=target.port
            )
        else:
            body = make(pod_uid=target.pod_uid, port=target.port, protocol=target.network)
        return body.SerializeToString()

    def read_port_forward(self, body: Any) -> PortForwardTarget:
        if self.flags.port_forward_address:
            return PortForwardTarget(body.pod_uid, body.port, body.network, body.address)
        return PortForwardTarget(body.pod_uid, body.port, body.protocol or "tcp")

    def metrics_config_body(self, collect: Iterable[str] = (), extra_args: Iterable[str] = ()) -> bytes:
        return self._bodies["MetricsConfigCmd"](
            collect=list(collect), extra_args=list(extra_args)
        ).SerializeToString()

    def metrics_collect_body(self) -> bytes:
        # Node metrics: target 0 where the body has a target, so the payload is empty in every version.
        return b""

    def pod_list_body(self) -> bytes:
        return self._bodies["PodListCmd"](all=True).SerializeToString()

    # -- commands as the controller sends them ------------------------------------------------

    def via_runtime(self, pod_uid: str) -> bool:
        """aranya (v0.2 on) routes exec, logs and port-forward of a pod through CMD_RUNTIME; the host
        target (no pod uid) uses the direct commands."""
        return self.flags.runtime and bool(pod_uid)

    def command(self, op: Op, payload: bytes, *, runtime: bool = False) -> tuple[int, bytes, str]:
        """``(Cmd kind, payload, label)`` for ``op``, wrapped in a runtime packet when ``runtime``."""
        if runtime:
            rt_kind = self._rt_kind(op)
            packet = self._rt.Packet(kind=rt_kind, payload=payload).SerializeToString()  # type: ignore[union-attr]
            return self.cmd.RUNTIME, packet, self.command_label(self.cmd.RUNTIME, rt_kind)  # type: ignore[arg-type]
        kind = self._cmd_kind(op)
        return kind, payload, self.cmd_name(kind)

    def pod_list_command(self) -> tuple[int, bytes, str]:
        return self.command(Op.POD_LIST, self.pod_list_body(), runtime=self.flags.runtime)

    def _cmd_kind(self, op: Op) -> int:
        kind = self._cmd_by_op.get(op)
        if kind is None:
            raise ProtocolError(f"{self.name} has no direct command for {op.value}")
        return kind

    def _rt_kind(self, op: Op) -> int:
        kind = self._rt_by_op.get(op)
        if kind is None:
            raise ProtocolError(f"{self.name} has no runtime packet for {op.value}")
        return kind

    # -- commands as the device reads them -----------------------------------------------------

    def read_command(self, kind: int, payload: bytes) -> Command:
        """What a Cmd asks; raises ``BodyDecodeError`` when its body does not parse."""
        entry = self._cmd_ops.get(kind)
        if entry is None:
            if kind == self.cmd.RUNTIME and self._rt is not None:
                return self._read_runtime_command(kind, payload)
            return Command(Op.UNSUPPORTED, self.cmd_name(kind), payload)
        op, body_name = entry
        if body_name is None:
            return Command(op, self.cmd_name(kind), payload)
        return Command(op, self.cmd_name(kind), self.decode(body_name, payload, self.cmd_name(kind)))

    def _read_runtime_command(self, kind: int, payload: bytes) -> Command:
        assert self._rt is not None
        try:
            packet = self._rt.Packet.FromString(payload)
        except DecodeError as exc:
            raise BodyDecodeError(
                f"CMD_RUNTIME: payload is not a valid {self.name} runtime Packet: {exc}"
            ) from None
        label = self.command_label(kind, packet.kind)
        entry = self._rt_ops.get(packet.kind)
        if entry is None:
            return Command(Op.UNSUPPORTED, label, packet.payload, via_runtime=True)
        op, body_name = entry
        body = packet.payload if body_name is None else self.decode(body_name, packet.payload, label)
        return Command(op, label, body, via_runtime=True)

    # -- device answers -------------------------------------------------------------------------

    def runtime_reply(self, rt_kind: int, body: bytes) -> bytes:
        """A MSG_RUNTIME payload: ``runtime.Packet {kind, payload}``."""
        assert self._rt is not None, f"{self.name} has no runtime"
        return self._rt.Packet(kind=rt_kind, payload=body).SerializeToString()

    def result(self, reply: Reply, body: bytes, *, runtime: bool) -> tuple[int, bytes]:
        """``(Msg kind, payload)`` of a structured answer (error, done, pod status list); a command that
        came through CMD_RUNTIME is answered inside a MSG_RUNTIME packet, as the agent's runtime does."""
        if runtime:
            rt_kind = {
                Reply.ERROR: self.rt.ERROR,
                Reply.DONE: self.rt.DONE,
                Reply.POD_STATUS_LIST: self.rt.POD_STATUS_LIST,
            }[reply]
            if rt_kind is not None:
                return self.msg.RUNTIME, self.runtime_reply(rt_kind, body)  # type: ignore[return-value]
            if reply is Reply.POD_STATUS_LIST:
                raise ProtocolError(f"{self.name} has no runtime pod status list")
        kind = {
            Reply.ERROR: self.msg.ERROR,
            Reply.DONE: self.msg.DONE,
            Reply.POD_STATUS_LIST: self.msg.POD_STATUS_LIST,
        }[reply]
        if kind is None:
            raise ProtocolError(f"{self.name} has no {reply.value} message")
        return kind, body

    def read_reply(self, kind: int, payload: bytes) -> tuple[Reply, bytes]:
        """What a session's Msg means, with runtime packets unwrapped: ``(reply, payload)``.

        For ``Reply.ERROR`` the payload is an ``ErrorMsg`` (``read_error`` decodes it). A
        MSG_RUNTIME that does not parse reads as ``Reply.OTHER`` with its raw payload.
        """
        reply = self.replies.get(kind)
        if reply is not None:
            return reply, payload
        if kind == self.msg.RUNTIME and self._rt is not None:
            try:
                packet = self._rt.Packet.FromString(payload)
            except DecodeError:
                return Reply.OTHER, payload
            r = self.rt
            if packet.kind == r.ERROR:
                return Reply.ERROR, packet.payload
            if packet.kind == r.DONE:
                return Reply.DONE, packet.payload
            if packet.kind == r.POD_STATUS_LIST:
                return Reply.POD_STATUS_LIST, packet.payload
        return Reply.OTHER, payload

    def node_status_body(self, info: NodeInfo, *, full: bool) -> bytes:
        """``NodeStatusMsg``: capacity and conditions always; system info and ext info when ``full``
        (NODE_INFO_ALL), as the arhat agent answers NODE_INFO_DYN without them."""
        b = self._bodies
        healthy = 1
        msg = b["NodeStatusMsg"](
            capacity=b["NodeResources"](
                cpu_count=info.cpu_count, memory_bytes=info.memory_bytes, storage_bytes=info.storage_bytes
            ),
            conditions=b["NodeConditions"](
                ready=healthy, memory=healthy, disk=healthy, pid=healthy, network=healthy, pod=healthy
            ),
        )
        if full:
            sysinfo = msg.system_info
            sysinfo.os, sysinfo.os_image, sysinfo.arch = info.os, info.os_image, info.arch
            sysinfo.kernel_version, sysinfo.boot_id = info.kernel_version, info.boot_id
            sysinfo.machine_id, sysinfo.system_uuid = info.machine_id, info.system_uuid
            if "NodeContainerRuntimeInfo" in b:  # 2020-09 and v0.1 report the container runtime here
                sysinfo.runtime_info.name = info.runtime_name
                sysinfo.runtime_info.version = info.runtime_version
            ext = b["NodeExtInfo"]
            for target, values in ((1, info.labels), (0, info.annotations)):
                for key, value in values.items():
                    msg.ext_info.append(ext(value=value, target=target, target_key=key))
        return msg.SerializeToString()

    def read_node_status(self, payload: bytes) -> Any:
        return self.decode("NodeStatusMsg", payload, "MSG_NODE_STATUS")

    def pod_status_list_body(self, pods: Iterable[PodInfo]) -> bytes:
        b = self._bodies
        out = b["PodStatusListMsg"]()
        for pod in pods:
            status = out.pods.add(uid=pod.uid)
            # 2020-09 names the map container_statuses (field 2); later versions containers (field 3).
            containers = (
                status.container_statuses if hasattr(status, "container_statuses") else status.containers
            )
            for i, (name, image) in enumerate(sorted(pod.containers.items())):
                c = containers[name]
                c.container_id = f"containerd://{pod.uid[:8]}{i:04d}"
                c.image_id = image
                c.started_at = pod.started_at
        return out.SerializeToString()

    def read_pod_status_list(self, payload: bytes) -> Any:
        return self.decode("PodStatusListMsg", payload, "pod status list")
