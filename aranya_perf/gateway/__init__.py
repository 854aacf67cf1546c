"""The reference gateway: the embedded default load target, playing the aranya controller.

``server`` wires the listeners (shared, or one per device as aranya runs them) and the
metrics endpoint; ``edge_service`` runs a device stream from hello to goodbye (handshake,
rejects, connect sequence, schedule); ``link`` multiplexes one stream's sessions;
``operations`` says what each session waits for; ``control_service`` maps operator calls
onto sessions, and ``kube_face`` maps kubectl's calls onto the same sessions; ``registry``
tracks which devices are online; ``schedule`` and ``config`` hold the settings; ``metrics``
the Prometheus registry; ``emulate`` plays aranya's known defects on demand. The CLI verb
``aranya-perf gateway`` runs it as its own process;
``process`` starts and stops that process for everyone else.

``Gateway`` and ``GatewayError`` are imported lazily, so reading metrics with
``parse_metrics`` (e.g. from a report in a gevent-patched process) does not import grpc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aranya_perf.gateway.config import GatewayConfig
from aranya_perf.gateway.metrics import GatewayMetrics, parse_metrics

if TYPE_CHECKING:
    from aranya_perf.gateway.server import Gateway, GatewayError

__all__ = ["Gateway", "GatewayConfig", "GatewayError", "GatewayMetrics", "parse_metrics"]


def __getattr__(name: str) -> Any:
    if name in ("Gateway", "GatewayError"):
        from aranya_perf.gateway import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
