"""Configuration of the reference gateway: one frozen dataclass, validated on construction.

Owns the gateway's tunables (command schedule, session timeout, frame and message
sizes, TLS files). The server reads it; the CLI and run profiles build it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aranya_perf import codec


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """How the reference gateway behaves towards devices and operators.

    Intervals and timeouts are seconds. An interval <= 0 disables that periodic
    command (the connect-time ``CMD_NODE_INFO_GET(NODE_INFO_ALL)`` is always sent);
    a session timeout <= 0 means sessions never time out.
    """

    node_info_interval_s: float = 10.0
    """Period of CMD_NODE_INFO_GET(NODE_INFO_DYN) per device."""
    metrics_collect_interval_s: float = 10.0
    """Period of CMD_METRICS_COLLECT per device."""
    session_timeout_s: float = 10.0
    """Default deadline of a session, from opening to the device's final frame."""
    hello_timeout_s: float = 10.0
    """How long a new device stream may take to send its first MSG_STATE."""
    max_payload: int = codec.DEFAULT_MAX_PAYLOAD
    """Bytes per CMD_DATA_UPSTREAM frame when operator data is chunked."""
    max_message_bytes: int = codec.MAX_MESSAGE_BYTES
    """gRPC send/receive message limit for both services."""
    stagger: bool = True
    """Start each device's periodic timers at a random phase (seeded by device id)."""
    gc_freeze: bool = True
    """Collect and freeze long-lived objects each time the fleet grows by 10% (see gc_policy)."""
    tls_cert_file: str | None = None
    """Server certificate chain (PEM); with ``tls_key_file`` enables TLS."""
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None
    """CA bundle (PEM) for client certificates; given, clients must present one (mTLS)."""

    def __post_init__(self) -> None:
        for name in ("session_timeout_s", "hello_timeout_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_payload <= 0:
            raise ValueError("max_payload must be positive")
        if self.max_message_bytes < self.max_payload + 1024:
            raise ValueError("max_message_bytes must exceed max_payload plus framing")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file needs tls_cert_file and tls_key_file")

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

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
