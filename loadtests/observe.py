"""What this process's devices and operators saw that the run's invariants judge (``aranya_perf.findings``).

Devices and operators add observations on the load engine's loop; a worker hands what it
gathered to its master with every report (``distributed``); the run writes them all to
``observations.jsonl`` when it ends. Bounded: past ``MAX_KEPT`` per process, further
observations are counted as dropped, not kept. ``ONCE`` events are kept once per device.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

MAX_KEPT = 500_000
ONCE = frozenset({"listed"})
"""Events only the first of which per device matters (an operator's device list names every device)."""


class Observations:
    """The observations of one Locust process."""

    def __init__(self) -> None:
        self._items: list[dict[str, Any]] = []
        self._kept = 0
        self._once: set[tuple[str, str]] = set()
        self.dropped = 0

    def add(self, event: str, device: str, t: float | None = None, **details: Any) -> None:
        """One observation at ``t`` (unix seconds; now when None)."""
        if event in ONCE:
            if (event, device) in self._once:
                return
            self._once.add((event, device))
        if self._kept >= MAX_KEPT:
            self.dropped += 1
            return
        self._kept += 1
        self._items.append(
            {"t": time.time() if t is None else t, "event": event, "device": device, **details}
        )

    def take(self) -> list[dict[str, Any]]:
        """What was added since the last ``take`` (appends from the loop thread meanwhile stay)."""
        n = len(self._items)
        out = self._items[:n]
        del self._items[:n]
        return out


_BY_ENVIRONMENT: weakref.WeakKeyDictionary[Any, Observations] = weakref.WeakKeyDictionary()


def observations_for(environment: Any) -> Observations:
    """The environment's observations, made on first call."""
    found = _BY_ENVIRONMENT.get(environment)
    if found is None:
        found = _BY_ENVIRONMENT[environment] = Observations()
    return found
