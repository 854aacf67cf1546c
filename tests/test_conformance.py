"""Conformance vectors: our encoder produces aranya's bytes, and our decoder reads them, in every version.

The vectors (``tests/conformance/aranya_*.toml``) were written from aranya's field numbers
by an encoder of their own (``tests/conformance/make_vectors.py``), not by the suite's
.proto files. Each one is built here the way the gateway or a simulated device builds it
(through ``Protocol``), compared byte for byte, then decoded back.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from aranya_perf import codec, protocol
from aranya_perf.protocol import NodeInfo, Op, PodInfo, PortForwardTarget, Protocol, RejectReason, Reply
from tests.conformance import make_vectors

HERE = Path(__file__).resolve().parent / "conformance"
FILES = sorted(HERE.glob("aranya_*.toml"))
NODE = NodeInfo(
    **{k: v for k, v in make_vectors.NODE.items() if k not in ("labels", "annotations")},
    labels=make_vectors.NODE["labels"],
    annotations=make_vectors.NODE["annotations"],
)
PODS = [PodInfo(p["uid"], p["containers"], p["started_at"]) for p in make_vectors.PODS]


def _load() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in FILES:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        out += [(doc["protocol"], vec) for vec in doc["vector"]]
    return out


VECTORS = _load()


def _command_body(p: Protocol, command: str, b: dict[str, Any]) -> bytes:
    if command == "node_info":
        return p.node_info_get_body(b["all"])
    if command == "pod_list":
        return p.pod_list_body()
    if command == "metrics_config":
        return p.metrics_config_body(b["collect"])
    if command == "metrics_collect":
        return p.metrics_collect_body()
    if command == "exec":
        return p.exec_body(b["pod_uid"], b["container"], b["argv"])
    if command == "logs":
        return p.logs_body(b["pod_uid"], b["container"], tail_lines=b["tail_lines"])
    if command == "port_forward":
        return p.port_forward_body(PortForwardTarget(b["pod_uid"], b["port"]))
    raise AssertionError(command)


def build(p: Protocol, vec: dict[str, Any]) -> list[bytes]:
    """The vector's frame(s) as the suite's own code builds them."""
    b, sid, seq, complete = vec["build"], vec["sid"], vec["seq"], vec["complete"]
    op = b["op"]
    runtime = b.get("runtime", False)
    if op == "online":
        frames = [p.online(b["device_id"])]
    elif op == "offline":
        frames = [p.offline(b["device_id"])]
    elif op == "reject":
        frames = [p.reject(RejectReason[b["reason"]], b["message"])]
    elif op == "command":
        kind, payload, label = p.command(Op(b["command"]), _command_body(p, b["command"], b), runtime=runtime)
        assert label == vec.get("label", vec["kind"])
        frames = [p.new_cmd(kind, sid, payload, seq, complete)]
    elif op == "upstream":
        frames = [p.new_cmd(p.cmd.DATA_UPSTREAM, sid, b["data"].encode(), seq, complete)]
    elif op == "session_close":
        frames = [p.new_cmd(p.cmd.SESSION_CLOSE, sid, p.session_close_body(sid), seq, complete)]
    elif op == "node_status":
        frames = [p.new_msg(p.msg.NODE_STATUS, sid, p.node_status_body(NODE, full=b["full"]), seq, complete)]
    elif op == "pod_status_list":
        kind, payload = p.result(Reply.POD_STATUS_LIST, p.pod_status_list_body(PODS), runtime=runtime)
        frames = [p.new_msg(kind, sid, payload, seq, complete)]
    elif op == "data":
        kind = p.msg.STDERR if b.get("stderr") else p.msg.DATA
        frames = [p.new_msg(kind, sid, b["data"].encode(), seq, complete)]
    elif op == "done":
        kind, payload = p.result(Reply.DONE, b"", runtime=runtime)
        frames = [p.new_msg(kind, sid, payload, seq, complete)]
    elif op == "error":
        kind, payload = p.result(
            Reply.ERROR, p.error_body(b["kind"], b["description"], b["code"]), runtime=runtime
        )
        frames = [p.new_msg(kind, sid, payload, seq, complete)]
    elif op == "chunked":
        frames = list(
            codec.chunk_frames(p.new_msg, p.msg.DATA, sid, b["data"].encode(), max_payload=b["max_payload"])
        )
    else:
        raise AssertionError(op)
    return [f.SerializeToString() for f in frames]


def _expected(vec: dict[str, Any]) -> list[bytes]:
    hexes = vec["hex"] if isinstance(vec["hex"], list) else [vec["hex"]]
    return [bytes.fromhex(h) for h in hexes]


@pytest.mark.parametrize(("name", "vec"), VECTORS, ids=[f"{n}:{v['name']}" for n, v in VECTORS])
def test_encoder_produces_the_vector(name: str, vec: dict[str, Any]) -> None:
    assert build(protocol.get(name), vec) == _expected(vec)


@pytest.mark.parametrize(("name", "vec"), VECTORS, ids=[f"{n}:{v['name']}" for n, v in VECTORS])
def test_decoder_reads_the_vector(name: str, vec: dict[str, Any]) -> None:
    p = protocol.get(name)
    parse = (p.cmd_type if vec["frame"] == "cmd" else p.msg_type).FromString
    frames = [parse(raw) for raw in _expected(vec)]
    kind, sid, seq, _complete, payload = p.unpack(frames[0])
    kind_name = p.cmd_name(kind) if vec["frame"] == "cmd" else p.msg_name(kind)
    assert (kind_name, sid, seq) == (vec["kind"], vec["sid"], vec["seq"])
    last = p.unpack(frames[-1])
    assert last[3] == vec["complete"]
    b = vec["build"]
    op = b["op"]
    if op in ("online", "offline"):
        assert p.read_state(payload) == (op, b["device_id"])
    elif op == "reject":
        reason = RejectReason[b["reason"]]
        assert p.read_reject(payload) == (p.reject_name(p.reject_number(reason)), b["message"])
    elif op == "command":
        command = p.read_command(kind, payload)
        assert command.op is Op(b["command"]) and command.via_runtime is b.get("runtime", False)
        assert command.label == vec.get("label", vec["kind"])
        for key in ("pod_uid", "container", "tail_lines"):
            if key in b:
                assert getattr(command.body, key) == b[key]
        if "argv" in b:
            assert list(command.body.command) == b["argv"]
        if b["command"] == "port_forward":
            assert p.read_port_forward(command.body) == PortForwardTarget(b["pod_uid"], b["port"])
        if b["command"] == "node_info":
            assert command.body.kind == (1 if b["all"] else 0)
    elif op == "upstream":
        assert payload == b["data"].encode()
    elif op == "session_close":
        assert p.read_command(kind, payload).body.sid == vec["sid"]
    elif op == "node_status":
        status = p.read_node_status(payload)
        assert status.capacity.cpu_count == NODE.cpu_count and status.conditions.ready == 1
        assert (status.system_info.arch == NODE.arch) is b["full"]
        assert len(status.ext_info) == (2 if b["full"] else 0)
    elif op == "pod_status_list":
        reply, body = p.read_reply(kind, payload)
        assert reply is Reply.POD_STATUS_LIST
        assert [pod.uid for pod in p.read_pod_status_list(body).pods] == [pod.uid for pod in PODS]
    elif op == "data":
        reply, body = p.read_reply(kind, payload)
        assert reply is (Reply.STDERR if b.get("stderr") else Reply.DATA)
        assert body == b["data"].encode()
    elif op == "done":
        assert p.read_reply(kind, payload)[0] is Reply.DONE
    elif op == "error":
        reply, body = p.read_reply(kind, payload)
        assert reply is Reply.ERROR
        err = p.read_error(body)
        assert (err.kind, err.description, err.code) == (b["kind"], b["description"], b["code"])
    elif op == "chunked":
        rx = codec.Reassembler()
        for f in frames:
            rx.feed(*p.unpack(f))
        assert rx.done and rx.data() == b["data"].encode()
    else:
        raise AssertionError(op)


def test_every_version_has_vectors_for_the_same_exchanges() -> None:
    names = {p: {v["name"] for n, v in VECTORS if n == p} for p in protocol.NAMES}
    common = set.intersection(*names.values())
    assert {
        "online",
        "reject_already_connected",
        "node_info_all",
        "exec_pod",
        "data_upstream",
        "chunked",
    } <= common
    assert names["aranya-v0.3"] - common == {"stream_continue", "error_exit_runtime"}
    assert set(protocol.NAMES) == {tomllib.loads(f.read_text())["protocol"] for f in FILES}


def test_vector_files_are_what_the_field_number_encoder_writes() -> None:
    for version in make_vectors.VERSIONS:
        path = make_vectors.path_for(version)
        assert path.read_text(encoding="utf-8") == make_vectors.render(version), (
            f"{path.name} differs from make_vectors.py: python -m tests.conformance.make_vectors"
        )
