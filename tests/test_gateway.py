"""The reference gateway against scripted devices and real gRPC clients over loopback, in every version.

The gateway, the fake devices and the operator clients all run on one asyncio loop in a
background thread (pytest-asyncio is not used); each test hands it coroutines with a hard
timeout. Rules that differ between versions run for all four; the rest run on the default.
The CLI is tested as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio

from aranya_perf import protocol
from aranya_perf.address_map import read_file
from aranya_perf.gateway import Gateway, GatewayConfig, parse_metrics
from aranya_perf.protocol import Op, Protocol, RejectReason
from aranya_perf.protocol.control import messages as ctl
from aranya_perf.transport.grpc_sync import open_sync
from tests.gateway_fakes import FakeDevice, LoopThread, control, device, eventually
from tests.helpers import REPO, make_pki

pytestmark = pytest.mark.timeout(60)

DEFAULT = protocol.get(protocol.DEFAULT)
ALL = [protocol.get(n) for n in protocol.NAMES]
FAST = {
    "node_info_interval_s": 0.0,
    "metrics_collect_interval_s": 0.0,
    "session_timeout_s": 3.0,
    "hello_timeout_s": 2.0,
}


@pytest.fixture(scope="module")
def aloop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def start_gateway(aloop: LoopThread) -> Iterator[Callable[..., Gateway]]:
    """Start gateways on 127.0.0.1:0 with FAST settings plus overrides; all are stopped afterwards."""
    started: list[Gateway] = []

    def start(**overrides: Any) -> Gateway:
        gw = Gateway(GatewayConfig(**{**FAST, **overrides}))
        # No metrics HTTP endpoint in this process (see Gateway.start); the CLI tests serve it.
        aloop.run(gw.start("127.0.0.1:0", None))
        started.append(gw)
        return gw

    yield start
    for gw in started:
        aloop.run(gw.stop(grace=0.5))


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway]) -> Gateway:
    return start_gateway()


def metric(gw: Gateway, name: str, **labels: str) -> float:
    key = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    return gw.metrics.snapshot().get(key, 0.0)


def sessions(gw: Gateway, kind: str, outcome: str) -> float:
    return metric(gw, "aranya_gateway_sessions_completed_total", kind=kind, outcome=outcome)


def requests(gw: Gateway, method: str, code: str) -> float:
    return metric(gw, "aranya_gateway_control_requests_total", method=method, code=code)


def exec_req(
    *argv: str, device_id: str = "dev-1", timeout_ms: int = 0, pod_uid: str = "pod-1"
) -> ctl.ExecRequest:
    return ctl.ExecRequest(
        device_id=device_id, pod_uid=pod_uid, container="app", command=argv, timeout_ms=timeout_ms
    )


def exec_label(p: Protocol) -> str:
    """How a pod exec is named in this version (routed through the runtime from v0.2)."""
    return p.command(Op.EXEC, b"", runtime=p.via_runtime("pod-1"))[2]


# -- the connect sequence ------------------------------------------------------------------------


@pytest.mark.parametrize("proto", ALL, ids=lambda p: p.name)
def test_connect_sequence_then_online(
    aloop: LoopThread, start_gateway: Callable[..., Gateway], proto: Protocol
) -> None:
    gw = start_gateway(protocol=proto.name)

    async def scenario() -> None:
        async with device(proto, gw.address) as dev, control(gw.address) as stub:
            # NODE_INFO_GET(ALL), then the pod list (through the runtime from v0.2), then metrics config.
            ops = [r.command.op for r in dev.received]
            assert ops[:3] == [Op.NODE_INFO, Op.POD_LIST, Op.METRICS_CONFIG]
            first = dev.received[0]
            assert first.command.body.kind == 1 and (first.seq, first.complete) == (0, True)
            assert first.sid > time.time_ns() - 60 * 10**9, "sids start at the controller's clock in ns"
            assert dev.received[1].command.via_runtime is proto.flags.runtime
            assert list(dev.received[2].command.body.collect)[:3] == ["arp", "bcache", "bonding"]
            sids = [r.sid for r in dev.received]
            assert sids == sorted(sids) and len(set(sids)) == 3
            await eventually(lambda: gw.devices_online() == ["dev-1"])
            listed = await stub.ListDevices(ctl.ListDevicesRequest(), timeout=5)
            assert (list(listed.device_ids), listed.protocol) == (["dev-1"], proto.name)
            # A status push with sid 0 is unsolicited, not an error.
            await dev.send(
                proto.new_msg(
                    proto.msg.NODE_STATUS, 0, proto.node_status_body(protocol.NodeInfo(), full=False), 0, True
                )
            )
            await eventually(
                lambda: (
                    metric(
                        gw,
                        "aranya_gateway_unsolicited_msgs_total",
                        kind=proto.msg_name(proto.msg.NODE_STATUS),
                    )
                    == 1
                )
            )
            assert not dev.ended

    aloop.run(scenario())
    assert metric(gw, "aranya_gateway_device_connects_total") == 1
    assert metric(gw, "aranya_gateway_online_seconds_count") == 1
    assert metric(gw, "aranya_gateway_info", protocol=proto.name, service=proto.service) == 1
    assert sessions(gw, proto.cmd_name(proto.cmd.NODE_INFO_GET), "done") == 1
    assert sessions(gw, proto.pod_list_command()[2], "done") == 1


@pytest.mark.parametrize("proto", ALL, ids=lambda p: p.name)
def test_failed_initial_node_check_is_rejected(
    aloop: LoopThread, start_gateway: Callable[..., Gateway], proto: Protocol
) -> None:
    gw = start_gateway(protocol=proto.name)

    async def scenario() -> None:
        async with device(proto, gw.address, online=False, node_info="error") as dev:
            await dev.wait(lambda: dev.ended)
            reject = dev.received[-1]
            assert reject.command.op is Op.REJECT
            reason, message = proto.read_reject(reject.payload)
            assert reason == proto.reject_name(proto.reject_number(RejectReason.NODE_CHECK_FAILURE))
            assert "NODE_INFO_GET(ALL)" in message
        assert gw.devices_online() == []

    aloop.run(scenario())
    expected = {"aranya-2020-09": "REJECTION_NODE_STATUS_SYNC_ERROR"}.get(
        proto.name, "REJECTION_INITIAL_CHECK_FAILURE"
    )
    assert metric(gw, "aranya_gateway_rejects_total", reason=expected) == 1
    assert metric(gw, "aranya_gateway_device_connects_total") == 0


def test_pod_list_not_supported_is_fine_but_a_pod_error_rejects(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(DEFAULT, gateway.address, "a", pods="unsupported"):
            await eventually(lambda: gateway.devices_online() == ["a"])
        async with device(DEFAULT, gateway.address, "b", online=False, pods="error") as dev:
            await dev.wait(lambda: dev.ended)
            assert dev.received[-1].command.op is Op.REJECT
            assert "pod list" in DEFAULT.read_reject(dev.received[-1].payload)[1]

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_rejects_total", reason="REJECTION_INITIAL_CHECK_FAILURE") == 1


def test_periodic_commands_follow_the_schedule(
    aloop: LoopThread, start_gateway: Callable[..., Gateway]
) -> None:
    gw = start_gateway(node_info_interval_s=0.2, metrics_collect_interval_s=0.2, pod_list_interval_s=0.2)

    async def scenario() -> None:
        async with device(DEFAULT, gw.address) as dev:
            await dev.wait(
                lambda: (
                    len(dev.of_op(Op.METRICS_COLLECT)) >= 2
                    and len(dev.of_op(Op.NODE_INFO)) >= 3
                    and len(dev.of_op(Op.POD_LIST)) >= 3
                )
            )
            node_kinds = [r.command.body.kind for r in dev.of_op(Op.NODE_INFO)]
            assert node_kinds[0] == 1 and set(node_kinds[1:]) == {0}  # ALL once, then DYN
            assert all(r.payload == b"" for r in dev.of_op(Op.METRICS_COLLECT))
            sids = [r.sid for r in dev.received]
            assert len(set(sids)) == len(sids), "each command opens its own session"
            await eventually(lambda: sessions(gw, "CMD_METRICS_COLLECT", "done") >= 2)

    aloop.run(scenario())


# -- rejects and the stream's end -----------------------------------------------------------------


def test_second_stream_for_same_device_is_rejected(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(DEFAULT, gateway.address) as first, control(gateway.address) as stub:
            async with device(DEFAULT, gateway.address, online=False) as second:
                await second.wait(lambda: second.ended)
                assert second.labels() == ["CMD_REJECT"]
                reason, message = DEFAULT.read_reject(second.received[0].payload)
                assert reason == "REJECTION_ALREADY_CONNECTED" and message
            # The first stream keeps working.
            resp = await stub.Exec(exec_req("echo"), timeout=5)
            assert resp.stdout == b"hello world"
            assert not first.ended
            assert gateway.devices_online() == ["dev-1"]

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_rejects_total", reason="REJECTION_ALREADY_CONNECTED") == 1
    assert metric(gateway, "aranya_gateway_device_connects_total") == 1


def test_second_online_on_the_same_stream_ends_it(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(DEFAULT, gateway.address) as dev:
            await dev.send(DEFAULT.online("dev-1"))
            await dev.wait(lambda: dev.ended)
            assert dev.received[-1].command.op is Op.REJECT
            assert DEFAULT.read_reject(dev.received[-1].payload)[0] == "REJECTION_ALREADY_CONNECTED"
        await eventually(lambda: gateway.devices_online() == [])

    aloop.run(scenario())


def test_messages_before_online_are_ignored(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        dev = FakeDevice(DEFAULT, gateway.address)
        try:
            await dev.connect(DEFAULT.new_msg(DEFAULT.msg.NODE_STATUS, 0, b"early", 0, True))
            await asyncio.sleep(0.2)
            assert dev.received == [] and not dev.ended
            await dev.send(DEFAULT.online("dev-1"))
            await dev.wait_online()
        finally:
            await dev.close()

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_unsolicited_msgs_total", kind="MSG_NODE_STATUS") == 1


def test_undecodable_state_is_invalid_proto(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        dev = FakeDevice(DEFAULT, gateway.address)
        try:
            await dev.connect(DEFAULT.new_msg(DEFAULT.msg.STATE, 0, b"\xff\xff", 0, True))
            await dev.wait(lambda: dev.ended)
            assert dev.labels() == ["CMD_REJECT"]
            assert DEFAULT.read_reject(dev.received[0].payload)[0] == "REJECTION_INVALID_PROTO"
        finally:
            await dev.close()
        assert gateway.devices_online() == []

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_rejects_total", reason="REJECTION_INVALID_PROTO") == 1


def test_silent_stream_is_rejected_after_hello_timeout(
    aloop: LoopThread, start_gateway: Callable[..., Gateway]
) -> None:
    gw = start_gateway(hello_timeout_s=0.2)

    async def scenario() -> None:
        async with aio.insecure_channel(gw.address) as channel:
            call = open_sync(DEFAULT, channel, timeout=5)
            t0 = time.monotonic()
            cmd = await call.read()
            assert time.monotonic() - t0 < 2
            kind, *_rest, payload = DEFAULT.unpack(cmd)
            assert kind == DEFAULT.cmd.REJECT and DEFAULT.read_reject(payload)[0] == "REJECTION_INVALID_PROTO"
            assert await call.read() is aio.EOF

    aloop.run(scenario())


def test_state_offline_and_disconnect_deregister(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(DEFAULT, gateway.address, "a") as a, device(DEFAULT, gateway.address, "b"):
            await eventually(lambda: sorted(gateway.devices_online()) == ["a", "b"])
            await a.send(DEFAULT.offline("a"))
            await a.wait(lambda: a.ended)
            assert a.status == grpc.StatusCode.OK
            assert gateway.devices_online() == ["b"]
        await eventually(lambda: gateway.devices_online() == [])

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_devices_online") == 0
    assert metric(gateway, "aranya_gateway_device_disconnects_total") == 2


def test_orphan_data_gets_a_session_close(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(DEFAULT, gateway.address) as dev:
            await dev.send(DEFAULT.new_msg(DEFAULT.msg.DATA, 12345, b"late", 0, False))
            await dev.wait(lambda: bool(dev.of_op(Op.SESSION_CLOSE)))
            close = dev.of_op(Op.SESSION_CLOSE)[0]
            assert (close.sid, close.command.body.sid) == (0, 12345)

    aloop.run(scenario())


# -- control: exec -------------------------------------------------------------------------------


@pytest.mark.parametrize("proto", ALL, ids=lambda p: p.name)
def test_exec_collects_output_in_seq_order_and_closes_the_session(
    aloop: LoopThread, start_gateway: Callable[..., Gateway], proto: Protocol
) -> None:
    gw = start_gateway(protocol=proto.name)

    async def scenario() -> None:
        async with device(proto, gw.address) as dev, control(gw.address) as stub:
            req = exec_req("echo", "hi")
            req.envs["A"] = "1"
            resp = await stub.Exec(req, timeout=5)
            assert (resp.stdout, resp.stderr, resp.exit_code) == (b"hello world", b"oops", 0)
            (cmd,) = dev.of_op(Op.EXEC)
            assert cmd.command.label == exec_label(proto) and cmd.command.via_runtime is proto.flags.runtime
            assert resp.sid == cmd.sid and (cmd.seq, cmd.complete) == (0, True)
            body = cmd.command.body
            assert (body.pod_uid, body.container, list(body.command)) == ("pod-1", "app", ["echo", "hi"])
            assert body.stdout and body.stderr and not body.stdin and dict(body.envs) == {"A": "1"}
            # aranya closes every stream session on the device when it ends.
            await dev.wait(lambda: bool(dev.of_op(Op.SESSION_CLOSE)))
            close = dev.of_op(Op.SESSION_CLOSE)[0]
            assert close.sid == cmd.sid == close.command.body.sid and (close.seq, close.complete) == (0, True)
            # The host target goes through the direct command in every version.
            resp = await stub.Exec(exec_req("echo", pod_uid=""), timeout=5)
            assert dev.of_op(Op.EXEC)[-1].command.via_runtime is False

    aloop.run(scenario())
    # Pod and host exec share CMD_EXEC where no runtime routes the pod's.
    assert sessions(gw, exec_label(proto), "done") == (1 if proto.flags.runtime else 2)
    assert requests(gw, "Exec", "OK") == 2


@pytest.mark.parametrize(
    "proto", [protocol.get("aranya-v0.3"), protocol.get("aranya-v0.1")], ids=lambda p: p.name
)
def test_exec_failures_map_to_exit_codes_and_statuses(
    aloop: LoopThread, start_gateway: Callable[..., Gateway], proto: Protocol
) -> None:
    gw = start_gateway(protocol=proto.name)

    async def scenario() -> None:
        async with device(proto, gw.address), control(gw.address) as stub:
            resp = await stub.Exec(exec_req("exit", "3"), timeout=5)
            assert (resp.exit_code, resp.stdout) == (3, b"partial")
            for err, code in (
                ("ERR_NOT_FOUND", grpc.StatusCode.NOT_FOUND),
                ("ERR_NOT_SUPPORTED", grpc.StatusCode.UNIMPLEMENTED),
                ("ERR_TIMEOUT", grpc.StatusCode.DEADLINE_EXCEEDED),
                ("ERR_ALREADY_EXISTS", grpc.StatusCode.UNKNOWN),
            ):
                with pytest.raises(aio.AioRpcError) as info:
                    await stub.Exec(exec_req("error", err), timeout=5)
                assert info.value.code() == code
                assert info.value.details().startswith(err) and "no such thing" in info.value.details()
            with pytest.raises(aio.AioRpcError) as info:
                await stub.Exec(exec_req("echo", device_id="nope"), timeout=5)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
            assert info.value.details() == "device 'nope' not online"

    aloop.run(scenario())
    assert requests(gw, "Exec", "NOT_FOUND") == 2
    assert sessions(gw, exec_label(proto), "error") == 5


def test_exec_timeout_closes_the_session_on_the_device(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(DEFAULT, gateway.address) as dev, control(gateway.address) as stub:
            t0 = time.monotonic()
            with pytest.raises(aio.AioRpcError) as info:
                await stub.Exec(exec_req("hang", timeout_ms=300), timeout=5)
            elapsed = time.monotonic() - t0
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert info.value.details().startswith("ERR_TIMEOUT"), info.value.details()
            assert 0.25 <= elapsed < 2.5  # generous: shared CI machines
            (cmd,) = dev.of_op(Op.EXEC)
            await dev.wait(lambda: bool(dev.of_op(Op.SESSION_CLOSE)))
            (close,) = dev.of_op(Op.SESSION_CLOSE)
            assert close.sid == cmd.sid == close.command.body.sid

    aloop.run(scenario())
    label = exec_label(DEFAULT)
    assert metric(gateway, "aranya_gateway_session_timeouts_total", kind=label) == 1
    assert sessions(gateway, label, "timeout") == 1
    assert requests(gateway, "Exec", "DEADLINE_EXCEEDED") == 1
    assert metric(gateway, "aranya_gateway_frames_sent_total", kind="CMD_SESSION_CLOSE") == 1


def test_disconnect_fails_pending_exec_with_unavailable(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with control(gateway.address) as stub:
            dev = await FakeDevice(DEFAULT, gateway.address).connect()
            try:
                await dev.wait_online()
                await eventually(lambda: gateway.devices_online() == ["dev-1"])
                pending = asyncio.ensure_future(stub.Exec(exec_req("hang", timeout_ms=10_000), timeout=15))
                await dev.wait(lambda: bool(dev.of_op(Op.EXEC)))
            finally:
                await dev.close()
            t0 = time.monotonic()
            with pytest.raises(aio.AioRpcError) as info:
                await pending
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() - t0 < 3  # well before the 10 s session timeout
            await eventually(lambda: gateway.devices_online() == [])

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_devices_online") == 0
    assert sessions(gateway, exec_label(DEFAULT), "closed") == 1
    assert metric(gateway, "aranya_gateway_sessions_open") == 0


def test_cancelled_exec_closes_its_session(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(DEFAULT, gateway.address) as dev, control(gateway.address) as stub:
            call = stub.Exec(exec_req("hang", timeout_ms=10_000), timeout=15)
            await dev.wait(lambda: bool(dev.of_op(Op.EXEC)))
            call.cancel()
            await dev.wait(lambda: bool(dev.of_op(Op.SESSION_CLOSE)))
            assert dev.of_op(Op.SESSION_CLOSE)[0].sid == dev.of_op(Op.EXEC)[0].sid
            await eventually(lambda: metric(gateway, "aranya_gateway_sessions_open") == 0)

    aloop.run(scenario())
    assert sessions(gateway, exec_label(DEFAULT), "closed") == 1
    assert requests(gateway, "Exec", "CANCELLED") == 1


# -- control: logs, port-forward, metrics --------------------------------------------------------


def test_logs_stream_lines_in_order(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(DEFAULT, gateway.address) as dev, control(gateway.address) as stub:
            req = ctl.LogsRequest(device_id="dev-1", pod_uid="pod-1", container="app", tail_lines=5)
            chunks = [c.data async for c in stub.Logs(req, timeout=5)]
            assert chunks == [f"line {i}\n".encode() for i in range(5)]
            body = dev.of_op(Op.LOGS)[0].command.body
            assert (body.pod_uid, body.container, body.tail_lines, body.follow) == ("pod-1", "app", 5, False)
            with pytest.raises(aio.AioRpcError) as info:
                async for _ in stub.Logs(ctl.LogsRequest(device_id="ghost"), timeout=5):
                    pass
            assert info.value.code() == grpc.StatusCode.NOT_FOUND

    aloop.run(scenario())
    assert requests(gateway, "Logs", "OK") == 1


@pytest.mark.parametrize("proto", ALL, ids=lambda p: p.name)
def test_port_forward_echoes_bytes_in_chunks(
    aloop: LoopThread, start_gateway: Callable[..., Gateway], proto: Protocol
) -> None:
    gw = start_gateway(protocol=proto.name, max_payload=1024)
    blobs = [os.urandom(3000), os.urandom(100), os.urandom(1024)]

    async def scenario() -> None:
        async with device(proto, gw.address, stream_continue_delay=0.3) as dev, control(gw.address) as stub:
            call = stub.PortForward(timeout=5)
            t0 = time.monotonic()
            await call.write(
                ctl.PortForwardFrame(device_id="dev-1", pod_uid="pod-1", port=8080, data=blobs[0])
            )
            for blob in blobs[1:]:
                await call.write(ctl.PortForwardFrame(data=blob))
            await call.done_writing()
            got = b"".join([frame.data async for frame in call])
            assert got == b"".join(blobs)
            assert await call.code() == grpc.StatusCode.OK

            (cmd,) = dev.of_op(Op.PORT_FORWARD)
            target = proto.read_port_forward(cmd.command.body)
            assert (target.pod_uid, target.port, target.network) == ("pod-1", 8080, "tcp")
            assert (cmd.seq, cmd.complete) == (0, True)
            sid = cmd.sid
            # 3000 bytes -> 3 frames of <= 1024, then 100, then 1024, then the empty complete frame;
            # operator input is numbered from 0, apart from the opening command's seq.
            assert dev.upstream == [
                (sid, 0, 1024, False), (sid, 1, 1024, False), (sid, 2, 952, False),
                (sid, 3, 100, False), (sid, 4, 1024, False), (sid, 5, 0, True),
            ]  # fmt: skip
            first_upstream = next(i for i, r in enumerate(dev.received) if r.command is None)
            if proto.flags.stream_continue:  # v0.3: input only after the device's stream is ready
                assert dev.ready_at[sid] - t0 >= 0.25
                assert dev.received[first_upstream - 1].command.op is Op.PORT_FORWARD

    aloop.run(scenario())
    assert requests(gw, "PortForward", "OK") == 1
    assert metric(gw, "aranya_gateway_frames_sent_total", kind=proto.cmd_name(proto.cmd.DATA_UPSTREAM)) == 6
    assert metric(gw, "aranya_gateway_commands_sent_total", kind=proto.cmd_name(proto.cmd.DATA_UPSTREAM)) == 0


def test_cancelled_port_forward_closes_its_session(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(DEFAULT, gateway.address) as dev, control(gateway.address) as stub:
            call = stub.PortForward(timeout=5)
            await call.write(ctl.PortForwardFrame(device_id="dev-1", pod_uid="pod-1", port=80, data=b"ping"))
            assert (await call.read()).data == b"ping"
            call.cancel()
            await dev.wait(lambda: bool(dev.of_op(Op.SESSION_CLOSE)))
            assert dev.of_op(Op.SESSION_CLOSE)[0].command.body.sid == dev.upstream[0][0]
            await eventually(lambda: metric(gateway, "aranya_gateway_sessions_open") == 0)

    aloop.run(scenario())


def test_collect_metrics_is_a_pull(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(DEFAULT, gateway.address) as dev, control(gateway.address) as stub:
            assert dev.of_op(Op.METRICS_COLLECT) == []  # the FAST schedule pushes nothing
            resp = await stub.CollectMetrics(ctl.CollectMetricsRequest(device_id="dev-1"), timeout=5)
            assert resp.data == b"node_up 1\n" and resp.sid == dev.of_op(Op.METRICS_COLLECT)[0].sid

    aloop.run(scenario())
    assert requests(gateway, "CollectMetrics", "OK") == 1
    assert sessions(gateway, "CMD_METRICS_COLLECT", "done") == 1


def test_metrics_count_exec_commands(aloop: LoopThread, gateway: Gateway) -> None:
    calls = 3

    async def scenario() -> None:
        async with device(DEFAULT, gateway.address), control(gateway.address) as stub:
            for _ in range(calls):
                await stub.Exec(exec_req("echo"), timeout=5)

    aloop.run(scenario())
    m = parse_metrics(gateway.metrics.exposition())
    label = exec_label(DEFAULT)
    assert m[f'aranya_gateway_commands_sent_total{{kind="{label}"}}'] == calls
    assert m[f'aranya_gateway_frames_sent_total{{kind="{label}"}}'] == calls
    assert m['aranya_gateway_commands_sent_total{kind="CMD_NODE_INFO_GET"}'] == 1
    assert m['aranya_gateway_control_requests_total{code="OK",method="Exec"}'] == calls
    assert m[f'aranya_gateway_session_rtt_seconds_count{{kind="{label}"}}'] == calls
    assert m[f'aranya_gateway_session_rtt_seconds_bucket{{kind="{label}",le="30.0"}}'] == calls
    assert m['aranya_gateway_frames_sent_total{kind="CMD_SESSION_CLOSE"}'] == calls
    assert m["aranya_gateway_device_connects_total"] == 1


def test_drain_stops_the_schedule_and_waits_for_open_sessions(
    aloop: LoopThread, start_gateway: Callable[..., Gateway]
) -> None:
    gw = start_gateway(node_info_interval_s=0.1, metrics_collect_interval_s=0.1)

    async def scenario() -> None:
        async with device(DEFAULT, gw.address) as dev, control(gw.address) as stub:
            await dev.wait(lambda: len(dev.of_op(Op.METRICS_COLLECT)) >= 2)
            pending = asyncio.ensure_future(stub.Exec(exec_req("hang", timeout_ms=400), timeout=5))
            await dev.wait(lambda: bool(dev.of_op(Op.EXEC)))
            t0 = time.monotonic()
            resp = await stub.Drain(ctl.DrainRequest(timeout_ms=3000), timeout=5)
            assert resp.sessions_open == 0 and time.monotonic() - t0 >= 0.2  # waited for the hung exec
            with pytest.raises(aio.AioRpcError):
                await pending
            seen = len(dev.received)
            await asyncio.sleep(0.5)
            assert [r.command.op for r in dev.received[seen:]] in ([], [Op.SESSION_CLOSE])  # no new commands
            # A drained gateway still answers operators.
            assert (await stub.Exec(exec_req("echo"), timeout=5)).stdout == b"hello world"

    aloop.run(scenario())
    assert requests(gw, "Drain", "OK") == 1


def test_reset_streams_takes_devices_offline_and_ends_their_streams_after_open_sessions(
    aloop: LoopThread, gateway: Gateway
) -> None:
    async def scenario() -> None:
        async with device(DEFAULT, gateway.address) as dev, control(gateway.address) as stub:
            await eventually(lambda: gateway.devices_online() == ["dev-1"])
            pending = asyncio.ensure_future(stub.Exec(exec_req("hang", timeout_ms=10_000), timeout=15))
            await dev.wait(lambda: bool(dev.of_op(Op.EXEC)))
            reset = asyncio.ensure_future(gateway.reset_streams(grace=3.0))
            await eventually(lambda: gateway.devices_online() == [])
            with pytest.raises(aio.AioRpcError) as info:  # offline at once: a new call finds it gone
                await stub.Exec(exec_req("echo"), timeout=5)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
            assert not dev.ended  # the open session has its grace before the stream ends
            assert await reset == 1
            await dev.wait(lambda: dev.ended)
            with pytest.raises(aio.AioRpcError) as info:  # never answered: failed when the stream ended
                await pending
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_devices_online") == 0
    assert metric(gateway, "aranya_gateway_sessions_open") == 0


def test_stop_ends_device_streams(aloop: LoopThread, start_gateway: Callable[..., Gateway]) -> None:
    gw = start_gateway()

    async def scenario() -> None:
        async with device(DEFAULT, gw.address) as dev:
            t0 = time.monotonic()
            await gw.stop(grace=5.0)
            assert time.monotonic() - t0 < 3.0  # device streams end at once, not after the grace
            await dev.wait(lambda: dev.ended)
            assert dev.status == grpc.StatusCode.OK

    aloop.run(scenario())


def test_mtls(aloop: LoopThread, start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    gw = start_gateway(
        tls_cert_file=str(pki["server.pem"]),
        tls_key_file=str(pki["server.key"]),
        tls_client_ca_file=str(pki["ca.pem"]),
    )
    ca = pki["ca.pem"].read_bytes()
    with_cert = grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=pki["client.key"].read_bytes(),
        certificate_chain=pki["client.pem"].read_bytes(),
    )

    async def scenario() -> None:
        dev = await FakeDevice(DEFAULT, gw.address, creds=with_cert).connect()
        try:
            await dev.wait_online()
            await eventually(lambda: gw.devices_online() == ["dev-1"])
        finally:
            await dev.close()
        # Without a client certificate the handshake fails.
        async with aio.secure_channel(gw.address, grpc.ssl_channel_credentials(root_certificates=ca)) as ch:
            from aranya_perf.protocol.control import ControlStub

            with pytest.raises(aio.AioRpcError) as info:
                await ControlStub(ch).ListDevices(ctl.ListDevicesRequest(), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE

    aloop.run(scenario())


# -- a listener per device -----------------------------------------------------------------------


def test_listener_per_device(aloop: LoopThread, start_gateway: Callable[..., Gateway]) -> None:
    ids = ("dev-00000", "dev-00001", "dev-00002")
    gw = start_gateway(listener_per_device=True, device_ids=ids)
    addresses = gw.device_addresses()

    async def scenario() -> None:
        assert sorted(addresses) == list(ids) and len(set(addresses.values())) == 3
        assert gw.address not in addresses.values()
        async with device(DEFAULT, addresses["dev-00001"], "dev-00001"), control(gw.address) as stub:
            await eventually(lambda: gw.devices_online() == ["dev-00001"])
            resp = await stub.Exec(exec_req("echo", device_id="dev-00001"), timeout=5)
            assert resp.stdout == b"hello world"
            # Another device's id on this listener is a mis-routed address map.
            async with device(DEFAULT, addresses["dev-00002"], "dev-00001", online=False) as wrong:
                await wrong.wait(lambda: wrong.ended)
                reason, message = DEFAULT.read_reject(wrong.received[0].payload)
                assert reason == "REJECTION_INVALID_PROTO" and "dev-00002" in message
            # An empty id on a device's own listener takes the listener's id (as aranya's per-device server).
            async with device(DEFAULT, addresses["dev-00000"], ""):
                await eventually(lambda: sorted(gw.devices_online()) == ["dev-00000", "dev-00001"])
        # The control port does not serve device streams.
        async with device(DEFAULT, gw.address, "dev-00002", online=False) as stray:
            await stray.wait(lambda: stray.ended)
            assert stray.status == grpc.StatusCode.UNIMPLEMENTED

    aloop.run(scenario())


# -- CLI -----------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aranya_perf", "gateway", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def test_cli_ready_line_device_and_sigterm(aloop: LoopThread) -> None:
    proc = _cli("--node-info-interval", "0", "--metrics-interval", "0s", "--session-timeout", "2s")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded by the test timeout
        assert line.endswith("\n"), (line, proc.stderr.read() if proc.poll() is not None else "")
        ready = json.loads(line)
        fields = {"event", "listen", "metrics", "pid", "protocol", "transport", "broker", "devices"}
        assert set(ready) == fields | {"address_map", "kube", "kubeconfig", "emulate"}
        assert (
            ready["event"] == "ready" and ready["pid"] == proc.pid and ready["protocol"] == protocol.DEFAULT
        )
        assert ready["devices"] == {} and ready["address_map"] is None and ready["kube"] is None
        assert ready["emulate"] == []
        assert ready["listen"].startswith("127.0.0.1:") and ready["metrics"].startswith("127.0.0.1:")
        # Measured on its own as "the gateway process": no gevent loaded.
        assert "gevent" not in Path(f"/proc/{proc.pid}/maps").read_text()

        async def exec_once() -> None:
            async with device(DEFAULT, ready["listen"]), control(ready["listen"]) as stub:
                assert (await stub.Exec(exec_req("echo"), timeout=5)).stdout == b"hello world"

        async def stop_with_a_stream_open() -> None:
            async with device(DEFAULT, ready["listen"]) as dev:
                proc.send_signal(signal.SIGTERM)
                await dev.wait(lambda: dev.ended)

        aloop.run(exec_once())
        with urllib.request.urlopen(f"http://{ready['metrics']}/metrics", timeout=5) as resp:
            m = parse_metrics(resp.read().decode())
        assert m['aranya_gateway_control_requests_total{code="OK",method="Exec"}'] == 1
        aloop.run(stop_with_a_stream_open())
        assert proc.wait(timeout=5) == 0
        assert proc.stdout is not None and proc.stdout.read() == ""  # exactly one stdout line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def test_cli_listener_per_device_writes_the_address_map(tmp_path: Path) -> None:
    out = tmp_path / "map.csv"
    proc = _cli(
        "--protocol", "aranya-v0.1", "--listener-per-device", "--devices", "3", "--address-map-out", str(out)
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["protocol"] == "aranya-v0.1" and ready["address_map"] == str(out)
        assert sorted(ready["devices"]) == ["dev-00000", "dev-00001", "dev-00002"]
        entries = read_file(out).entries
        assert {e.device_id: e.address for e in entries} == ready["devices"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--listen", "10.1.2.3:1"], "--listen"),
        (["--listen", "bogus"], "--listen"),
        (["--protocol", "aranya-v9"], "--protocol"),
        (["--listener-per-device"], "--devices"),
        (["--address-map-out", "x.csv"], "--listener-per-device"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(args: list[str], expect: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aranya_perf", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert expect in proc.stderr


def test_cli_port_in_use_is_a_usage_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "aranya_perf", "gateway", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=20,
            cwd=REPO,
        )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert str(port) in proc.stderr
