"""Configuration of the reference gateway: one frozen dataclass, validated on construction.

Owns the gateway's tunables: the protocol version, the listener topology, the command
schedule, session timeout, frame and message sizes, TLS files. The server reads it; the
CLI and run profiles build it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aranya_perf import codec, protocol
from aranya_perf.gateway import emulate
from aranya_perf.gateway.schedule import DEFAULT_SCHEDULE, SCHEDULES
from aranya_perf.protocol.model import MAX_GRPC_MESSAGE
from aranya_perf.transport.topics import MAX_MQTT_DATA_SIZE

_DEFAULT = SCHEDULES[DEFAULT_SCHEDULE]

NODE_METRICS_COLLECT = (
    "arp", "bcache", "bonding", "conntrack", "cpu", "cpufreq", "diskstats", "edac", "entropy", "filefd",
    "filesystem", "hwmon", "infiniband", "ipvs", "loadavg", "mdadm", "meminfo", "netclass", "netdev",
    "netstat", "nfs", "nfsd", "pressure", "rapl", "schedstat", "sockstat", "softnet", "stat", "zfs", "ntp",
    "thermal_zone", "time", "timex", "udp_queues", "uname", "vmstat", "xfs", "processes",
)  # fmt: skip
"""The node-exporter collectors aranya's chart asks a Linux device for (CMD_METRICS_CONFIG)."""


TRANSPORTS = ("grpc", "mqtt")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """How the reference gateway behaves towards devices and operators.

    Intervals and timeouts are seconds. An interval <= 0 disables that periodic
    command (the connect sequence is always sent); a session timeout <= 0 means
    sessions never time out.
    """

    protocol: str = protocol.DEFAULT
    """The protocol version spoken to devices (``aranya_perf.protocol.NAMES``)."""
    node_info_interval_s: float = _DEFAULT.node_info_interval_s
    """Period of CMD_NODE_INFO_GET(NODE_INFO_DYN) per device (aranya's node forceSyncInterval)."""
    pod_list_interval_s: float = _DEFAULT.pod_list_interval_s
    """Period of the pod list per device (aranya's pod forceSyncInterval)."""
    metrics_collect_interval_s: float = _DEFAULT.metrics_collect_interval_s
    """Period of CMD_METRICS_COLLECT per device, standing in for a scrape of each virtual node."""
    jitter: float = _DEFAULT.jitter
    """Each periodic wait is stretched by a random fraction up to this (aranya: 0.2)."""
    session_timeout_s: float = 10.0
    """Default deadline of a session, from opening to the device's final frame."""
    hello_timeout_s: float = 10.0
    """How long a new device stream may take to send its MSG_STATE online."""
    max_payload: int | None = None
    """Bytes per CMD_DATA_UPSTREAM frame; None is aranya's (64 KiB minus an empty frame)."""
    max_message_bytes: int = codec.MAX_MESSAGE_BYTES
    """gRPC send/receive message limit for both services."""
    stagger: bool = True
    """Start each device's periodic timers at a per-device phase, so a fleet does not fire in lockstep."""
    gc_freeze: bool = True
    """Collect and freeze long-lived objects each time the fleet grows by 10% (see gc_policy)."""
    listener_per_device: bool = False
    """One gRPC server and port per device id in ``device_ids``, as aranya runs one per EdgeDevice."""
    device_ids: tuple[str, ...] = ()
    """The devices that get a listener of their own (with ``listener_per_device``)."""
    metrics_collect: tuple[str, ...] = NODE_METRICS_COLLECT
    """What CMD_METRICS_CONFIG asks the device to collect."""
    transport: str = "grpc"
    """How devices reach the gateway: ``grpc`` (Sync streams on its listeners) or ``mqtt`` (topics on
    ``broker``, one namespace per device from ``mqtt_namespace``)."""
    broker: str | None = None
    """``host:port`` of the MQTT broker (``transport`` mqtt)."""
    mqtt_namespace: str = "aranya-perf/{device}"
    """Topic namespace template of a device over MQTT; ``{device}`` is its id."""
    tls_cert_file: str | None = None
    """Server certificate chain (PEM); with ``tls_key_file`` enables TLS."""
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None
    """CA bundle (PEM) for client certificates; given, clients must present one (mTLS)."""
    emulate: tuple[str, ...] = ()
    """aranya defects to play (``aranya_perf.gateway.emulate.NAMES``); none by default."""

    def __post_init__(self) -> None:
        protocol.get(self.protocol)  # raises ProtocolError (a ValueError) naming the known versions
        object.__setattr__(self, "emulate", emulate.check(self.emulate))
        for name in ("session_timeout_s", "hello_timeout_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        if self.max_payload is not None and self.max_payload <= 0:
            raise ValueError("max_payload must be positive")
        if self.max_message_bytes < self.payload_limit + 1024:
            raise ValueError("max_message_bytes must exceed max_payload plus framing")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {self.transport!r}; known: {', '.join(TRANSPORTS)}")
        if self.transport == "mqtt":
            if self.broker is None:
                raise ValueError("transport mqtt needs a broker (--broker HOST:PORT)")
            if self.listener_per_device:
                raise ValueError(
                    "a listener per device is a gRPC topology; over MQTT every device shares the broker"
                )
        if self.listener_per_device and not self.device_ids:
            raise ValueError("listener_per_device needs device_ids")
        if len(set(self.device_ids)) != len(self.device_ids):
            raise ValueError("device_ids must be unique")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file needs tls_cert_file and tls_key_file")

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def payload_limit(self) -> int:
        """Bytes per frame body when the gateway chunks data."""
        if self.max_payload is not None:
            return self.max_payload
        proto = protocol.get(self.protocol)
        if self.transport == "mqtt":
            # The agent's MQTT limit (arhat's MaxMQTTDataSize) sets the chunk size there.
            return MAX_MQTT_DATA_SIZE - (MAX_GRPC_MESSAGE - proto.max_payload)
        return proto.max_payload

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> GatewayConfig:
        """Build from e.g. a profile's ``[gateway]`` table; unknown keys are an error, not ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown gateway setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**values)
