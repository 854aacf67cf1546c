"""The parent side of the capacity benchmark's processes: gateways and measured children, with deadlines.

Every child announces its phases with a time budget (``child.phase``); a child that overruns
its budget, or lives longer than a hard cap, is killed and reported as stalled, so a run
always ends by itself. Gateways are ``aranya-perf gateway`` children on free loopback ports.
CPUs can be pinned: on a 2-core machine the gateway side gets one core and the measured
generator the other, so they do not steal from each other.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from aranya_perf.gateway.process import GatewayProcess

CHILD_START_BUDGET_S = 40.0  # importing locust and grpc on a busy machine
CHILD_GRACE_S = 3.0
GATEWAY_START_TIMEOUT_S = 30.0


class CpuClock(Protocol):
    """A server process whose CPU time a measured child's phases are marked with."""

    def cpu_s(self) -> float: ...


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far (NaN once it is gone)."""
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return float("nan")
    return t.user + t.system


class Gateway:
    """One reference gateway child, pinned to ``cpus``; its log goes to ``log``."""

    def __init__(self, args: Sequence[str], log: Path, cpus: set[int] | None) -> None:
        self._log: IO[bytes] = log.open("ab")
        self.process = GatewayProcess([*args, "--log-level", "warning"], stderr=self._log)
        self.cpus = cpus

    @property
    def address(self) -> str:
        return self.process.address

    def start(self) -> Gateway:
        self.process.start(timeout=GATEWAY_START_TIMEOUT_S)
        if self.cpus:
            os.sched_setaffinity(self.process.pid, self.cpus)
        return self

    def stop(self) -> None:
        self.process.stop()
        self._log.close()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cpu_s(self) -> float:
        return process_cpu_s(self.process.pid)

    def devices_online(self) -> int:
        """The gateway's own gauge of devices that passed the connect sequence."""
        from aranya_perf.gateway.metrics import parse_metrics

        try:
            metrics = parse_metrics(self.process.metrics_text(timeout=10))
        except OSError:
            return -1
        return int(metrics.get("aranya_gateway_devices_online", 0))


class Child:
    """One variant in a fresh process (``python -m aranya_perf.capacity.child SPEC``)."""

    def __init__(
        self,
        spec: dict[str, Any],
        log_dir: Path,
        cpus: set[int] | None = None,
        gateway: CpuClock | None = None,
        hard_cap_s: float = 150.0,
    ) -> None:
        self.spec = spec
        self.name = spec.get("name", spec["variant"])
        self.result: dict[str, Any] | None = None
        self.stalled = False
        self.phase = "start"
        self.marks: dict[str, float] = {}  # phase -> gateway CPU seconds when the child announced it
        self.ready: dict[str, Any] | None = None
        self._gateway = gateway
        self._lines: queue.Queue[tuple[str, float] | None] = queue.Queue()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=5)
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = (log_dir / f"{self.name}.log").open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aranya_perf.capacity.child", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, cpus)
        self._cap = time.monotonic() + hard_cap_s
        self._deadline = time.monotonic() + CHILD_START_BUDGET_S
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            # Stamped here, so gateway CPU marks sit close to the child's own clock.
            self._lines.put((line, self._gateway.cpu_s() if self._gateway is not None else 0.0))
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._log.write(line)
            self._stderr_tail.append(line)
        self._log.flush()

    def wait_for(self, tags: Sequence[str] = ("RESULT",), phases: Sequence[str] = ()) -> bool:
        """Read the child's lines until one of ``tags`` (or a PHASE named in ``phases``) arrives.

        False when the child overran a budget, exited, or hit the hard cap (then ``stalled`` or
        ``error`` says why); True otherwise.
        """
        while True:
            timeout = max(0.0, min(self._deadline, self._cap) - time.monotonic())
            try:
                item = self._lines.get(timeout=timeout)
            except queue.Empty:
                self.stalled = self.result is None
                return False
            if item is None:
                return False
            line, gw_cpu = item
            tag, _, payload = line.partition(" ")
            if tag == "PHASE":
                announced = json.loads(payload)
                self.phase = announced["name"]
                self.marks[self.phase] = gw_cpu
                self._deadline = time.monotonic() + announced["budget_s"] + CHILD_GRACE_S
                if self.phase in phases:
                    return True
            elif tag == "READY":
                self.ready = json.loads(payload)
                if "READY" in tags:
                    return True
            elif tag == "RESULT":
                self.result = json.loads(payload)
                self._deadline = time.monotonic() + CHILD_GRACE_S
                if "RESULT" in tags:
                    return True

    def cpu_s(self) -> float:
        return process_cpu_s(self.proc.pid)

    def send(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()

    def finish(self) -> dict[str, Any] | None:
        """Wait for the result (within the budgets), then make sure the process is gone."""
        if self.result is None and not self.stalled:
            self.wait_for(("RESULT",))
        self.kill()
        return self.result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for t in self._readers:
            t.join(timeout=2)
        self._log.close()

    @property
    def error(self) -> str | None:
        """Why there is no usable result, or None."""
        if self.stalled:
            return f"stalled in phase {self.phase!r} (killed)"
        if self.result is None:
            tail = "".join(self._stderr_tail).strip().splitlines()
            return f"no result ({tail[-1] if tail else 'the child printed nothing'})"
        return self.result.get("error")

    def outcome(self) -> dict[str, Any]:
        """The result for the JSON file: the child's figures, or an ``error`` saying why not."""
        if self.error is not None:
            return {"error": self.error, "phase": self.phase}
        assert self.result is not None
        return dict(self.result)


def run_child(
    spec: dict[str, Any],
    log_dir: Path,
    cpus: set[int] | None = None,
    gateway: CpuClock | None = None,
    hard_cap_s: float = 150.0,
) -> Child:
    """Run one variant to its end (or its deadline) and return the finished child."""
    child = Child(spec, log_dir, cpus, gateway, hard_cap_s)
    try:
        child.finish()
    finally:
        child.kill()
    return child
