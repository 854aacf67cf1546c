"""The four protocol versions the suite speaks, built from their generated modules.

Each entry says where its numbers come from. The differences that matter on the wire:

- ``aranya-2020-09``: ``Cmd/Msg {header=1 Header{kind, sid, seq, completed}, body=11}``, one
  ``Kind`` enum for both directions, ``RejectCmd.Reason`` nested, service ``aranya.Connectivity``.
- ``aranya-v0.1``: flat ``{kind=1, sid=2, seq=3, completed=4, body=11}``, separate ``CmdType`` and
  ``MsgType``, top-level ``RejectionReason``, service ``aranya.EdgeDevice``.
- ``aranya-v0.2``: as v0.1 (field 11 named payload); ``CMD_RUNTIME``/``MSG_RUNTIME`` carry
  ``runtime.Packet`` for pods, images and containers; storage and peripheral kinds renumbered.
- ``aranya-v0.3``: as v0.2 (field 4 named complete); new ``PortForwardCmd`` and
  ``MetricsConfigCmd`` bodies; the agent opens streams with an empty data frame.
"""

from __future__ import annotations

from types import ModuleType

from aranya_perf.protocol.envelope import FlatEnvelope, HeaderEnvelope
from aranya_perf.protocol.model import (
    CMD_KINDS,
    MSG_KINDS,
    RT_KINDS,
    Flags,
    Protocol,
    RejectReason,
)
from aranya_perf.protocol.proto.aranya_2020_09 import aranya_pb2 as pb_2020_09
from aranya_perf.protocol.proto.aranya_v0_1 import aranya_pb2 as pb_v0_1
from aranya_perf.protocol.proto.aranya_v0_2 import aranya_pb2 as pb_v0_2
from aranya_perf.protocol.proto.aranya_v0_2 import runtime_pb2 as rt_v0_2
from aranya_perf.protocol.proto.aranya_v0_3 import aranya_pb2 as pb_v0_3
from aranya_perf.protocol.proto.aranya_v0_3 import runtime_pb2 as rt_v0_3

_BODY_NAMES = (
    "StateMsg", "ErrorMsg", "RejectCmd", "SessionCloseCmd", "NodeInfoGetCmd", "ExecOrAttachCmd",
    "LogsCmd", "TerminalResizeCmd", "PortForwardCmd", "MetricsConfigCmd", "MetricsCollectCmd",
    "PodListCmd", "PodStatusListMsg", "NodeStatusMsg", "NodeResources", "NodeConditions",
    "NodeExtInfo", "NodeContainerRuntimeInfo",
)  # fmt: skip
_RENAMED_2020_09 = {
    "ExecOrAttachCmd": "ContainerExecOrAttachCmd",
    "LogsCmd": "ContainerLogsCmd",
    "PortForwardCmd": "PodPortForwardCmd",
    "TerminalResizeCmd": "ContainerTerminalResizeCmd",
}


def _bodies(pb: ModuleType, rt: ModuleType | None, renamed: dict[str, str] | None = None) -> dict:
    out = {}
    for name in _BODY_NAMES:
        real = (renamed or {}).get(name, name)
        for module in (pb, rt):
            if module is not None and hasattr(module, real):
                out[name] = getattr(module, real)
                break
    return out


def _kinds(names: tuple[str, ...], enum_values: dict[str, str | None], module: ModuleType | None) -> dict:
    """Semantic name -> number, from the version's own enum names (None: the version has no such kind)."""
    out: dict[str, int | None] = {}
    for name in names:
        real = enum_values.get(name, name)
        out[name] = getattr(module, real) if real is not None and module is not None else None
    return out


def _v0_reasons(pb: ModuleType) -> dict[RejectReason, int]:
    return {
        RejectReason.INVALID_PROTO: pb.REJECTION_INVALID_PROTO,
        RejectReason.ALREADY_CONNECTED: pb.REJECTION_ALREADY_CONNECTED,
        RejectReason.NODE_CHECK_FAILURE: pb.REJECTION_INITIAL_CHECK_FAILURE,
        RejectReason.POD_CHECK_FAILURE: pb.REJECTION_INITIAL_CHECK_FAILURE,
        RejectReason.INTERNAL_SERVER_ERROR: pb.REJECTION_INTERNAL_SERVER_ERROR,
    }


def _cmd_names(**overrides: str | None) -> dict[str, str | None]:
    base: dict[str, str | None] = {k: f"CMD_{k}" for k in CMD_KINDS}
    base.update(overrides)
    return base


def _msg_names(**overrides: str | None) -> dict[str, str | None]:
    base: dict[str, str | None] = {k: f"MSG_{k}" for k in MSG_KINDS}
    base.update(DATA="MSG_DATA", STDERR="MSG_DATA_STDERR")
    base.update(overrides)
    return base


def _rt_names(**overrides: str | None) -> dict[str, str | None]:
    base: dict[str, str | None] = {k: f"CMD_{k}" for k in RT_KINDS}
    base.update(POD_STATUS_LIST="MSG_POD_STATUS_LIST", ERROR="MSG_ERROR", DONE="MSG_DONE")
    base.update(overrides)
    return base


