"""Garbage-collector policy for processes that hold thousands of long-lived streams.

With a fleet of long-lived streams the heap is mostly objects that live for
the whole run; CPython's generational collector still walks them all in every
full collection, which stops the process for hundreds of milliseconds to
seconds at 2,000 devices (measured: see docs/architecture.md). Collecting once
and freezing the survivors when the population has grown moves them out of
the collector's reach; objects created later are collected as usual.
"""

from __future__ import annotations

import gc
import time


def collect_and_freeze() -> float:
    """Collect everything, then freeze the survivors; return the pause in seconds."""
    start = time.perf_counter()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - start


class FreezeOnGrowth:
    """Freeze once a population (e.g. devices online) has settled after growing by ``min_growth``.

    For a process that cannot tell when a ramp has ended: call ``check`` every
    few seconds. Freezing waits until the population is unchanged between two
    checks, so a ramp costs one collection at its end rather than one per step.
    """

    def __init__(self, min_growth: float = 0.1, min_population: int = 100) -> None:
        self.min_growth = min_growth
        self.min_population = min_population
        self.frozen_at = 0
        self.freezes = 0
        self._last_seen = -1

    def check(self, population: int) -> bool:
        settled = population == self._last_seen
        self._last_seen = population
        if not settled or population < self.min_population:
            return False
        if population <= self.frozen_at * (1 + self.min_growth):
            return False
        collect_and_freeze()
        self.frozen_at = population
        self.freezes += 1
        return True
