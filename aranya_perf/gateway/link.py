"""``DeviceLink``: one device's Sync stream on the gateway, and every session multiplexed on it.

Per stream there is one writer (``write_loop``, draining an ``Outbox``, so frames of many
sessions interleave safely: grpc allows one write in flight) and one reader (``read_loop``,
dispatching each Msg to its session by sid with one dict lookup). Session deadlines are
``Deadlines``: one heap and one timer for every stream of the loop, so a finished session costs
nothing until its deadline comes up, and nothing is cancelled. Session rules follow aranya (see
docs/protocol.md): the opening Cmd is seq 0 and complete; operator input goes as
CMD_DATA_UPSTREAM with its own seqs from 0; a session ends when its device delivers, in order, a
complete frame, MSG_DONE or an error; stream sessions are closed on the device with
CMD_SESSION_CLOSE when they end.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import grpc

from aranya_perf import codec
from aranya_perf.gateway.config import GatewayConfig
from aranya_perf.gateway.emulate import LEAKED_TIMER_S, Defects
from aranya_perf.gateway.metrics import GatewayMetrics
from aranya_perf.gateway.operations import Failure, Operation
from aranya_perf.protocol import DeviceError, Protocol, Reply
from aranya_perf.session import SessionIds, SessionTable
from aranya_perf.transport.stream import EOF, FrameStream

log = logging.getLogger(__name__)

_EOF = EOF

QueueItem = tuple[Any, tuple[Any, ...], Operation | None] | None
"""(frame, counters to bump once written, op whose sent_at to stamp), or None: end the stream."""


class Outbox:
    """A stream's frames waiting for its one writer: a deque and at most one waiting writer's future.
    ``asyncio.Queue`` does the same with a list of getters, a count of unfinished tasks and an event,
    on every command; a writer that finds frames waiting takes them without a wake-up."""

    __slots__ = ("_loop", "_waiter", "items")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        self.items: deque[QueueItem] = deque()

    def put_nowait(self, item: QueueItem) -> None:
        self.items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # done: the writer was cancelled while it waited
                waiter.set_result(None)

    async def wait(self) -> None:
        """Until something is put (the one writer calls this when ``items`` is empty)."""
        waiter = self._waiter = self._loop.create_future()
        await waiter


class Deadlines:
    """Every open session's deadline on one loop: a heap of ``(when, n, link, sid)`` tuples (compared in
    C) and one timer, armed at the earliest deadline of a session still open. A finished session's
    entry stays until it comes up and is then dropped; nothing is cancelled, and the entry names the
    session by its link and sid, so a finished session's answer is not kept alive meanwhile. One
    ``loop.call_at`` per session instead (a ``TimerHandle`` compared in Python in the loop's heap,
    then cancelled) was 14 µs of the 45 µs of Python a periodic command cost the gateway (1,000
    streams, ``DeviceLink`` on an in-memory stream), for deadlines that almost never fire."""

    __slots__ = ("_heap", "_loop", "_n", "_timer", "_timer_at")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, DeviceLink, int]] = []
        self._n = 0  # ties between equal deadlines go in order, never to comparing links
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def add(self, when: float, link: DeviceLink, sid: int) -> None:
        """Session ``sid`` of ``link`` (open now) times out at loop time ``when`` unless it ends first."""
        self._n += 1
        heapq.heappush(self._heap, (when, self._n, link, sid))
        if self._timer is None or when < self._timer_at:
            self._arm(when)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self._loop.call_at(when, self._fire), when

    def _fire(self) -> None:
        self._timer = None
        heap, now = self._heap, self._loop.time()
        while heap:
            when, _, link, sid = heap[0]
            op = link.sessions.get(sid)
            if op is not None and not op.finished:
                if when > now:
                    self._arm(when)
                    return
                heapq.heappop(heap)
                link.expire(op)  # type: ignore[arg-type]
            else:
                heapq.heappop(heap)  # ended long ago: dropped as it comes up


class StreamEnd(Exception):
    """The reader saw a reason to end the stream (offline, a second online)."""


class DeviceLink:
    """A device stream: writer queue, session table, periodic timers; created per accepted stream."""

    __slots__ = (
        "_loop",
        "alive",
        "config",
        "deadlines",
        "defects",
        "device_id",
        "end_reason",
        "metrics",
        "on_second_online",
        "proto",
        "queue",
        "sessions",
        "tickers",
    )

    def __init__(
        self,
        device_id: str,
        proto: Protocol,
        config: GatewayConfig,
        metrics: GatewayMetrics,
        loop: asyncio.AbstractEventLoop,
        deadlines: Deadlines,
        defects: Defects | None = None,
    ) -> None:
        self.device_id = device_id
        self.deadlines = deadlines
        self.proto = proto
        self.config = config
        self.metrics = metrics
        self._loop = loop
        self.alive = True
        self.queue = Outbox(loop)
        # aranya's session ids start at the controller's clock in ns and count up.
        self.sessions = SessionTable(SessionIds.from_clock())
        self.tickers: list[Any] = []
        self.end_reason = ""
        self.on_second_online: Callable[[], None] | None = None
        self.defects = defects if defects is not None else Defects()

    # -- sessions ------------------------------------------------------------------------------

    def open(
        self, op: Operation, kind: int, payload: bytes, label: str, timeout: float, *, complete: bool = True
    ) -> Operation:
        """Register ``op`` under a fresh sid and queue its opening Cmd (seq 0)."""
        loop = self._loop
        now = loop.time()
        if self.defects.timer_leak:
            self.defects.on_open(now)
        self.sessions.open(op, now=now, timeout=timeout if timeout > 0 else None)
        op.kind, op.label, op.link, op.sent_at, op.timeout, op.finished = (
            kind,
            label,
            self,
            now,
            timeout,
            False,
        )
        if timeout > 0:
            self.deadlines.add(now + timeout, self, op.sid)
        self.metrics.sessions_open.inc()
        cmd = self.proto.new_cmd(kind, op.sid, payload, op.take_seq(), complete)
        self.queue.put_nowait((cmd, self.metrics.command_counters[label], op))
        return op

    def send_upstream(self, op: Operation, data: bytes, seq: int, *, complete: bool = False) -> int:
        """Queue operator bytes as CMD_DATA_UPSTREAM from ``seq``; return the next seq."""
        proto = self.proto
        kind = proto.cmd.DATA_UPSTREAM
        counters = self.metrics.frame_counters[proto.cmd_name(kind)]
        put = self.queue.put_nowait
        frames = codec.chunk_frames(
            proto.new_cmd,
            kind,
            op.sid,
            data,
            max_payload=self.config.payload_limit,
            start_seq=seq,
            complete=complete,
        )
        for frame in frames:
            put((frame, counters, None))
            seq += 1
        return seq

    def close_session(self, sid: int, *, header_sid: int | None = None) -> None:
        """CMD_SESSION_CLOSE{sid}, seq 0, complete; aranya puts the sid in the header too, except when it
        closes a session the device reported (orphan data), which goes out on sid 0."""
        if not self.alive:
            return
        proto = self.proto
        kind = proto.cmd.SESSION_CLOSE
        frame = proto.new_cmd(
            kind, sid if header_sid is None else header_sid, proto.session_close_body(sid), 0, True
        )
        self.queue.put_nowait((frame, self.metrics.frame_counters[proto.cmd_name(kind)], None))

    def finish(
        self,
        op: Operation,
        outcome: str,
        *,
        failure: Failure | None = None,
        exit_code: int = 0,
        close: bool = False,
    ) -> None:
        """End ``op``'s session once: bookkeeping, metrics, CMD_SESSION_CLOSE where due, wake the waiter."""
        if op.finished:
            return
        op.finished = True
        sid, label = op.sid, op.label
        self.sessions.close(sid)
        m = self.metrics
        m.sessions_open.dec()
        if op.stream and self.defects.timer_leak:
            self.defects.leak(op.opened_at + LEAKED_TIMER_S)
        m.sessions_completed[(label, outcome)].inc()
        if outcome == "done" or outcome == "error":
            # A round trip needs an answer: timeouts and closes are counted, not timed.
            m.session_rtt[label].observe(self._loop.time() - op.sent_at)
        elif outcome == "timeout":
            m.session_timeouts[label].inc()
        if close or op.stream:
            self.close_session(sid)
        op.end(exit_code, failure)

    def expire(self, op: Operation) -> None:
        """``op``'s deadline passed with its session still open (``Deadlines``)."""
        if self.defects.sid0_timeout:
            log.debug(
                "device %s: timeout of session %d delivered to sid 0 (emulated)", self.device_id, op.sid
            )
            return
        failure = Failure(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"ERR_TIMEOUT: device {self.device_id} did not finish {op.label} session {op.sid} "
            f"within {op.timeout:g}s",
        )
        self.finish(op, "timeout", failure=failure, close=True)

    def _on_session_msg(
        self, op: Operation, kind: int, sid: int, seq: int, complete: bool, body: bytes
    ) -> None:
        proto = self.proto
        try:
            chunks = op.rx.feed(kind, sid, seq, complete, body)
        except codec.ReassemblyError as exc:
            reply, _ = proto.read_reply(kind, body)
            if reply is Reply.DONE or reply is Reply.ERROR:
                # A device that numbers its final frame oddly still ended the session.
                chunks = [codec.Chunk(kind, seq, body, True)]
            else:
                self.finish(op, "error", failure=Failure(grpc.StatusCode.INTERNAL, str(exc)), close=True)
                return
        read_reply = proto.read_reply
        for chunk in chunks:
            reply, payload = read_reply(chunk.kind, chunk.body)
            if reply is Reply.ERROR:
                try:
                    err = proto.read_error(payload)
                except ValueError:
                    err = DeviceError(0, "undecodable ErrorMsg body", 0)
                exit_code, failure = op.on_error(err)
                self.finish(op, "error", failure=failure, exit_code=exit_code)
                return
            if reply is Reply.DONE:
                self.finish(op, "done")
                return
            op.on_data(reply, payload)
            if chunk.complete:
                self.finish(op, "done")
                return

    # -- the stream ----------------------------------------------------------------------------

    async def write_loop(self, context: FrameStream) -> None:
        """The only coroutine that writes to this stream; returns when the link is dropped or breaks."""
        items, wait = self.queue.items, self.queue.wait
        write = context.write
        time = self._loop.time
        try:
            while True:
                if not items:
                    await wait()
                    continue
                item = items.popleft()
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
            log.debug("device %s: write failed: %s", self.device_id, exc)

    async def read_loop(self, context: FrameStream) -> str:
        """Dispatch the device's Msgs until the stream ends; return why it ended."""
        read = context.read
        proto = self.proto
        unpack = proto.unpack
        get = self.sessions.get
        state_kind = proto.msg.STATE
        data_kinds = proto.data_kinds
        m = self.metrics
        received, unsolicited = m.msgs_received, m.unsolicited
        try:
            while True:
                msg = await read()
                if msg is _EOF:
                    return "stream closed by device"
                kind, sid, seq, complete, body = unpack(msg)
                received[kind].inc()
                if sid:
                    op = get(sid)
                    if op is not None:
                        self._on_session_msg(op, kind, sid, seq, complete, body)  # type: ignore[arg-type]
                        continue
                    if kind in data_kinds:
                        # aranya closes a session the device still sends data for.
                        self.close_session(sid, header_sid=0)
                elif kind == state_kind:
                    try:
                        state, _ = proto.read_state(body)
                    except ValueError:
                        state = None
                    if state == "offline":
                        return "device went offline"
                    if state == "online":
                        if self.on_second_online is not None:
                            self.on_second_online()
                        return "second online message on the stream"
                    continue
                # Status pushes (sid 0) and late frames of sessions already ended.
                unsolicited[kind].inc()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the RPC broke under us (device cancelled, connection reset)
            return f"stream error: {exc.__class__.__name__}"

    def drop(self, why: str) -> None:
        """Fail every open session (UNAVAILABLE), stop the timers and end the writer; idempotent."""
        if not self.alive:
            return
        self.alive = False
        self.end_reason = why
        self.queue.put_nowait(None)
        for ticker in self.tickers:
            ticker.cancel()
        if len(self.sessions):
            failure = Failure(grpc.StatusCode.UNAVAILABLE, f"device {self.device_id} went offline ({why})")
            for op in self.sessions:
                self.finish(op, "closed", failure=failure)  # type: ignore[arg-type]
        log.debug("device %s offline: %s", self.device_id, why)
