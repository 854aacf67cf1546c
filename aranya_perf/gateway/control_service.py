"""The operator side of the gateway: Control RPCs mapped onto device sessions, as aranya maps kubectl.

Each call opens a session with a fresh sid on the device's stream, in the wire format of
the gateway's protocol version: a pod target (a pod uid) goes through CMD_RUNTIME from
aranya-v0.2 on, the host target uses CMD_EXEC / CMD_LOGS / CMD_PORT_FORWARD directly. An
unknown or not yet online device fails with NOT_FOUND; a session past its deadline with
DEADLINE_EXCEEDED (details ``ERR_TIMEOUT: ...``); a device that goes away with UNAVAILABLE.
The session timeout bounds the whole call, so a followed log or a long port-forward needs a
``timeout_ms`` as long as the operator wants it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from grpc import aio

from aranya_perf.gateway.config import GatewayConfig
from aranya_perf.gateway.link import DeviceLink
from aranya_perf.gateway.metrics import GatewayMetrics
from aranya_perf.gateway.operations import CollectOp, ExecOp, Failure, Operation, StreamOp
from aranya_perf.gateway.registry import DeviceRegistry
from aranya_perf.protocol import Op, PortForwardTarget, Protocol
from aranya_perf.protocol.control import ControlServicer
from aranya_perf.protocol.control import messages as ctl

_EOF = aio.EOF


DRAIN_POLL_S = 0.02


class ControlService(ControlServicer):
    def __init__(
        self,
        proto: Protocol,
        config: GatewayConfig,
        metrics: GatewayMetrics,
        registry: DeviceRegistry,
        pause_schedule: Callable[[], None],
    ) -> None:
        self.proto, self.config, self.metrics, self.registry = proto, config, metrics, registry
        self._pause_schedule = pause_schedule

    def _link(self, device_id: str) -> DeviceLink:
        link = self.registry.get(device_id)
        if link is None:
            raise Failure(grpc.StatusCode.NOT_FOUND, f"device {device_id!r} not online")
        return link

    def _timeout(self, timeout_ms: int) -> float:
        return timeout_ms / 1000.0 if timeout_ms else self.config.session_timeout_s

    def _count(self, method: str, code: str) -> None:
        self.metrics.control_requests[(method, code)].inc()

    def _call(self, method: str, context: aio.ServicerContext) -> _Call:
        return _Call(self, method, context)

    # -- unary -----------------------------------------------------------------------------------

    async def Exec(self, request: ctl.ExecRequest, context: aio.ServicerContext) -> ctl.ExecResponse:
        proto = self.proto
        async with self._call("Exec", context) as call:
            link = self._link(request.device_id)
            body = proto.exec_body(request.pod_uid, request.container, request.command, request.envs)
            kind, payload, label = proto.command(Op.EXEC, body, runtime=proto.via_runtime(request.pod_uid))
            op = call.op = ExecOp(asyncio.get_running_loop().create_future())
            link.open(op, kind, payload, label, self._timeout(request.timeout_ms))
            exit_code = await op.fut
        return ctl.ExecResponse(
            stdout=b"".join(op.out), stderr=b"".join(op.err), exit_code=exit_code, sid=op.sid
        )

    async def CollectMetrics(
        self, request: ctl.CollectMetricsRequest, context: aio.ServicerContext
    ) -> ctl.CollectMetricsResponse:
        proto = self.proto
        async with self._call("CollectMetrics", context) as call:
            link = self._link(request.device_id)
            kind = proto.cmd.METRICS_COLLECT
            op = call.op = CollectOp(asyncio.get_running_loop().create_future())
            timeout = self._timeout(request.timeout_ms)
            link.open(op, kind, proto.metrics_collect_body(), proto.cmd_name(kind), timeout)
            await op.fut
        return ctl.CollectMetricsResponse(data=b"".join(op.out), sid=op.sid)

    async def Drain(self, request: ctl.DrainRequest, context: aio.ServicerContext) -> ctl.DrainResponse:
        """Stop the schedule, then wait (bounded) for every open session to end: a load test's counts
        are then final on both sides before anyone reads them."""
        self._pause_schedule()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout(request.timeout_ms)
        while (left := self.registry.open_sessions()) and loop.time() < deadline:
            await asyncio.sleep(DRAIN_POLL_S)
        self._count("Drain", "OK")
        return ctl.DrainResponse(sessions_open=left)

    async def ListDevices(
        self, request: ctl.ListDevicesRequest, context: aio.ServicerContext
    ) -> ctl.ListDevicesResponse:
        self._count("ListDevices", "OK")
        return ctl.ListDevicesResponse(device_ids=self.registry.online_ids(), protocol=self.proto.name)

    # -- streams ---------------------------------------------------------------------------------

    async def Logs(
        self, request: ctl.LogsRequest, context: aio.ServicerContext
    ) -> AsyncIterator[ctl.LogChunk]:
        proto = self.proto
        async with self._call("Logs", context) as call:
            link = self._link(request.device_id)
            body = proto.logs_body(
                request.pod_uid, request.container, tail_lines=request.tail_lines or -1, follow=request.follow
            )
            kind, payload, label = proto.command(Op.LOGS, body, runtime=proto.via_runtime(request.pod_uid))
            op = call.op = StreamOp()
            link.open(op, kind, payload, label, self._timeout(request.timeout_ms))
            async for data in op.data():
                yield ctl.LogChunk(data=data)

    async def PortForward(self, request_iterator: Any, context: aio.ServicerContext) -> None:
        proto = self.proto
        pump: asyncio.Task[None] | None = None
        async with self._call("PortForward", context) as call:
            try:
                first = await context.read()
                if first is _EOF or not first.device_id:
                    raise Failure(
                        grpc.StatusCode.INVALID_ARGUMENT, "first PortForwardFrame must name device_id"
                    )
                link = self._link(first.device_id)
                body = proto.port_forward_body(PortForwardTarget(first.pod_uid, first.port))
                runtime = proto.via_runtime(first.pod_uid)
                kind, payload, label = proto.command(Op.PORT_FORWARD, body, runtime=runtime)
                op = call.op = StreamOp()
                link.open(op, kind, payload, label, self._timeout(first.timeout_ms))
                pump = asyncio.get_running_loop().create_task(self._pump(link, op, first.data, context))
                async for data in op.data():
                    await context.write(ctl.PortForwardFrame(data=data))
            finally:
                if pump is not None:
                    pump.cancel()

    async def _pump(self, link: DeviceLink, op: StreamOp, first: bytes, context: aio.ServicerContext) -> None:
        """Operator bytes -> CMD_DATA_UPSTREAM from seq 0; the half-close becomes an empty complete frame."""
        if self.proto.flags.stream_continue:
            await op.ready.wait()  # aranya-v0.3 sends input only once the device's stream is ready
            if op.finished:  # ready is also set when the session ended (timed out) before the device was
                return
        seq = 0
        try:
            if first:
                seq = link.send_upstream(op, first, seq)
            while True:
                frame = await context.read()
                if op.finished or not link.alive:
                    return
                if frame is _EOF:
                    break
                if frame.data:
                    seq = link.send_upstream(op, frame.data, seq)
        except asyncio.CancelledError:
            raise
        except Exception:  # the operator's side broke; the handler sees that itself
            return
        if not op.finished:
            link.send_upstream(op, b"", seq, complete=True)


class _Call:
    """One control RPC's bookkeeping: its outcome counted by status (OK, the failure's code, or
    CANCELLED), a failure turned into the call's status, and its session closed on the device when
    the call ended before the session did (the operator cancelled, or gave up)."""

    __slots__ = ("context", "method", "op", "service")

    def __init__(self, service: ControlService, method: str, context: aio.ServicerContext) -> None:
        self.service, self.method, self.context = service, method, context
        self.op: Operation | None = None

    async def __aenter__(self) -> _Call:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        op = self.op
        if op is not None and not op.finished and op.link is not None:
            op.link.finish(op, "closed", close=True)
        if exc is None:
            self.service._count(self.method, "OK")
        elif isinstance(exc, Failure):
            self.service._count(self.method, exc.code.name)
            await self.context.abort(exc.code, exc.details)
        elif isinstance(exc, asyncio.CancelledError | GeneratorExit):
            self.service._count(self.method, "CANCELLED")
        return False
