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
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from grpc import aio

    from loadtests.device_agent import DeviceAgent

T = TypeVar("T")

GATEWAY_START_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 60.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""What the load generator's channels allow (loadtests.grpc_user), so a benchmark device costs the same."""


@dataclass
class GatewayProcess:
    """``python -m aranya_perf gateway`` on free loopback ports, periodic device polling off."""

    proc: subprocess.Popen[bytes]
    address: str
    metrics_address: str
    pid: int
    _stderr: Any

    @classmethod
    def start(cls, timeout: float = GATEWAY_START_TIMEOUT_S) -> GatewayProcess:
        # A file, not a pipe: nobody drains the gateway's stderr while the benchmark runs.
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        cmd = [
            sys.executable,
            "-m",
            "aranya_perf",
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--node-info-interval",
            "0",
            "--metrics-interval",
            "0",
            "--log-level",
            "warning",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        try:
            ready, _, _ = select.select([proc.stdout], [], [], timeout)
            line = proc.stdout.readline() if ready else b""
            if not line:
                raise RuntimeError(f"gateway did not report ready within {timeout:g}s")
            doc = json.loads(line)
            if doc.get("event") != "ready":
                raise RuntimeError(f"unexpected first line from the gateway: {line!r}")
        except BaseException as exc:
            _terminate(proc)
            stderr.seek(0)
            tail = stderr.read()[-4000:].decode(errors="replace")
            stderr.close()
            raise RuntimeError(f"{exc}\n--- gateway stderr ---\n{tail}") from exc
        return cls(proc, doc["listen"], doc["metrics"], int(doc["pid"]), stderr)

    def stop(self) -> None:
        _terminate(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    """Simulated devices (``loadtests.device_agent.DeviceAgent``) on a private asyncio loop.

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
        """Start ``count`` devices and return once each has answered the gateway's first command."""
        from loadtests.device_agent import DeviceAgent, DeviceProfile

        # Status pushes are off: they start at a random moment, which would make the figures drift.
        profile = DeviceProfile(status_push_interval_s=0)
        new = []
        for i in range(len(self.agents), len(self.agents) + count):
            agent = DeviceAgent(f"{prefix}-{i:05d}", self.channel(), self.report, profile, seed=i)
            new.append(agent)
            self._tasks.append(self.loop.create_task(agent.run()))
        self.agents.extend(new)
        deadline = time.monotonic() + timeout
        while not all(a.online and a.commands >= 1 for a in new):
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
