"""One simulated arhat agent as an asyncio coroutine: the device side of EdgeDevice.Sync.

Locust-free on purpose: ``DeviceUser`` runs it on the load engine, and
benchmarks can run it on a plain loop. It connects, announces itself online,
answers every command kind with realistic payloads, pushes status
periodically, and reconnects with exponential backoff. Everything it observes
goes to ``report(request_type, name, response_time_ms, length, exception)``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from grpc import aio

from aranya_perf import codec
from aranya_perf.proto import aranya_pb2 as pb
from aranya_perf.proto import aranya_pb2_grpc as pb_grpc
from aranya_perf.session import Session, SessionTable
from loadtests import payloads

REQUEST_TYPE = "device"

Reporter = Callable[[str, str, float, int, BaseException | None], None]


@dataclass(frozen=True)
class DeviceProfile:
    """How a simulated device behaves; sizes in bytes, times in seconds."""

    node_status_bytes: int = payloads.NODE_STATUS_BYTES
    metrics_bytes: int = payloads.METRICS_BYTES
    exec_stdout_bytes: int = payloads.EXEC_STDOUT_BYTES
    log_line_bytes: int = payloads.LOG_LINE_BYTES
    default_log_lines: int = 100
    status_push_interval_s: float = 10.0
    max_payload: int = codec.DEFAULT_MAX_PAYLOAD
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 10.0


class DeviceRejected(Exception):
    """The gateway sent CMD_REJECT."""


class StreamEnded(Exception):
    """The gateway ended the Sync stream."""


def jittered(backoff: float, rng: random.Random) -> float:
    """A wait in [backoff/2, backoff]: jitter keeps a fleet that lost its gateway from reconnecting
    in lockstep, the floor keeps the growth exponential."""
    return backoff / 2 + rng.uniform(0, backoff / 2)


def _kind_name(kind: int) -> str:
    return pb.Kind.Name(kind)


class DeviceAgent:
    """The device ``device_id`` on ``channel``; ``run()`` until cancelled."""

    def __init__(
        self,
        device_id: str,
        channel: aio.Channel,
        report: Reporter,
        profile: DeviceProfile = DeviceProfile(),
        metadata: tuple[tuple[str, str], ...] | None = None,
        seed: int | None = None,
    ) -> None:
        self.device_id = device_id
        self.profile = profile
        self._stub = pb_grpc.EdgeDeviceStub(channel)
        self._channel = channel
        self._report = report
        self._metadata = metadata
        self._rng = random.Random(seed if seed is not None else device_id)
        self._call: aio.StreamStreamCall | None = None
        self._write_lock = asyncio.Lock()
        self._sessions = SessionTable()
        self.online = False
        self.connects = 0
        self.commands = 0

    # -- main loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        backoff = self.profile.backoff_initial_s
        while True:
            try:
                await self._session_once()
                backoff = self.profile.backoff_initial_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.online:  # a drop after a good connection resets the backoff
                    backoff = self.profile.backoff_initial_s
                self.online = False
                name = "reject" if isinstance(exc, DeviceRejected) else "stream"
                self._report(REQUEST_TYPE, name, 0.0, 0, exc)
            finally:
                self.online = False
                self._close_call()
            await asyncio.sleep(jittered(backoff, self._rng))
            backoff = min(backoff * 2, self.profile.backoff_max_s)

    async def _session_once(self) -> None:
        self._sessions = SessionTable()
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(self._channel.channel_ready(), timeout=10)
        except TimeoutError as exc:
            raise ConnectionError(f"channel not ready after 10s ({self.device_id})") from exc
        self._report(REQUEST_TYPE, "connect", (time.perf_counter() - t0) * 1000, 0, None)
        self.connects += 1
        call = self._stub.Sync(metadata=self._metadata)
        self._call = call
        t_online = time.perf_counter()
        online = pb.StateMsg(kind=pb.StateMsg.STATE_ONLINE, device_id=self.device_id)
        await self._write(codec.new_msg(pb.MSG_STATE, 0, online))
        pusher: asyncio.Task[None] | None = None
        try:
            first = True
            while True:
                cmd = await call.read()
                if cmd is aio.EOF:
                    raise StreamEnded(f"gateway ended the stream of {self.device_id}")
                if first and cmd.header.kind != pb.CMD_REJECT:
                    first = False
                    self.online = True
                    self._report(REQUEST_TYPE, "first_cmd", (time.perf_counter() - t_online) * 1000, 0, None)
                    if self.profile.status_push_interval_s > 0:
                        pusher = asyncio.get_running_loop().create_task(self._push_status())
                await self._handle(cmd)
        finally:
            if pusher is not None:
                pusher.cancel()

    def _close_call(self) -> None:
        call, self._call = self._call, None
        if call is not None and not call.done():
            call.cancel()

    async def _write(self, frame: pb.Msg) -> None:
        call = self._call
        if call is None:
            raise StreamEnded("no stream")
        async with self._write_lock:
            await call.write(frame)

    async def _push_status(self) -> None:
        interval = self.profile.status_push_interval_s
        await asyncio.sleep(self._rng.uniform(0, interval))
        body = payloads.node_status(self.device_id, self.profile.node_status_bytes)
        while True:
            t0 = time.perf_counter()
            try:
                await self._write(codec.new_msg(pb.MSG_NODE_STATUS, 0, body, completed=True))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._report(REQUEST_TYPE, "status_push", (time.perf_counter() - t0) * 1000, 0, exc)
                return
            self._report(REQUEST_TYPE, "status_push", (time.perf_counter() - t0) * 1000, len(body), None)
            await asyncio.sleep(interval)

    # -- command handling ----------------------------------------------------------------------

    async def _handle(self, cmd: pb.Cmd) -> None:
        kind = cmd.header.kind
        sid = cmd.header.sid
        if kind == pb.CMD_DATA_UPSTREAM:
            await self._upstream(cmd)
            return
        if kind == pb.CMD_SESSION_CLOSE:
            self._sessions.close(codec.decode_body(cmd).sid or sid)
            return
        if kind == pb.CMD_REJECT:
            reject = codec.decode_body(cmd)
            raise DeviceRejected(f"{pb.RejectCmd.Reason.Name(reject.reason)}: {reject.message}")
        self.commands += 1
        t0 = time.perf_counter()
        session = (
            self._sessions.open(kind, now=time.monotonic(), sid=sid) if sid not in self._sessions else None
        )
        if session is None:
            self._report(REQUEST_TYPE, _kind_name(kind), 0.0, 0, ValueError(f"duplicate sid {sid}"))
            return
        handler = self._HANDLERS.get(kind)
        try:
            if handler is None:
                sent = await self._send_error(session, pb.ErrorMsg.ERR_NOT_SUPPORTED, f"{_kind_name(kind)}")
            else:
                sent = await handler(self, session, cmd)
        finally:
            if kind != pb.CMD_POD_PORT_FORWARD:
                self._sessions.close(sid)
        self._report(REQUEST_TYPE, _kind_name(kind), (time.perf_counter() - t0) * 1000, sent, None)

    async def _send_data(self, session: Session, kind: int, data: bytes, *, complete: bool) -> int:
        frames = list(
            codec.chunk_frames(
                pb.Msg,
                kind,
                session.sid,
                data,
                max_payload=self.profile.max_payload,
                start_seq=session.next_seq,
                complete=complete,
            )
        )
        session.next_seq += len(frames)
        for frame in frames:
            await self._write(frame)
        return len(data)

    async def _send_done(self, session: Session) -> None:
        await self._write(codec.new_msg(pb.MSG_DONE, session.sid, seq=session.take_seq(), completed=True))

    async def _send_error(self, session: Session, kind: int, description: str, code: int = 0) -> int:
        err = pb.ErrorMsg(kind=kind, description=description, code=code)
        await self._write(
            codec.new_msg(pb.MSG_ERROR, session.sid, err, seq=session.take_seq(), completed=True)
        )
        return 0

    async def _node_info(self, session: Session, cmd: pb.Cmd) -> int:
        body = payloads.node_status(self.device_id, self.profile.node_status_bytes)
        return await self._send_data(session, pb.MSG_NODE_STATUS, body, complete=True)

    async def _metrics(self, session: Session, cmd: pb.Cmd) -> int:
        body = payloads.metrics_text(self.device_id, self.profile.metrics_bytes)
        return await self._send_data(session, pb.MSG_DATA_METRICS, body, complete=True)

    async def _exec(self, session: Session, cmd: pb.Cmd) -> int:
        req = codec.decode_body(cmd)
        size = int(req.envs.get(payloads.STDOUT_BYTES_ENV, self.profile.exec_stdout_bytes))
        exit_code = int(req.envs.get(payloads.EXIT_CODE_ENV, "0"))
        out = payloads.exec_output(tuple(req.command), size)
        sent = await self._send_data(session, pb.MSG_DATA_STDOUT, out, complete=False)
        if exit_code:
            msg = f"command terminated with non-zero exit code: {exit_code}".encode()
            sent += await self._send_data(session, pb.MSG_DATA_STDERR, msg, complete=False)
            return sent + await self._send_error(session, pb.ErrorMsg.ERR_COMMON, msg.decode(), exit_code)
        await self._send_done(session)
        return sent

    async def _logs(self, session: Session, cmd: pb.Cmd) -> int:
        req = codec.decode_body(cmd)
        count = req.tail_lines if req.tail_lines > 0 else self.profile.default_log_lines
        data = payloads.log_lines(
            req.pod_uid or self.device_id, req.container or "app", count, self.profile.log_line_bytes
        )
        sent = await self._send_data(session, pb.MSG_DATA_STDOUT, data, complete=False)
        await self._send_done(session)
        return sent

    async def _port_forward(self, session: Session, cmd: pb.Cmd) -> int:
        # The session stays open; CMD_DATA_UPSTREAM frames are echoed until the upstream completes.
        # The opening command is the gateway's frame 0 in this session, so upstream data starts at 1.
        session.rx.feed(cmd.header, b"")
        return 0

    async def _upstream(self, cmd: pb.Cmd) -> None:
        session = self._sessions.get(cmd.header.sid)
        if session is None:
            return  # closed by the gateway or never opened: the agent drops it, as arhat does
        try:
            chunks = session.rx.feed(cmd.header, cmd.body)
        except codec.ReassemblyError as exc:
            self._sessions.close(session.sid)
            self._report(REQUEST_TYPE, "upstream", 0.0, 0, exc)
            await self._send_error(session, pb.ErrorMsg.ERR_COMMON, str(exc))
            return
        for chunk in chunks:
            if chunk.body:
                await self._send_data(session, pb.MSG_DATA_DEFAULT, chunk.body, complete=False)
        if session.rx.done:
            await self._send_done(session)
            self._sessions.close(session.sid)

    async def _pod_list(self, session: Session, cmd: pb.Cmd) -> int:
        body = payloads.node_status(self.device_id, 1024)
        return await self._send_data(session, pb.MSG_POD_STATUS_LIST, body, complete=True)

    _HANDLERS = {
        pb.CMD_NODE_INFO_GET: _node_info,
        pb.CMD_METRICS_COLLECT: _metrics,
        pb.CMD_POD_CTR_EXEC: _exec,
        pb.CMD_POD_CTR_LOGS: _logs,
        pb.CMD_POD_PORT_FORWARD: _port_forward,
        pb.CMD_POD_LIST: _pod_list,
    }
