"""The seam between a transport and the code that speaks the device protocol over it.

The gateway's per-device handling (``EdgeDeviceService``, ``DeviceLink``) and the simulated
agent see one device's frames as a ``FrameStream``: ``read()`` the next frame (or ``EOF``
once the stream is over) and ``write(frame)``. A gRPC ``Sync`` call and its servicer
context already are one; ``aranya_perf.transport.mqtt`` makes one per topic namespace.
``EOF`` is grpc.aio's own sentinel, so the gRPC path compares against exactly what it did
before.
"""

from __future__ import annotations

from typing import Any, Protocol

from grpc import aio

EOF: Any = aio.EOF
"""What ``FrameStream.read`` returns once the stream has ended."""


class FrameStream(Protocol):
    """One device's frames, either end: what the gateway and the agent read and write."""

    async def read(self) -> Any:
        """The next frame (a ``Msg`` at the gateway, a ``Cmd`` at the device), or ``EOF``."""
        ...

    async def write(self, frame: Any) -> None:
        """Send one frame (a ``Cmd`` from the gateway, a ``Msg`` from the device)."""
        ...
