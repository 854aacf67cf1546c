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
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc import aio

from aranya_perf.gateway.config import GatewayConfig
from aranya_perf.gateway.link import DeviceLink
from aranya_perf.gateway.metrics import GatewayMetrics
from aranya_perf.gateway.operations import END, CollectOp, ExecOp, Failure, Operation, StreamOp
from aranya_perf.gateway.registry import DeviceRegistry
from aranya_perf.protocol import Op, PortForwardTarget, Protocol
from aranya_perf.protocol.control import ControlServicer
from aranya_perf.protocol.control import messages as ctl

_EOF = aio.EOF


class ControlService(ControlServicer):
    def __init__(
        self, proto: Protocol, config: GatewayConfig, metrics: GatewayMetrics, registry: DeviceRegistry
    ) -> None:
        self.proto, self.config, self.metrics, self.registry = proto, config, metrics, registry

    def _link(self, device_id: str) -> DeviceLink:
        link = self.registry.get(device_id)
        if link is None:
            raise Failure(grpc.StatusCode.NOT_FOUND, f"device {device_id!r} not online")
        return link

    def _timeout(self, timeout_ms: int) -> float:
        return timeout_ms / 1000.0 if timeout_ms else self.config.session_timeout_s

    def _count(self, method: str, code: str) -> None:
        self.metrics.control_requests[(method, code)].inc()

    @staticmethod
    def _abandon(op: Operation | None) -> None:
        """The operator's call ended first (cancel, error): close the session on the device."""
        if op is not None and not op.finished and op.link is not None:
            op.link.finish(op, "closed", close=True)

    # -- unary -----------------------------------------------------------------------------------

    async def Exec(self, request: ctl.ExecRequest, context: aio.ServicerContext) -> ctl.ExecResponse:
        proto = self.proto
        op: ExecOp | None = None
        try:
            link = self._link(request.device_id)
            body = proto.exec_body(request.pod_uid, request.container, request.command, request.envs)
            kind, payload, label = proto.command(Op.EXEC, body, runtime=proto.via_runtime(request.pod_uid))
            op = ExecOp(asyncio.get_running_loop().create_future())
            link.open(op, kind, payload, label, self._timeout(request.timeout_ms))
            exit_code = await op.fut
        except Failure as f:
            self._count("Exec", f.code.name)
            await context.abort(f.code, f.details)
        except asyncio.CancelledError:
            self._count("Exec", "CANCELLED")
            raise
        finally:
            self._abandon(op)
        self._count("Exec", "OK")
        return ctl.ExecResponse(
            stdout=b"".join(op.out), stderr=b"".join(op.err), exit_code=exit_code, sid=op.sid
        )

    async def CollectMetrics(
        self, request: ctl.CollectMetricsRequest, context: aio.ServicerContext
    ) -> ctl.CollectMetricsResponse:
        proto = self.proto
        op: CollectOp | None = None
        try:
            link = self._link(request.device_id)
            kind = proto.cmd.METRICS_COLLECT
            op = CollectOp(asyncio.get_running_loop().create_future())
            link.open(
                op,
                kind,
                proto.metrics_collect_body(),
                proto.cmd_name(kind),
                self._timeout(request.timeout_ms),
            )
            await op.fut
        except Failure as f:
            self._count("CollectMetrics", f.code.name)
            await context.abort(f.code, f.details)
        except asyncio.CancelledError:
            self._count("CollectMetrics", "CANCELLED")
            raise
        finally:
            self._abandon(op)
        self._count("CollectMetrics", "OK")
        return ctl.CollectMetricsResponse(data=b"".join(op.out), sid=op.sid)

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
        op: StreamOp | None = None
        try:
            link = self._link(request.device_id)
            body = proto.logs_body(
                request.pod_uid, request.container, tail_lines=request.tail_lines or -1, follow=request.follow
            )
            kind, payload, label = proto.command(Op.LOGS, body, runtime=proto.via_runtime(request.pod_uid))
            op = StreamOp()
            link.open(op, kind, payload, label, self._timeout(request.timeout_ms))
            get = op.queue.get
            while True:
                item = await get()
                if item.__class__ is bytes:
                    yield ctl.LogChunk(data=item)
                elif item is END:
                    break
                else:
                    raise item  # type: ignore[misc]
        except Failure as f:
            self._count("Logs", f.code.name)
            await context.abort(f.code, f.details)
        except (asyncio.CancelledError, GeneratorExit):
            self._count("Logs", "CANCELLED")
            raise
        finally:
            self._abandon(op)
        self._count("Logs", "OK")

    async def PortForward(self, request_iterator: Any, context: aio.ServicerContext) -> None:
        proto = self.proto
        op: StreamOp | None = None
        pump: asyncio.Task[None] | None = None
        try:
            first = await context.read()
            if first is _EOF or not first.device_id:
                raise Failure(grpc.StatusCode.INVALID_ARGUMENT, "first PortForwardFrame must name device_id")
            link = self._link(first.device_id)
            body = proto.port_forward_body(PortForwardTarget(first.pod_uid, first.port))
            kind, payload, label = proto.command(
                Op.PORT_FORWARD, body, runtime=proto.via_runtime(first.pod_uid)
            )
            op = StreamOp()
            link.open(op, kind, payload, label, self._timeout(first.timeout_ms))
            pump = asyncio.get_running_loop().create_task(self._pump(link, op, first.data, context))
            get = op.queue.get
            write = context.write
            while True:
                item = await get()
                if item.__class__ is bytes:
                    await write(ctl.PortForwardFrame(data=item))
                elif item is END:
                    break
                else:
                    raise item  # type: ignore[misc]
        except Failure as f:
            self._count("PortForward", f.code.name)
            await context.abort(f.code, f.details)
        except asyncio.CancelledError:
            self._count("PortForward", "CANCELLED")
            raise
        finally:
            if pump is not None:
                pump.cancel()
            self._abandon(op)
        self._count("PortForward", "OK")

    async def _pump(self, link: DeviceLink, op: StreamOp, first: bytes, context: aio.ServicerContext) -> None:
        """Operator bytes -> CMD_DATA_UPSTREAM from seq 0; the half-close becomes an empty complete frame."""
        if self.proto.flags.stream_continue:
            await op.ready.wait()  # aranya-v0.3 sends input only once the device's stream is ready
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
