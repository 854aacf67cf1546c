"""Writes the conformance vectors (``aranya_*.toml`` beside this file) from aranya's field numbers.

An encoder of its own, independent of the suite's .proto files and of protobuf: the field
numbers and kind values below were transcribed a second time from aranya-proto (v0.1.4,
v0.2.6, v0.3.5, and commit 7097a70 for the 2020-09 format), and the wire format is written
out by hand (varints, tags, length prefixes; proto3 omits zero scalars; map entries carry
key and value). ``tests/test_conformance.py`` checks that the suite's encoder produces these
bytes and its decoder reads them, and that this script still reproduces the files.

    python -m tests.conformance.make_vectors     # rewrite the vector files
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SID = 1764620000000000001  # aranya's sids start at the controller's clock in ns
DEVICE = "dev-1"

# -- the wire format -----------------------------------------------------------------------------


def varint(n: int) -> bytes:
    n &= 2**64 - 1  # negative int32/int64 go out as ten-byte two's complement
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def num(number: int, value: int) -> bytes:
    """A varint field (int, enum, bool); proto3 leaves out zero."""
    return tag(number, 0) + varint(int(value)) if value else b""


def blob(number: int, value: bytes | str) -> bytes:
    """A length-delimited field; proto3 leaves out empty strings and bytes."""
    data = value.encode() if isinstance(value, str) else value
    return tag(number, 2) + varint(len(data)) + data if data else b""


def sub(number: int, body: bytes) -> bytes:
    """A message field that is set (written even when empty)."""
    return tag(number, 2) + varint(len(body)) + body


def rep(number: int, values: Sequence[str]) -> bytes:
    return b"".join(tag(number, 2) + varint(len(v.encode())) + v.encode() for v in values)


def map_entry(number: int, key: str, value: bytes) -> bytes:
    """One map<string, X> entry: key = 1 and value = 2, both always written."""
    k = key.encode()
    return sub(number, tag(1, 2) + varint(len(k)) + k + tag(2, 2) + varint(len(value)) + value)


# -- what differs per version --------------------------------------------------------------------


@dataclass
class Version:
    name: str
    header: bool  # 2020-09: {header=1 {kind, sid, seq, completed}, body=11}
    cmd: dict[str, int]
    msg: dict[str, int]
    rt: dict[str, int] = field(default_factory=dict)  # runtime.Packet kinds (v0.2 on)
    reject: dict[str, int] = field(default_factory=dict)
    stream_continue: bool = False
    port_forward_address: bool = False  # v0.3: {pod_uid, network, address, port}
    metrics_target: bool = True  # up to v0.2: MetricsConfigCmd {target=1, collect=2, extra_args=3}
    pod_list_fields: tuple[int, ...] = (1,)  # where PodListCmd keeps `all`
    pod_map_field: int = 3  # PodStatusMsg: containers (2020-09: container_statuses = 2)
    sysinfo: dict[str, int] = field(default_factory=dict)  # NodeSystemInfo numbers past field 4

    @property
    def runtime(self) -> bool:
        return bool(self.rt)


V0_REJECT = {"INVALID_PROTO": 1, "ALREADY_CONNECTED": 2, "NODE_CHECK_FAILURE": 3, "INTERNAL_SERVER_ERROR": 4}
V0_CMD = {
    "DATA_UPSTREAM": 0,
    "SESSION_CLOSE": 5,
    "REJECT": 6,
    "NODE_INFO_GET": 11,
    "EXEC": 12,
    "LOGS": 14,
    "PORT_FORWARD": 16,
    "METRICS_CONFIG": 21,
    "METRICS_COLLECT": 22,
}
V0_MSG = {"DATA": 0, "STDERR": 1, "DONE": 5, "STATE": 6, "ERROR": 7, "NODE_STATUS": 11}
RT = {"EXEC": 2, "LOGS": 4, "PORT_FORWARD": 6, "ERROR": 10, "POD_LIST": 31, "POD_STATUS_LIST": 42}

VERSIONS = [
    Version(
        "aranya-2020-09",
        header=True,
        cmd={
            "DATA_UPSTREAM": 3,
            "REJECT": 10,
            "SESSION_CLOSE": 11,
            "EXEC": 12,
            "LOGS": 14,
            "PORT_FORWARD": 16,
            "NODE_INFO_GET": 17,
            "METRICS_CONFIG": 21,
            "METRICS_COLLECT": 22,
            "POD_LIST": 61,
        },
        msg={
            "DATA": 1,
            "STDERR": 2,
            "DONE": 100,
            "STATE": 101,
            "ERROR": 102,
            "NODE_STATUS": 111,
            "POD_STATUS_LIST": 162,
        },
        reject={
            "ALREADY_CONNECTED": 1,
            "NODE_CHECK_FAILURE": 3,
            "INTERNAL_SERVER_ERROR": 6,
            "INVALID_PROTO": 7,
        },
        pod_list_fields=(3,),
        pod_map_field=2,
        sysinfo={"boot_id": 11, "machine_id": 12, "system_uuid": 13, "runtime_info": 21},
    ),
    Version(
        "aranya-v0.1",
        header=False,
        cmd={**V0_CMD, "POD_LIST": 61},
        msg={**V0_MSG, "POD_STATUS_LIST": 62},
        reject=V0_REJECT,
        sysinfo={"boot_id": 5, "machine_id": 6, "system_uuid": 7, "runtime_info": 11},
    ),
    Version(
        "aranya-v0.2",
        header=False,
        cmd={**V0_CMD, "RUNTIME": 10},
        msg={**V0_MSG, "RUNTIME": 10},
        rt=RT,
        reject=V0_REJECT,
        sysinfo={"boot_id": 5, "machine_id": 6, "system_uuid": 7},
    ),
    Version(
        "aranya-v0.3",
        header=False,
        cmd={**V0_CMD, "RUNTIME": 10},
        msg={**V0_MSG, "RUNTIME": 10},
        rt=RT,
        reject=V0_REJECT,
        stream_continue=True,
        port_forward_address=True,
        metrics_target=False,
        sysinfo={"boot_id": 5, "machine_id": 6, "system_uuid": 7},
    ),
]

# -- bodies ----------------------------------------------------------------------------------------

NODE = {
    "os": "linux",
    "os_image": "Debian 12",
    "arch": "arm64",
    "kernel_version": "6.1.0",
    "boot_id": "b-1",
    "machine_id": "m-1",
    "system_uuid": "U-1",
    "runtime_name": "containerd",
    "runtime_version": "1.7.2",
    "cpu_count": 4,
    "memory_bytes": 4 * 1024**3,
    "storage_bytes": 32 * 1024**3,
    "labels": {"arhat.dev/role": "edge"},
    "annotations": {"arhat.dev/site": "s1"},
}
PODS = [{"uid": "u-1", "containers": {"app": "sha256:ab"}, "started_at": "2026-11-27T12:00:00Z"}]


def frame(v: Version, kind: int, sid: int, seq: int, complete: bool, payload: bytes) -> bytes:
    fields = num(1, kind) + num(2, sid) + num(3, seq) + num(4, complete)
    if v.header:
        return sub(1, fields) + blob(11, payload)
    return fields + blob(11, payload)


def packet(kind: int, payload: bytes) -> bytes:
    return num(1, kind) + blob(2, payload)


def node_status(v: Version, full: bool) -> bytes:
    n = NODE
    capacity = num(1, n["cpu_count"]) + num(2, n["memory_bytes"]) + num(3, n["storage_bytes"])
    conditions = b"".join(num(i, 1) for i in range(1, 7))  # all HEALTHY (1)
    body = b""
    if full:
        s = v.sysinfo
        sysinfo = (
            blob(1, n["os"]) + blob(2, n["os_image"]) + blob(3, n["arch"]) + blob(4, n["kernel_version"])
        )
        sysinfo += blob(s["boot_id"], n["boot_id"]) + blob(s["machine_id"], n["machine_id"])
        sysinfo += blob(s["system_uuid"], n["system_uuid"])
        if "runtime_info" in s:
            sysinfo += sub(s["runtime_info"], blob(1, n["runtime_name"]) + blob(2, n["runtime_version"]))
        body += sub(1, sysinfo)
    body += sub(2, capacity) + sub(3, conditions)
    if full:  # NodeExtInfo {value=1, value_type=2, operator=3, target=4 (LABEL 1), target_key=5}
        for target, values in ((1, n["labels"]), (0, n["annotations"])):
            for key, value in values.items():
                body += sub(4, blob(1, value) + num(4, target) + blob(5, key))
    return body


def pod_status_list(v: Version) -> bytes:
    pods = b""
    for pod in PODS:
        containers = b""
        for i, (name, image) in enumerate(sorted(pod["containers"].items())):
            status = (
                blob(1, f"containerd://{pod['uid'][:8]}{i:04d}") + blob(2, image) + blob(5, pod["started_at"])
            )
            containers += map_entry(v.pod_map_field, name, status)
        pods += sub(1, blob(1, pod["uid"]) + containers)
    return pods


def exec_body(pod_uid: str, container: str, command: Sequence[str]) -> bytes:
    # ExecOrAttachCmd {pod_uid=1, container=2, stdin=3, stdout=4, stderr=5, tty=6, command=7, envs=8}
    return blob(1, pod_uid) + blob(2, container) + num(4, 1) + num(5, 1) + rep(7, command)


def logs_body(pod_uid: str, container: str, tail_lines: int) -> bytes:
    # LogsCmd {pod_uid=1, container=2, follow=3, timestamp=4, since=5, tail_lines=6, bytes_limit=7}
    return blob(1, pod_uid) + blob(2, container) + num(6, tail_lines) + num(7, -1)


def port_forward_body(v: Version, pod_uid: str, port: int) -> bytes:
    if v.port_forward_address:
        return blob(1, pod_uid) + blob(2, "tcp") + num(4, port)
    return blob(1, pod_uid) + num(2, port) + blob(3, "tcp")


def metrics_config_body(v: Version, collect: Sequence[str]) -> bytes:
    return rep(2 if v.metrics_target else 1, collect)


def error_body(kind: int, description: str, code: int) -> bytes:
    return num(1, kind) + blob(2, description) + num(3, code)


# -- the vectors -----------------------------------------------------------------------------------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(x) for x in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in value.items()) + " }"
    raise TypeError(value)


def vectors(v: Version) -> list[dict[str, object]]:
    c, m, r = v.cmd, v.msg, v.rt
    out: list[dict[str, object]] = []

    def add(
        name: str,
        kind_name: str,
        kind: int,
        sid: int,
        seq: int,
        complete: bool,
        payload: bytes,
        build: dict[str, object],
        label: str | None = None,
    ) -> None:
        entry: dict[str, object] = {
            "name": name,
            "frame": "cmd" if kind_name.startswith("CMD_") else "msg",
            "kind": kind_name,
            "sid": sid,
            "seq": seq,
            "complete": complete,
        }
        if label is not None:
            entry["label"] = label
        entry["build"] = build
        entry["hex"] = frame(v, kind, sid, seq, complete, payload).hex()
        out.append(entry)

    names = {  # the version's own names of the kinds used below
        "aranya-2020-09": {
            "EXEC": "CMD_POD_CTR_EXEC",
            "LOGS": "CMD_POD_CTR_LOGS",
            "PORT_FORWARD": "CMD_POD_PORT_FORWARD",
            "DATA": "MSG_DATA_DEFAULT",
        },
    }.get(v.name, {})

    def cname(key: str) -> str:
        return names.get(key, f"CMD_{key}")

    data_name = names.get("DATA", "MSG_DATA")

    for state, number in (("online", 1), ("offline", 2)):
        add(
            state,
            "MSG_STATE",
            m["STATE"],
            0,
            0,
            True,
            num(1, number) + blob(2, DEVICE),
            {"op": state, "device_id": DEVICE},
        )
    for reason in ("ALREADY_CONNECTED", "INVALID_PROTO", "NODE_CHECK_FAILURE"):
        message = f"rejected: {reason.lower()}"
        add(
            f"reject_{reason.lower()}",
            "CMD_REJECT",
            c["REJECT"],
            0,
            0,
            True,
            num(1, v.reject[reason]) + blob(2, message),
            {"op": "reject", "reason": reason, "message": message},
        )

    def command(name: str, op: str, key: str, body: bytes, args: dict[str, object], *, pod: bool) -> None:
        runtime = pod and v.runtime and key in r
        if runtime:
            add(
                name,
                "CMD_RUNTIME",
                c["RUNTIME"],
                SID,
                0,
                True,
                packet(r[key], body),
                {"op": "command", "command": op, "runtime": True, **args},
                label=f"CMD_RUNTIME:CMD_{key}",
            )
        else:
            add(name, cname(key), c[key], SID, 0, True, body, {"op": "command", "command": op, **args})

    command("node_info_all", "node_info", "NODE_INFO_GET", num(1, 1), {"all": True}, pod=False)
    command("node_info_dyn", "node_info", "NODE_INFO_GET", b"", {"all": False}, pod=False)
    pod_list = b"".join(num(f, 1) for f in v.pod_list_fields)
    if v.runtime:
        command("pod_list", "pod_list", "POD_LIST", pod_list, {}, pod=True)
    else:
        command("pod_list", "pod_list", "POD_LIST", pod_list, {}, pod=False)
    command(
        "metrics_config",
        "metrics_config",
        "METRICS_CONFIG",
        metrics_config_body(v, ["cpu", "meminfo"]),
        {"collect": ["cpu", "meminfo"]},
        pod=False,
    )
    command("metrics_collect", "metrics_collect", "METRICS_COLLECT", b"", {}, pod=False)
    command(
        "exec_pod",
        "exec",
        "EXEC",
        exec_body("p-1", "app", ["ls", "-l"]),
        {"pod_uid": "p-1", "container": "app", "argv": ["ls", "-l"]},
        pod=True,
    )
    command(
        "exec_host",
        "exec",
        "EXEC",
        exec_body("", "host", ["uptime"]),
        {"pod_uid": "", "container": "host", "argv": ["uptime"]},
        pod=False,
    )
    command(
        "logs_pod",
        "logs",
        "LOGS",
        logs_body("p-1", "app", 5),
        {"pod_uid": "p-1", "container": "app", "tail_lines": 5},
        pod=True,
    )
    command(
        "port_forward_pod",
        "port_forward",
        "PORT_FORWARD",
        port_forward_body(v, "p-1", 8080),
        {"pod_uid": "p-1", "port": 8080},
        pod=True,
    )
    add(
        "data_upstream",
        "CMD_DATA_UPSTREAM",
        c["DATA_UPSTREAM"],
        SID,
        0,
        False,
        b"ping",
        {"op": "upstream", "data": "ping"},
    )
    add(
        "data_upstream_end",
        "CMD_DATA_UPSTREAM",
        c["DATA_UPSTREAM"],
        SID,
        1,
        True,
        b"",
        {"op": "upstream", "data": ""},
    )
    add(
        "session_close",
        "CMD_SESSION_CLOSE",
        c["SESSION_CLOSE"],
        SID,
        0,
        True,
        num(1, SID),
        {"op": "session_close"},
    )

    for full in (True, False):
        add(
            f"node_status_{'all' if full else 'dyn'}",
            "MSG_NODE_STATUS",
            m["NODE_STATUS"],
            SID,
            0,
            True,
            node_status(v, full),
            {"op": "node_status", "full": full},
        )
    if v.runtime:
        add(
            "pod_status_list",
            "MSG_RUNTIME",
            m["RUNTIME"],
            SID,
            0,
            True,
            packet(r["POD_STATUS_LIST"], pod_status_list(v)),
            {"op": "pod_status_list", "runtime": True},
        )
    else:
        add(
            "pod_status_list",
            "MSG_POD_STATUS_LIST",
            m["POD_STATUS_LIST"],
            SID,
            0,
            True,
            pod_status_list(v),
            {"op": "pod_status_list"},
        )
    add("metrics_data", data_name, m["DATA"], SID, 0, True, b"up 1\n", {"op": "data", "data": "up 1\n"})
    seq = 0
    if v.stream_continue:
        add("stream_continue", data_name, m["DATA"], SID, 0, False, b"", {"op": "data", "data": ""})
        seq = 1
    add("stdout", data_name, m["DATA"], SID, seq, False, b"hi", {"op": "data", "data": "hi"})
    add(
        "stderr",
        "MSG_DATA_STDERR",
        m["STDERR"],
        SID,
        seq + 1,
        False,
        b"oops",
        {"op": "data", "data": "oops", "stderr": True},
    )
    add("end", data_name, m["DATA"], SID, seq + 2, True, b"", {"op": "data", "data": ""})
    add("done", "MSG_DONE", m["DONE"], SID, 0, True, b"", {"op": "done"})
    err = {"kind": 0, "description": "exit 3", "code": 3}
    add(
        "error_exit",
        "MSG_ERROR",
        m["ERROR"],
        SID,
        1,
        True,
        error_body(0, "exit 3", 3),
        {"op": "error", **err},
    )
    if v.runtime:
        add(
            "error_exit_runtime",
            "MSG_RUNTIME",
            m["RUNTIME"],
            SID,
            1,
            True,
            packet(r["ERROR"], error_body(0, "exit 3", 3)),
            {"op": "error", "runtime": True, **err},
        )
    add(
        "error_not_supported",
        "MSG_ERROR",
        m["ERROR"],
        SID,
        0,
        True,
        error_body(3, "no runtime", 0),
        {"op": "error", "kind": 3, "description": "no runtime", "code": 0},
    )
    data = "abcdefghij"
    chunks = [data[i : i + 4] for i in range(0, len(data), 4)]
    out.append(
        {
            "name": "chunked",
            "frame": "msg",
            "kind": data_name,
            "sid": SID,
            "seq": 0,
            "complete": True,
            "build": {"op": "chunked", "data": data, "max_payload": 4},
            "hex": [
                frame(v, m["DATA"], SID, i, i == len(chunks) - 1, ch.encode()).hex()
                for i, ch in enumerate(chunks)
            ],
        }
    )
    return out


def render(v: Version) -> str:
    lines = [
        f"# Conformance vectors of {v.name}: byte-exact frames written from aranya's field numbers by",
        "# tests/conformance/make_vectors.py (an encoder independent of the suite's .proto files).",
        f"# sid {SID} is a time-in-ns sid as aranya allocates them. Do not edit by hand.",
        f'protocol = "{v.name}"',
    ]
    for vec in vectors(v):
        lines.append("")
        lines.append("[[vector]]")
        lines += [f"{k} = {_toml_value(x)}" for k, x in vec.items()]
    return "\n".join(lines) + "\n"


def path_for(v: Version) -> Path:
    return HERE / f"{v.name.replace('-', '_').replace('.', '_')}.toml"


if __name__ == "__main__":
    for version in VERSIONS:
        path_for(version).write_text(render(version), encoding="utf-8")
        print(path_for(version).relative_to(HERE.parent.parent))
