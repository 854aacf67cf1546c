"""The gateway's device registry: which device ids hold a stream, and which have passed the connect sequence.

A device id is *claimed* when its stream says MSG_STATE online (as aranya stores the
online id at that moment), and *online* once the connect sequence passed; only online
devices are listed and reachable by operators. A second stream for a claimed id is
refused: aranya's intended rule, which keeps the original stream and turns the newcomer
away (see docs/protocol.md for what a real aranya listener does instead).
"""

from __future__ import annotations

from collections.abc import Iterable

from aranya_perf.gateway.link import DeviceLink
from aranya_perf.gateway.metrics import GatewayMetrics


class DeviceRegistry:
    """Device id -> its ``DeviceLink``; one per gateway, shared by every listener."""

    def __init__(self, metrics: GatewayMetrics, expected: Iterable[str] = ()) -> None:
        self._metrics = metrics
        self._claimed: dict[str, DeviceLink] = {}
        self._online: dict[str, DeviceLink] = {}
        self.expected = frozenset(expected)
        """With a listener per device: the ids that have one."""

    def claim(self, link: DeviceLink) -> bool:
        """Reserve ``link``'s device id; False if another stream holds it."""
        if link.device_id in self._claimed:
            return False
        self._claimed[link.device_id] = link
        self._metrics.devices_connecting.inc()
        return True

    def holder(self, device_id: str) -> DeviceLink | None:
        """The stream holding ``device_id``'s claim, connecting or online."""
        return self._claimed.get(device_id)

    def mark_online(self, link: DeviceLink) -> None:
        """The connect sequence passed: operators may reach the device now."""
        self._online[link.device_id] = link
        m = self._metrics
        m.devices_connecting.dec()
        m.devices_online.inc()
        m.device_connects.inc()

    def release(self, link: DeviceLink) -> None:
        """The stream ended; idempotent, and a no-op for a link that never claimed its id."""
        device_id = link.device_id
        if self._claimed.get(device_id) is not link:
            return
        del self._claimed[device_id]
        m = self._metrics
        if self._online.pop(device_id, None) is not None:
            m.devices_online.dec()
            m.device_disconnects.inc()
        else:
            m.devices_connecting.dec()

    def get(self, device_id: str) -> DeviceLink | None:
        """The online device's link (None while connecting or offline)."""
        return self._online.get(device_id)

    def online_ids(self) -> list[str]:
        """Ids of the online devices, in the order they came online."""
        return list(self._online)

    def links(self) -> list[DeviceLink]:
        """Every stream holding a claim (connecting or online)."""
        return list(self._claimed.values())

    def open_sessions(self) -> int:
        """Sessions open on every stream, connecting or online."""
        return sum(len(link.sessions) for link in self._claimed.values())

    def __len__(self) -> int:
        return len(self._online)
