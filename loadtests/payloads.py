"""Realistic, deterministic payloads a simulated arhat agent sends.

Sizes follow what an edge agent sends in practice: a node status of about a KiB
(system info, capacity, conditions and a few labels and annotations), metrics in
Prometheus text, exec output and log lines. Content is built once per (device, size)
and cached where it is sent often, so payload generation does not dominate the
generator's CPU; the bytes differ per device so nothing compresses trivially. Which
protobuf fields carry a node status or a pod list is the protocol version's business
(``Protocol.node_status_body``); this module only says what the device is.
"""

from __future__ import annotations

import functools
import hashlib
import uuid

from aranya_perf.protocol import NodeInfo, PodInfo

NODE_STATUS_BYTES = 1024
METRICS_BYTES = 8 * 1024
EXEC_STDOUT_BYTES = 2 * 1024
LOG_LINE_BYTES = 120
STDOUT_BYTES_ENV = "ARANYA_PERF_STDOUT_BYTES"
EXIT_CODE_ENV = "ARANYA_PERF_EXIT_CODE"


def _fill(seed: str, size: int, line: bytes) -> bytes:
    digest = hashlib.sha256(seed.encode()).hexdigest().encode()
    unit = line + digest + b"\n"
    return (unit * (size // len(unit) + 1))[:size]


_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # RFC 4122's URL namespace


def node_info(device_id: str, size: int = NODE_STATUS_BYTES) -> NodeInfo:
    """What the device reports in NODE_INFO_ALL; an inventory annotation pads the encoded status to
    about ``size`` bytes (edge fleets carry such annotations: location, firmware, attached sensors)."""
    ids = uuid.uuid5(_NAMESPACE, f"aranya-perf/{device_id}")
    labels = {
        "arhat.dev/role": "edge",
        "kubernetes.io/arch": "arm64",
        "topology.arhat.dev/site": device_id[-3:],
    }
    annotations = {
        "arhat.dev/firmware": "2026.11.2",
        "arhat.dev/location": f"site-{device_id[-3:]}/rack-2",
    }
    # NodeStatusMsg without the padding is about 300 bytes in every version.
    pad = max(0, size - 320 - len(device_id) * 3)
    if pad:
        annotations["aranya-perf/inventory"] = _fill(device_id, pad, b"sensor=temp,hum;bus=i2c-1;").decode()
    return NodeInfo(
        boot_id=str(uuid.uuid5(ids, "boot")),
        machine_id=ids.hex,
        system_uuid=str(ids).upper(),
        labels=labels,
        annotations=annotations,
    )


def pods(device_id: str, count: int = 2) -> list[PodInfo]:
    """The pods the device runs, for pod list answers."""
    out = []
    for i in range(count):
        uid = str(uuid.uuid5(_NAMESPACE, f"aranya-perf/{device_id}/pod-{i}"))
        out.append(PodInfo(uid, {"app": f"sha256:{hashlib.sha256(uid.encode()).hexdigest()}"}))
    return out


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
