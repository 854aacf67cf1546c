"""The protocol seam: every version's kind numbers, service, envelope, routing and errors.

The enum tables below are the version table of docs/protocol.md, checked value by value
against each version's generated module (the vectors in test_conformance.py cover the
kinds the suite sends and answers byte for byte; this covers the rest of each enum).
"""

from __future__ import annotations

import pytest

from aranya_perf import protocol
from aranya_perf.protocol import Op, ProtocolError, RejectReason, Reply

V0_CMD = {
    "CMD_DATA_UPSTREAM": 0,
    "CMD_SESSION_CLOSE": 5,
    "CMD_REJECT": 6,
    "CMD_NODE_INFO_GET": 11,
    "CMD_EXEC": 12,
    "CMD_ATTACH": 13,
    "CMD_LOGS": 14,
    "CMD_TTY_RESIZE": 15,
    "CMD_PORT_FORWARD": 16,
    "CMD_METRICS_CONFIG": 21,
    "CMD_METRICS_COLLECT": 22,
    "CMD_CRED_ENSURE": 31,
}
V0_MSG = {
    "MSG_DATA": 0,
    "MSG_DATA_STDERR": 1,
    "MSG_DONE": 5,
    "MSG_STATE": 6,
    "MSG_ERROR": 7,
    "MSG_NODE_STATUS": 11,
    "MSG_CRED_STATUS": 31,
}
V0_2_CMD = {
    **V0_CMD,
    "CMD_NET": 9,
    "CMD_RUNTIME": 10,
    "CMD_STORAGE_LIST": 41,
    "CMD_STORAGE_ENSURE": 42,
    "CMD_STORAGE_DELETE": 43,
    "CMD_PERIPHERAL_LIST": 51,
    "CMD_PERIPHERAL_ENSURE": 52,
    "CMD_PERIPHERAL_DELETE": 53,
    "CMD_PERIPHERAL_OPERATE": 54,
    "CMD_PERIPHERAL_COLLECT_METRICS": 55,
}
V0_2_MSG = {
    **V0_MSG,
    "MSG_NET": 9,
    "MSG_RUNTIME": 10,
    "MSG_STORAGE_STATUS": 41,
    "MSG_STORAGE_STATUS_LIST": 42,
    "MSG_PERIPHERAL_STATUS": 51,
    "MSG_PERIPHERAL_STATUS_LIST": 52,
    "MSG_PERIPHERAL_OPERATION_RESULT": 53,
}
TABLE = {
    "aranya-2020-09": {
        "cmd": {
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
            "CMD_IMAGE_LIST": 41,
            "CMD_STORAGE_LIST": 51,
            "CMD_POD_LIST": 61,
            "CMD_POD_ENSURE": 62,
            "CMD_POD_DELETE": 63,
            "CMD_DEVICE_LIST": 71,
            "CMD_DEVICE_DELETE": 73,
            "CMD_CTR_NET_LIST": 81,
            "CMD_NET_LIST": 91,
            "CMD_NET_DELETE": 93,
        },
        "msg": {
            "MSG_DATA_DEFAULT": 1,
            "MSG_DATA_STDOUT": 1,
            "MSG_DATA_METRICS": 1,
            "MSG_DATA_STDERR": 2,
            "MSG_DONE": 100,
            "MSG_STATE": 101,
            "MSG_ERROR": 102,
            "MSG_NODE_STATUS": 111,
            "MSG_CRED_STATUS": 131,
            "MSG_IMAGE_STATUS": 141,
            "MSG_STORAGE_STATUS_LIST": 152,
            "MSG_POD_STATUS": 161,
            "MSG_POD_STATUS_LIST": 162,
            "MSG_DEVICE_STATUS": 171,
            "MSG_CTR_NET_STATUS": 181,
            "MSG_NET_STATUS": 191,
        },
        "reject": {
            "REJECTION_ALREADY_CONNECTED": 1,
            "REJECTION_POD_STATUS_SYNC_ERROR": 2,
            "REJECTION_NODE_STATUS_SYNC_ERROR": 3,
            "REJECTION_NETWORK_UPDATE_FAILURE": 4,
            "REJECTION_CREDENTIAL_FAILURE": 5,
            "REJECTION_INTERNAL_SERVER_ERROR": 6,
            "REJECTION_INVALID_PROTO": 7,
        },
    },
    "aranya-v0.1": {
        "cmd": {
            **V0_CMD,
            "CMD_NET": 10,
            "CMD_IMAGE_LIST": 41,
            "CMD_IMAGE_ENSURE": 42,
            "CMD_IMAGE_DELETE": 43,
            "CMD_STORAGE_LIST": 51,
            "CMD_STORAGE_DELETE": 53,
            "CMD_POD_LIST": 61,
            "CMD_POD_ENSURE": 62,
            "CMD_POD_DELETE": 63,
            "CMD_PERIPHERAL_LIST": 71,
            "CMD_PERIPHERAL_COLLECT_METRICS": 75,
        },
        "msg": {
            **V0_MSG,
            "MSG_DATA_DEFAULT": 0,
            "MSG_DATA_STDOUT": 0,
            "MSG_DATA_METRICS": 0,
            "MSG_NET": 10,
            "MSG_IMAGE_STATUS": 41,
            "MSG_IMAGE_STATUS_LIST": 42,
            "MSG_STORAGE_STATUS": 51,
            "MSG_STORAGE_STATUS_LIST": 52,
            "MSG_POD_STATUS": 61,
            "MSG_POD_STATUS_LIST": 62,
            "MSG_PERIPHERAL_STATUS": 71,
            "MSG_PERIPHERAL_STATUS_LIST": 72,
            "MSG_PERIPHERAL_OPERATION_RESULT": 73,
        },
    },
    "aranya-v0.2": {"cmd": V0_2_CMD, "msg": V0_2_MSG},
    "aranya-v0.3": {"cmd": V0_2_CMD, "msg": {**V0_2_MSG, "MSG_STREAM_CONTINUE": 0}},
}
V0_REJECT = {
    "REJECTION_INVALID_PROTO": 1,
    "REJECTION_ALREADY_CONNECTED": 2,
    "REJECTION_INITIAL_CHECK_FAILURE": 3,
    "REJECTION_INTERNAL_SERVER_ERROR": 4,
}
RUNTIME = {
    "CMD_GET_INFO": 1,
    "CMD_EXEC": 2,
    "CMD_ATTACH": 3,
    "CMD_LOGS": 4,
    "CMD_TTY_RESIZE": 5,
    "CMD_PORT_FORWARD": 6,
    "MSG_RUNTIME_INFO": 9,
    "MSG_ERROR": 10,
    "CMD_IMAGE_LIST": 11,
    "CMD_IMAGE_DELETE": 13,
    "MSG_IMAGE_STATUS": 21,
    "CMD_POD_LIST": 31,
    "CMD_POD_ENSURE": 32,
    "CMD_POD_DELETE": 33,
    "MSG_POD_STATUS": 41,
    "MSG_POD_STATUS_LIST": 42,
}


