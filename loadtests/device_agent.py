"""One simulated arhat agent as an asyncio coroutine: the device side of Sync, in any protocol version.

Locust-free on purpose: ``DeviceUser`` runs it on the load engine, and benchmarks can run
it on a plain loop. It connects, says it is online, answers every command as the arhat
agent of its protocol version does, pushes status periodically, and reconnects with
jittered exponential backoff. Everything it observes goes to
``report(request_type, name, response_time_ms, length, exception)``; command names are the
version's own (``CMD_EXEC``, ``CMD_RUNTIME:CMD_EXEC``, ``CMD_POD_CTR_EXEC``), the same labels
the gateway counts them under.

How the agent answers, from the arhat agent's sources: a node status is a ``NodeStatusMsg``
(system and ext info only for NODE_INFO_ALL); exec, logs and port-forward stream data
frames and end with an empty complete data frame (or an error); from aranya-v0.3 the agent
opens exec and port-forward with an empty data frame (MSG_STREAM_CONTINUE); commands that
came through CMD_RUNTIME get their structured answers inside MSG_RUNTIME packets; operator
input (CMD_DATA_UPSTREAM) is numbered from 0 and ends with an empty complete frame.

A device given ``behaviours`` (``aranya_perf.loadtests.misbehave``) misanswers commands or acts on its stream
as they say, and reports each time it does as ``misbehave <kind>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from aranya_perf.loadtests import misbehave, payloads
from grpc import aio

from aranya_perf import codec
from aranya_perf.profiles.schema import Behaviour
from aranya_perf.protocol import Command, ErrorKind, Op, Protocol, ProtocolMismatch, Reply
from aranya_perf.session import Session, SessionTable
from aranya_perf.transport.grpc_sync import explain_rpc_error, open_sync

REQUEST_TYPE = "device"

Reporter = Callable[[str, str, float, int, BaseException | None], None]
Observer = Callable[..., None]
"""``observe(event, device_id, **details)``: what the run's invariants judge (``aranya_perf.findings``)."""
RECENT_SIDS = 4096
"""Sids a device remembers per stream, to tell a reused one (and a command for a closed one)."""
ChannelFactory = Callable[[], Awaitable[Any]]
StreamOpener = Callable[[Any], Any]
"""The device's side of one stream on a connection: ``read()``/``write()``/``cancel()``/``done()``."""

DELAYED_OPS = frozenset({Op.EXEC, Op.LOGS, Op.PORT_FORWARD, Op.METRICS_COLLECT})
"""Commands ``answer_delay_s`` applies to: what operators ask for, not the connect sequence."""
DUPLICATE_WAIT_S = 10.0


@dataclass(frozen=True)
class DeviceProfile:
    """How a simulated device behaves; sizes in bytes, times in seconds."""

    node_status_bytes: int = payloads.NODE_STATUS_BYTES
    metrics_bytes: int = payloads.METRICS_BYTES
    exec_stdout_bytes: int = payloads.EXEC_STDOUT_BYTES
    log_line_bytes: int = payloads.LOG_LINE_BYTES
    default_log_lines: int = 100
    pods: int = 2
    status_push_interval_s: float = 10.0
    max_payload: int | None = None
    """Bytes per data frame; None is aranya's chunk size for the protocol version."""
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 10.0
    answer_delay_s: float = 0.0
    """Operator commands (``DELAYED_OPS``) are answered this long after they arrive."""
    behaviours: tuple[Behaviour, ...] = ()
    """How this device misbehaves (``aranya_perf.loadtests.misbehave.assigned`` picks them from the
    profile's)."""


class DeviceRejected(Exception):
    """The gateway sent CMD_REJECT."""


class StreamEnded(Exception):
    """The gateway ended the Sync stream."""


def _cancelled(exc: BaseException) -> bool:
    return isinstance(exc, aio.AioRpcError) and exc.code() == grpc.StatusCode.CANCELLED


