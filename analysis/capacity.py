"""The capacity model of a step sweep: USL fit, SLO knees, resources per 1,000 devices, replicas.

Pure: the frames of ``aranya_perf.analysis.sweep_frames`` in, a frozen ``CapacityModel`` out.

- **USL** (``aranya_perf.analysis.usl``) of throughput against load over all steps; validated by fitting all
  steps but the last and predicting the last (``holdout``).
- **Knees**: for each SLO (a percentile and a threshold in ms) and each request kind it covers,
  the load where the percentile first exceeds the threshold, interpolated linearly between the
  last step under it and the first step over it; that pair of loads is its interval, their
  request counts go with it. Steps below the sample rule (``aranya_perf.analysis.samples``: a p99 needs 100
  requests) are unusable for that kind and SLO: skipped, and listed.
- **Resources**: least-squares slopes of mean CPU (% of one core) and peak RSS against devices,
  scaled to 1,000 devices, for the gateway (target) and the generator.
- **Generator limit**: a step whose generator used >= ``GENERATOR_CPU_LIMIT`` % of its core
  measured the generator, not the target; from there on the figures are a lower bound.
- **Replicas** for ``fleet`` devices: capacity per replica is the lowest knee, else the USL peak
  if it lies within the tested range and beta's interval excludes 0 (a peak is only claimed when
  the coherency cost is measured), else the largest load tested (then only a lower bound on
  capacity, and the replica count an upper bound); replicas = ceil(fleet / (capacity * (1 -
  headroom))), with the range the knee's interval gives.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from aranya_perf.analysis import samples
from aranya_perf.analysis.run_summary import GENERATOR_CPU_LIMIT
from aranya_perf.analysis.usl import USLFit, fit_usl

_SLO = re.compile(r"^p(\d+(?:\.\d+)?)=(\d+(?:\.\d+)?)(ms|s)?(?:@(.+))?$")


@dataclass(frozen=True)
class SLO:
    """``p99=250ms`` or ``p99=250ms@control`` (the kinds whose ``"<type> <name>"`` matches the regex)."""

    percentile: str  # column of step_latency: "p50_ms", "p90_ms" or "p99_ms"
    threshold_ms: float
    kinds: str = r"^(?!device )"  # default: operator calls (everything but the device side)

    @classmethod
    def parse(cls, text: str) -> SLO:
        m = _SLO.match(text.strip())
        if not m or m.group(1) not in ("50", "90", "99"):
            raise ValueError(f"bad SLO {text!r}: use p50|p90|p99=<ms>[ms|s][@<kind regex>], e.g. p99=250ms")
        ms = float(m.group(2)) * (1000.0 if m.group(3) == "s" else 1.0)
        kinds = m.group(4) or cls.kinds
        try:
            re.compile(kinds)
        except re.error as exc:
            raise ValueError(f"bad SLO {text!r}: kind regex {kinds!r}: {exc}") from None
        return cls(f"p{m.group(1)}_ms", ms, kinds)

    def label(self) -> str:
        return f"{self.percentile.removesuffix('_ms')} < {self.threshold_ms:g} ms"


@dataclass(frozen=True)
class Knee:
    slo: str
    kind: str
    load: float | None  # None: not crossed within the tested loads
    crossed_between: tuple[float, float] | None
    counts: tuple[int, int] | None = None  # requests at the two steps of crossed_between (0: none below)
    unusable: tuple[float, ...] = ()  # loads of steps below the sample rule, skipped


@dataclass(frozen=True)
class Holdout:
    load: float
    measured: float
    predicted: float

    @property
    def error_pct(self) -> float:
        return (self.predicted / self.measured - 1) * 100 if self.measured else math.nan


@dataclass(frozen=True)
class CapacityModel:
    load_name: str
    fit: USLFit | None
    fit_error: str | None
    holdout: Holdout | None
    knees: tuple[Knee, ...]
    per_1000: dict[str, float]  # e.g. gateway_cpu_pct, gateway_rss_mib, generator_*
    generator_limited_from: float | None  # first load at which the generator was saturated
    capacity: float | None
    capacity_basis: str
    fleet: int
    headroom: float
    replicas: int | None
    replicas_bound: str  # "exact" or "upper bound"
    replicas_range: tuple[int, int | None] | None = None  # from the knee's interval (None: unbounded)

    @property
    def peak_claimed(self) -> bool:
        """Whether the USL peak may be stated: beta's interval is clear of 0."""
        return peak_measured(self.fit)


def peak_measured(fit: USLFit | None) -> bool:
    return fit is not None and math.isfinite(fit.beta_ci[0]) and fit.beta_ci[0] > 0


