"""SLO verdicts of a run directory: ``aranya_perf.judge.slo``'s rules over a ``RunData``."""

from __future__ import annotations

from analysis.run_data import RunData, measured
from aranya_perf.judge import slo
from aranya_perf.judge.slo import SloResult, junit_xml, slo_json, status
from aranya_perf.profiles import Profile

__all__ = ["SloResult", "evaluate", "junit_xml", "slo_json", "status"]


def evaluate(data: RunData, p: Profile) -> list[SloResult]:
    return slo.evaluate(measured(data), p)
