"""Drift: the target's cost per request and its memory against time, each as a slope with its interval.

Pure functions over plain series (no files): the run gives them what it sampled of the target (its CPU
seconds and memory, from its local processes or from Prometheus) and the requests answered per second;
``findings`` turns a slope that grows into a named finding for the verdict. ``answered``,
``from_processes``, ``prometheus_points`` and ``increments`` turn what a run recorded (latency
intervals, ``resources.csv`` rows, stored Prometheus answers) into those series.

Rules:

- the window is cut into buckets of ``bucket_s`` = max(``MIN_BUCKET_S``, window / ``BUCKETS``); only
  whole buckets count;
- the warm-up is dropped: every bucket that starts before ``warmup_s`` (the fleet's ramp), and at least
  the first one, since bringing a fleet online costs more per request than holding it;
- per bucket: the target's CPU milliseconds per answered request, and per answered exec when the run
  answered execs (a bucket without one has no point), and its mean memory (resident MiB; with Prometheus
  also the Go heap in MiB and goroutines);
- each series' slope against the buckets' middles is an ordinary least-squares fit with a two-sided
  ``CONFIDENCE`` Student-t interval, from at least ``MIN_POINTS`` buckets (else no slope); a cost reads
  as % of its mean per hour, memory as MiB (or goroutines) per hour;
- a slope is *significant* when its interval excludes zero. A finding needs all of: significant, growing
  by at least the profile's threshold (``cost-slope``: CPU per request or per exec, % per hour;
  ``memory-slope``: resident memory or Go heap, MiB per hour) and a window of at least ``min_window_s``
  (an hour extrapolated from a few minutes is mostly noise). A shrinking cost is never a finding, nor is
  a goroutine count (reported only).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from scipy import stats

from aranya_perf.findings import DRIFT, Finding
from aranya_perf.judge.measured import Interval
from aranya_perf.measure.kinds import NEUTRAL_TYPE, neutral_key
from aranya_perf.measure.latency import SERVICE_SUFFIX, histogram_key

BUCKETS = 30
MIN_BUCKET_S = 5.0
MIN_POINTS = 5
CONFIDENCE = 0.95
MIB = 1024 * 1024
COST_SLOPE, MEMORY_SLOPE = DRIFT

TARGET_ROLES = ("gateway", "target")
"""``resources.csv`` roles that are the target: the embedded gateway's processes, or ``--target-pid``."""

Points = Sequence[tuple[float, float]]
"""(seconds since the window's start, value), each stamped with the middle of the span it covers."""

SERIES = {
    # name -> (what it measures, unit, read relative to its mean, the finding it can raise)
    "cpu_per_request": ("target CPU per request", "ms", True, COST_SLOPE),
    "cpu_per_exec": ("target CPU per exec", "ms", True, COST_SLOPE),
    "rss": ("target resident memory", "MiB", False, MEMORY_SLOPE),
    "heap": ("target Go heap", "MiB", False, MEMORY_SLOPE),
    "goroutines": ("target goroutines", "", False, None),
}


@dataclass(frozen=True)
class Samples:
    """What the run sampled of the target over its window."""

    source: str
    """Where the samples come from, as the report names it (``processes gateway`` or ``prometheus``)."""
    seconds: float
    """The window's length."""
    cpu: Points = ()
    """CPU seconds the target used in each sampled span."""
    memory: Mapping[str, Points] = field(default_factory=dict)
    """``rss`` and ``heap`` in bytes, ``goroutines`` as a count: gauges at each sample."""
    requests: Points = ()
    """Requests answered in each span (every kind)."""
    execs: Points = ()
    """Exec calls answered in each span."""


@dataclass(frozen=True)
class Rules:
    warmup_s: float = 0.0
    cost_pct_per_hour: float = 50.0
    memory_mib_per_hour: float = 256.0
    min_window_s: float = 600.0
    severity: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Slope:
    """One series' trend: its slope per hour and interval in its unit (or % of its mean for a cost)."""

    series: str
    mean: float
    per_hour: float
    low: float
    high: float
    points: int

    @property
    def what(self) -> str:
        return SERIES[self.series][0]

    @property
    def unit(self) -> str:
        """The unit of ``per_hour``: % of the mean for a cost, else the series' own."""
        _, unit, relative, _ = SERIES[self.series]
        return "%" if relative else unit

    @property
    def significant(self) -> bool:
        return bool(self.low > 0 or self.high < 0)

    def text(self) -> str:
        """``target CPU per exec +812 % per hour [+604, +1,020] (mean 1.32 ms, 11 buckets)``."""
        unit = SERIES[self.series][1]
        per = f"{_signed(self.per_hour)}{' ' + self.unit if self.unit else ''} per hour"
        interval = f"[{_signed(self.low)}, {_signed(self.high)}]"
        mean = f"mean {self.mean:.3g}{' ' + unit if unit else ''}"
        flag = "" if self.significant else ", not significant"
        return f"{self.what} {per} {interval} ({mean}, {self.points} buckets{flag})"

    def to_json(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "what": self.what,
            "unit_per_hour": self.unit,
            "mean": self.mean,
            "unit": SERIES[self.series][1],
            "per_hour": self.per_hour,
            "low": self.low,
            "high": self.high,
            "points": self.points,
            "significant": self.significant,
            "text": self.text(),
        }


