"""What the gateway waits for in each session it opens: one ``Session`` subclass per kind of command.

An operation is registered in its device's ``SessionTable`` (the only record of a
stream's sessions) and is told, by ``DeviceLink``, about every in-order frame of its
session: data (``on_data``), a device error (``on_error``) and the end (``end``, exactly
once). Periodic commands are timed and dropped; probes answer the connect sequence;
Exec, Logs, PortForward and CollectMetrics hand results to the operator's call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc

from aranya_perf.protocol import DeviceError, ErrorKind, Reply
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

    __slots__ = ("finished", "label", "link", "sent_at", "timeout", "timer")

    stream = False
    """A stream session (exec, logs, port-forward): aranya closes it on the device when it ends."""

    def __init__(self, kind: int = 0) -> None:
        super().__init__(kind)
        self.link: DeviceLink | None = None
        self.label = ""
        self.sent_at = 0.0  # loop time the opening Cmd was written (opened_at until then)
        self.timeout = 0.0
        self.timer: asyncio.TimerHandle | None = None
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
