"""SLO verdicts: a profile's ``[[slo]]`` thresholds checked against what a run measured. Pure functions.

Each SLO gives one ``SloResult`` over the measured window, and with ``per_step`` (step
shapes) one more per step. Values, by metric:

- ``p50`` ... ``max``, ``mean``: latency (ms) of the request kinds whose ``"<type> <name>"``
  matches ``kind`` (a glob; ``aranya_perf.measure.kinds.matches``: a route-neutral ``operator exec``
  covers ``control Exec`` and ``kube exec``), from their merged HDR histograms; per step, from the
  per-second histograms inside the step. Service-time twins (``... (service time)``) only match a
  glob that names them;
- ``error_rate``: failures / requests of the matching kinds;
- ``throughput``: their successful requests per second of the window (or step);
- ``reconnects``: device streams opened beyond each device's first;
- ``online_within``: seconds from the window's start until every device of the fleet was online
  (infinite when that never happened);
- ``devices_online``: devices online / the shape's target, at the end of the window;
- ``missed_starts``: open-model arrivals the generator started late with a slot free;
- ``max_stall``: seconds of the run's longest stall (``outages.stalls``: requests outstanding, no answer).

``slo_json`` and ``junit_xml`` are the two files a run writes; ``status`` is ``passed``,
``failed`` or ``none`` (no SLOs declared).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pandas as pd
from hdrh.histogram import HdrHistogram

from aranya_perf.judge.measured import Measured
from aranya_perf.judge.outages import max_stall
from aranya_perf.measure.kinds import matches
from aranya_perf.measure.latency import mean_us, merge
from aranya_perf.profiles import Profile, Slo
from aranya_perf.profiles.parse import LATENCY_METRICS
from aranya_perf.profiles.plan import phases

SLO_SCHEMA_VERSION = 1
_PERCENTILE = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
UNITS = {
    **dict.fromkeys(LATENCY_METRICS, "ms"),
    "throughput": "req/s",
    "online_within": "s",
    "max_stall": "s",
}


@dataclass(frozen=True)
class SloResult:
    name: str
    metric: str
    kind: str
    bound: str  # "max" | "min"
    threshold: float
    value: float | None  # None: nothing was measured that the SLO covers
    passed: bool
    window: str  # "run" or a step's phase name
    unit: str = ""
    detail: str = ""

    def line(self) -> str:
        value = "no data" if self.value is None else f"{self.value:.4g}"
        op = "<=" if self.bound == "max" else ">="
        verdict = "pass" if self.passed else "FAIL"
        where = "" if self.window == "run" else f" [{self.window}]"
        measured = f"measured {value} {self.unit}".rstrip()
        return (
            f"{verdict}: {self.name}{where}: {measured}, needs {op} {self.threshold:g} {self.unit}".rstrip()
        )


def _latency(hists: dict[str, HdrHistogram], pattern: str, metric: str) -> float | None:
    merged = merge(h for k, h in hists.items() if matches(k, pattern))
    if not merged.get_total_count():
        return None
    if metric == "mean":
        return mean_us(merged) / 1000.0
    if metric == "max":
        return merged.get_max_value() / 1000.0
    return merged.get_value_at_percentile(_PERCENTILE[metric]) / 1000.0


def _counts(hists: dict[str, HdrHistogram], failures: dict[str, int], pattern: str) -> tuple[int, int]:
    keys = [k for k in hists if matches(k, pattern)]
    return sum(hists[k].get_total_count() for k in keys), sum(int(failures.get(k, 0)) for k in keys)


def _in_window(m: Measured, start_s: float, end_s: float) -> tuple[dict[str, HdrHistogram], dict[str, int]]:
    """The per-second histograms and failures of [start_s, end_s) after the window's start, merged."""
    t0 = m.t0 or 0.0
    hists: dict[str, HdrHistogram] = {}
    failures: dict[str, int] = {}
    for start, interval, fails in m.intervals:
        if not start_s <= start - t0 < end_s:
            continue
        for key, hist in interval.items():
            hists[key] = merge([hists[key], hist]) if key in hists else merge([hist])
        for key, n in fails.items():
            failures[key] = failures.get(key, 0) + n
    return hists, failures


def online_within(timeline: pd.DataFrame, fleet: int) -> float:
    """Seconds from the window's start until ``fleet`` devices were online (inf if never)."""
    tl = timeline
    reached = tl[tl["online"] >= fleet] if not tl.empty else tl
    return float(reached["elapsed_s"].min()) if len(reached) else math.inf