def _signed(x: float) -> str:
    return f"{x:+,.0f}" if abs(x) >= 100 else f"{x:+.3g}"


@dataclass(frozen=True)
class Drift:
    source: str
    bucket_s: float
    dropped_s: float
    """The warm-up left out, from the window's start."""
    judged: bool
    """Whether the window was long enough for a finding (``min_window_s``)."""
    slopes: tuple[Slope, ...]
    buckets: tuple[Mapping[str, float | None], ...]
    """Per bucket kept: ``start_s`` and each series' value."""

    def lines(self) -> list[str]:
        return [s.text() for s in self.slopes]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "bucket_s": self.bucket_s,
            "dropped_s": self.dropped_s,
            "judged": self.judged,
            "confidence": CONFIDENCE,
            "slopes": [s.to_json() for s in self.slopes],
            "buckets": [dict(b) for b in self.buckets],
        }


def fit(points: Points) -> tuple[float, float, float] | None:
    """Least-squares slope of ``points`` (per unit of x) and its ``CONFIDENCE`` t-interval; None with fewer
    than ``MIN_POINTS`` points or no spread in x."""
    if len(points) < MIN_POINTS:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx <= 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    intercept = my - slope * mx
    residual = sum((y - intercept - slope * x) ** 2 for x, y in points)
    se = math.sqrt(residual / (n - 2) / sxx)
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 2)) * se
    return slope, slope - half, slope + half


def bucket_s(seconds: float) -> float:
    return max(MIN_BUCKET_S, seconds / BUCKETS)


def _sums(points: Points, width: float, count: int) -> list[float]:
    out = [0.0] * count
    for t, v in points:
        i = math.floor(t / width)
        if 0 <= i < count:
            out[i] += v
    return out


def _means(points: Points, width: float, count: int) -> list[float | None]:
    sums, ns = [0.0] * count, [0] * count
    for t, v in points:
        i = math.floor(t / width)
        if 0 <= i < count:
            sums[i] += v
            ns[i] += 1
    return [s / n if n else None for s, n in zip(sums, ns, strict=True)]


def drift(samples: Samples, rules: Rules) -> Drift:
    """Each series per bucket after the warm-up, and its slope."""
    width = bucket_s(samples.seconds)
    count = math.floor(samples.seconds / width + 1e-9)
    first = max(1, math.ceil(rules.warmup_s / width - 1e-9))
    cpu = _sums(samples.cpu, width, count)
    requests = _sums(samples.requests, width, count)
    execs = _sums(samples.execs, width, count)
    values: dict[str, list[float | None]] = {
        "cpu_per_request": [c * 1000 / r if r else None for c, r in zip(cpu, requests, strict=True)],
    }
    if any(execs):
        values["cpu_per_exec"] = [c * 1000 / e if e else None for c, e in zip(cpu, execs, strict=True)]
    memory = dict(samples.memory)
    for name in ("rss", "heap", "goroutines"):
        if memory.get(name):
            scale = 1.0 if name == "goroutines" else 1 / MIB
            values[name] = [None if m is None else m * scale for m in _means(memory[name], width, count)]
    if not samples.cpu:
        values = {k: v for k, v in values.items() if not k.startswith("cpu_")}
    slopes = []
    for name, series in values.items():
        points = [((i + 0.5) * width, v) for i, v in enumerate(series) if i >= first and v is not None]
        fitted = fit(points)
        if fitted is None:
            continue
        mean = sum(v for _, v in points) / len(points)
        scale = 3600.0 * (100.0 / mean if SERIES[name][2] and mean else 1.0)
        slope, low, high = (x * scale for x in fitted)
        slopes.append(Slope(name, mean, slope, low, high, len(points)))
    buckets = tuple(
        {"start_s": i * width, **{name: series[i] for name, series in values.items()}}
        for i in range(first, count)
    )
    judged = samples.seconds >= rules.min_window_s
    return Drift(samples.source, width, min(first, count) * width, judged, tuple(slopes), buckets)


