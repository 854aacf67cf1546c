"""The gateway's command schedule: named presets, and the per-device timer that fires a periodic command.

A schedule says how often each device gets the commands a controller sends without
being asked by an operator:

- ``load-test`` (the default): NODE_INFO_GET(DYN) and CMD_METRICS_COLLECT every 10 s per
  device, a steady rhythm that exercises both directions (as if a Prometheus scraped each
  virtual node every 10 s);
- ``aranya-defaults``: what aranya does out of the box, which is nothing periodic: node and
  pod force syncs are off (``forceSyncInterval`` 0) and metrics are collected only when
  something scrapes the node (drive that with the control service's CollectMetrics);
- ``aranya-chart``: aranya's Helm chart values, node and pod force sync every 10 minutes,
  each wait stretched by a random 0-20 % (Kubernetes' ``wait.Jitter(d, 0.2)``).

Timers are ``loop.call_at`` handles rescheduled from their own callback, not tasks, so an
idle fleet of thousands of devices costs nothing between firings.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Schedule:
    """Periods in seconds (0 = never); ``jitter`` stretches each wait by up to that fraction."""

    node_info_interval_s: float
    pod_list_interval_s: float
    metrics_collect_interval_s: float
    jitter: float


SCHEDULES: dict[str, Schedule] = {
    "load-test": Schedule(10.0, 0.0, 10.0, 0.0),
    "aranya-defaults": Schedule(0.0, 0.0, 0.0, 0.0),
    "aranya-chart": Schedule(600.0, 600.0, 0.0, 0.2),
}
DEFAULT_SCHEDULE = "load-test"


def phase(device_id: str, what: str, interval: float) -> float:
    """A per-device offset in [0, interval) so a fleet's timers do not fire in lockstep.

    crc32, not hash(): str hashes are salted per process and runs should repeat.
    """
    return zlib.crc32(f"{device_id}/{what}".encode()) / 2**32 * interval


class Ticker:
    """Calls ``fire()`` every ``interval`` seconds (stretched by up to ``jitter``) until cancelled."""

    __slots__ = ("_fire", "_loop", "_rng", "handle", "interval", "jitter", "when")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fire: Callable[[], None],
        interval: float,
        first: float,
        jitter: float = 0.0,
        seed: str = "",
    ) -> None:
        self._loop, self._fire = loop, fire
        self.interval, self.jitter = interval, jitter
        self._rng = random.Random(seed) if jitter else None
        self.when = first
        self.handle = loop.call_at(first, self._tick)

    def _tick(self) -> None:
        self._fire()
        loop = self._loop
        wait = self.interval
        if self._rng is not None:
            wait += self._rng.random() * self.jitter * wait
        when = self.when + wait
        now = loop.time()
        if when <= now:  # the loop stalled past a whole period: skip, don't burst
            when = now + wait
        self.when = when
        self.handle = loop.call_at(when, self._tick)

    def cancel(self) -> None:
        self.handle.cancel()
