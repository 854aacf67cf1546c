"""The reference gateway against a fake device and real gRPC clients over loopback.

The gateway, the fake devices and the operator clients all run on one asyncio loop
in a background thread (pytest-asyncio is not used); each test hands it coroutines
with a hard timeout. The CLI is tested as a subprocess.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from grpc import aio

from aranya_perf import codec
from aranya_perf.gateway import Gateway, GatewayConfig, parse_metrics
from aranya_perf.proto import aranya_pb2 as pb
from aranya_perf.proto import aranya_pb2_grpc as pb_grpc
from aranya_perf.proto import control_pb2 as ctl
from aranya_perf.proto import control_pb2_grpc as ctl_grpc
from tests.helpers import REPO, make_pki

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")

FAST = {
    "node_info_interval_s": 0.0,
    "metrics_collect_interval_s": 0.0,
    "session_timeout_s": 3.0,
    "hello_timeout_s": 2.0,
}


# -- the loop in a thread ------------------------------------------------------------------------


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise

    def close(self) -> None:
        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(drain(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


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
        aloop.run(gw.start("127.0.0.1:0", "127.0.0.1:0"))
        started.append(gw)
        return gw

    yield start
    for gw in started:
        aloop.run(gw.stop(grace=0.5))


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway]) -> Gateway:
    return start_gateway()


# -- a fake device -------------------------------------------------------------------------------


def online(device_id: str) -> pb.Msg:
    return codec.new_msg(pb.MSG_STATE, 0, pb.StateMsg(kind=pb.StateMsg.STATE_ONLINE, device_id=device_id))


class FakeDevice:
    """A scripted agent: answers node info, metrics, exec (by argv[0]), logs and port-forward echo."""

    def __init__(
        self, address: str, device_id: str = "dev-1", creds: grpc.ChannelCredentials | None = None
    ) -> None:
        self.address = address
        self.creds = creds
        self.device_id = device_id
        self.cmds: list[pb.Cmd] = []
        self.upstream: list[tuple[int, int, int, bool]] = []  # (sid, seq, len, completed)
        self.ended = False
        self.status: grpc.StatusCode | None = None
        self._seq: dict[int, int] = collections.defaultdict(int)
        self._channel: aio.Channel | None = None
        self._call: Any = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, first: pb.Msg | None = None) -> FakeDevice:
        if self.creds is None:
            self._channel = aio.insecure_channel(self.address)
        else:
            self._channel = aio.secure_channel(self.address, self.creds)
        self._call = pb_grpc.EdgeDeviceStub(self._channel).Sync(timeout=30)
        await self._call.write(first if first is not None else online(self.device_id))
        self._task = asyncio.get_running_loop().create_task(self._serve())
        return self

    async def close(self) -> None:
        if self._call is not None:
            self._call.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._channel is not None:
            await self._channel.close()

    async def send(self, msg: pb.Msg) -> None:
        await self._call.write(msg)

    def kinds(self) -> list[int]:
        return [c.header.kind for c in self.cmds]

    def of_kind(self, kind: int) -> list[pb.Cmd]:
        return [c for c in self.cmds if c.header.kind == kind]

    async def wait(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; device saw {self.kinds()}")
            await asyncio.sleep(0.01)

    async def _serve(self) -> None:
        try:
            while True:
                cmd = await self._call.read()
                if cmd is aio.EOF:
                    break
                self.cmds.append(cmd)
                await self._answer(cmd)
        except grpc.RpcError:
            pass
        self.ended = True
        with contextlib.suppress(Exception):
            self.status = await self._call.code()

    def _msg(self, kind: int, sid: int, body: Any = b"", completed: bool = False) -> pb.Msg:
        seq = self._seq[sid]
        self._seq[sid] = seq + 1
        return codec.new_msg(kind, sid, body, seq=seq, completed=completed)

    async def _answer(self, cmd: pb.Cmd) -> None:
        kind, sid = cmd.header.kind, cmd.header.sid
        write = self._call.write
        if kind == pb.CMD_NODE_INFO_GET:
            # Chunked answer: the gateway reassembles and completes on the last frame.
            await write(self._msg(pb.MSG_NODE_STATUS, sid, b"node-"))
            await write(self._msg(pb.MSG_NODE_STATUS, sid, b"status", completed=True))
        elif kind == pb.CMD_METRICS_COLLECT:
            await write(self._msg(pb.MSG_DATA_METRICS, sid, b"up 1\n", completed=True))
        elif kind == pb.CMD_POD_CTR_EXEC:
            await self._exec(sid, codec.decode_body(cmd))
        elif kind == pb.CMD_POD_CTR_LOGS:
            req = codec.decode_body(cmd)
            for i in range(req.tail_lines):
                await write(self._msg(pb.MSG_DATA_STDOUT, sid, f"line {i}\n".encode()))
            await write(self._msg(pb.MSG_DONE, sid, completed=True))
        elif kind == pb.CMD_DATA_UPSTREAM:
            h = cmd.header
            self.upstream.append((sid, h.seq, len(cmd.body), h.completed))
            if cmd.body:
                await write(self._msg(pb.MSG_DATA_DEFAULT, sid, cmd.body))
            if h.completed:
                await write(self._msg(pb.MSG_DONE, sid, completed=True))

    async def _exec(self, sid: int, req: pb.ContainerExecOrAttachCmd) -> None:
        argv = list(req.command)
        if argv[0] == "echo":
            frames = [
                self._msg(pb.MSG_DATA_STDOUT, sid, b"hello "),
                self._msg(pb.MSG_DATA_STDERR, sid, b"oops"),
                self._msg(pb.MSG_DATA_STDOUT, sid, b"world"),
                self._msg(pb.MSG_DONE, sid, completed=True),
            ]
            for i in (1, 0, 3, 2):  # out of order: the gateway must put them back in seq order
                await self._call.write(frames[i])
        elif argv[0] == "exit":
            await self._call.write(self._msg(pb.MSG_DATA_STDOUT, sid, b"partial"))
            err = pb.ErrorMsg(kind=pb.ErrorMsg.ERR_COMMON, description="exit status", code=int(argv[1]))
            await self._call.write(self._msg(pb.MSG_ERROR, sid, err, completed=True))
        elif argv[0] == "error":
            err = pb.ErrorMsg(kind=pb.ErrorMsg.Kind.Value(argv[1]), description="no such thing")
            await self._call.write(self._msg(pb.MSG_ERROR, sid, err, completed=True))
        # "hang": never answers


@contextlib.asynccontextmanager
async def device(
    address: str, device_id: str = "dev-1", first: pb.Msg | None = None, *, registered: bool = True
) -> Any:
    """A connected FakeDevice; with ``registered``, only once the gateway has sent it a command."""
    dev = FakeDevice(address, device_id)
    try:
        await dev.connect(first)
        if registered:  # the connect-time NODE_INFO_GET is sent after registration
            await dev.wait(lambda: len(dev.cmds) >= 1)
        yield dev
    finally:
        await dev.close()


@contextlib.asynccontextmanager
async def control(address: str) -> Any:
    async with aio.insecure_channel(address) as channel:
        yield ctl_grpc.ControlStub(channel)


def metric(gw: Gateway, name: str, **labels: str) -> float:
    key = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    return gw.metrics.snapshot().get(key, 0.0)


def sessions(gw: Gateway, kind: str, outcome: str) -> float:
    return metric(gw, "aranya_gateway_sessions_completed_total", kind=kind, outcome=outcome)


def requests(gw: Gateway, method: str, code: str) -> float:
    return metric(gw, "aranya_gateway_control_requests_total", method=method, code=code)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def exec_req(*argv: str, device_id: str = "dev-1", timeout_ms: int = 0) -> ctl.ExecRequest:
    return ctl.ExecRequest(
        device_id=device_id, pod_uid="pod-1", container="app", command=argv, timeout_ms=timeout_ms
    )


# -- device streams ------------------------------------------------------------------------------


def test_device_goes_online_and_gets_node_info_all_first(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(gateway.address) as dev, control(gateway.address) as stub:
            await dev.wait(lambda: len(dev.cmds) >= 1)
            first = dev.cmds[0]
            assert first.header.kind == pb.CMD_NODE_INFO_GET and first.header.sid != 0
            assert codec.decode_body(first).kind == pb.NodeInfoGetCmd.NODE_INFO_ALL
            assert gateway.devices_online() == ["dev-1"]
            assert metric(gateway, "aranya_gateway_devices_online") == 1
            assert list((await stub.ListDevices(ctl.ListDevicesRequest(), timeout=5)).device_ids) == ["dev-1"]
            # The chunked MSG_NODE_STATUS answer completes the session.
            await eventually(lambda: sessions(gateway, "CMD_NODE_INFO_GET", "done") == 1)
            assert metric(gateway, "aranya_gateway_session_rtt_seconds_count", kind="CMD_NODE_INFO_GET") == 1
            assert metric(gateway, "aranya_gateway_sessions_open") == 0
            # A status push with sid 0 is unsolicited, not an error.
            await dev.send(codec.new_msg(pb.MSG_NODE_STATUS, 0, b"status", completed=True))
            await eventually(
                lambda: metric(gateway, "aranya_gateway_unsolicited_msgs_total", kind="MSG_NODE_STATUS") == 1
            )
            assert not dev.ended

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_device_connects_total") == 1


def test_periodic_commands_follow_the_schedule(
    aloop: LoopThread, start_gateway: Callable[..., Gateway]
) -> None:
    gw = start_gateway(node_info_interval_s=0.2, metrics_collect_interval_s=0.2)

    async def scenario() -> None:
        async with device(gw.address) as dev:
            await dev.wait(
                lambda: (
                    len(dev.of_kind(pb.CMD_METRICS_COLLECT)) >= 2
                    and len(dev.of_kind(pb.CMD_NODE_INFO_GET)) >= 3
                )
            )
            node_kinds = [codec.decode_body(c).kind for c in dev.of_kind(pb.CMD_NODE_INFO_GET)]
            assert node_kinds[0] == pb.NodeInfoGetCmd.NODE_INFO_ALL
            assert set(node_kinds[1:]) == {pb.NodeInfoGetCmd.NODE_INFO_DYN}
            assert all(c.body == b"" for c in dev.of_kind(pb.CMD_METRICS_COLLECT))
            sids = [c.header.sid for c in dev.cmds]
            assert len(set(sids)) == len(sids), "each command opens its own session"
            await eventually(lambda: sessions(gw, "CMD_METRICS_COLLECT", "done") >= 2)

    aloop.run(scenario())


def test_second_stream_for_same_device_is_rejected(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(gateway.address) as first, control(gateway.address) as stub:
            await first.wait(lambda: len(first.cmds) >= 1)
            async with device(gateway.address, registered=False) as second:
                await second.wait(lambda: second.ended)
                assert second.kinds() == [pb.CMD_REJECT]
                reject = codec.decode_body(second.cmds[0])
                assert reject.reason == pb.RejectCmd.REJECTION_ALREADY_CONNECTED and reject.message
            # The first stream keeps working.
            resp = await stub.Exec(exec_req("echo"), timeout=5)
            assert resp.stdout == b"hello world"
            assert not first.ended
            assert gateway.devices_online() == ["dev-1"]

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_rejects_total", reason="REJECTION_ALREADY_CONNECTED") == 1
    assert metric(gateway, "aranya_gateway_device_connects_total") == 1


def test_first_message_must_be_state_online(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        bad = codec.new_msg(pb.MSG_NODE_STATUS, 0, b"hi")
        async with device(gateway.address, first=bad, registered=False) as dev:
            await dev.wait(lambda: dev.ended)
            assert dev.kinds() == [pb.CMD_REJECT]
            assert codec.decode_body(dev.cmds[0]).reason == pb.RejectCmd.REJECTION_INVALID_PROTO
        assert gateway.devices_online() == []

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_rejects_total", reason="REJECTION_INVALID_PROTO") == 1


def test_silent_stream_is_rejected_after_hello_timeout(
    aloop: LoopThread, start_gateway: Callable[..., Gateway]
) -> None:
    gw = start_gateway(hello_timeout_s=0.2)

    async def scenario() -> None:
        async with aio.insecure_channel(gw.address) as channel:
            call = pb_grpc.EdgeDeviceStub(channel).Sync(timeout=5)
            t0 = time.monotonic()
            cmd = await call.read()
            assert time.monotonic() - t0 < 2
            assert cmd.header.kind == pb.CMD_REJECT
            assert codec.decode_body(cmd).reason == pb.RejectCmd.REJECTION_INVALID_PROTO
            assert await call.read() is aio.EOF

    aloop.run(scenario())


def test_state_offline_and_disconnect_deregister(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(gateway.address, "a") as a, device(gateway.address, "b") as b:
            await a.wait(lambda: len(a.cmds) >= 1)
            await b.wait(lambda: len(b.cmds) >= 1)
            assert sorted(gateway.devices_online()) == ["a", "b"]
            await a.send(
                codec.new_msg(pb.MSG_STATE, 0, pb.StateMsg(kind=pb.StateMsg.STATE_OFFLINE, device_id="a"))
            )
            await a.wait(lambda: a.ended)
            assert a.status == grpc.StatusCode.OK
            assert gateway.devices_online() == ["b"]
        await eventually(lambda: gateway.devices_online() == [])

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_devices_online") == 0
    assert metric(gateway, "aranya_gateway_device_disconnects_total") == 2


# -- control: exec -------------------------------------------------------------------------------


def test_exec_collects_stdout_and_stderr_in_seq_order(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(gateway.address) as dev, control(gateway.address) as stub:
            req = exec_req("echo", "hi")
            req.envs["A"] = "1"
            resp = await stub.Exec(req, timeout=5)
            assert (resp.stdout, resp.stderr, resp.exit_code) == (b"hello world", b"oops", 0)
            (cmd,) = dev.of_kind(pb.CMD_POD_CTR_EXEC)
            assert resp.sid == cmd.header.sid
            assert (cmd.header.seq, cmd.header.completed) == (0, True)
            body = codec.decode_body(cmd)
            assert (body.pod_uid, body.container, list(body.command)) == ("pod-1", "app", ["echo", "hi"])
            assert body.stdout and body.stderr and not body.stdin and dict(body.envs) == {"A": "1"}

    aloop.run(scenario())
    assert sessions(gateway, "CMD_POD_CTR_EXEC", "done") == 1
    assert requests(gateway, "Exec", "OK") == 1


def test_exec_failures_map_to_exit_codes_and_statuses(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(gateway.address), control(gateway.address) as stub:
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
    assert requests(gateway, "Exec", "NOT_FOUND") == 2
    assert sessions(gateway, "CMD_POD_CTR_EXEC", "error") == 5


def test_exec_timeout_closes_the_session_on_the_device(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(gateway.address) as dev, control(gateway.address) as stub:
            t0 = time.monotonic()
            with pytest.raises(aio.AioRpcError) as info:
                await stub.Exec(exec_req("hang", timeout_ms=300), timeout=5)
            elapsed = time.monotonic() - t0
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert info.value.details().startswith("ERR_TIMEOUT"), info.value.details()
            assert 0.25 <= elapsed < 2.5  # generous: shared CI machines
            (cmd,) = dev.of_kind(pb.CMD_POD_CTR_EXEC)
            await dev.wait(lambda: dev.of_kind(pb.CMD_SESSION_CLOSE))
            (close,) = dev.of_kind(pb.CMD_SESSION_CLOSE)
            assert close.header.sid == cmd.header.sid == codec.decode_body(close).sid

    aloop.run(scenario())
    assert metric(gateway, "aranya_gateway_session_timeouts_total", kind="CMD_POD_CTR_EXEC") == 1
    assert sessions(gateway, "CMD_POD_CTR_EXEC", "timeout") == 1
    assert requests(gateway, "Exec", "DEADLINE_EXCEEDED") == 1
    assert metric(gateway, "aranya_gateway_frames_sent_total", kind="CMD_SESSION_CLOSE") == 1


def test_disconnect_fails_pending_exec_with_unavailable(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with control(gateway.address) as stub:
            dev = await FakeDevice(gateway.address).connect()
            try:
                await dev.wait(lambda: len(dev.cmds) >= 1)
                pending = asyncio.ensure_future(stub.Exec(exec_req("hang", timeout_ms=10_000), timeout=15))
                await dev.wait(lambda: dev.of_kind(pb.CMD_POD_CTR_EXEC))
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
    assert sessions(gateway, "CMD_POD_CTR_EXEC", "closed") == 1
    assert metric(gateway, "aranya_gateway_sessions_open") == 0


def test_cancelled_exec_closes_its_session(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(gateway.address) as dev, control(gateway.address) as stub:
            call = stub.Exec(exec_req("hang", timeout_ms=10_000), timeout=15)
            await dev.wait(lambda: dev.of_kind(pb.CMD_POD_CTR_EXEC))
            call.cancel()
            await dev.wait(lambda: dev.of_kind(pb.CMD_SESSION_CLOSE))
            assert (
                dev.of_kind(pb.CMD_SESSION_CLOSE)[0].header.sid
                == dev.of_kind(pb.CMD_POD_CTR_EXEC)[0].header.sid
            )
            await eventually(lambda: metric(gateway, "aranya_gateway_sessions_open") == 0)

    aloop.run(scenario())
    assert sessions(gateway, "CMD_POD_CTR_EXEC", "closed") == 1
    assert requests(gateway, "Exec", "CANCELLED") == 1


# -- control: logs, port-forward, metrics --------------------------------------------------------


def test_logs_stream_lines_in_order(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(gateway.address) as dev, control(gateway.address) as stub:
            req = ctl.LogsRequest(device_id="dev-1", pod_uid="pod-1", container="app", tail_lines=5)
            chunks = [c.data async for c in stub.Logs(req, timeout=5)]
            assert chunks == [f"line {i}\n".encode() for i in range(5)]
            body = codec.decode_body(dev.of_kind(pb.CMD_POD_CTR_LOGS)[0])
            assert (body.pod_uid, body.container, body.tail_lines, body.follow) == ("pod-1", "app", 5, False)
            with pytest.raises(aio.AioRpcError) as info:
                async for _ in stub.Logs(ctl.LogsRequest(device_id="ghost"), timeout=5):
                    pass
            assert info.value.code() == grpc.StatusCode.NOT_FOUND

    aloop.run(scenario())
    assert requests(gateway, "Logs", "OK") == 1


def test_port_forward_echoes_bytes_in_chunks(
    aloop: LoopThread, start_gateway: Callable[..., Gateway]
) -> None:
    gw = start_gateway(max_payload=1024)
    blobs = [os.urandom(3000), os.urandom(100), os.urandom(1024)]

    async def scenario() -> None:
        async with device(gw.address) as dev, control(gw.address) as stub:
            call = stub.PortForward(timeout=5)
            await call.write(
                ctl.PortForwardFrame(device_id="dev-1", pod_uid="pod-1", port=8080, data=blobs[0])
            )
            for blob in blobs[1:]:
                await call.write(ctl.PortForwardFrame(data=blob))
            await call.done_writing()
            got = b"".join([frame.data async for frame in call])
            assert got == b"".join(blobs)
            assert await call.code() == grpc.StatusCode.OK

            (cmd,) = dev.of_kind(pb.CMD_POD_PORT_FORWARD)
            body = codec.decode_body(cmd)
            assert (body.pod_uid, body.port, body.protocol) == ("pod-1", 8080, "tcp")
            assert (cmd.header.seq, cmd.header.completed) == (0, False)
            sid = cmd.header.sid
            # 3000 bytes -> 3 frames of <= 1024, then 100, then 1024, then the empty completed frame;
            # seqs continue after the opening command's 0.
            assert dev.upstream == [
                (sid, 1, 1024, False), (sid, 2, 1024, False), (sid, 3, 952, False),
                (sid, 4, 100, False), (sid, 5, 1024, False), (sid, 6, 0, True),
            ]  # fmt: skip

    aloop.run(scenario())
    assert requests(gw, "PortForward", "OK") == 1
    assert metric(gw, "aranya_gateway_frames_sent_total", kind="CMD_DATA_UPSTREAM") == 6
    assert metric(gw, "aranya_gateway_commands_sent_total", kind="CMD_DATA_UPSTREAM") == 0


def test_cancelled_port_forward_closes_its_session(aloop: LoopThread, gateway: Gateway) -> None:
    async def scenario() -> None:
        async with device(gateway.address) as dev, control(gateway.address) as stub:
            call = stub.PortForward(timeout=5)
            await call.write(ctl.PortForwardFrame(device_id="dev-1", pod_uid="pod-1", port=80, data=b"ping"))
            assert (await call.read()).data == b"ping"
            call.cancel()
            await dev.wait(lambda: dev.of_kind(pb.CMD_SESSION_CLOSE))
            assert codec.decode_body(dev.of_kind(pb.CMD_SESSION_CLOSE)[0]).sid == dev.upstream[0][0]
            await eventually(lambda: metric(gateway, "aranya_gateway_sessions_open") == 0)

    aloop.run(scenario())


def test_metrics_endpoint_counts_exec_commands(aloop: LoopThread, gateway: Gateway) -> None:
    calls = 3

    async def scenario() -> None:
        async with device(gateway.address), control(gateway.address) as stub:
            for _ in range(calls):
                await stub.Exec(exec_req("echo"), timeout=5)

    aloop.run(scenario())
    with urllib.request.urlopen(f"http://{gateway.metrics_address}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    m = parse_metrics(text)
    assert m['aranya_gateway_commands_sent_total{kind="CMD_POD_CTR_EXEC"}'] == calls
    assert m['aranya_gateway_frames_sent_total{kind="CMD_POD_CTR_EXEC"}'] == calls
    assert m['aranya_gateway_commands_sent_total{kind="CMD_NODE_INFO_GET"}'] == 1
    assert m['aranya_gateway_control_requests_total{code="OK",method="Exec"}'] == calls
    assert m['aranya_gateway_session_rtt_seconds_count{kind="CMD_POD_CTR_EXEC"}'] == calls
    assert m['aranya_gateway_session_rtt_seconds_bucket{kind="CMD_POD_CTR_EXEC",le="30.0"}'] == calls
    assert m['aranya_gateway_msgs_received_total{kind="MSG_DONE"}'] == calls
    assert m["aranya_gateway_device_connects_total"] == 1


def test_stop_ends_device_streams(aloop: LoopThread, start_gateway: Callable[..., Gateway]) -> None:
    gw = start_gateway()

    async def scenario() -> None:
        async with device(gw.address) as dev:
            await dev.wait(lambda: len(dev.cmds) >= 1)
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
        dev = await FakeDevice(gw.address, creds=with_cert).connect()
        try:
            await dev.wait(lambda: len(dev.cmds) >= 1)
            assert gw.devices_online() == ["dev-1"]
        finally:
            await dev.close()
        # Without a client certificate the handshake fails.
        async with aio.secure_channel(gw.address, grpc.ssl_channel_credentials(root_certificates=ca)) as ch:
            with pytest.raises(aio.AioRpcError) as info:
                await ctl_grpc.ControlStub(ch).ListDevices(ctl.ListDevicesRequest(), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE

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
        assert set(ready) == {"event", "listen", "metrics", "pid"} and ready["event"] == "ready"
        assert ready["pid"] == proc.pid
        assert ready["listen"].startswith("127.0.0.1:") and ready["metrics"].startswith("127.0.0.1:")
        # Measured on its own as "the gateway process": no gevent loaded.
        assert "gevent" not in Path(f"/proc/{proc.pid}/maps").read_text()

        async def scenario() -> None:
            async with device(ready["listen"]) as dev, control(ready["listen"]) as stub:
                await dev.wait(lambda: len(dev.cmds) >= 1)
                assert (await stub.Exec(exec_req("echo"), timeout=5)).stdout == b"hello world"
                proc.send_signal(signal.SIGTERM)
                await dev.wait(lambda: dev.ended)

        aloop.run(scenario())
        assert proc.wait(timeout=5) == 0
        assert proc.stdout is not None and proc.stdout.read() == ""  # exactly one stdout line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


@pytest.mark.parametrize("listen", ["10.1.2.3:1", "bogus"])
def test_cli_refuses_remote_or_bad_listen(listen: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aranya_perf", "gateway", "--listen", listen],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "--listen" in proc.stderr


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
