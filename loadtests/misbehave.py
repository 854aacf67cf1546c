"""Misbehaving devices: which devices of the fleet play a ``[[fleet.behaviour]]``, and when.

A behaviour's ``fraction`` picks devices by a hash of their id, so the same ids misbehave
in every run and in every worker, without coordination. Two families (``BEHAVIOURS`` in
the profile schema):

- *answers* (``late``, ``silent``, ``error``, ``half``, ``malformed``, ``huge``): how the
  device answers the behaviour's ``commands`` from ``when`` after it first came online;
- *acts* (``flap``, ``duplicate``, ``offline``, ``deaf``): what it does to its stream at
  ``when``, and again every ``every``.

What a correct controller must do about each is ``aranya_perf.findings.EXPECTATIONS``;
``DeviceAgent`` plays them (each act and misanswer is reported as ``misbehave <kind>``).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable

from aranya_perf.profiles.schema import Behaviour
from aranya_perf.protocol import Op

ANSWERS = frozenset({"late", "silent", "error", "half", "malformed", "huge"})
ACTS = frozenset({"flap", "duplicate", "offline", "deaf"})
MALFORMED_BODY = b"\xff\xfe\xfd not a protobuf message"
"""The body of a misbehaving device's error: no version can decode it."""


def share(device_id: str, index: int) -> float:
    """Where ``device_id`` falls in [0, 1) for the ``index``-th behaviour; stable across processes."""
    return zlib.crc32(f"{index}/{device_id}".encode()) / 2**32


def assigned(device_id: str, behaviours: Iterable[Behaviour]) -> tuple[Behaviour, ...]:
    """The behaviours ``device_id`` plays."""
    return tuple(b for i, b in enumerate(behaviours) if share(device_id, i) < b.fraction)


class Plan:
    """One device's behaviours, from the moment it first came online (``start``, loop time)."""

    __slots__ = ("_answers", "_left", "acts", "rng", "started")

    def __init__(self, behaviours: Iterable[Behaviour], rng: random.Random) -> None:
        chosen = tuple(behaviours)
        self._answers = [b for b in chosen if b.kind in ANSWERS]
        self.acts = [b for b in chosen if b.kind in ACTS]
        self._left = [b.times or -1 for b in self._answers]  # -1: no limit
        self.rng = rng
        self.started: float | None = None

    def start(self, now: float) -> bool:
        """The device is online; True the first time (when its acts are to be scheduled)."""
        if self.started is not None:
            return False
        self.started = now
        return True

    def answer(self, op: Op, now: float) -> Behaviour | None:
        """The behaviour that decides how ``op`` is answered now, if any (the first that applies)."""
        started = self.started
        if started is None:
            return None
        left = self._left
        for i, b in enumerate(self._answers):
            if left[i] and now - started >= b.when_s and op.value in b.commands:
                if left[i] > 0:
                    left[i] -= 1
                return b
        return None

    def delay(self, b: Behaviour) -> float:
        """A late answer's delay: ``delay``, or uniform up to ``delay_max``."""
        if b.delay_max_s > b.delay_s:
            return self.rng.uniform(b.delay_s, b.delay_max_s)
        return b.delay_s
