"""aranya's device protocol in every version the suite speaks, behind one ``Protocol`` seam.

``get(name)`` returns a version's ``Protocol``; ``NAMES`` lists them newest first and
``DEFAULT`` is the one aranya's last release speaks. Importing this package loads the
generated modules of all versions (protobuf only, no grpc), so reports and the CLI can
name versions without starting anything.
"""

from __future__ import annotations

from aranya_perf.protocol.model import (
    HOST_CONTAINER,
    PROTOCOL_METADATA_KEY,
    BodyDecodeError,
    Command,
    DeviceError,
    ErrorKind,
    Flags,
    NodeInfo,
    Op,
    PodInfo,
    PortForwardTarget,
    Protocol,
    ProtocolError,
    ProtocolMismatch,
    RejectReason,
    Reply,
)
from aranya_perf.protocol.versions import build

__all__ = [
    "DEFAULT",
    "HOST_CONTAINER",
    "NAMES",
    "PROTOCOL_METADATA_KEY",
    "BodyDecodeError",
    "Command",
    "DeviceError",
    "ErrorKind",
    "Flags",
    "NodeInfo",
    "Op",
    "PodInfo",
    "PortForwardTarget",
    "Protocol",
    "ProtocolError",
    "ProtocolMismatch",
    "RejectReason",
    "Reply",
    "by_service",
    "get",
    "mismatch",
]

_VERSIONS = build()
NAMES: tuple[str, ...] = tuple(_VERSIONS)
DEFAULT = "aranya-v0.3"


def get(name: str) -> Protocol:
    """The protocol called ``name``; ``ProtocolError`` (one line, listing the names) if there is none."""
    try:
        return _VERSIONS[name]
    except KeyError:
        raise ProtocolError(f"unknown protocol {name!r}; known: {', '.join(NAMES)}") from None


def by_service(service: str) -> list[Protocol]:
    """The versions that serve ``Sync`` under the gRPC service ``service`` (e.g. ``aranya.EdgeDevice``)."""
    return [p for p in _VERSIONS.values() if p.service == service]


def mismatch(device: str, gateway: str) -> str:
    """The one-line error both ends report when a device of one version meets a gateway of another."""
    return f"protocol mismatch: device speaks {device}, gateway speaks {gateway}"
