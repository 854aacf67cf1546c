"""A real MQTT broker for runs and tests: mosquitto on a free loopback port, and its ``$SYS`` counters.

``Broker`` writes a generated config (one loopback listener, anonymous, no persistence,
``sys_interval 1`` so ``$SYS`` is at most a second old, no limits on connections, in-flight
or queued messages, so a fleet of thousands loses nothing to the broker's defaults of 20
in flight and 1,000 queued per client), starts ``mosquitto -c`` as a child process, waits
until the port answers, and stops it with SIGTERM (then SIGKILL). ``read_sys`` subscribes
``$SYS/#`` on a running loop and returns the retained counters, numbers where they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from aranya_perf import child_process
from aranya_perf.targets import format_address
from aranya_perf.transport import mqtt

BINARY = "mosquitto"
FALLBACK_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
SYS_INTERVAL_S = 1
SYS_COLLECT_S = 0.5
"""How long ``read_sys`` listens: retained ``$SYS`` values all arrive right after the SUBACK."""

COUNTERS = (
    "$SYS/broker/publish/messages/received",
    "$SYS/broker/publish/messages/sent",
    "$SYS/broker/publish/messages/dropped",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/total",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
    "$SYS/broker/store/messages/count",
)
"""The counters a run keeps (``broker_sys.json`` has every ``$SYS`` topic; these are summarised)."""


class BrokerError(RuntimeError):
    """mosquitto is not installed, or did not start; one-line message."""


def find_binary() -> str:
    """Path of the mosquitto executable, or ``BrokerError`` saying how to get it."""
    found = shutil.which(BINARY) or next((p for p in FALLBACK_PATHS if os.access(p, os.X_OK)), None)
    if found is None:
        raise BrokerError("mosquitto is not installed (Debian/Ubuntu: apt-get install mosquitto)")
    return found


def config_text(host: str, port: int) -> str:
    """mosquitto.conf for one loopback listener of a load test."""
    return "\n".join(
        (
            "per_listener_settings false",
            f"listener {port} {host}",
            "allow_anonymous true",
            "persistence false",
            f"sys_interval {SYS_INTERVAL_S}",
            "max_connections -1",
            "max_inflight_messages 0",
            "max_queued_messages 0",
            "max_queued_bytes 0",
            "max_keepalive 65535",
            "retain_available true",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "",
        )
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _raise_fd_limit() -> None:
    # One fd per client: a fleet of thousands needs more than a shell's soft limit of 1,024.
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Broker:
    """mosquitto on ``host`` (loopback) and a free port; ``start()`` then ``stop()``, or ``with``."""

    def __init__(self, host: str = "127.0.0.1", *, log: IO[bytes] | int | None = subprocess.DEVNULL) -> None:
        self.host = host
        self.port = 0
        self._log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self, timeout: float = START_TIMEOUT_S) -> Broker:
        binary = find_binary()
        self._dir = tempfile.TemporaryDirectory(prefix="aranya-perf-mosquitto-")
        conf = Path(self._dir.name) / "mosquitto.conf"
        for _attempt in range(3):  # the free port may be taken between the probe and mosquitto's bind
            self.port = _free_port(self.host)
            conf.write_text(config_text(self.host, self.port))
            self.proc = subprocess.Popen(
                [binary, "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                **child_process.dies_with_parent(before_exec=_raise_fd_limit),
            )
            if self._wait_ready(timeout):
                return self
        code = self.stop()
        raise BrokerError(f"mosquitto did not start on {self.address} (exit code {code})")

    def _wait_ready(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.5):
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code (None if never started)."""
        code = child_process.stop(self.proc, timeout)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        return code

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


async def read_sys(
    host: str, port: int, *, settle_s: float = 0.0, collect_s: float = SYS_COLLECT_S
) -> dict[str, Any]:
    """Every retained ``$SYS`` value of the broker at ``host:port`` (topic -> number or text).

    ``settle_s``: wait this long first, so values counted up to now have been published
    (mosquitto refreshes them every ``sys_interval``). Raises ``ConnectionError``.
    """
    if settle_s > 0:
        await asyncio.sleep(settle_s)
    values: dict[str, Any] = {}

    def on_message(_client: Any, topic: str, payload: bytes, _qos: int, _properties: Any) -> None:
        values[topic] = _number(payload.decode(errors="replace"))

    broker = mqtt.resolve(host, port)
    client = await mqtt.connect_client(
        f"aranya-perf-sys-{os.getpid()}",
        broker,
        clean_session=True,
        on_message=on_message,
        subscribe=("$SYS/#",),
    )
    try:
        await asyncio.sleep(collect_s)
    finally:
        client.abort()
    return dict(sorted(values.items()))


def summary(values: dict[str, Any]) -> dict[str, Any]:
    """The counters of ``COUNTERS`` that the broker published, under their topic names."""
    return {k: values[k] for k in COUNTERS if k in values}
