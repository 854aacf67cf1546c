"""Outage windows of a run directory: ``aranya_perf.judge.outages``'s rules over a ``RunData``."""

from __future__ import annotations

from aranya_perf.analysis.run_data import RunData, measured

from aranya_perf.judge import outages as rules
from aranya_perf.judge.outages import Outage
from aranya_perf.profiles.schema import RunSection

__all__ = ["Outage", "outages"]


def outages(data: RunData) -> list[Outage]:
    """The run's outages; stalls by its profile's threshold (the default one without a readable profile)."""
    run = data.profile.run if data.profile is not None else RunSection()
    return rules.outages(measured(data), run.stall_threshold_s)
