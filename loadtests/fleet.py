"""Which device id, address and protocol version each ``DeviceUser`` of a Locust process takes.

One ``FleetPlan`` per Locust environment, built on first use from the run's settings
(``aranya-perf run`` sets them on the user class; ``locust -f`` passes ``--protocol`` and
``--address-map``, which ``hooks`` parses once into the environment). With a shared
address, ids are generated per process (``<prefix>-<worker>-<n>``) so workers never
collide; with a per-device map, users take the map's entries in order.
"""

from __future__ import annotations

import itertools
from typing import Any

from aranya_perf import protocol
from aranya_perf.address_map import AddressMap, DeviceAddress, parse
from aranya_perf.protocol import Protocol
from aranya_perf.targets import TargetError, strip_scheme


class FleetPlan:
    def __init__(self, amap: AddressMap, proto: Protocol, prefix: str, worker: int) -> None:
        self.address_map, self.protocol = amap, proto
        self._prefix, self._worker = prefix, worker
        self._numbers = itertools.count()
        self._entries = iter(amap.entries)

    def next_device(self) -> DeviceAddress:
        """The next device's id and address; ``TargetError`` once a per-device map is used up."""
        if self.address_map.shared is not None:
            n = next(self._numbers)
            return DeviceAddress(f"{self._prefix}-{self._worker}-{n:05d}", self.address_map.shared)
        try:
            return next(self._entries)
        except StopIteration:
            raise TargetError(
                f"address map {self.address_map.source} has {len(self.address_map.entries)} devices; "
                "more device users were started"
            ) from None


def plan_for(environment: Any, user_class: Any, *, allow_remote: bool) -> FleetPlan:
    """The environment's plan, built from the user class's settings and Locust's options on first call."""
    plan = getattr(environment, "_aranya_perf_fleet", None)
    if plan is not None:
        return plan
    opts = environment.parsed_options
    name = getattr(opts, "protocol", None) or user_class.protocol_name
    amap = user_class.address_map or getattr(environment, "_aranya_perf_address_map", None)
    if amap is None:
        if not environment.host:
            raise TargetError("no target: pass --host HOST:PORT or --address-map")
        amap = parse(
            strip_scheme(environment.host), allow_remote=allow_remote, prefix=user_class.device_id_prefix
        )
    runner = getattr(environment, "runner", None)
    worker = int(getattr(runner, "worker_index", 0) or 0)
    plan = FleetPlan(amap, protocol.get(name), user_class.device_id_prefix, worker)
    environment._aranya_perf_fleet = plan
    return plan
