"""``Measured``: what a run recorded in its measured window, as the judge's rules read it.

Plain data, no files: the run builds it from what it has just written, the analysis from a
``RunData`` it read (``aranya_perf.analysis.run_data.measured``). Time origin ``t0`` is the window's start;
the timeline's ``elapsed_s`` counts from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
from hdrh.histogram import HdrHistogram

from aranya_perf.measure.latency import SERVICE_SUFFIX
from aranya_perf.results import TIMELINE_COLUMNS

Interval = tuple[float, Mapping[str, HdrHistogram], Mapping[str, int]]
"""One second of latency: its start (unix s), key -> histogram, key -> failures."""


@dataclass(frozen=True)
class Measured:
    histograms: Mapping[str, HdrHistogram] = field(default_factory=dict)
    """Per request kind (``"<type> <name>"``), over the window."""
    failures: Mapping[str, int] = field(default_factory=dict)
    intervals: Sequence[Interval] = ()
    timeline: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TIMELINE_COLUMNS)))
    t0: float | None = None
    seconds: float | None = None
    """The window's length."""
    fleet: Mapping[str, int] = field(default_factory=dict)
    """Fleet counts at the window's close (devices, online, connects, reconnects...)."""
    window: Mapping[str, int] = field(default_factory=dict)
    """Window counts at its close (arrivals, missed starts...)."""


def totals(m: Measured) -> tuple[int, int]:
    """Requests and failures over every kind (service-time twins time the same requests twice: left out)."""
    keys = [k for k in m.histograms if not k.endswith(SERVICE_SUFFIX)]
    return sum(m.histograms[k].get_total_count() for k in keys), sum(int(m.failures.get(k, 0)) for k in keys)