def jittered(backoff: float, rng: random.Random) -> float:
    """A wait in [backoff/2, backoff]: jitter keeps a fleet that lost its gateway from reconnecting
    in lockstep, the floor keeps the growth exponential."""
    return backoff / 2 + rng.uniform(0, backoff / 2)


class DeviceAgent:
    """The device ``device_id`` on ``channel`` speaking ``protocol``; ``run()`` until cancelled.

    ``channel`` is a grpc.aio channel by default. Another transport passes its own connection
    (``channel_ready()``, ``close()``), ``open_stream(channel)`` for the device's side of a
    stream on it, and ``duplicate_on_stream`` when a second online for the same id can only
    travel on the open stream (MQTT: a second connection with the device's client id would
    just take the first one's place at the broker).
    """

    def __init__(
        self,
        device_id: str,
        channel: Any,
        report: Reporter,
        protocol: Protocol,
        profile: DeviceProfile = DeviceProfile(),
        metadata: tuple[tuple[str, str], ...] | None = None,
        seed: int | None = None,
        new_channel: ChannelFactory | None = None,
        open_stream: StreamOpener | None = None,
        duplicate_on_stream: bool = False,
        observe: Observer | None = None,
    ) -> None:
        self.device_id = device_id
        self.profile = profile
        self.protocol = protocol
        self.channel = channel
        """The connection in use; replaced (``new_channel``) when the device drops and comes back."""
        self._new_channel = new_channel
        self._report = report
        self._metadata = metadata
        self._open_stream = open_stream or (lambda ch: open_sync(protocol, ch, metadata))
        self._duplicate_on_stream = duplicate_on_stream
        self._dup_answer: asyncio.Future[None] | None = None
        self._rng = random.Random(seed if seed is not None else device_id)
        self._max_payload = profile.max_payload or protocol.max_payload
        self._call: Any = None
        self._write_lock = asyncio.Lock()
        self._sessions = SessionTable()
        self._node_dyn: bytes | None = None
        self._metrics_body: bytes | None = None
        self._pushing = False  # a status push is being written
        self._drop: str | None = None  # "clean" | "duplicate" while a drop is under way
        self._spare: aio.Channel | None = None  # the connection a duplicate online came back on
        self._duplicate: asyncio.Task[None] | None = None
        self._status_paused = False
        self._pusher: asyncio.Task[None] | None = None
        self._delayed: set[asyncio.Task[None]] = set()
        self._misbehave = misbehave.Plan(profile.behaviours, self._rng) if profile.behaviours else None
        self._acts: asyncio.Task[None] | None = None
        self._deaf_until = 0.0
        self._observe: Observer = observe or (lambda *_a, **_k: None)
        self._seen_sids: set[int] = set()
        self._closed_sids: set[int] = set()  # sessions the gateway closed on this stream
        self.online = False
        self.connects = 0
        self.commands = 0
        self.msgs_sent = 0
        """Msgs written, MSG_STATE ones (online) aside: what a broker counts as this device's publishes."""

    # -- main loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            if self._acts is not None:
                self._acts.cancel()

    async def _run(self) -> None:
        backoff = self.profile.backoff_initial_s
        while True:
            try:
                await self._session_once()
                backoff = self.profile.backoff_initial_s
            except asyncio.CancelledError:
                # The stream was cancelled by ``drop``, not this task by its owner: come back.
                if self._drop is None or asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise
                if self.online:
                    self._observe("gone", self.device_id, detail=f"dropped by the device ({self._drop})")
            except Exception as exc:
                if self.online:  # a drop after a good connection resets the backoff
                    backoff = self.profile.backoff_initial_s
                    self._observe("gone", self.device_id, detail=f"{exc.__class__.__name__}: {exc}"[:200])
                # A storm's drop cuts the stream under whatever was reading or writing it: that is the
                # drop itself, not a failure (anything else is).
                if not (self._drop is not None and (_cancelled(exc) or isinstance(exc, StreamEnded))):
                    self._report_session_error(exc)
            finally:
                self.online = False
                self._close_call()
            if self._drop is not None:
                await self._come_back()
                backoff = self.profile.backoff_initial_s
                continue
            await asyncio.sleep(jittered(backoff, self._rng))
            backoff = min(backoff * 2, self.profile.backoff_max_s)

    # -- storms and the end of the window --------------------------------------------------------

    def drop(self, duplicate: bool = False) -> None:
        """Lose the connection now (on the loop thread) and come back on a new one. ``duplicate``: come
        back first, while the old stream is still open, then let the old one go."""
        if self._drop is not None or self._call is None:
            return  # already dropping, or not connected: a storm has nothing to cut
        if duplicate:
            self._drop = "duplicate"
            again = self._duplicate_on_same_stream if self._duplicate_on_stream else self._duplicate_online
            self._duplicate = asyncio.get_running_loop().create_task(again())
        else:
            self._drop = "clean"
            self._close_call()

    async def _duplicate_online(self) -> None:
        """A second stream that says online for this id while the first is open. The gateway's first answer
        (aranya: REJECT ALREADY_CONNECTED) ends it and is timed as ``duplicate_online``, a failure only when
        none comes; then the old stream goes and the device connects again on the new connection."""
        proto = self.protocol
        t0 = time.perf_counter()
        channel = await self._fresh_channel()
        call = open_sync(proto, channel, self._metadata)
        error: BaseException | None = None
        try:
            await call.write(proto.online(self.device_id))
            if await asyncio.wait_for(call.read(), DUPLICATE_WAIT_S) is aio.EOF:
                error = StreamEnded("the gateway ended a duplicate online without an answer")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
        finally:
            call.cancel()
        self._report(REQUEST_TYPE, "duplicate_online", (time.perf_counter() - t0) * 1000, 0, error)
        if isinstance(error, StreamEnded):
            self._observe("closed", self.device_id, detail="duplicate online closed without a reject")
        self._spare = channel
        self._close_call()

    async def _duplicate_on_same_stream(self) -> None:
        """The duplicate online of a transport whose stream is the device's own namespace: the second online
        goes on the open stream, the gateway's REJECT (ALREADY_CONNECTED) ends it and is timed as
        ``duplicate_online``; then the device connects again, as after a drop."""
        t0 = time.perf_counter()
        self._dup_answer = answer = asyncio.get_running_loop().create_future()
        error: BaseException | None = None
        try:
            await self._write(self.protocol.online(self.device_id), state=True)
            await asyncio.wait_for(asyncio.shield(answer), DUPLICATE_WAIT_S)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            error = StreamEnded("the gateway did not answer a duplicate online")
        except Exception as exc:
            error = exc
        finally:
            self._dup_answer = None
        self._report(REQUEST_TYPE, "duplicate_online", (time.perf_counter() - t0) * 1000, 0, error)
        self._close_call()

    async def _come_back(self) -> None:
        old, self._drop = self.channel, None
        spare, self._spare = self._spare, None
        if spare is not None or self._new_channel is not None:
            self.channel = spare if spare is not None else await self._fresh_channel()
            with contextlib.suppress(Exception):
                await old.close(None)
        await asyncio.sleep(jittered(self.profile.backoff_initial_s, self._rng))

    async def _fresh_channel(self) -> aio.Channel:
        return await self._new_channel() if self._new_channel is not None else self.channel

    def pause_status(self) -> None:
        """No more status pushes (the run's window is closing); on the loop thread."""
        self._status_paused = True
        # Not in the middle of a write: grpc.aio cancels the whole stream when a write is cancelled.
        # A push under way finishes, and the pusher ends before the next.
        if self._pusher is not None and not self._pushing:
            self._pusher.cancel()

    def _report_session_error(self, exc: Exception) -> None:
        if isinstance(exc, aio.AioRpcError):
            reason = explain_rpc_error(self.protocol, exc)
            if reason is not None:
                exc = ProtocolMismatch(reason)
        name = {DeviceRejected: "reject", ProtocolMismatch: "protocol"}.get(type(exc), "stream")
        self._report(REQUEST_TYPE, name, 0.0, 0, exc)

    async def _session_once(self) -> None:
        proto = self.protocol
        self._sessions = SessionTable()
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(self.channel.channel_ready(), timeout=10)
        except TimeoutError as exc:
            raise ConnectionError(f"channel not ready after 10s ({self.device_id})") from exc
        self._report(REQUEST_TYPE, "connect", (time.perf_counter() - t0) * 1000, 0, None)
        self.connects += 1
        call = self._open_stream(self.channel)
        self._call = call
        self._seen_sids.clear()
        self._closed_sids.clear()
        t_online = time.perf_counter()
        await self._write(proto.online(self.device_id), state=True)
        self._observe("connecting", self.device_id)
        unpack = proto.unpack
        reject = proto.cmd.REJECT
        try:
            first = True
            while True:
                cmd = await call.read()
                if cmd is aio.EOF:
                    if first and self._drop is None:
                        self._observe(
                            "closed", self.device_id, detail="stream ended before online, no reject"
                        )
                    raise StreamEnded(f"gateway ended the stream of {self.device_id}")
                kind, sid, seq, complete, payload = unpack(cmd)
                if first and kind != reject:
                    first = False
                    self.online = True
                    self._observe("online", self.device_id)
                    self._report(REQUEST_TYPE, "first_cmd", (time.perf_counter() - t_online) * 1000, 0, None)
                    if self.profile.status_push_interval_s > 0 and not self._status_paused:
                        self._pusher = asyncio.get_running_loop().create_task(self._push_status())
                    plan = self._misbehave
                    if plan is not None and plan.start(asyncio.get_running_loop().time()) and plan.acts:
                        self._acts = asyncio.get_running_loop().create_task(self._act(plan))
                await self._handle(kind, sid, seq, complete, payload)
                if self._deaf_until:
                    await self._stay_deaf()
        finally:
            if self._pusher is not None:
                self._pusher.cancel()
                self._pusher = None
            for task in list(self._delayed):
                task.cancel()

    def _close_call(self) -> None:
        call, self._call = self._call, None
        if call is not None and not call.done():
            call.cancel()

    async def _write(self, frame: Any, state: bool = False) -> None:
        call = self._call
        if call is None:
            raise StreamEnded("no stream")
        async with self._write_lock:
            await call.write(frame)
        if not state:
            self.msgs_sent += 1

    def _dyn_status(self) -> bytes:
        if self._node_dyn is None:
            info = payloads.node_info(self.device_id, 0)
            self._node_dyn = self.protocol.node_status_body(info, full=False)
        return self._node_dyn

    async def _push_status(self) -> None:
        proto = self.protocol
        interval = self.profile.status_push_interval_s
        await asyncio.sleep(self._rng.uniform(0, interval))
        body = self._dyn_status()
        while not self._status_paused:
            t0 = time.perf_counter()
            self._pushing = True
            try:
                await self._write(proto.new_msg(proto.msg.NODE_STATUS, 0, body, 0, True))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._report(REQUEST_TYPE, "status_push", (time.perf_counter() - t0) * 1000, 0, exc)
                return
            finally:
                self._pushing = False
            self._report(REQUEST_TYPE, "status_push", (time.perf_counter() - t0) * 1000, len(body), None)
            await asyncio.sleep(interval)

    # -- command handling ----------------------------------------------------------------------

    async def _handle(self, kind: int, sid: int, seq: int, complete: bool, payload: bytes) -> None:
        proto = self.protocol
        if kind == proto.cmd.DATA_UPSTREAM:
            await self._upstream(kind, sid, seq, complete, payload)
            return
        try:
            command = proto.read_command(kind, payload)
        except ValueError as exc:  # BodyDecodeError: a body this version cannot read
            self._report(REQUEST_TYPE, proto.cmd_name(kind), 0.0, 0, exc)
            return
        op = command.op
        if op is Op.SESSION_CLOSE:
            closed = command.body.sid or sid
            self._sessions.close(closed)
            if len(self._closed_sids) < RECENT_SIDS:
                self._closed_sids.add(closed)
            return
        if op is Op.REJECT:
            reason, message = proto.read_reject(payload)
            self._observe("reject", self.device_id, reason=reason, message=message)
            answer = self._dup_answer
            if answer is not None and not answer.done():
                answer.set_result(None)  # the answer to the duplicate online: part of the drop
                raise StreamEnded(f"duplicate online rejected: {reason}")
            raise DeviceRejected(f"{reason}: {message}")
        if op is Op.TTY_RESIZE:
            return
        self.commands += 1
        t0 = time.perf_counter()
        seen = self._seen_sids
        if sid in seen:
            self._observe("sid_reused", self.device_id, sid=sid, command=command.label)
        elif len(seen) < RECENT_SIDS:
            seen.add(sid)
        if sid in self._sessions:
            self._report(REQUEST_TYPE, command.label, 0.0, 0, ValueError(f"duplicate sid {sid}"))
            return
        session = self._sessions.open(Session(kind), now=time.monotonic(), sid=sid)
        plan = self._misbehave
        b = plan.answer(op, asyncio.get_running_loop().time()) if plan is not None else None
        if b is not None and b.kind != "late":
            await self._misanswer(b, session, command)
            return
        delay = plan.delay(b) if plan is not None and b is not None else 0.0
        if delay or (self.profile.answer_delay_s > 0 and op in DELAYED_OPS):
            if b is not None:
                self._report(REQUEST_TYPE, "misbehave late", delay * 1000, 0, None)
            # Off the read loop, so a delayed answer holds up no other command.
            task = asyncio.get_running_loop().create_task(
                self._answer_later(session, command, t0, delay or self.profile.answer_delay_s)
            )
            self._delayed.add(task)
            task.add_done_callback(self._delayed.discard)
            return
        await self._answer(session, command, t0)

    async def _answer_later(self, session: Session, command: Command, t0: float, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await self._answer(session, command, t0)
        except Exception as exc:  # the stream went away meanwhile
            self._report(REQUEST_TYPE, command.label, (time.perf_counter() - t0) * 1000, 0, exc)

    async def _answer(self, session: Session, command: Command, t0: float) -> None:
        op, sid = command.op, session.sid
        handler = self._HANDLERS.get(op)
        try:
            if handler is None:
                sent = await self._send_error(session, command, ErrorKind.ERR_NOT_SUPPORTED, command.label)
            else:
                sent = await handler(self, session, command)
        finally:
            if op is not Op.PORT_FORWARD:
                self._sessions.close(sid)
        self._report(REQUEST_TYPE, command.label, (time.perf_counter() - t0) * 1000, sent, None)

    async def _send_data(self, session: Session, kind: int, data: bytes, *, complete: bool) -> int:
        frames = list(
            codec.chunk_frames(
                self.protocol.new_msg,
                kind,
                session.sid,
                data,
                max_payload=self._max_payload,
                start_seq=session.next_seq,
                complete=complete,
            )
        )
        session.next_seq += len(frames)
        for frame in frames:
            await self._write(frame)
        return len(data)

    async def _send_end(self, session: Session) -> None:
        """The arhat agent ends a stream session with an empty, complete data frame."""
        proto = self.protocol
        await self._write(proto.new_msg(proto.msg.DATA, session.sid, b"", session.take_seq(), True))

    async def _send_result(self, session: Session, command: Command, reply: Reply, body: bytes) -> None:
        kind, payload = self.protocol.result(reply, body, runtime=command.via_runtime)
        await self._write(self.protocol.new_msg(kind, session.sid, payload, session.take_seq(), True))

    async def _send_error(
        self, session: Session, command: Command, kind: int, description: str, code: int = 0
    ) -> int:
        await self._send_result(
            session, command, Reply.ERROR, self.protocol.error_body(kind, description, code)
        )
        return 0

    async def _stream_continue(self, session: Session) -> None:
        if self.protocol.flags.stream_continue:
            proto = self.protocol
            await self._write(proto.new_msg(proto.msg.DATA, session.sid, b"", session.take_seq(), False))

    async def _node_info(self, session: Session, command: Command) -> int:
        proto = self.protocol
        if command.body.kind == 1:  # NODE_INFO_ALL
            body = proto.node_status_body(
                payloads.node_info(self.device_id, self.profile.node_status_bytes), full=True
            )
        else:
            body = self._dyn_status()
        return await self._send_data(session, proto.msg.NODE_STATUS, body, complete=True)

    async def _metrics(self, session: Session, command: Command) -> int:
        # Kept per agent: payloads' shared cache holds 256 devices, so a larger fleet rebuilt the
        # text (about 8 KiB of formatting) for every CMD_METRICS_COLLECT.
        if self._metrics_body is None:
            self._metrics_body = payloads.metrics_text(self.device_id, self.profile.metrics_bytes)
        return await self._send_data(session, self.protocol.msg.DATA, self._metrics_body, complete=True)

    async def _metrics_config(self, session: Session, command: Command) -> int:
        await self._send_result(session, command, Reply.DONE, b"")
        return 0

    async def _pod_list(self, session: Session, command: Command) -> int:
        body = self.protocol.pod_status_list_body(payloads.pods(self.device_id, self.profile.pods))
        await self._send_result(session, command, Reply.POD_STATUS_LIST, body)
        return len(body)

    async def _exec(self, session: Session, command: Command) -> int:
        proto = self.protocol
        req = command.body
        size = int(req.envs.get(payloads.STDOUT_BYTES_ENV, self.profile.exec_stdout_bytes))
        exit_code = int(req.envs.get(payloads.EXIT_CODE_ENV, "0"))
        await self._stream_continue(session)
        out = payloads.exec_output(tuple(req.command), size)
        if req.command and req.command[0] == "echo":  # kubectl's usual check: the words, a newline
            out = (" ".join(req.command[1:]) + "\n").encode()
        sent = await self._send_data(session, proto.msg.DATA, out, complete=False)
        if exit_code:
            msg = f"command terminated with non-zero exit code: {exit_code}"
            sent += await self._send_data(session, proto.msg.STDERR, msg.encode(), complete=False)
            return sent + await self._send_error(session, command, ErrorKind.ERR_COMMON, msg, exit_code)
        await self._send_end(session)
        return sent

    async def _logs(self, session: Session, command: Command) -> int:
        req = command.body
        count = req.tail_lines if req.tail_lines > 0 else self.profile.default_log_lines
        data = payloads.log_lines(
            req.pod_uid or self.device_id, req.container or "app", count, self.profile.log_line_bytes
        )
        sent = await self._send_data(session, self.protocol.msg.DATA, data, complete=False)
        await self._send_end(session)
        return sent

    async def _port_forward(self, session: Session, command: Command) -> int:
        # The session stays open; CMD_DATA_UPSTREAM frames are echoed until the input completes.
        await self._stream_continue(session)
        return 0

    async def _upstream(self, kind: int, sid: int, seq: int, complete: bool, payload: bytes) -> None:
        session = self._sessions.get(sid)
        if session is None:
            if sid in self._closed_sids:
                self._observe("cmd_after_close", self.device_id, sid=sid)
            return  # closed by the gateway or never opened: the agent drops it, as arhat does
        try:
            chunks = session.rx.feed(kind, sid, seq, complete, payload)
        except codec.ReassemblyError as exc:
            self._sessions.close(sid)
            self._report(REQUEST_TYPE, "upstream", 0.0, 0, exc)
            err = self.protocol.error_body(ErrorKind.ERR_COMMON, str(exc))
            await self._write(
                self.protocol.new_msg(self.protocol.msg.ERROR, sid, err, session.take_seq(), True)
            )
            return
        data_kind = self.protocol.msg.DATA
        for chunk in chunks:
            if chunk.body:
                await self._send_data(session, data_kind, chunk.body, complete=False)
        if session.rx.done:
            await self._send_end(session)
            self._sessions.close(sid)

    # -- misbehaving -----------------------------------------------------------------------------

    async def _misanswer(self, b: Behaviour, session: Session, command: Command) -> None:
        """Answer ``command`` as behaviour ``b`` says (``late`` aside: that is a delayed ``_answer``)."""
        proto, sid, kind = self.protocol, session.sid, b.kind
        sent = 0
        if kind == "error":
            await self._send_error(session, command, ErrorKind.ERR_COMMON, "misbehaving device: error")
        elif kind == "malformed":
            k, payload = proto.result(Reply.ERROR, misbehave.MALFORMED_BODY, runtime=command.via_runtime)
            await self._write(proto.new_msg(k, sid, payload, session.take_seq(), True))
        elif kind in ("half", "huge"):
            body = self._misbehaving_output(command, b.bytes if kind == "huge" else None)
            if kind == "half":  # then nothing more: the session stays open until the gateway ends it
                sent = await self._send_data(session, proto.msg.DATA, body[: len(body) // 2], complete=False)
            else:
                sent = await self._send_data(session, proto.msg.DATA, body, complete=False)
                await self._send_end(session)
        # "silent": no answer; the session stays open until the gateway closes it
        if kind in ("error", "malformed", "huge"):
            self._sessions.close(sid)
        self._report(REQUEST_TYPE, f"misbehave {kind}", 0.0, sent, None)

    def _misbehaving_output(self, command: Command, size: int | None) -> bytes:
        op, p = command.op, self.profile
        if op is Op.EXEC:
            return payloads.exec_output(tuple(command.body.command), size or p.exec_stdout_bytes)
        if op is Op.LOGS:
            lines = max(1, (size or p.log_line_bytes * p.default_log_lines) // max(1, p.log_line_bytes))
            return payloads.log_lines(self.device_id, "app", lines, p.log_line_bytes)
        return payloads.metrics_text(self.device_id, size or p.metrics_bytes)

    async def _act(self, plan: misbehave.Plan) -> None:
        """The plan's acts on the stream, each at its ``when`` after the device first came online."""
        loop = asyncio.get_running_loop()
        assert plan.started is not None
        due = sorted((plan.started + b.when_s, i) for i, b in enumerate(plan.acts))
        while due:
            at, i = due.pop(0)
            await asyncio.sleep(max(0.0, at - loop.time()))
            b = plan.acts[i]
            if self._call is not None and self._drop is None:
                await self._act_once(b)
                self._report(REQUEST_TYPE, f"misbehave {b.kind}", 0.0, 0, None)
            if b.every_s:
                due.append((at + b.every_s, i))
                due.sort()

    async def _act_once(self, b: Behaviour) -> None:
        if b.kind == "flap":
            self.drop()
        elif b.kind == "duplicate":
            self.drop(duplicate=True)
        elif b.kind == "deaf":
            self._deaf_until = asyncio.get_running_loop().time() + b.delay_s
        elif b.kind == "offline":
            # A proper goodbye, then the stream goes and the device comes back as after a drop.
            self._drop = "clean"
            with contextlib.suppress(Exception):
                await self._write(self.protocol.offline(self.device_id), state=True)
            self._close_call()

    async def _stay_deaf(self) -> None:
        """Read nothing until the deaf spell is over (the gateway's writes back up meanwhile)."""
        await asyncio.sleep(max(0.0, self._deaf_until - asyncio.get_running_loop().time()))
        self._deaf_until = 0.0

    _HANDLERS = {
        Op.NODE_INFO: _node_info,
        Op.METRICS_COLLECT: _metrics,
        Op.METRICS_CONFIG: _metrics_config,
        Op.POD_LIST: _pod_list,
        Op.EXEC: _exec,
        Op.LOGS: _logs,
        Op.PORT_FORWARD: _port_forward,
    }