def findings(d: Drift, rules: Rules) -> tuple[Finding, ...]:
    """``cost-slope`` and ``memory-slope`` where a slope grows significantly past its threshold."""
    if not d.judged:
        return ()
    out = []
    for name, threshold in ((COST_SLOPE, rules.cost_pct_per_hour), (MEMORY_SLOPE, rules.memory_mib_per_hour)):
        grown = [s for s in d.slopes if SERIES[s.series][3] == name and s.low > 0 and s.per_hour >= threshold]
        severity = rules.severity.get(name, "fail")
        if not grown or severity == "off":
            continue
        unit = "%" if name == COST_SLOPE else "MiB"
        summary = "; ".join(s.text() for s in grown) + f" (threshold {threshold:g} {unit} per hour)"
        evidence = tuple(s.to_json() for s in grown)
        out.append(Finding(name, summary, len(grown), evidence, severity))
    return tuple(out)


OPERATOR_EXEC = histogram_key(NEUTRAL_TYPE, "exec")
"""The exec calls of either operator route (``control Exec``, ``kube exec``), in ``measure.kinds``."""


def answered(intervals: Sequence[Interval], t0: float) -> tuple[Points, Points]:
    """Requests and exec calls answered per latency interval (one second), stamped from ``t0``. Every
    kind counts as a request (a device's answer is work for the target too); an exec is an operator's
    (``control Exec``, ``kube exec``), not the device's side of it; service-time twins are left out."""
    requests, execs = [], []
    for start, hists, failures in intervals:
        n = e = 0
        for key, hist in hists.items():
            if key.endswith(SERVICE_SUFFIX):
                continue
            ok = hist.get_total_count() - int(failures.get(key, 0))
            n += ok
            if neutral_key(key) == OPERATOR_EXEC:
                e += ok
        requests.append((start - t0 + 0.5, float(n)))
        execs.append((start - t0 + 0.5, float(e)))
    return requests, execs


def from_processes(frame: pd.DataFrame) -> tuple[tuple[str, ...], Points, Points]:
    """The target's roles, CPU seconds per sampled span and resident bytes (its processes summed) from
    ``resources.csv``'s rows, ``elapsed_s`` counted from the window's start. A sample's ``cpu_percent`` is
    over the span since the role's previous one (its first: as long as the next)."""
    if frame.empty:
        return (), (), ()
    rows = frame[frame["process"].astype(str).str.startswith(TARGET_ROLES)]
    cpu: list[tuple[float, float]] = []
    for _, role in rows.groupby("process"):
        t = pd.to_numeric(role["elapsed_s"], errors="coerce").to_numpy()
        pct = pd.to_numeric(role["cpu_percent"], errors="coerce").to_numpy()
        for i in range(len(t)):
            span = t[i] - t[i - 1] if i else (t[1] - t[0] if len(t) > 1 else 1.0)
            if span > 0 and math.isfinite(pct[i]):
                cpu.append((float(t[i] - span / 2), float(pct[i] / 100 * span)))
    rss = pd.to_numeric(rows["rss_bytes"], errors="coerce").groupby(rows["elapsed_s"]).sum()
    roles = tuple(sorted(str(r) for r in rows["process"].unique()))
    return roles, sorted(cpu), [(float(t), float(v)) for t, v in rss.items()]


def prometheus_points(doc: Mapping[str, Any], t0: float) -> list[tuple[float, float]]:
    """A stored range answer (``measure.promql``) as points from ``t0``, its series summed per time."""
    if doc.get("status") != "success":
        return []
    summed: dict[float, float] = {}
    for series in doc.get("data", {}).get("result", []):
        for t, v in series.get("values", []):
            summed[float(t)] = summed.get(float(t), 0.0) + float(v)
    return [(t - t0, v) for t, v in sorted(summed.items()) if math.isfinite(v)]


def increments(counter: Points) -> list[tuple[float, float]]:
    """A counter's growth per span, stamped with the span's middle; a reset (a drop) starts over."""
    out = []
    for (t0, v0), (t1, v1) in itertools.pairwise(counter):
        if t1 > t0 and v1 >= v0:
            out.append(((t0 + t1) / 2, v1 - v0))
    return out