def devices_online(timeline: pd.DataFrame) -> float | None:
    """Devices online over the shape's target, at the last sample of the window."""
    tl = timeline
    if tl.empty:
        return None
    last = tl.iloc[-1]
    return float(last["online"]) / float(last["devices_target"]) if last["devices_target"] else None


def _value(
    m: Measured, p: Profile, slo: Slo, hists: dict, failures: dict, seconds: float | None
) -> float | None:
    metric = slo.metric
    if metric in LATENCY_METRICS:
        return _latency(hists, slo.kind, metric)
    if metric == "error_rate":
        n, f = _counts(hists, failures, slo.kind)
        return f / n if n else None
    if metric == "throughput":
        n, f = _counts(hists, failures, slo.kind)
        return (n - f) / seconds if seconds else None
    if metric == "reconnects":
        return float(m.fleet.get("reconnects", 0))
    if metric == "missed_starts":
        return float(m.window.get("missed_starts", 0))
    if metric == "online_within":
        return online_within(m.timeline, p.fleet.devices)
    if metric == "devices_online":
        return devices_online(m.timeline)
    if metric == "max_stall":
        return max_stall(m)
    raise ValueError(f"no rule for SLO metric {metric!r}")  # the schema's choices and this list agree


def _result(slo: Slo, value: float | None, window: str) -> SloResult:
    bound, threshold = ("max", slo.max) if slo.max is not None else ("min", slo.min)
    assert threshold is not None
    if value is None:
        passed = False
    elif bound == "max":
        passed = value <= threshold
    else:
        passed = value >= threshold
    detail = "" if value is not None else "nothing measured that this SLO covers"
    return SloResult(
        slo.label(),
        slo.metric,
        slo.kind,
        bound,
        threshold,
        value,
        passed,
        window,
        UNITS.get(slo.metric, ""),
        detail,
    )


PER_STEP_METRICS = (*LATENCY_METRICS, "error_rate", "throughput")


def evaluate(m: Measured, p: Profile) -> list[SloResult]:
    """Every SLO of ``p`` over the run's window, then per step where asked and the metric allows."""
    out = []
    for slo in p.slo:
        out.append(_result(slo, _value(m, p, slo, dict(m.histograms), dict(m.failures), m.seconds), "run"))
    if p.shape.kind == "step":
        for phase in phases(p):
            hists, failures = _in_window(m, phase.start_s, phase.end_s)
            for slo in p.slo:
                if slo.per_step and slo.metric in PER_STEP_METRICS:
                    value = _value(m, p, slo, hists, failures, phase.end_s - phase.start_s)
                    out.append(_result(slo, value, phase.name))
    return out


def status(results: Sequence[SloResult]) -> str:
    if not results:
        return "none"
    return "passed" if all(r.passed for r in results) else "failed"


def slo_json(results: Sequence[SloResult], run_id: str) -> dict[str, Any]:
    def clean(r: SloResult) -> dict[str, Any]:
        d = asdict(r)
        if d["value"] is not None and not math.isfinite(d["value"]):
            d["value"] = None
            d["detail"] = d["detail"] or "never reached"
        return d

    return {
        "schema_version": SLO_SCHEMA_VERSION,
        "run_id": run_id,
        "status": status(results),
        "failed": sum(1 for r in results if not r.passed),
        "results": [clean(r) for r in results],
    }


def junit_xml(results: Sequence[SloResult], run_id: str) -> str:
    """One testsuite, one testcase per SLO (and step); a failed threshold is a ``<failure>`` whose message
    names it and the measured value, as CI systems show them."""
    failures = sum(1 for r in results if not r.passed)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuite name={quoteattr("aranya-perf SLOs " + run_id)} tests="{len(results)}" '
        f'failures="{failures}" errors="0" skipped="0">',
    ]
    for r in results:
        name = r.name if r.window == "run" else f"{r.name} [{r.window}]"
        lines.append(f"  <testcase classname={quoteattr('slo.' + r.metric)} name={quoteattr(name)}>")
        if not r.passed:
            failure = f'<failure message={quoteattr(r.line())} type="threshold">'
            lines.append(f"    {failure}{escape(r.detail or r.line())}</failure>")
        lines.append("  </testcase>")
    lines.append("</testsuite>")
    return "\n".join(lines) + "\n"