def knees(step_latency: pd.DataFrame, slos: list[SLO]) -> tuple[Knee, ...]:
    out = []
    lat = step_latency.assign(kind=step_latency["request_type"] + " " + step_latency["name"])
    for slo in slos:
        for kind, rows in lat.groupby("kind", sort=True):
            if not re.search(slo.kinds, str(kind)):
                continue
            rows = rows.sort_values("load")
            usable = [samples.enough(slo.percentile, n) for n in rows["count"]]
            unusable = tuple(float(x) for x in rows["load"][[not u for u in usable]])
            rows = rows[usable]
            loads, values = rows["load"].to_numpy(float), rows[slo.percentile].to_numpy(float)
            counts = rows["count"].to_numpy(int)
            over = np.flatnonzero(values > slo.threshold_ms)
            if not len(over):
                out.append(Knee(slo.label(), str(kind), None, None, None, unusable))
                continue
            i = int(over[0])
            if i == 0:
                knee = Knee(
                    slo.label(),
                    str(kind),
                    float(loads[0]),
                    (0.0, float(loads[0])),
                    (0, int(counts[0])),
                    unusable,
                )
                out.append(knee)
                continue
            x0, x1, y0, y1 = loads[i - 1], loads[i], values[i - 1], values[i]
            at = x0 + (slo.threshold_ms - y0) * (x1 - x0) / (y1 - y0) if y1 > y0 else x1
            pair = (int(counts[i - 1]), int(counts[i]))
            out.append(Knee(slo.label(), str(kind), float(at), (float(x0), float(x1)), pair, unusable))
    return tuple(out)


def _slope_per_1000(x: pd.Series, y: pd.Series) -> float:
    ok = x.notna() & y.notna()
    if ok.sum() < 2 or x[ok].nunique() < 2:
        return math.nan
    return float(np.polyfit(x[ok].astype(float), y[ok].astype(float), 1)[0] * 1000.0)


def capacity_model(
    steps: pd.DataFrame,
    step_latency: pd.DataFrame,
    slos: list[SLO],
    fleet: int,
    headroom: float,
    load_name: str = "devices",
) -> CapacityModel:
    if not 0 <= headroom < 1:
        raise ValueError(f"headroom must be in [0, 1), not {headroom}")
    fit, fit_error, holdout = None, None, None
    try:
        fit = fit_usl(steps["load"], steps["throughput_rps"])
    except (ValueError, RuntimeError) as exc:
        fit_error = str(exc)
    if len(steps) >= 4:
        try:
            head = fit_usl(steps["load"].iloc[:-1], steps["throughput_rps"].iloc[:-1])
            last = steps.iloc[-1]
            holdout = Holdout(
                float(last["load"]), float(last["throughput_rps"]), float(head.predict(float(last["load"])))
            )
        except (ValueError, RuntimeError):
            holdout = None
    per_1000 = {
        "gateway_cpu_pct": _slope_per_1000(steps["devices"], steps["gateway_cpu_pct"]),
        "gateway_rss_mib": _slope_per_1000(steps["devices"], steps["gateway_rss_bytes"] / 2**20),
        "generator_cpu_pct": _slope_per_1000(steps["devices"], steps["generator_cpu_pct"]),
        "generator_rss_mib": _slope_per_1000(steps["devices"], steps["generator_rss_bytes"] / 2**20),
    }
    saturated = steps[steps["generator_cpu_pct"] >= GENERATOR_CPU_LIMIT]
    generator_from = float(saturated["load"].min()) if len(saturated) else None
    found = knees(step_latency, slos)
    crossed = [k for k in found if k.load is not None]
    max_load = float(steps["load"].max()) if len(steps) else math.nan
    lowest = min(crossed, key=lambda k: k.load or 0.0) if crossed else None
    if lowest is not None:
        capacity, basis, bound = lowest.load, "lowest SLO knee", "exact"
    elif fit is not None and peak_measured(fit) and fit.peak_load <= max_load:
        capacity, basis, bound = fit.peak_load, "USL throughput peak", "exact"
    elif len(steps):
        capacity, basis = max_load, "largest load tested (no SLO crossed, no throughput peak reached)"
        bound = "upper bound"
    else:
        capacity, basis, bound = None, "no steps", "exact"
    if generator_from is not None and (capacity is None or generator_from <= capacity):
        basis += f"; generator saturated from {generator_from:g}, so the target may carry more"
        bound = "upper bound"
    replicas, replicas_range = None, None
    if capacity and load_name == "devices" and fleet > 0:
        replicas = max(1, math.ceil(fleet / (capacity * (1 - headroom))))
        if lowest is not None and lowest.crossed_between is not None:
            lo_load, hi_load = lowest.crossed_between
            most = math.ceil(fleet / (lo_load * (1 - headroom))) if lo_load > 0 else None
            replicas_range = (max(1, math.ceil(fleet / (hi_load * (1 - headroom)))), most)
    return CapacityModel(
        load_name,
        fit,
        fit_error,
        holdout,
        found,
        per_1000,
        generator_from,
        capacity,
        basis,
        fleet,
        headroom,
        replicas,
        bound,
        replicas_range,
    )
