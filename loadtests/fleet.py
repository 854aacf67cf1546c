"""Which device id and address each ``DeviceUser`` of a Locust process takes, and the process's live fleet.

One ``FleetPlan`` per environment (``plan_for``), built from its ``RunSettings``:

- shared listeners (one address, or several gateway processes routed by a hash of the id):
  ids are generated per process, ``<prefix>-<worker>-<n>``, so workers never collide;
- one entry per device (a listener each): a local run takes the map's entries in order; a
  worker leases them from its master in batches (``distributed``), because which worker gets
  how many device users is Locust's dispatcher's choice, not known in advance.

The plan also holds the process's live ``DeviceAgent`` objects: what the timeline, the
storms and the end-of-window check count and act on.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import gevent.lock
from aranya_perf.loadtests.settings import RunSettings, settings_for

from aranya_perf.address_map import DeviceAddress
from aranya_perf.targets import TargetError

Lease = Callable[[int], list[DeviceAddress]]
"""Given how many entries this process has leased so far, the next batch (empty: the map is used up)."""


class FleetPlan:
    def __init__(self, settings: RunSettings, lease: Lease | None = None) -> None:
        self.settings = settings
        self.protocol = settings.profile.target.protocol
        self._numbers = itertools.count()
        self._entries: Iterator[DeviceAddress] = iter(settings.address_map.entries)
        # Leasing: every entry comes from the master, which hands each out once; one request at a time.
        self._lease = lease
        self._leased: collections.deque[DeviceAddress] = collections.deque()
        self._own: dict[str, DeviceAddress] | None = None
        self._leasing = gevent.lock.BoundedSemaphore(1)
        self.leased = 0
        """Entries leased so far (the lease asks for what the worker's device users still need)."""
        self._free: collections.deque[DeviceAddress] = collections.deque()
        self.agents: set[Any] = set()
        self._retired_connects = 0
        self._retired_reconnects = 0
        self._retired_msgs = 0
        self.started = 0

    def next_device(self) -> DeviceAddress:
        """The next device's id and address; ``TargetError`` once a per-device map is used up."""
        amap = self.settings.address_map
        if amap.shards:
            worker = self.settings.worker_index
            device_id = f"{self.settings.profile.fleet.prefix}-{worker}-{next(self._numbers):05d}"
            return DeviceAddress(device_id, amap.address_for(device_id))
        if self._free:  # a device user stopped (a step down): its device comes back first
            return self._free.popleft()
        if self._lease is None:
            entry = next(self._entries, None)
        else:
            with self._leasing:
                if not self._leased:
                    # The master decides which devices; this process's own map, if it has the
                    # device (a worker's edge link), says where it connects.
                    if self._own is None:
                        self._own = {e.device_id: e for e in amap.entries}
                    own = self._own
                    self._leased.extend(own.get(e.device_id, e) for e in self._lease(self.leased))
                    self.leased += len(self._leased)
                entry = self._leased.popleft() if self._leased else None
        if entry is None:
            raise TargetError(
                f"address map {amap.source} has {len(amap.entries)} devices; more device users were started"
            )
        return entry

    def take_batch(self, count: int) -> list[DeviceAddress]:
        """Up to ``count`` unused entries of a per-device map (the master's side of a lease)."""
        return list(itertools.islice(self._entries, count))

    # -- the live fleet --------------------------------------------------------------------------

    def attach(self, agent: Any) -> None:
        self.agents.add(agent)
        self.started += 1

    def release(self, device: DeviceAddress) -> None:
        """A stopped device user's entry of a per-device map, for the next user to take."""
        if self.settings.address_map.per_device:
            self._free.append(device)

    def detach(self, agent: Any) -> None:
        if agent in self.agents:
            self.agents.discard(agent)
            self._retired_connects += agent.connects
            self._retired_reconnects += max(0, agent.connects - 1)
            self._retired_msgs += agent.msgs_sent

    def counts(self) -> dict[str, int]:
        """Devices held, online, streams opened and reopened (beyond each device's first), Msgs sent
        (MSG_STATE aside), so far."""
        agents = list(self.agents)
        return {
            "devices": len(agents),
            "online": sum(1 for a in agents if a.online),
            "connects": self._retired_connects + sum(a.connects for a in agents),
            "reconnects": self._retired_reconnects + sum(max(0, a.connects - 1) for a in agents),
            "msgs_sent": self._retired_msgs + sum(a.msgs_sent for a in agents),
        }


_ATTR = "_aranya_perf_fleet"


def plan_for(environment: Any, lease: Lease | None = None) -> FleetPlan:
    """The environment's plan, made on first call (``lease``: how a worker gets per-device entries)."""
    plan = getattr(environment, _ATTR, None)
    if plan is None:
        settings = settings_for(environment)
        if settings.workers <= 1 or not settings.address_map.per_device:
            lease = None
        plan = FleetPlan(settings, lease)
        setattr(environment, _ATTR, plan)
    return plan


def existing_plan(environment: Any) -> FleetPlan | None:
    """The plan if a device user made one (a process with no devices has none)."""
    return getattr(environment, _ATTR, None)
