"""Outage windows of a run directory: ``aranya_perf.judge.outages``'s rules over a ``RunData``."""

from __future__ import annotations

from analysis.run_data import RunData, measured
from aranya_perf.judge import outages as rules
from aranya_perf.judge.outages import Outage

__all__ = ["Outage", "outages"]


def outages(data: RunData) -> list[Outage]:
    return rules.outages(measured(data))
