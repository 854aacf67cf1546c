"""The control service (``aranyaperf.control.Control``): the same for every protocol version.

It stands in for kube-apiserver -> aranya (``kubectl exec/logs/port-forward``) and for a
scrape of a virtual node's metrics. ``messages`` holds its request and response types;
the gateway serves it and the operators call it. See ``proto/control.proto``.
"""

from __future__ import annotations

from aranya_perf.protocol.proto import control_pb2 as messages
from aranya_perf.protocol.proto.control_pb2_grpc import (
    ControlServicer,
    ControlStub,
    add_ControlServicer_to_server,
)

__all__ = ["ControlServicer", "ControlStub", "add_ControlServicer_to_server", "messages"]
