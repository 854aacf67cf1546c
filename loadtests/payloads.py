"""Realistic, deterministic payloads a simulated arhat agent sends.

Sizes follow what an edge agent sends in practice: a node status of a few KiB,
metrics in Prometheus text, exec output and log lines. Content is built once
per (device, size) and cached, so payload generation does not dominate the
generator's CPU; the bytes differ per device so nothing compresses trivially.
"""

from __future__ import annotations

import functools
import hashlib

NODE_STATUS_BYTES = 4 * 1024
METRICS_BYTES = 8 * 1024
EXEC_STDOUT_BYTES = 2 * 1024
LOG_LINE_BYTES = 120
STDOUT_BYTES_ENV = "ARANYA_PERF_STDOUT_BYTES"
EXIT_CODE_ENV = "ARANYA_PERF_EXIT_CODE"


def _fill(seed: str, size: int, line: bytes) -> bytes:
    digest = hashlib.sha256(seed.encode()).hexdigest().encode()
    unit = line + digest + b"\n"
    return (unit * (size // len(unit) + 1))[:size]


@functools.lru_cache(maxsize=4096)
def node_status(device_id: str, size: int = NODE_STATUS_BYTES) -> bytes:
    """Opaque MSG_NODE_STATUS body (aranya's NodeStatusMsg is protobuf; the gateway only relays it)."""
    head = (
        f'{{"device":"{device_id}","os":"linux","arch":"arm64","kernel":"6.1.0-edge",'
        f'"runtime":"containerd://1.7","capacity":{{"cpu":"4","memory":"4Gi","pods":"32"}},"conditions":['
    ).encode()
    return (head + _fill(device_id, max(0, size - len(head) - 2), b'{"type":"Ready","status":"True"},'))[
        : max(size - 2, 0)
    ] + b"]}"


@functools.lru_cache(maxsize=256)
def metrics_text(device_id: str, size: int = METRICS_BYTES) -> bytes:
    """A Prometheus text exposition of node metrics, as arhat's node exporter answers CMD_METRICS_COLLECT."""
    lines = []
    n = 0
    i = 0
    while n < size:
        line = f'node_cpu_seconds_total{{cpu="{i % 4}",mode="user",device="{device_id}"}} {1000 + i}.25\n'
        lines.append(line)
        n += len(line)
        i += 1
    return "".join(lines).encode()[:size]


@functools.lru_cache(maxsize=256)
def exec_output(command: tuple[str, ...], size: int = EXEC_STDOUT_BYTES) -> bytes:
    """Stdout for a command: deterministic text of ``size`` bytes."""
    return _fill(" ".join(command), size, b"total 4 drwxr-xr-x 2 root root 4096 ")


def log_lines(pod_uid: str, container: str, count: int, line_bytes: int = LOG_LINE_BYTES) -> bytes:
    """``count`` container log lines with RFC 3339 timestamps."""
    prefix = f"2026-11-27T12:00:00.000000Z {container} [{pod_uid[:8]}] level=info msg=".encode()
    body = b"x" * max(1, line_bytes - len(prefix) - 8)
    return b"".join(prefix + body + b" n=%05d\n" % i for i in range(count))
