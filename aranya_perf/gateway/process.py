"""The reference gateway as a child process: start it, read its ready line, stop it.

``aranya-perf run``, the tests, the benchmarks and the scripts all run the
gateway this way, so it is measured as its own process and never shares a GIL
(or gevent) with the load generator. The child prints exactly one JSON line,
``{"event": "ready", "listen": ..., "metrics": ..., "pid": ..., "protocol": ...,
"devices": {...}}``, then logs to stderr only; SIGTERM stops it with exit code 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from typing import IO, Any

from aranya_perf import child_process

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class GatewayStartError(RuntimeError):
    """The gateway child exited, printed something else, or stayed silent instead of getting ready."""


class GatewayProcess:
    """``aranya-perf gateway ARGS`` on free loopback ports (unless ARGS say otherwise).

    Use as a context manager, or ``start()`` then ``stop()``. ``stderr`` is
    where the child's log goes (a file object, or ``subprocess.DEVNULL``).
    """

    def __init__(
        self, args: Sequence[str] = (), *, stderr: IO[Any] | int | None = subprocess.DEVNULL
    ) -> None:
        self.args = list(args)
        self._stderr = stderr
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.metrics_address = ""
        self.protocol = ""
        self.device_addresses: dict[str, str] = {}
        """Device id -> its own listener (with ``--listener-per-device``)."""
        self.kube_address = ""
        """The Kubernetes face's ``host:port`` (with ``--kube-listen``)."""

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self, timeout: float = START_TIMEOUT_S) -> GatewayProcess:
        listen = [] if "--listen" in self.args else ["--listen", "127.0.0.1:0"]
        metrics = [] if "--metrics-listen" in self.args else ["--metrics-listen", "127.0.0.1:0"]
        cmd = [sys.executable, "-m", "aranya_perf", "gateway", *listen, *metrics, *self.args]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            **child_process.dies_with_parent(),
        )
        try:
            ready = json.loads(self._ready_line(timeout))
            if ready.get("event") != "ready":
                raise GatewayStartError(f"unexpected first line from the gateway: {ready}")
            self.address, self.metrics_address = ready["listen"], ready["metrics"]
            self.protocol, self.device_addresses = ready["protocol"], dict(ready["devices"])
            self.kube_address = ready.get("kube") or ""
        except (ValueError, KeyError, GatewayStartError) as exc:
            code = self.stop()
            raise GatewayStartError(f"gateway did not start (exit code {code}): {exc}") from None
        except BaseException:
            self.stop()
            raise
        return self

    def _ready_line(self, timeout: float) -> str:
        assert self.proc is not None
        try:
            return child_process.read_ready_line(self.proc, timeout, "gateway")
        except child_process.NotReady as exc:
            raise GatewayStartError(str(exc)) from None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code (None if never started)."""
        return child_process.stop(self.proc, timeout)

    def metrics_text(self, timeout: float = 5.0) -> str:
        with urllib.request.urlopen(f"http://{self.metrics_address}/metrics", timeout=timeout) as resp:
            return resp.read().decode()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
