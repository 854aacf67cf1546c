"""What the gateway waits for in each session it opens: one ``Session`` subclass per kind of command.

An operation is registered in its device's ``SessionTable`` (the only record of a
stream's sessions) and is told, by ``DeviceLink``, about every in-order frame of its
session: data (``on_data``), a device error (``on_error``) and the end (``end``, exactly
once). Periodic commands are timed and dropped; probes answer the connect sequence;
Exec, Logs, PortForward and CollectMetrics hand results to the operator's call. The ``open_*``
functions start an operator's session in the link's wire format; every operator front end (the
control service, the Kubernetes face) opens its sessions through them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING

import grpc

from aranya_perf.protocol import DeviceError, ErrorKind, Op, PortForwardTarget, Reply
from aranya_perf.session import Session

if TYPE_CHECKING:
    from aranya_perf.gateway.link import DeviceLink

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

_ERROR_CODES = {
    ErrorKind.ERR_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.ERR_NOT_SUPPORTED: grpc.StatusCode.UNIMPLEMENTED,
    ErrorKind.ERR_TIMEOUT: grpc.StatusCode.DEADLINE_EXCEEDED,
}
"""Device ErrorMsg kind -> status of the operator's call; anything else is UNKNOWN."""


class Failure(Exception):
    """How an operator call fails: a gRPC status code and details."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def device_failure(err: DeviceError) -> Failure:
    details = f"{err.kind_name}: {err.description}" if err.description else err.kind_name
    if err.code:
        details += f" (code {err.code})"
    return Failure(_ERROR_CODES.get(err.kind, grpc.StatusCode.UNKNOWN), details)  # type: ignore[call-overload]


class Operation(Session):
    """One session the gateway opened on a device stream, and whoever waits for its end."""

    __slots__ = ("finished", "label", "link", "sent_at", "timeout")

    stream = False
    """A stream session (exec, logs, port-forward): aranya closes it on the device when it ends."""

    def __init__(self, kind: int = 0) -> None:
        super().__init__(kind)
        self.link: DeviceLink | None = None
        self.label = ""
        self.sent_at = 0.0  # loop time the opening Cmd was written (opened_at until then)
        self.timeout = 0.0
        self.finished = False

    def on_data(self, reply: Reply, body: bytes) -> None:
        """An in-order frame that is neither a device error nor MSG_DONE."""

    def on_error(self, err: DeviceError) -> tuple[int, Failure | None]:
        """(exit code, failure) for a device ErrorMsg."""
        return 0, device_failure(err)

    def end(self, exit_code: int, failure: Failure | None) -> None:
        """The session is over; wake the waiter (called exactly once)."""


class PeriodicOp(Operation):
    """Node info, pod list or metrics collection on the schedule: nobody waits, the answer is only timed."""

    __slots__ = ()


class ProbeOp(Operation):
    """A step of the connect sequence: collects what the device answered for the handshake to judge."""

    __slots__ = ("error", "fut", "parts", "replies")

    def __init__(self, fut: asyncio.Future[None]) -> None:
        super().__init__()
        self.fut = fut
        self.replies: set[Reply] = set()
        self.parts: list[bytes] = []
        self.error: DeviceError | None = None

    def on_data(self, reply: Reply, body: bytes) -> None:
        self.replies.add(reply)
        self.parts.append(body)

    def on_error(self, err: DeviceError) -> tuple[int, Failure | None]:
        self.error = err
        return 0, None

    def end(self, exit_code: int, failure: Failure | None) -> None:
        fut = self.fut
        if fut.done():
            return
        if failure is None:
            fut.set_result(None)
        else:
            fut.set_exception(failure)


class ExecOp(Operation):
    __slots__ = ("err", "fut", "out")
    stream = True

    def __init__(self, fut: asyncio.Future[int]) -> None:
        super().__init__()
        self.fut = fut
        self.out: list[bytes] = []
        self.err: list[bytes] = []

    def on_data(self, reply: Reply, body: bytes) -> None:
        if reply is Reply.STDERR:
            self.err.append(body)
        elif reply is Reply.DATA:
            self.out.append(body)

    def on_error(self, err: DeviceError) -> tuple[int, Failure | None]:
        # A command that ran and failed is still an answer: kubectl reports its exit code.
        if err.kind == ErrorKind.ERR_COMMON and err.code:
            return max(_INT32_MIN, min(_INT32_MAX, err.code)), None
        return 0, device_failure(err)

    def end(self, exit_code: int, failure: Failure | None) -> None:
        fut = self.fut
        if fut.done():  # the operator's call was cancelled
            return
        if failure is None:
            fut.set_result(exit_code)
        else:
            fut.set_exception(failure)


class CollectOp(ExecOp):
    """A metrics pull: the same collection as Exec's stdout, but not a stream aranya closes."""

    __slots__ = ()
    stream = False


