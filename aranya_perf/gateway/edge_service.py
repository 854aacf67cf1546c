"""The device side of the gateway: one Sync stream from hello to goodbye, as aranya's controller runs it.

Order on a new stream (rules from aranya's connectivity manager, see docs/protocol.md):

1. A device of this suite that names another protocol version in its metadata is refused
   with FAILED_PRECONDITION naming both versions.
2. Every Msg is ignored until ``MSG_STATE {STATE_ONLINE, device_id}``; an undecodable
   MSG_STATE, or nothing within ``hello_timeout_s``, gets REJECT(INVALID_PROTO). With a
   listener per device, an online from another id than the listener's is INVALID_PROTO too
   (a mis-routed address map); an empty id takes the listener's.
3. An id another stream holds gets REJECT(ALREADY_CONNECTED) and the newcomer is closed; a
   second online on the same stream gets the same and that stream ends.
4. The connect sequence: ``CMD_NODE_INFO_GET {ALL}``, which must be answered by a node status
   (else REJECT for the initial check), a pod list (CMD_RUNTIME from v0.2; a pod status list or
   ERR_NOT_SUPPORTED are both fine), then CMD_METRICS_CONFIG. Only then is the device online
   for operators, and its periodic commands start.
5. ``MSG_STATE {STATE_OFFLINE}`` or the stream ending takes it offline; its open sessions fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio

from aranya_perf.gateway.config import GatewayConfig
from aranya_perf.gateway.emulate import Defects
from aranya_perf.gateway.link import Deadlines, DeviceLink
from aranya_perf.gateway.metrics import GatewayMetrics
from aranya_perf.gateway.operations import Failure, PeriodicOp, ProbeOp
from aranya_perf.gateway.registry import DeviceRegistry
from aranya_perf.gateway.schedule import Ticker, phase
from aranya_perf.protocol import ErrorKind, Protocol, RejectReason, Reply, mismatch
from aranya_perf.transport.grpc_sync import device_protocol
from aranya_perf.transport.stream import EOF, FrameStream

log = logging.getLogger(__name__)

_EOF = EOF


class EdgeDeviceService:
    """Serves device streams for one protocol version, whatever carries them: ``behaviour(expected_id)`` is
    what a gRPC listener runs, ``serve(stream, expected_id)`` is the same for any ``FrameStream``."""

    def __init__(
        self,
        proto: Protocol,
        config: GatewayConfig,
        metrics: GatewayMetrics,
        registry: DeviceRegistry,
        stopping: Callable[[], bool],
        defects: Defects | None = None,
    ) -> None:
        self.proto, self.config, self.metrics, self.registry = proto, config, metrics, registry
        self.defects = defects if defects is not None else Defects()
        self._stopping = stopping
        self._schedule_paused = False
        self._deadlines: Deadlines | None = None  # made on the loop that serves the first stream

    def pause_schedule(self) -> None:
        """No more periodic commands, on any device, now or later (the connect sequence still runs)."""
        self._schedule_paused = True
        for link in self.registry.links():
            for ticker in link.tickers:
                ticker.cancel()

    def behaviour(self, expected_id: str | None = None) -> Callable[[Any, aio.ServicerContext], Any]:
        """The Sync handler of a shared listener (``expected_id`` None) or of one device's listener."""

        async def sync(request_iterator: Any, context: aio.ServicerContext) -> None:
            proto = self.proto
            claimed = device_protocol(context)
            if claimed is not None and claimed != proto.name:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, mismatch(claimed, proto.name))
            await self.serve(context, expected_id)

        return sync

    # -- handshake -------------------------------------------------------------------------------

    async def serve(self, context: FrameStream, expected_id: str | None) -> None:
        """One device stream from hello to goodbye; ``expected_id`` is the id its listener (or topic
        namespace) belongs to, None for a shared listener."""
        proto = self.proto
        loop = asyncio.get_running_loop()
        started = loop.time()
        defects = self.defects
        if defects.is_locked(expected_id):
            return  # emulated lockout: closed at once, without a word
        device_id = await self._wait_online(context, expected_id)
        if device_id is None:
            return
        if defects.is_locked(device_id):
            return
        if self._stopping():
            await self._reject(context, RejectReason.INTERNAL_SERVER_ERROR, "gateway stopping")
            return
        if self._deadlines is None:
            self._deadlines = Deadlines(loop)
        link = DeviceLink(device_id, proto, self.config, self.metrics, loop, self._deadlines, defects)
        if not self.registry.claim(link):
            if defects.duplicate_lockout:
                self._lock_out(device_id, expected_id)
                return
            await self._reject(
                context, RejectReason.ALREADY_CONNECTED, f"device {device_id} is already connected"
            )
            return
        reader = loop.create_task(self._read(link, context))
        connect = loop.create_task(self._connect(link, started))
        try:
            await link.write_loop(context)
        finally:
            reader.cancel()
            connect.cancel()
            link.drop(link.end_reason or "stream ended")
            self.registry.release(link)

    async def _wait_online(self, context: FrameStream, expected_id: str | None) -> str | None:
        """The device id once the stream says online; None when it was rejected or went away first."""
        proto, cfg = self.proto, self.config
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cfg.hello_timeout_s if cfg.hello_timeout_s > 0 else None
        received, ignored = self.metrics.msgs_received, self.metrics.unsolicited
        while True:
            try:
                if deadline is None:
                    msg = await context.read()
                else:
                    msg = await asyncio.wait_for(context.read(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                await self._reject(
                    context,
                    RejectReason.INVALID_PROTO,
                    f"no MSG_STATE online within {cfg.hello_timeout_s:g}s",
                )
                return None
            except Exception:  # gone before saying hello (cancelled, reset): nothing to clean up
                return None
            if msg is _EOF:
                return None
            kind, _sid, _seq, _complete, body = proto.unpack(msg)
            received[kind].inc()
            if kind != proto.msg.STATE:
                ignored[kind].inc()  # aranya discards everything before the online message
                continue
            try:
                state, device_id = proto.read_state(body)
            except ValueError as exc:
                await self._reject(context, RejectReason.INVALID_PROTO, str(exc))
                return None
            if state == "offline":
                return None
            if state != "online":
                continue
            if expected_id is not None:
                if not device_id:
                    device_id = expected_id
                elif device_id != expected_id:
                    await self._reject(
                        context,
                        RejectReason.INVALID_PROTO,
                        f"this listener belongs to device {expected_id}, not {device_id}",
                    )
                    return None
            elif not device_id:
                await self._reject(
                    context, RejectReason.INVALID_PROTO, "MSG_STATE online without a device_id"
                )
                return None
            return device_id

    async def _reject(self, context: FrameStream, reason: RejectReason, message: str) -> None:
        proto = self.proto
        self._count_reject(reason, message)
        try:
            await context.write(proto.reject(reason, message))
        except Exception:  # the device may already be gone
            return
        self.metrics.frame_counters[proto.cmd_name(proto.cmd.REJECT)][0].inc()

    def _count_reject(self, reason: RejectReason, message: str) -> None:
        self.metrics.rejects[self.proto.reject_number(reason)].inc()
        log.debug("reject %s: %s", reason.name, message)

    def _reject_link(self, link: DeviceLink, reason: RejectReason, message: str) -> None:
        """Reject a stream that has a link: the frame goes through its writer, then the stream ends."""
        proto = self.proto
        self._count_reject(reason, message)
        counters = self.metrics.frame_counters[proto.cmd_name(proto.cmd.REJECT)]
        link.queue.put_nowait((proto.reject(reason, message), counters, None))
        link.drop(f"rejected: {message}")

    def _lock_out(self, device_id: str, expected_id: str | None) -> None:
        """Emulated duplicate lockout: the reject goes to the stream already holding the id, which stays
        open; the caller closes the newcomer unanswered; the listener turns away every later stream."""
        holder = self.registry.holder(device_id)
        if holder is not None and holder.alive:
            proto = self.proto
            message = f"device {device_id} is already connected"
            self._count_reject(RejectReason.ALREADY_CONNECTED, message)
            counters = self.metrics.frame_counters[proto.cmd_name(proto.cmd.REJECT)]
            holder.queue.put_nowait((proto.reject(RejectReason.ALREADY_CONNECTED, message), counters, None))
        self.defects.lock(expected_id if expected_id is not None else device_id)
        log.debug("device %s: duplicate online, listener locked (emulated)", device_id)

    # -- after online --------------------------------------------------------------------------

    async def _read(self, link: DeviceLink, context: FrameStream) -> None:
        why = await link.read_loop(context)
        if why == "second online message on the stream":
            self._reject_link(
                link, RejectReason.ALREADY_CONNECTED, "the device sent its online message twice"
            )
        link.drop(why)

    async def _connect(self, link: DeviceLink, started: float) -> None:
        try:
            verdict = await self._connect_sequence(link)
        except Failure as f:  # UNAVAILABLE: the stream went away during the sequence
            log.debug("device %s: connect sequence ended: %s", link.device_id, f.details)
            return
        if not link.alive:
            return
        if verdict is not None:
            self._reject_link(link, *verdict)
            return
        self.registry.mark_online(link)
        self.metrics.online_seconds.observe(asyncio.get_running_loop().time() - started)
        self._start_schedule(link)
        log.debug("device %s online", link.device_id)

    async def _probe(self, link: DeviceLink, kind: int, payload: bytes, label: str) -> ProbeOp | str:
        """Send one connect-sequence command and wait for its end; a string says why it got no answer.

        Raises ``Failure`` (UNAVAILABLE) when the stream went away meanwhile.
        """
        op = ProbeOp(asyncio.get_running_loop().create_future())
        link.open(op, kind, payload, label, self.config.session_timeout_s)
        try:
            await op.fut
        except Failure as f:
            if f.code == grpc.StatusCode.UNAVAILABLE:
                raise
            return f.details
        return op

    async def _connect_sequence(self, link: DeviceLink) -> tuple[RejectReason, str] | None:
        """Run aranya's checks on a new device; a (reason, message) pair means reject it."""
        proto = self.proto
        kind = proto.cmd.NODE_INFO_GET
        op = await self._probe(link, kind, proto.node_info_get_body(True), proto.cmd_name(kind))
        if isinstance(op, str):
            return RejectReason.NODE_CHECK_FAILURE, f"initial NODE_INFO_GET(ALL): {op}"
        if op.error is not None or op.replies != {Reply.NODE_STATUS}:
            got = (
                op.error.kind_name if op.error is not None else ", ".join(sorted(r.value for r in op.replies))
            )
            return (
                RejectReason.NODE_CHECK_FAILURE,
                f"initial NODE_INFO_GET(ALL) answered with {got or 'nothing'}",
            )
        try:
            proto.read_node_status(b"".join(op.parts))
        except ValueError as exc:
            return RejectReason.NODE_CHECK_FAILURE, f"initial NODE_INFO_GET(ALL): {exc}"

        op = await self._probe(link, *proto.pod_list_command())
        if isinstance(op, str):
            return RejectReason.POD_CHECK_FAILURE, f"initial pod list: {op}"
        if op.error is not None:
            if op.error.kind != ErrorKind.ERR_NOT_SUPPORTED:  # a device without pods is fine
                return RejectReason.POD_CHECK_FAILURE, f"initial pod list failed: {op.error.kind_name}"
        elif Reply.POD_STATUS_LIST not in op.replies:
            return RejectReason.POD_CHECK_FAILURE, "initial pod list not answered with a pod status list"
        else:
            try:
                proto.read_pod_status_list(b"".join(op.parts))
            except ValueError as exc:
                return RejectReason.POD_CHECK_FAILURE, f"initial pod list: {exc}"

        # aranya only notes whether the device collects metrics; an error here rejects nothing.
        kind = proto.cmd.METRICS_CONFIG
        await self._probe(
            link, kind, proto.metrics_config_body(self.config.metrics_collect), proto.cmd_name(kind)
        )
        return None

    def _start_schedule(self, link: DeviceLink) -> None:
        if self._schedule_paused:
            return
        proto, cfg = self.proto, self.config
        loop = asyncio.get_running_loop()
        timeout = cfg.session_timeout_s
        node_info = proto.cmd.NODE_INFO_GET
        metrics = proto.cmd.METRICS_COLLECT
        for what, interval, (kind, payload, label) in (
            (
                "node_info",
                cfg.node_info_interval_s,
                (node_info, proto.node_info_get_body(False), proto.cmd_name(node_info)),
            ),
            ("pod_list", cfg.pod_list_interval_s, proto.pod_list_command()),
            (
                "metrics",
                cfg.metrics_collect_interval_s,
                (metrics, proto.metrics_collect_body(), proto.cmd_name(metrics)),
            ),
        ):
            if interval <= 0:
                continue

            def fire(kind: int = kind, payload: bytes = payload, label: str = label) -> None:
                if link.alive:
                    link.open(PeriodicOp(), kind, payload, label, timeout)

            first = loop.time() + (phase(link.device_id, what, interval) if cfg.stagger else interval)
            link.tickers.append(
                Ticker(loop, fire, interval, first, cfg.jitter, seed=f"{link.device_id}/{what}")
            )