def _released(
    name: str,
    source: str,
    pb: ModuleType,
    rt_module: ModuleType | None,
    fields: tuple[str, str],
    *,
    missing_cmd: dict[str, str | None],
    missing_msg: dict[str, str | None],
    missing_rt: dict[str, str | None],
    flags: Flags,
) -> Protocol:
    """A tagged aranya-proto release (v0.1 on): the flat envelope, ``CmdType``/``MsgType``, top-level
    ``RejectionReason``; ``fields`` names envelope fields 4 and 11, ``missing_*`` the kinds it lacks."""
    return Protocol(
        name=name,
        source=source,
        service="aranya.EdgeDevice",
        pb=pb,
        rt=rt_module,
        envelope=FlatEnvelope(pb.Cmd, pb.Msg, *fields),
        cmd_enum=pb.CmdType,
        msg_enum=pb.MsgType,
        cmd_kinds=_kinds(CMD_KINDS, _cmd_names(**missing_cmd), pb),
        msg_kinds=_kinds(MSG_KINDS, _msg_names(**missing_msg), pb),
        rt_kinds=_kinds(RT_KINDS, _rt_names(**missing_rt), rt_module),
        reject_reasons=_v0_reasons(pb),
        reject_enum=pb.RejectionReason,
        bodies=_bodies(pb, rt_module),
        flags=flags,
    )


def build() -> dict[str, Protocol]:
    pb = pb_2020_09
    aranya_2020_09 = Protocol(
        name="aranya-2020-09",
        source="aranya commits of 19-23 Sep 2020 (aranya-proto 7097a70, never tagged)",
        service="aranya.Connectivity",
        pb=pb,
        rt=None,
        envelope=HeaderEnvelope(pb.Cmd, pb.Msg),
        cmd_enum=pb.Kind,
        msg_enum=pb.Kind,
        cmd_kinds=_kinds(
            CMD_KINDS,
            _cmd_names(
                EXEC="CMD_POD_CTR_EXEC",
                ATTACH="CMD_POD_CTR_ATTACH",
                LOGS="CMD_POD_CTR_LOGS",
                TTY_RESIZE="CMD_POD_CTR_TTY_RESIZE",
                PORT_FORWARD="CMD_POD_PORT_FORWARD",
                RUNTIME=None,
            ),
            pb,
        ),
        msg_kinds=_kinds(
            MSG_KINDS,
            _msg_names(DATA="MSG_DATA_DEFAULT", POD_STATUS_LIST="MSG_POD_STATUS_LIST", RUNTIME=None),
            pb,
        ),
        rt_kinds=dict.fromkeys(RT_KINDS),
        reject_reasons={
            RejectReason.INVALID_PROTO: pb.RejectCmd.REJECTION_INVALID_PROTO,
            RejectReason.ALREADY_CONNECTED: pb.RejectCmd.REJECTION_ALREADY_CONNECTED,
            RejectReason.NODE_CHECK_FAILURE: pb.RejectCmd.REJECTION_NODE_STATUS_SYNC_ERROR,
            RejectReason.POD_CHECK_FAILURE: pb.RejectCmd.REJECTION_POD_STATUS_SYNC_ERROR,
            RejectReason.INTERNAL_SERVER_ERROR: pb.RejectCmd.REJECTION_INTERNAL_SERVER_ERROR,
        },
        reject_enum=pb.RejectCmd.Reason,
        bodies=_bodies(pb, None, _RENAMED_2020_09),
        flags=Flags(runtime=False, stream_continue=False, port_forward_address=False, metrics_target=True),
    )

    aranya_v0_1 = _released(
        "aranya-v0.1",
        "aranya-proto v0.1.4 (October 2020); aranya from 29 Sep 2020 to early November 2020",
        pb_v0_1,
        None,
        ("completed", "body"),
        missing_cmd={"RUNTIME": None},
        missing_msg={"RUNTIME": None},
        missing_rt={},
        flags=Flags(runtime=False, stream_continue=False, port_forward_address=False, metrics_target=True),
    )
    aranya_v0_2 = _released(
        "aranya-v0.2",
        "aranya-proto v0.2.6 (November 2020); aranya in November 2020",
        pb_v0_2,
        rt_v0_2,
        ("completed", "payload"),
        missing_cmd={"POD_LIST": None},
        missing_msg={"POD_STATUS_LIST": None},
        missing_rt={"DONE": None, "METRICS_CONFIG": None, "METRICS_COLLECT": None},
        flags=Flags(runtime=True, stream_continue=False, port_forward_address=False, metrics_target=True),
    )
    aranya_v0_3 = _released(
        "aranya-v0.3",
        "aranya-proto v0.3.5 (v0.3.x from December 2020); aranya from December 2020 to July 2021",
        pb_v0_3,
        rt_v0_3,
        ("complete", "payload"),
        missing_cmd={"POD_LIST": None},
        missing_msg={"POD_STATUS_LIST": None},
        missing_rt={},
        flags=Flags(runtime=True, stream_continue=True, port_forward_address=True, metrics_target=False),
    )
    return {p.name: p for p in (aranya_v0_3, aranya_v0_2, aranya_v0_1, aranya_2020_09)}
