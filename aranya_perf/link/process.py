"""``aranya-perf link`` as a child process: start it between a run's devices and its target, stop it.

Shares the gateway's child-process plumbing (ready line on stdout, SIGTERM to stop). The
ready line is ``{"event": "ready", "listen": "HOST:PORT"|null, "devices": {ID: "HOST:PORT"},
"address_map": PATH|null, "link": {...profile...}, "method": "proxy"|"netns", "kernel": [...],
"pid": N}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from aranya_perf import child_process
from aranya_perf.address_map import AddressMap, DeviceAddress, read_file
from aranya_perf.gateway.process import START_TIMEOUT_S, GatewayProcess, GatewayStartError


class LinkProcess(GatewayProcess):
    """``aranya-perf link ARGS``; after ``start()``, ``address_map`` is where devices connect."""

    def __init__(
        self, args: Sequence[str] = (), *, stderr: IO[Any] | int | None = subprocess.DEVNULL
    ) -> None:
        super().__init__(args, stderr=stderr)
        self.ready: dict[str, Any] = {}

    def start(self, timeout: float = START_TIMEOUT_S) -> LinkProcess:
        cmd = [sys.executable, "-m", "aranya_perf", "link", *self.args]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            **child_process.dies_with_parent(),
        )
        try:
            self.ready = json.loads(self._ready_line(timeout))
            if self.ready.get("event") != "ready":
                raise GatewayStartError(f"unexpected first line from the link: {self.ready}")
            self.address = self.ready["listen"] or ""
            self.device_addresses = dict(self.ready["devices"])
        except (ValueError, KeyError, GatewayStartError) as exc:
            code = self.stop()
            raise GatewayStartError(f"link did not start (exit code {code}): {exc}") from None
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def profile(self) -> dict[str, Any]:
        """The link profile as the child resolved it (for meta.json and the report)."""
        return dict(self.ready.get("link") or {})

    @property
    def address_map(self) -> AddressMap:
        """The proxied map: the child's ``--address-map-out`` file when given (it keeps TLS names)."""
        if self.ready.get("address_map"):
            return read_file(Path(self.ready["address_map"]))
        if self.device_addresses:
            entries = tuple(DeviceAddress(d, a) for d, a in self.device_addresses.items())
            return AddressMap("link", entries)
        return AddressMap("link", shards=(self.address,))
