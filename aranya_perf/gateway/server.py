"""The reference gateway: a grpc.aio server that plays the aranya controller.

Owns the device side (``aranya.EdgeDevice/Sync``: registration, rejects, the
command schedule, session multiplexing, timeouts) and the operator side
(``aranyaperf.control.Control``: Exec, Logs, PortForward, ListDevices mapped onto
device sessions). Both services share one server and one event loop.

Per device stream there is one writer (the Sync handler coroutine draining an
``asyncio.Queue``, so frames from many operator sessions interleave safely) and one
reader task (dispatching each Msg by sid with a dict lookup). Periodic commands and
session deadlines are ``loop.call_at`` timer handles rather than tasks or a
sweeper: an idle fleet of thousands of devices then costs nothing between events,
and a finished session's deadline is a cancelled handle, not a scan.

Conventions on the wire (see docs/protocol.md):

- The gateway numbers every frame it sends in a session (``Session.take_seq``): the
  opening Cmd is seq 0, so CMD_DATA_UPSTREAM starts at 1. The opening Cmd has
  ``completed`` set, except CMD_POD_PORT_FORWARD (operator data follows).
- Every device frame of a session, MSG_DONE and MSG_ERROR included, goes through the
  session's ``Reassembler``; the session ends when MSG_DONE, MSG_ERROR or a
  ``completed`` frame is delivered in order.
- CMD_SESSION_CLOSE carries the sid in its header and in ``SessionCloseCmd.sid``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import zlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc import aio

from aranya_perf import codec
from aranya_perf.gateway.config import GatewayConfig
from aranya_perf.gateway.metrics import GatewayMetrics, kind_name
from aranya_perf.gc_policy import FreezeOnGrowth
from aranya_perf.proto import aranya_pb2 as pb
from aranya_perf.proto import aranya_pb2_grpc as pb_grpc
from aranya_perf.proto import control_pb2 as ctl
from aranya_perf.proto import control_pb2_grpc as ctl_grpc
from aranya_perf.session import Session, SessionTable
from aranya_perf.targets import TargetError, format_address, parse_address

log = logging.getLogger(__name__)

_StatusCode = grpc.StatusCode
_EOF = aio.EOF
GC_CHECK_INTERVAL_S = 2.0
_MSG_DONE = pb.MSG_DONE
_MSG_ERROR = pb.MSG_ERROR
_MSG_STATE = pb.MSG_STATE
_MSG_DATA_STDERR = pb.MSG_DATA_STDERR
_DATA_KINDS = frozenset({pb.MSG_DATA_DEFAULT, pb.MSG_DATA_STDERR})

_NODE_INFO_ALL = pb.NodeInfoGetCmd(kind=pb.NodeInfoGetCmd.NODE_INFO_ALL).SerializeToString()
_NODE_INFO_DYN = pb.NodeInfoGetCmd(kind=pb.NodeInfoGetCmd.NODE_INFO_DYN).SerializeToString()

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

_ERROR_CODES = {
    pb.ErrorMsg.ERR_NOT_FOUND: _StatusCode.NOT_FOUND,
    pb.ErrorMsg.ERR_NOT_SUPPORTED: _StatusCode.UNIMPLEMENTED,
    pb.ErrorMsg.ERR_TIMEOUT: _StatusCode.DEADLINE_EXCEEDED,
}
"""Device ErrorMsg kind -> status of the operator's call; anything else is UNKNOWN."""


class GatewayError(Exception):
    """The gateway could not start (address in use, unreadable TLS files, ...); one-line message."""