@pytest.mark.parametrize("name", protocol.NAMES)
def test_enum_values_match_the_version_table(name: str) -> None:
    p = protocol.get(name)
    table = TABLE[name]
    cmd, msg, reject = p.enum_values("cmd"), p.enum_values("msg"), p.enum_values("reject")
    assert {k: cmd[k] for k in table["cmd"]} == table["cmd"]
    assert {k: msg[k] for k in table["msg"]} == table["msg"]
    assert {k: v for k, v in reject.items() if not k.startswith("_")} == table.get("reject", V0_REJECT)
    if p.flags.runtime:
        packets = {
            **RUNTIME,
            **(
                {"MSG_DONE": 8, "CMD_METRICS_CONFIG": 51, "CMD_METRICS_COLLECT": 52}
                if name == "aranya-v0.3"
                else {}
            ),
        }
        runtime = p.enum_values("runtime")
        assert {k: runtime[k] for k in packets} == packets
        if name == "aranya-v0.2":
            assert "MSG_DONE" not in runtime
    else:
        assert p.enum_values("runtime") == {}


def test_versions_and_their_services() -> None:
    assert protocol.NAMES == ("aranya-v0.3", "aranya-v0.2", "aranya-v0.1", "aranya-2020-09")
    assert protocol.DEFAULT == "aranya-v0.3"
    methods = {n: protocol.get(n).method for n in protocol.NAMES}
    assert methods == {
        "aranya-v0.3": "/aranya.EdgeDevice/Sync",
        "aranya-v0.2": "/aranya.EdgeDevice/Sync",
        "aranya-v0.1": "/aranya.EdgeDevice/Sync",
        "aranya-2020-09": "/aranya.Connectivity/Sync",
    }
    assert [p.name for p in protocol.by_service("aranya.Connectivity")] == ["aranya-2020-09"]


def test_unknown_version_is_a_one_line_error_naming_the_known_ones() -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.get("aranya-v9")
    assert "\n" not in str(info.value) and all(n in str(info.value) for n in protocol.NAMES)


@pytest.mark.parametrize("name", protocol.NAMES)
def test_envelope_field_names_and_numbers(name: str) -> None:
    p = protocol.get(name)
    fields = {f.name: f.number for f in p.cmd_type.DESCRIPTOR.fields}
    assert {f.name: f.number for f in p.msg_type.DESCRIPTOR.fields} == fields
    expected = {
        "aranya-2020-09": {"header": 1, "body": 11},
        "aranya-v0.1": {"kind": 1, "sid": 2, "seq": 3, "completed": 4, "body": 11},
        "aranya-v0.2": {"kind": 1, "sid": 2, "seq": 3, "completed": 4, "payload": 11},
        "aranya-v0.3": {"kind": 1, "sid": 2, "seq": 3, "complete": 4, "payload": 11},
    }[name]
    assert fields == expected
    # All four load side by side: each version has a proto package of its own.
    assert p.cmd_type.DESCRIPTOR.full_name.startswith("aranyaperf.")
    frame = p.new_cmd(p.cmd.EXEC, 2**64 - 1, b"x", 2**64 - 2, True)
    assert p.unpack(p.cmd_type.FromString(frame.SerializeToString())) == (
        p.cmd.EXEC,
        2**64 - 1,
        2**64 - 2,
        True,
        b"x",
    )


