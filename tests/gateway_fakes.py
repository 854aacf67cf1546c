"""Test doubles for the gateway tests: an asyncio loop in a thread, and a scripted device of any version.

``FakeDevice`` speaks one protocol version through the suite's ``Protocol`` seam (whose
bytes test_conformance.py pins down), but answers from a script rather than through the
load generator's ``DeviceAgent``, so the gateway's side of every rule can be tested in
isolation: out-of-order frames, errors, silence, a device that fails the connect checks.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from aranya_perf.loadtests.engine import get_engine, shutdown_engine
from grpc import aio

from aranya_perf.protocol import Command, ErrorKind, NodeInfo, Op, PodInfo, Protocol, Reply
from aranya_perf.protocol.control import ControlStub
from aranya_perf.transport.grpc_sync import open_sync

T = TypeVar("T")


class LoopThread:
    """An asyncio loop on a native thread with grpc.aio set up on it: the load engine's.

    A plain ``threading.Thread`` would do until Locust is imported (pytest imports every test
    module before running any, and Locust monkey-patches the process with gevent): then that
    thread is a greenlet and grpc.aio deadlocks on its first server. The engine starts its
    thread and grpc.aio with the original primitives (see loadtests/engine.py), so the tests
    run the same in either process.
    """

    def __init__(self) -> None:
        self.engine = get_engine()
        self.loop = self.engine.loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return self.engine.call(lambda: coro, timeout=timeout)

    def close(self) -> None:
        shutdown_engine()


@dataclass
class Received:
    """One Cmd as the device read it."""

    kind: int
    sid: int
    seq: int
    complete: bool
    payload: bytes
    command: Command | None  # None for CMD_DATA_UPSTREAM


NODE = NodeInfo(os_image="Test OS", labels={"role": "edge"})
PODS = [PodInfo("pod-uid-1", {"app": "sha256:aa"})]


class FakeDevice:
    """A scripted agent of ``proto``.

    ``node_info`` ("ok" or "error") and ``pods`` ("ok", "unsupported", "error" or "silent") choose the
    answers to the connect sequence; exec answers by argv[0]: ``echo`` (stdout and stderr,
    sent out of order), ``exit N``, ``error ERR_KIND``, ``hang`` (never answers).
    """

    def __init__(
        self,
        proto: Protocol,
        address: str,
        device_id: str = "dev-1",
        *,
        creds: grpc.ChannelCredentials | None = None,
        node_info: str = "ok",
        pods: str = "ok",
        stream_continue_delay: float = 0.0,
    ) -> None:
        self.proto, self.address, self.device_id, self.creds = proto, address, device_id, creds
        self.node_info, self.pods, self.stream_continue_delay = node_info, pods, stream_continue_delay
        self.received: list[Received] = []
        self.upstream: list[tuple[int, int, int, bool]] = []  # (sid, seq, len, complete)
        self.ended = False
        self.status: grpc.StatusCode | None = None
        self.details = ""
        self.ready_at: dict[int, float] = {}  # sid -> when the stream-continue frame went out
        self._seq: dict[int, int] = collections.defaultdict(int)
        self._channel: aio.Channel | None = None
        self._call: Any = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, first: Any = None, *, metadata: tuple[tuple[str, str], ...] = ()) -> FakeDevice:
        if self.creds is None:
            self._channel = aio.insecure_channel(self.address)
        else:
            self._channel = aio.secure_channel(self.address, self.creds)
        self._call = open_sync(self.proto, self._channel, metadata, timeout=30)
        await self._call.write(first if first is not None else self.proto.online(self.device_id))
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

    async def send(self, msg: Any) -> None:
        await self._call.write(msg)

    # -- what the device saw -------------------------------------------------------------------

    def labels(self) -> list[str]:
        return [r.command.label if r.command else self.proto.cmd_name(r.kind) for r in self.received]

    def of_op(self, op: Op) -> list[Received]:
        return [r for r in self.received if r.command is not None and r.command.op is op]

    async def wait(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; device saw {self.labels()}")
            await asyncio.sleep(0.01)

    async def wait_online(self) -> None:
        """Until the connect sequence is through (the metrics config is its last command)."""
        await self.wait(lambda: bool(self.of_op(Op.METRICS_CONFIG)))

    # -- answering -----------------------------------------------------------------------------

    async def _serve(self) -> None:
        unpack = self.proto.unpack
        try:
            while True:
                cmd = await self._call.read()
                if cmd is aio.EOF:
                    break
                kind, sid, seq, complete, payload = unpack(cmd)
                command = (
                    None if kind == self.proto.cmd.DATA_UPSTREAM else self.proto.read_command(kind, payload)
                )
                self.received.append(Received(kind, sid, seq, complete, payload, command))
                await self._answer(kind, sid, seq, complete, payload, command)
        except grpc.RpcError:
            pass
        self.ended = True
        with contextlib.suppress(Exception):
            self.status = await self._call.code()
            self.details = await self._call.details()

    def msg(self, kind: int, sid: int, payload: bytes = b"", complete: bool = False) -> Any:
        seq = self._seq[sid]
        self._seq[sid] = seq + 1
        return self.proto.new_msg(kind, sid, payload, seq, complete)

    def result(self, command: Command, reply: Reply, sid: int, body: bytes) -> Any:
        kind, payload = self.proto.result(reply, body, runtime=command.via_runtime)
        return self.msg(kind, sid, payload, complete=True)

    def error(self, command: Command, sid: int, kind: int, description: str, code: int = 0) -> Any:
        return self.result(command, Reply.ERROR, sid, self.proto.error_body(kind, description, code))

    async def _answer(
        self, kind: int, sid: int, seq: int, complete: bool, payload: bytes, command: Command | None
    ) -> None:
        p = self.proto
        write = self._call.write
        if command is None:  # CMD_DATA_UPSTREAM
            self.upstream.append((sid, seq, len(payload), complete))
            if payload:
                await write(self.msg(p.msg.DATA, sid, payload))
            if complete:
                await write(self.msg(p.msg.DATA, sid, b"", complete=True))
            return
        op = command.op
        if op is Op.NODE_INFO:
            if self.node_info == "error":
                await write(self.error(command, sid, 0, "no node info"))
                return
            # Chunked answer: the gateway reassembles and completes on the last frame.
            body = p.node_status_body(NODE, full=command.body.kind == 1)
            await write(self.msg(p.msg.NODE_STATUS, sid, body[:5]))
            await write(self.msg(p.msg.NODE_STATUS, sid, body[5:], complete=True))
        elif op is Op.POD_LIST:
            if self.pods == "ok":
                await write(self.result(command, Reply.POD_STATUS_LIST, sid, p.pod_status_list_body(PODS)))
            elif self.pods != "silent":
                err_kind = 3 if self.pods == "unsupported" else 0
                await write(self.error(command, sid, err_kind, "no pods here"))
        elif op is Op.METRICS_CONFIG:
            await write(self.result(command, Reply.DONE, sid, b""))
        elif op is Op.METRICS_COLLECT:
            await write(self.msg(p.msg.DATA, sid, b"node_up 1\n", complete=True))
        elif op is Op.EXEC:
            await self._exec(sid, command)
        elif op is Op.LOGS:
            for i in range(command.body.tail_lines):
                await write(self.msg(p.msg.DATA, sid, f"line {i}\n".encode()))
            await write(self.msg(p.msg.DATA, sid, b"", complete=True))
        elif op is Op.PORT_FORWARD and p.flags.stream_continue:
            await asyncio.sleep(self.stream_continue_delay)
            self.ready_at[sid] = time.monotonic()
            await write(self.msg(p.msg.DATA, sid, b""))

    async def _exec(self, sid: int, command: Command) -> None:
        p = self.proto
        write = self._call.write
        argv = list(command.body.command)
        if argv[0] == "echo":
            frames = [
                self.msg(p.msg.DATA, sid, b"hello "),
                self.msg(p.msg.STDERR, sid, b"oops"),
                self.msg(p.msg.DATA, sid, b"world"),
                self.msg(p.msg.DATA, sid, b"", complete=True),
            ]
            for i in (1, 0, 3, 2):  # out of order: the gateway must put them back in seq order
                await write(frames[i])
        elif argv[0] == "exit":
            await write(self.msg(p.msg.DATA, sid, b"partial"))
            await write(self.error(command, sid, 0, "exit status", int(argv[1])))
        elif argv[0] == "error":
            await write(self.error(command, sid, ErrorKind[argv[1]], "no such thing"))
        # "hang": never answers


@contextlib.asynccontextmanager
async def device(
    proto: Protocol, address: str, device_id: str = "dev-1", *, online: bool = True, **kw: Any
) -> Any:
    """A connected FakeDevice; with ``online``, only once the gateway has run the connect sequence."""
    dev = FakeDevice(proto, address, device_id, **kw)
    try:
        await dev.connect()
        if online:
            await dev.wait_online()
        yield dev
    finally:
        await dev.close()


@contextlib.asynccontextmanager
async def control(address: str) -> Any:
    async with aio.insecure_channel(address) as channel:
        yield ControlStub(channel)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