class _Failure(Exception):
    """How an operator call fails: a gRPC status code and details."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def _device_error(err: pb.ErrorMsg) -> _Failure:
    name = pb.ErrorMsg.Kind.Name(err.kind) if err.kind in pb.ErrorMsg.Kind.values() else str(err.kind)
    details = f"{name}: {err.description}" if err.description else name
    if err.code:
        details += f" (code {err.code})"
    return _Failure(_ERROR_CODES.get(err.kind, _StatusCode.UNKNOWN), details)


# -- sessions --------------------------------------------------------------------------------


class _Op:
    """One session the gateway opened on a device stream, and whoever waits for its end."""

    __slots__ = ("dev", "finished", "kind", "sent_at", "sess", "timeout", "timer")

    dev: _Device
    sess: Session
    kind: int
    sent_at: float  # loop time the opening Cmd was written (opened_at until then)
    timeout: float
    timer: asyncio.TimerHandle | None
    finished: bool

    def on_data(self, chunk: codec.Chunk) -> None:
        """An in-order frame that is neither MSG_DONE nor MSG_ERROR."""

    def on_error(self, err: pb.ErrorMsg) -> tuple[int, _Failure | None]:
        """(exit code, failure) for a device ErrorMsg."""
        return 0, _device_error(err)

    def end(self, exit_code: int, failure: _Failure | None) -> None:
        """The session is over; wake the waiter (called exactly once)."""


class _PeriodicOp(_Op):
    """Node info / metrics collection: nobody waits, the answer is only timed and dropped."""

    __slots__ = ()


class _ExecOp(_Op):
    __slots__ = ("err", "fut", "out")

    def __init__(self, fut: asyncio.Future[int]) -> None:
        self.fut = fut
        self.out: list[bytes] = []
        self.err: list[bytes] = []

    def on_data(self, chunk: codec.Chunk) -> None:
        kind = chunk.kind
        if kind in _DATA_KINDS:
            (self.err if kind == _MSG_DATA_STDERR else self.out).append(chunk.body)

    def on_error(self, err: pb.ErrorMsg) -> tuple[int, _Failure | None]:
        # A command that ran and failed is still an answer: kubectl reports its exit code.
        if err.kind == pb.ErrorMsg.ERR_COMMON and err.code:
            return max(_INT32_MIN, min(_INT32_MAX, err.code)), None
        return 0, _device_error(err)

    def end(self, exit_code: int, failure: _Failure | None) -> None:
        fut = self.fut
        if fut.done():  # the operator's call was cancelled
            return
        if failure is None:
            fut.set_result(exit_code)
        else:
            fut.set_exception(failure)


_END = None  # stream-op queue item: the session finished normally


class _StreamOp(_Op):
    """Logs and PortForward: device data is handed to the operator's handler as it arrives."""

    __slots__ = ("queue",)

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | _Failure | None] = asyncio.Queue()

    def on_data(self, chunk: codec.Chunk) -> None:
        if chunk.body and chunk.kind in _DATA_KINDS:
            self.queue.put_nowait(chunk.body)

    def end(self, exit_code: int, failure: _Failure | None) -> None:
        self.queue.put_nowait(_END if failure is None else failure)


# -- devices ---------------------------------------------------------------------------------


class _Device:
    """One registered Sync stream."""

    __slots__ = ("alive", "device_id", "ops", "queue", "table", "tickers")

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.alive = True
        # Items: (frame, counters to bump once written, op whose sent_at to stamp) or None = end.
        self.queue: asyncio.Queue[tuple[pb.Cmd, tuple[Any, ...], _Op | None] | None] = asyncio.Queue()
        self.table = SessionTable()
        self.ops: dict[int, _Op] = {}
        self.tickers: list[_Ticker] = []


class _Ticker:
    """A periodic command for one device, rescheduled from its own callback (no task)."""

    __slots__ = ("body", "dev", "gw", "handle", "interval", "kind", "when")

    def __init__(
        self, gw: Gateway, dev: _Device, kind: int, body: bytes, interval: float, first: float
    ) -> None:
        self.gw, self.dev, self.kind, self.body, self.interval = gw, dev, kind, body, interval
        self.when = first
        self.handle = gw._loop.call_at(first, self.fire)

    def fire(self) -> None:
        gw, dev = self.gw, self.dev
        if not dev.alive:
            return
        gw._open(dev, self.kind, self.body, _PeriodicOp(), gw.config.session_timeout_s)
        loop = gw._loop
        when = self.when + self.interval
        now = loop.time()
        if when <= now:  # the loop stalled past a whole period: skip, don't burst
            when = now + self.interval
        self.when = when
        self.handle = loop.call_at(when, self.fire)

    def cancel(self) -> None:
        self.handle.cancel()


def _phase(device_id: str, kind: int, interval: float) -> float:
    # crc32, not hash(): str hashes are salted per process and runs should repeat.
    return zlib.crc32(f"{device_id}/{kind}".encode()) / 2**32 * interval


# -- the gateway -----------------------------------------------------------------------------