def test_all_zero_header_of_2020_09_is_still_on_the_wire() -> None:
    # aranya read frame.Header unconditionally, so an all-default header must still be sent.
    p = protocol.get("aranya-2020-09")
    assert p.new_cmd(0, 0).SerializeToString() == b"\x0a\x00"


@pytest.mark.parametrize("name", protocol.NAMES)
def test_chunk_size_is_64_kib_minus_an_empty_frame(name: str) -> None:
    p = protocol.get(name)
    empty = p.new_cmd(2**31 - 1, 2**64 - 1, b"", 2**64 - 1, True).ByteSize()
    assert p.max_payload == 64 * 1024 - empty
    assert 65_400 < p.max_payload < 65_536


@pytest.mark.parametrize(
    ("name", "pod_uid", "label"),
    [
        ("aranya-v0.3", "pod-1", "CMD_RUNTIME:CMD_EXEC"),
        ("aranya-v0.3", "", "CMD_EXEC"),
        ("aranya-v0.2", "pod-1", "CMD_RUNTIME:CMD_EXEC"),
        ("aranya-v0.1", "pod-1", "CMD_EXEC"),
        ("aranya-2020-09", "pod-1", "CMD_POD_CTR_EXEC"),
    ],
)
def test_pod_targets_go_through_the_runtime_from_v0_2(name: str, pod_uid: str, label: str) -> None:
    p = protocol.get(name)
    kind, payload, got = p.command(
        Op.EXEC, p.exec_body(pod_uid, "app", ["ls"]), runtime=p.via_runtime(pod_uid)
    )
    assert got == label
    command = p.read_command(kind, payload)
    assert command.op is Op.EXEC and command.label == label and list(command.body.command) == ["ls"]


def test_runtime_results_are_wrapped_and_unwrapped() -> None:
    p = protocol.get("aranya-v0.3")
    kind, payload = p.result(Reply.ERROR, p.error_body(3, "nope"), runtime=True)
    assert kind == p.msg.RUNTIME
    reply, body = p.read_reply(kind, payload)
    assert reply is Reply.ERROR and p.read_error(body).kind_name == "ERR_NOT_SUPPORTED"
    # v0.2's runtime has no MSG_DONE packet: a done goes out as a plain MSG_DONE.
    v02 = protocol.get("aranya-v0.2")
    assert v02.result(Reply.DONE, b"", runtime=True) == (v02.msg.DONE, b"")
    assert p.read_reply(p.msg.RUNTIME, b"\xff") == (Reply.OTHER, b"\xff")


def test_undecodable_bodies_are_one_line_errors() -> None:
    p = protocol.get("aranya-v0.3")
    with pytest.raises(protocol.BodyDecodeError) as info:
        p.read_command(p.cmd.EXEC, b"\x0a\x05ab")
    assert (
        "\n" not in str(info.value) and "CMD_EXEC" in str(info.value) and "ExecOrAttachCmd" in str(info.value)
    )
    with pytest.raises(protocol.BodyDecodeError):
        p.read_state(b"\xff")
    unknown = p.read_command(99, b"raw")
    assert unknown.op is Op.UNSUPPORTED and unknown.label == "99"


def test_reject_reasons_per_version() -> None:
    assert (
        protocol.get("aranya-2020-09").reject_name(
            protocol.get("aranya-2020-09").reject_number(RejectReason.NODE_CHECK_FAILURE)
        )
        == "REJECTION_NODE_STATUS_SYNC_ERROR"
    )
    v03 = protocol.get("aranya-v0.3")
    assert (
        v03.reject_name(v03.reject_number(RejectReason.POD_CHECK_FAILURE))
        == "REJECTION_INITIAL_CHECK_FAILURE"
    )


def test_kinds_are_read_only() -> None:
    p = protocol.get("aranya-v0.3")
    with pytest.raises(AttributeError):
        p.cmd.EXEC = 1  # type: ignore[misc]
    assert p.cmd.POD_LIST is None and p.msg.POD_STATUS_LIST is None and p.cmd.RUNTIME == 10


def test_mismatch_message_names_both_versions() -> None:
    assert protocol.mismatch("aranya-v0.1", "aranya-v0.3") == (
        "protocol mismatch: device speaks aranya-v0.1, gateway speaks aranya-v0.3"
    )