END = None
"""Stream-op queue item: the session finished normally."""


class StreamOp(Operation):
    """Logs and PortForward: device data is handed to the operator's handler as it arrives."""

    __slots__ = ("queue", "ready")
    stream = True

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[bytes | Failure | None] = asyncio.Queue()
        self.ready = asyncio.Event()
        """Set on the device's first data frame: aranya-v0.3 sends operator input only after it."""

    def on_data(self, reply: Reply, body: bytes) -> None:
        self.ready.set()
        if body and (reply is Reply.DATA or reply is Reply.STDERR):
            self.queue.put_nowait(body)

    def end(self, exit_code: int, failure: Failure | None) -> None:
        self.ready.set()
        self.queue.put_nowait(END if failure is None else failure)

    async def data(self) -> AsyncIterator[bytes]:
        """The device's data as it arrives, until the session ends; raises the ``Failure`` it ended with."""
        get = self.queue.get
        while True:
            item = await get()
            if item.__class__ is bytes:
                yield item  # type: ignore[misc]
            elif item is END:
                return
            else:
                raise item  # type: ignore[misc]


def open_exec(
    link: DeviceLink,
    pod_uid: str,
    container: str,
    command: Sequence[str],
    envs: Mapping[str, str] | None,
    timeout: float,
) -> ExecOp:
    """An exec session: a pod target goes through CMD_RUNTIME where the version has it."""
    proto = link.proto
    body = proto.exec_body(pod_uid, container, command, envs)
    kind, payload, label = proto.command(Op.EXEC, body, runtime=proto.via_runtime(pod_uid))
    op = ExecOp(asyncio.get_running_loop().create_future())
    link.open(op, kind, payload, label, timeout)
    return op


def open_logs(
    link: DeviceLink, pod_uid: str, container: str, tail_lines: int, follow: bool, timeout: float
) -> StreamOp:
    """A logs session; ``tail_lines`` <= 0 is all of them."""
    proto = link.proto
    body = proto.logs_body(pod_uid, container, tail_lines=tail_lines if tail_lines > 0 else -1, follow=follow)
    kind, payload, label = proto.command(Op.LOGS, body, runtime=proto.via_runtime(pod_uid))
    op = StreamOp()
    link.open(op, kind, payload, label, timeout)
    return op


def open_port_forward(link: DeviceLink, pod_uid: str, port: int, timeout: float) -> StreamOp:
    proto = link.proto
    body = proto.port_forward_body(PortForwardTarget(pod_uid, port))
    kind, payload, label = proto.command(Op.PORT_FORWARD, body, runtime=proto.via_runtime(pod_uid))
    op = StreamOp()
    link.open(op, kind, payload, label, timeout)
    return op


def open_collect(link: DeviceLink, timeout: float) -> CollectOp:
    """A node metrics pull (CMD_METRICS_COLLECT)."""
    proto = link.proto
    kind = proto.cmd.METRICS_COLLECT
    assert kind is not None  # every version has it
    op = CollectOp(asyncio.get_running_loop().create_future())
    link.open(op, kind, proto.metrics_collect_body(), proto.cmd_name(kind), timeout)
    return op


async def pump_input(link: DeviceLink, op: StreamOp, source: AsyncIterator[bytes]) -> None:
    """Operator bytes -> CMD_DATA_UPSTREAM from seq 0; the source's end becomes an empty complete frame.

    A source that breaks (the operator went away) sends no half-close: the caller's close of the
    session follows."""
    if link.proto.flags.stream_continue:
        await op.ready.wait()  # aranya-v0.3 sends input only once the device's stream is ready
        if op.finished:  # ready is also set when the session ended (timed out) before the device was
            return
    seq = 0
    try:
        async for data in source:
            if op.finished or not link.alive:
                return
            if data:
                seq = link.send_upstream(op, data, seq)
    except asyncio.CancelledError:
        raise
    except Exception:  # the operator's side broke; the handler sees that itself
        return
    if not op.finished and link.alive:
        link.send_upstream(op, b"", seq, complete=True)
