"""``etcdctl`` (API v3) against fixed endpoints: the few calls the suite makes around a run.

Used between phases and around ``check perf`` (deleting a prefix, counting keys, reading the
revision, compacting), from processes where a gRPC client of our own would have to share gevent's
patched world; every call is a bounded child process (``spawn``, never a fork).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from aranya_perf.etcd import spawn


class EtcdctlError(RuntimeError):
    """etcdctl is missing, failed, timed out, or printed something we cannot read."""


def find_etcdctl(binary: str = "etcdctl") -> str:
    path = shutil.which(binary)
    if path is None:
        raise EtcdctlError(f"{binary!r} not found: install etcdctl (Debian: apt-get install etcd-client)")
    return path


class Etcdctl:
    """``etcdctl`` (API v3) against fixed endpoints; each call bounded by ``timeout`` seconds."""

    def __init__(self, endpoints: Sequence[str], binary: str = "etcdctl") -> None:
        if not endpoints:
            raise EtcdctlError("no etcd endpoints given")
        self.binary = find_etcdctl(binary)
        self.endpoints = list(endpoints)
        self.env = {**os.environ, "ETCDCTL_API": "3"}

    def command(self, *args: str) -> list[str]:
        return [self.binary, "--endpoints", ",".join(self.endpoints), *args]

    def run(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        try:
            return spawn.run(self.command(*args), env=self.env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EtcdctlError(f"etcdctl {' '.join(args)} did not finish within {timeout:g}s") from None

    def json(self, *args: str, timeout: float = 30.0) -> Any:
        proc = self.run(*args, "-w", "json", timeout=timeout)
        if proc.returncode != 0:
            raise EtcdctlError(f"etcdctl {' '.join(args)} failed: {one_line(proc.stderr or proc.stdout)}")
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise EtcdctlError(f"etcdctl {' '.join(args)} printed no JSON: {one_line(proc.stdout)}") from None

    def count(self, prefix: str) -> int:
        """Keys under ``prefix`` (a linearizable count, no values fetched)."""
        return int(self.json("get", prefix, "--prefix", "--keys-only").get("count", 0))

    def delete_prefix(self, prefix: str) -> tuple[int, int]:
        """Delete every key under ``prefix``; return (keys deleted, revision after)."""
        out = self.json("del", prefix, "--prefix")
        return int(out.get("deleted", 0)), int(out["header"]["revision"])

    def revision(self) -> int:
        return int(self.json("get", "/", "--keys-only", "--limit", "1")["header"]["revision"])

    def compact(self, revision: int) -> None:
        """Compact history up to ``revision`` and wait until the backend has applied it."""
        proc = self.run("compact", str(revision), "--physical", timeout=60.0)
        if proc.returncode != 0 and "required revision has been compacted" not in proc.stderr:
            raise EtcdctlError(f"etcdctl compact {revision} failed: {one_line(proc.stderr)}")


def one_line(text: str) -> str:
    """Output squeezed into one short line for an error message."""
    return (
        " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())[:300] or "(no output)"
    )