class Gateway:
    """The reference gateway. Create, ``await start()``, ``await stop()`` (once); all on one event loop."""

    def __init__(self, config: GatewayConfig | None = None) -> None:
        self.config = config if config is not None else GatewayConfig()
        self.metrics = GatewayMetrics()
        self._devices: dict[str, _Device] = {}
        self._server: aio.Server | None = None
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set in start()
        self._address = ""
        self._metrics_address = ""
        self._stopping = False
        self._open_sessions = 0
        self._gc = FreezeOnGrowth()
        self._gc_task: asyncio.Task[None] | None = None
        self.metrics.sessions_open.set_function(lambda: self._open_sessions)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` the gRPC server is bound to (after ``start``)."""
        return self._address

    @property
    def metrics_address(self) -> str:
        """``host:port`` of the Prometheus endpoint (path ``/metrics``)."""
        return self._metrics_address

    def devices_online(self) -> list[str]:
        """Ids of the devices holding a registered stream, in connect order."""
        return list(self._devices)

    async def start(self, listen: str = "127.0.0.1:0", metrics_listen: str = "127.0.0.1:0") -> None:
        """Bind both endpoints and start serving. Raises ``GatewayError`` if either cannot be bound.

        Does not apply the loopback rule: callers (the CLI) decide what may be exposed.
        """
        if self._server is not None:
            raise RuntimeError("gateway already started")
        try:
            host, port = parse_address(listen)
            m_host, m_port = parse_address(metrics_listen)
        except TargetError as exc:
            raise GatewayError(str(exc)) from None
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        # Checked with a plain socket first: grpc reports a busy port only as a RuntimeError
        # plus a multi-line log on stderr.
        _check_bindable(host, port)
        limit = cfg.max_message_bytes
        server = aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                # Without this a second gateway (or a stale one) could share the port silently.
                ("grpc.so_reuseport", 0),
                # Devices may keep idle streams alive with pings; don't GOAWAY them for it.
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 5000),
                ("grpc.http2.max_ping_strikes", 0),
                # RPCs that grpc core holds before the Python server picks them up. The
                # defaults (1000 soft, 3000 hard) cancel streams during a connect storm:
                # measured ~150 of 5,000 devices got CANCELLED before reaching Sync.
                ("grpc.server.max_pending_requests", 20000),
                ("grpc.server.max_pending_requests_hard_limit", 40000),
            ]
        )
        pb_grpc.add_EdgeDeviceServicer_to_server(_EdgeDeviceService(self), server)
        ctl_grpc.add_ControlServicer_to_server(_ControlService(self), server)
        target = format_address(host, port)
        try:
            if cfg.tls:
                bound = server.add_secure_port(target, _server_credentials(cfg))
            else:
                bound = server.add_insecure_port(target)
        except RuntimeError as exc:
            raise GatewayError(f"cannot listen on {target}: {exc}".split(";")[0]) from None
        await server.start()
        try:
            m_bound = await asyncio.to_thread(self.metrics.serve_http, m_host, m_port)
        except OSError as exc:
            await server.stop(None)
            where = format_address(m_host, m_port)
            raise GatewayError(f"cannot serve metrics on {where}: {exc.strerror or exc}") from None
        self._server = server
        if cfg.gc_freeze:
            self._gc_task = self._loop.create_task(self._gc_watch())
        self._address = format_address(host, bound)
        self._metrics_address = format_address(m_host, m_bound)
        log.info(
            "gateway listening on %s (tls=%s), metrics on http://%s/metrics",
            self._address,
            cfg.tls,
            self._metrics_address,
        )

    async def stop(self, grace: float | None = 1.0) -> None:
        """End every device stream (status OK), fail pending operator calls (UNAVAILABLE), stop serving.

        In-flight RPCs get ``grace`` seconds to finish before they are cancelled.
        """
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping = True
        if self._gc_task is not None:
            self._gc_task.cancel()
        for dev in list(self._devices.values()):
            self._drop(dev, "gateway stopping")
        try:
            await server.stop(grace)
        finally:
            await asyncio.to_thread(self.metrics.stop_http)
        log.info("gateway stopped")

    async def _gc_watch(self) -> None:
        while True:
            await asyncio.sleep(GC_CHECK_INTERVAL_S)
            self._gc.check(len(self._devices))

    # -- device streams ----------------------------------------------------------------------

    async def _sync(self, request_iterator: Any, context: aio.ServicerContext) -> None:
        cfg = self.config
        try:
            if cfg.hello_timeout_s > 0:
                first = await asyncio.wait_for(context.read(), cfg.hello_timeout_s)
            else:
                first = await context.read()
        except TimeoutError:
            await self._reject(
                context, pb.RejectCmd.REJECTION_INVALID_PROTO, f"no MSG_STATE within {cfg.hello_timeout_s:g}s"
            )
            return
        except Exception:  # gone before saying hello (cancelled, reset): nothing to clean up
            return
        if first is _EOF:
            return
        self.metrics.msgs_received[first.header.kind].inc()
        device_id = _online_device_id(first)
        if device_id is None:
            await self._reject(
                context,
                pb.RejectCmd.REJECTION_INVALID_PROTO,
                "first message must be MSG_STATE STATE_ONLINE with a device_id",
            )
            return
        if self._stopping:
            await self._reject(context, pb.RejectCmd.REJECTION_INTERNAL_SERVER_ERROR, "gateway stopping")
            return
        if device_id in self._devices:
            # aranya keeps the stream it has and turns the newcomer away.
            await self._reject(
                context, pb.RejectCmd.REJECTION_ALREADY_CONNECTED, f"device {device_id} is already connected"
            )
            return

        dev = _Device(device_id)
        self._register(dev)
        reader = self._loop.create_task(self._read_loop(dev, context))
        try:
            await self._write_loop(dev, context)
        finally:
            reader.cancel()
            self._drop(dev, "stream ended")

    async def _reject(self, context: aio.ServicerContext, reason: int, message: str) -> None:
        self.metrics.rejects[reason].inc()
        log.debug("reject %s: %s", pb.RejectCmd.Reason.Name(reason), message)
        reject = pb.RejectCmd(reason=reason, message=message)
        with contextlib.suppress(Exception):  # the device may already be gone
            await context.write(codec.new_cmd(pb.CMD_REJECT, 0, reject, completed=True))
            self.metrics.frame_counters[pb.CMD_REJECT][0].inc()

    def _register(self, dev: _Device) -> None:
        self._devices[dev.device_id] = dev
        m = self.metrics
        m.devices_online.inc()
        m.device_connects.inc()
        cfg = self.config
        timeout = cfg.session_timeout_s
        self._open(dev, pb.CMD_NODE_INFO_GET, _NODE_INFO_ALL, _PeriodicOp(), timeout)
        now = self._loop.time()
        for kind, body, interval in (
            (pb.CMD_NODE_INFO_GET, _NODE_INFO_DYN, cfg.node_info_interval_s),
            (pb.CMD_METRICS_COLLECT, b"", cfg.metrics_collect_interval_s),
        ):
            if interval > 0:
                first = now + (_phase(dev.device_id, kind, interval) if cfg.stagger else interval)
                dev.tickers.append(_Ticker(self, dev, kind, body, interval, first))
        log.debug("device %s online", dev.device_id)

    def _drop(self, dev: _Device, why: str) -> None:
        """Deregister ``dev`` and fail its sessions; idempotent. Also ends its writer loop."""
        if not dev.alive:
            return
        dev.alive = False
        dev.queue.put_nowait(None)
        if self._devices.get(dev.device_id) is dev:
            del self._devices[dev.device_id]
            self.metrics.devices_online.dec()
            self.metrics.device_disconnects.inc()
        for ticker in dev.tickers:
            ticker.cancel()
        if dev.ops:
            failure = _Failure(_StatusCode.UNAVAILABLE, f"device {dev.device_id} went offline ({why})")
            for op in list(dev.ops.values()):
                self._finish(op, "closed", failure=failure)
        log.debug("device %s offline: %s", dev.device_id, why)

    async def _write_loop(self, dev: _Device, context: aio.ServicerContext) -> None:
        # The only coroutine that writes to this stream: grpc allows one write in flight.
        get = dev.queue.get
        write = context.write
        time = self._loop.time
        try:
            while True:
                item = await get()
                if item is None:
                    return
                frame, counters, op = item
                await write(frame)
                for counter in counters:
                    counter.inc()
                if op is not None:
                    op.sent_at = time()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the stream broke; the caller drops the device
            log.debug("device %s: write failed: %s", dev.device_id, exc)

    async def _read_loop(self, dev: _Device, context: aio.ServicerContext) -> None:
        read = context.read
        ops = dev.ops
        m = self.metrics
        received, unsolicited = m.msgs_received, m.unsolicited
        why = "stream closed by device"
        try:
            while True:
                msg = await read()
                if msg is _EOF:
                    break
                header = msg.header
                kind = header.kind
                received[kind].inc()
                sid = header.sid
                if sid:
                    op = ops.get(sid)
                    if op is not None:
                        self._on_session_msg(op, header, msg.body)
                        continue
                elif kind == _MSG_STATE:
                    state = _parse(pb.StateMsg, msg.body)
                    if state is not None and state.kind == pb.StateMsg.STATE_OFFLINE:
                        why = "device went offline"
                        break
                    continue
                # Status pushes (sid 0) and late frames of sessions already ended.
                unsolicited[kind].inc()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the RPC broke under us (device cancelled, connection reset)
            why = f"stream error: {exc.__class__.__name__}"
        self._drop(dev, why)

    # -- sessions ----------------------------------------------------------------------------

    def _open(
        self, dev: _Device, kind: int, body: bytes | Any, op: _Op, timeout: float, *, completed: bool = True
    ) -> _Op:
        """Open a session for ``op`` on ``dev`` and queue its opening Cmd."""
        loop = self._loop
        now = loop.time()
        sess = dev.table.open(kind, now=now, timeout=timeout if timeout > 0 else None)
        sid = sess.sid
        op.dev, op.sess, op.kind, op.sent_at, op.timeout, op.finished = dev, sess, kind, now, timeout, False
        op.timer = loop.call_at(now + timeout, self._on_timeout, op) if timeout > 0 else None
        dev.ops[sid] = op
        self._open_sessions += 1
        cmd = codec.new_cmd(kind, sid, body, seq=sess.take_seq(), completed=completed)
        dev.queue.put_nowait((cmd, self.metrics.command_counters[kind], op))
        return op

    def _send(self, op: _Op, frame: pb.Cmd) -> None:
        """Queue a further (non-opening) frame of ``op``'s session."""
        op.dev.queue.put_nowait((frame, self.metrics.frame_counters[frame.header.kind], None))

    def _on_session_msg(self, op: _Op, header: pb.Header, body: bytes) -> None:
        try:
            chunks = op.sess.rx.feed(header, body)
        except codec.ReassemblyError as exc:
            kind = header.kind
            if kind in (_MSG_DONE, _MSG_ERROR):
                # A device that numbers its final frame oddly still ended the session.
                chunks = [codec.Chunk(kind, header.seq, body, True)]
            else:
                self._finish(op, "error", failure=_Failure(_StatusCode.INTERNAL, str(exc)), close=True)
                return
        for chunk in chunks:
            kind = chunk.kind
            if kind == _MSG_ERROR:
                err = _parse(pb.ErrorMsg, chunk.body)
                if err is None:
                    err = pb.ErrorMsg(description="undecodable ErrorMsg body")
                exit_code, failure = op.on_error(err)
                self._finish(op, "error", failure=failure, exit_code=exit_code)
                return
            if kind == _MSG_DONE:
                self._finish(op, "done")
                return
            op.on_data(chunk)
            if chunk.completed:
                self._finish(op, "done")
                return

    def _on_timeout(self, op: _Op) -> None:
        op.timer = None
        failure = _Failure(
            _StatusCode.DEADLINE_EXCEEDED,
            f"ERR_TIMEOUT: device {op.dev.device_id} did not finish {kind_name(op.kind)} "
            f"session {op.sess.sid} within {op.timeout:g}s",
        )
        self._finish(op, "timeout", failure=failure, close=True)

    def _finish(
        self,
        op: _Op,
        outcome: str,
        *,
        failure: _Failure | None = None,
        exit_code: int = 0,
        close: bool = False,
    ) -> None:
        """End ``op``'s session once: bookkeeping, metrics, optional CMD_SESSION_CLOSE, wake the waiter."""
        if op.finished:
            return
        op.finished = True
        dev, sess, kind = op.dev, op.sess, op.kind
        sid = sess.sid
        dev.ops.pop(sid, None)
        dev.table.close(sid)
        self._open_sessions -= 1
        if op.timer is not None:
            op.timer.cancel()
            op.timer = None
        m = self.metrics
        m.sessions_completed[(kind, outcome)].inc()
        if outcome == "done" or outcome == "error":
            # A round trip needs an answer: timeouts and closes are counted, not timed.
            m.session_rtt[kind].observe(self._loop.time() - op.sent_at)
        elif outcome == "timeout":
            m.session_timeouts[kind].inc()
        if close and dev.alive:
            body = pb.SessionCloseCmd(sid=sid)
            self._send(
                op, codec.new_cmd(pb.CMD_SESSION_CLOSE, sid, body, seq=sess.take_seq(), completed=True)
            )
        op.end(exit_code, failure)

    def _device_for(self, device_id: str) -> _Device:
        dev = self._devices.get(device_id)
        if dev is None:
            raise _Failure(_StatusCode.NOT_FOUND, f"device {device_id!r} not online")
        return dev

    def _timeout(self, timeout_ms: int) -> float:
        return timeout_ms / 1000.0 if timeout_ms else self.config.session_timeout_s

    def _count(self, method: str, code: str) -> None:
        self.metrics.control_requests[(method, code)].inc()

    # -- control service ---------------------------------------------------------------------

    async def _exec(self, request: ctl.ExecRequest, context: aio.ServicerContext) -> ctl.ExecResponse:
        op: _ExecOp | None = None
        try:
            dev = self._device_for(request.device_id)
            body = pb.ContainerExecOrAttachCmd(
                pod_uid=request.pod_uid,
                container=request.container,
                stdout=True,
                stderr=True,
                command=request.command,
                envs=dict(request.envs),
            )
            op = _ExecOp(self._loop.create_future())
            self._open(dev, pb.CMD_POD_CTR_EXEC, body, op, self._timeout(request.timeout_ms))
            exit_code = await op.fut
        except _Failure as f:
            self._count("Exec", f.code.name)
            await context.abort(f.code, f.details)
        except asyncio.CancelledError:
            self._count("Exec", "CANCELLED")
            raise
        finally:
            if op is not None and not op.finished:  # the operator went away: tell the device
                self._finish(op, "closed", close=True)
        self._count("Exec", "OK")
        return ctl.ExecResponse(
            stdout=b"".join(op.out), stderr=b"".join(op.err), exit_code=exit_code, sid=op.sess.sid
        )

    async def _logs(
        self, request: ctl.LogsRequest, context: aio.ServicerContext
    ) -> AsyncIterator[ctl.LogChunk]:
        # The session timeout bounds the whole call (not the gap between chunks), so a
        # ``follow`` stream needs a timeout_ms as long as the operator wants to follow.
        op: _StreamOp | None = None
        try:
            dev = self._device_for(request.device_id)
            body = pb.ContainerLogsCmd(
                pod_uid=request.pod_uid,
                container=request.container,
                follow=request.follow,
                tail_lines=request.tail_lines,
            )
            op = _StreamOp()
            self._open(dev, pb.CMD_POD_CTR_LOGS, body, op, self._timeout(request.timeout_ms))
            get = op.queue.get
            while True:
                item = await get()
                if item.__class__ is bytes:
                    yield ctl.LogChunk(data=item)
                elif item is _END:
                    break
                else:
                    raise item
        except _Failure as f:
            self._count("Logs", f.code.name)
            await context.abort(f.code, f.details)
        except (asyncio.CancelledError, GeneratorExit):
            self._count("Logs", "CANCELLED")
            raise
        finally:
            if op is not None and not op.finished:
                self._finish(op, "closed", close=True)
        self._count("Logs", "OK")

    async def _port_forward(self, request_iterator: Any, context: aio.ServicerContext) -> None:
        # Session timeout = whole-call deadline here too; pass timeout_ms for long forwards.
        op: _StreamOp | None = None
        pump: asyncio.Task[None] | None = None
        try:
            first = await context.read()
            if first is _EOF or not first.device_id:
                raise _Failure(_StatusCode.INVALID_ARGUMENT, "first PortForwardFrame must name device_id")
            dev = self._device_for(first.device_id)
            body = pb.PodPortForwardCmd(pod_uid=first.pod_uid, port=first.port, protocol="tcp")
            op = _StreamOp()
            self._open(
                dev, pb.CMD_POD_PORT_FORWARD, body, op, self._timeout(first.timeout_ms), completed=False
            )
            upstream = _Upstream(self, op)
            if first.data:
                upstream.send(first.data)
            pump = self._loop.create_task(upstream.pump(context))
            get = op.queue.get
            write = context.write
            while True:
                item = await get()
                if item.__class__ is bytes:
                    await write(ctl.PortForwardFrame(data=item))
                elif item is _END:
                    break
                else:
                    raise item
        except _Failure as f:
            self._count("PortForward", f.code.name)
            await context.abort(f.code, f.details)
        except asyncio.CancelledError:
            self._count("PortForward", "CANCELLED")
            raise
        finally:
            if pump is not None:
                pump.cancel()
            if op is not None and not op.finished:
                self._finish(op, "closed", close=True)
        self._count("PortForward", "OK")

    async def _list_devices(
        self, request: ctl.ListDevicesRequest, context: aio.ServicerContext
    ) -> ctl.ListDevicesResponse:
        self._count("ListDevices", "OK")
        return ctl.ListDevicesResponse(device_ids=list(self._devices))


class _Upstream:
    """Operator -> device bytes of one port-forward session, as CMD_DATA_UPSTREAM frames."""

    __slots__ = ("gw", "op")

    def __init__(self, gw: Gateway, op: _Op) -> None:
        self.gw, self.op = gw, op

    def send(self, data: bytes, *, complete: bool = False) -> None:
        op = self.op
        sess = op.sess
        frames = codec.chunk_frames(
            pb.Cmd,
            pb.CMD_DATA_UPSTREAM,
            sess.sid,
            data,
            max_payload=self.gw.config.max_payload,
            start_seq=sess.next_seq,
            complete=complete,
        )
        send = self.gw._send
        for frame in frames:
            send(op, frame)
            sess.next_seq += 1

    async def pump(self, context: aio.ServicerContext) -> None:
        op = self.op
        try:
            while True:
                frame = await context.read()
                if op.finished or not op.dev.alive:
                    return
                if frame is _EOF:
                    break
                if frame.data:
                    self.send(frame.data)
        except asyncio.CancelledError:
            raise
        except Exception:  # the operator's side broke; the handler sees that itself
            return
        # Operator half-closed: one empty completed frame, then wait for the device to finish.
        self.send(b"", complete=True)


# -- helpers ---------------------------------------------------------------------------------


def _parse(message_type: Any, body: bytes) -> Any:
    try:
        return message_type.FromString(body)
    except Exception:  # DecodeError; a device sending garbage must not break the stream
        return None


def _online_device_id(msg: pb.Msg) -> str | None:
    if msg.header.kind != _MSG_STATE:
        return None
    state = _parse(pb.StateMsg, msg.body)
    if state is None or state.kind != pb.StateMsg.STATE_ONLINE or not state.device_id:
        return None
    return state.device_id


def _check_bindable(host: str, port: int) -> None:
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise GatewayError(f"cannot listen on {format_address(host, port)}: {exc}") from None
    family, type_, proto, _, sockaddr = infos[0]
    with socket.socket(family, type_, proto) as probe:
        # Same flag grpc sets, so a port in TIME_WAIT is not reported busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            raise GatewayError(
                f"cannot listen on {format_address(host, port)}: {exc.strerror or exc}"
            ) from None


def _server_credentials(cfg: GatewayConfig) -> grpc.ServerCredentials:
    def read(path: str | None) -> bytes | None:
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise GatewayError(f"cannot read {path}: {exc.strerror or exc}") from None

    cert, key, ca = read(cfg.tls_cert_file), read(cfg.tls_key_file), read(cfg.tls_client_ca_file)
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )


class _EdgeDeviceService(pb_grpc.EdgeDeviceServicer):
    def __init__(self, gw: Gateway) -> None:
        self.Sync = gw._sync


class _ControlService(ctl_grpc.ControlServicer):
    def __init__(self, gw: Gateway) -> None:
        self.Exec = gw._exec
        self.Logs = gw._logs
        self.PortForward = gw._port_forward
        self.ListDevices = gw._list_devices
