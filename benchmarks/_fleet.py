"""Shared plumbing for the loopback benchmarks: the gateway as a child process and a fleet of devices.

Not a benchmark module (asv imports it but finds nothing to run here). grpc is
imported inside the functions, never at module level: asv forks every benchmark
process from one server process that has imported all benchmark modules, and
gRPC core must not be initialised in that parent. Nothing here imports Locust,
so gevent never patches the benchmark process. Every address is loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from aranya_perf.codec import MAX_MESSAGE_BYTES
from aranya_perf.gateway.process import GatewayProcess

if TYPE_CHECKING:
    from aranya_perf.loadtests.device_agent import DeviceAgent
    from grpc import aio

T = TypeVar("T")

GATEWAY_START_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 60.0
CONNECT_SEQUENCE = 3  # commands a new device answers before the gateway lists it


def start_gateway() -> GatewayProcess:
    """The gateway child with periodic device polling off; its log goes to asv's captured stderr."""
    args = ["--node-info-interval", "0", "--metrics-interval", "0", "--log-level", "warning"]
    return GatewayProcess(args, stderr=None).start(timeout=GATEWAY_START_TIMEOUT_S)


_LOOP: asyncio.AbstractEventLoop | None = None


def process_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, never closed: grpc.aio binds its completion queue to the first loop
    it runs on, and a second loop in the same process gets "Event loop is closed" callbacks."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP


@dataclass
class Fleet:
    """Simulated devices (``aranya_perf.loadtests.device_agent.DeviceAgent``) on a private asyncio loop.

    The process's loop runs only inside ``run``; between calls the devices' streams simply wait.
    Each device has its own channel and TCP connection, as in the load generator.
    """

    address: str
    loop: asyncio.AbstractEventLoop = field(default_factory=lambda: process_loop())
    agents: list[DeviceAgent] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _channels: list[aio.Channel] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    def report(
        self, request_type: str, name: str, _ms: float, _length: int, exc: BaseException | None
    ) -> None:
        if exc is not None:
            self.errors.append(f"{request_type} {name}: {type(exc).__name__}: {exc}")

    def channel(self) -> aio.Channel:
        """A new channel with its own connection to the gateway (call while the loop runs)."""
        from grpc import aio

        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.use_local_subchannel_pool", 1),
        ]
        ch = aio.insecure_channel(self.address, options=options)
        self._channels.append(ch)
        return ch

    async def add_devices(self, count: int, prefix: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Start ``count`` devices and return once each has answered the gateway's connect sequence
        (node info, pod list, metrics config), after which the gateway lists it as online."""
        from aranya_perf.loadtests.device_agent import DeviceAgent, DeviceProfile

        from aranya_perf import protocol

        # Status pushes are off: they start at a random moment, which would make the figures drift.
        profile = DeviceProfile(status_push_interval_s=0)
        proto = protocol.get(protocol.DEFAULT)
        new = []
        for i in range(len(self.agents), len(self.agents) + count):
            agent = DeviceAgent(f"{prefix}-{i:05d}", self.channel(), self.report, proto, profile, seed=i)
            new.append(agent)
            self._tasks.append(self.loop.create_task(agent.run()))
        self.agents.extend(new)
        deadline = time.monotonic() + timeout
        while not all(a.online and a.commands >= CONNECT_SEQUENCE for a in new):
            if self.errors:
                raise RuntimeError(f"device errors while connecting: {self.errors[:5]}")
            if time.monotonic() > deadline:
                waiting = sum(1 for a in new if not a.online)
                raise RuntimeError(f"{waiting} of {count} devices not online after {timeout:g}s")
            await asyncio.sleep(0.02)

    def close(self) -> None:
        async def _close() -> None:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(BaseException):
                    await task
            for ch in self._channels:
                with contextlib.suppress(Exception):
                    await ch.close()
            # grpc's own per-call tasks (status handlers) must finish before the loop closes.
            current = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not current]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(_close())
        self._tasks.clear()
        self._channels.clear()


def rss_bytes() -> int:
    import psutil

    return int(psutil.Process(os.getpid()).memory_info().rss)
