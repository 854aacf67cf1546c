"""Regression alerts over per-commit histories: tidy history frame in, ``AlertReport`` out.

A history frame has one row per (group, series, commit) with columns ``group`` (what must never
be mixed: asv machine and environment, or the comparability key of load-test runs), ``series``,
``commit``, ``date`` (what orders the points), ``value``, optionally ``samples`` and ``axis``
(what a point is: ``"commit"``, ``"run"``, or the name of the run label the runs are ordered by).
Each series of each group is analysed on its own with ``aranya_perf.analysis.detect`` under the thresholds
its config rule gives. A series with fewer points than the detector needs (``min_history``: its
minimum segment on each side) is not judged: it is listed as **insufficient history**, never
counted as free of regressions.

Load-test runs give a point per run (in start order) or, ordered by a label (``run --label``),
a point per label value with the runs of that value as its raw samples; values sort naturally
(``c9`` before ``c10``). A run's p50 or p99 of a kind below the sample rule (``aranya_perf.analysis.samples``)
is left out of its series.

A regression is **new** when it starts after ``since`` (a commit) or, without ``since``, within
the last ``new_within`` commits of its series; **recovered** when a later change brought the
level back; **open** otherwise. Only new, unrecovered regressions fail a check.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from aranya_perf.analysis import detect, samples
from aranya_perf.analysis.alert_config import AlertConfig

NEW, OPEN, RECOVERED = "new", "open", "recovered"


@dataclass(frozen=True)
class Alert:
    group: str
    series: str
    status: str
    change: detect.ChangePoint
    threshold_pct: float
    commits: int  # length of the series' history
    axis: str = "commit"  # what a point of the series is: commit, run, or a run label's name

    @property
    def failing(self) -> bool:
        return self.status == NEW


@dataclass(frozen=True)
class ShortSeries:
    """A series with too few points to judge."""

    group: str
    series: str
    points: int
    needed: int


@dataclass(frozen=True)
class AlertReport:
    alerts: tuple[Alert, ...]
    improvements: tuple[Alert, ...]
    series_checked: int
    groups: tuple[str, ...]
    config_source: str
    short: tuple[ShortSeries, ...] = ()

    @property
    def failing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.failing)


def asv_history(frame: pd.DataFrame) -> pd.DataFrame:
    """The history frame of ``aranya_perf.analysis.asv_results.read_asv_results``: group = machine/env."""
    out = frame.assign(group=frame["machine"] + "/" + frame["env"])
    return out[["group", "series", "commit", "date", "value", "samples"]]


def min_history(cfg: detect.DetectConfig) -> int:
    """Points a series needs before the detector can say anything: its minimum segment, twice."""
    return 2 * cfg.min_size


def _natural(value: str) -> tuple[tuple[int, object], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", value) if p)


def runs_history(
    cat: pd.DataFrame,
    latency: pd.DataFrame,
    metrics: tuple[str, ...] = ("p50_ms", "p99_ms"),
    order_by: str | None = None,
) -> pd.DataFrame:
    """The history frame of load-test runs: group = comparability key, series = ``"<type> <name>
    p99"``; a point per run in start order, or with ``order_by`` a point per value of that label
    (runs without the label are left out)."""
    columns = ["group", "series", "commit", "date", "value", "samples", "axis"]
    if cat.empty or latency.empty:
        return pd.DataFrame(columns=columns)
    cat = cat.assign(label=cat["labels"].map(lambda t: json.loads(t).get(order_by) if order_by else None))
    if order_by:
        cat = cat[cat["label"].notna()]
    lat = latency.merge(cat[["run_id", "comparable", "started_at", "label"]], on="run_id")
    parts = []
    counts = pd.to_numeric(lat["count"], errors="coerce")
    for m in metrics:
        ok = lat[[samples.enough(m, n) for n in counts]]
        parts.append(
            pd.DataFrame(
                {
                    "group": ok["comparable"],
                    "series": ok["request_type"] + " " + ok["name"] + " " + m.removesuffix("_ms"),
                    "commit": ok["label"] if order_by else ok["run_id"],
                    "date": ok["label"].map(_natural) if order_by else ok["started_at"],
                    "value": pd.to_numeric(ok[m], errors="coerce"),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    if not order_by:
        return frame.assign(samples=None, axis="run")[columns]
    # Several runs of one label value are raw samples of that point.
    points = frame.groupby(["group", "series", "commit"], sort=False).agg(
        date=("date", "first"), value=("value", "median"), samples=("value", lambda v: np.asarray(v, float))
    )
    return points.reset_index().assign(axis=order_by)[columns]


def _series_of(rows: pd.DataFrame, name: str, better: str) -> detect.Series:
    rows = rows.sort_values(["date", "commit"], kind="stable").drop_duplicates("commit", keep="last")
    raw = None
    if "samples" in rows and rows["samples"].notna().any():
        raw = tuple(None if s is None else np.asarray(s, dtype=float) for s in rows["samples"])
    return detect.Series(name, rows["value"].to_numpy(float), tuple(rows["commit"]), raw, better)


def find_alerts(
    history: pd.DataFrame, config: AlertConfig, since: str | None = None, seed: int = 0
) -> AlertReport:
    """Every regression (and improvement) of every series long enough to judge, classified new /
    open / recovered; the others listed as short."""
    alerts: list[Alert] = []
    improvements: list[Alert] = []
    short: list[ShortSeries] = []
    checked = 0
    for (group, name), rows in history.groupby(["group", "series"], sort=True):
        th = config.thresholds(str(name))
        if th.ignore:
            continue
        series = _series_of(rows, str(name), th.better)
        cfg = th.detect_config(seed)
        n = int((np.isfinite(series.values) & (series.values > 0)).sum())
        if n < min_history(cfg):
            short.append(ShortSeries(str(group), str(name), n, min_history(cfg)))
            continue
        checked += 1
        analyzed = detect.analyze(series, cfg)
        axis = str(rows["axis"].iloc[0]) if "axis" in rows and rows["axis"].notna().any() else "commit"
        since_index = series.commits.index(since) if since in series.commits else None
        for cp in analyzed.change_points:
            if cp.recovered:
                status = RECOVERED
            elif since is not None:
                status = NEW if since_index is not None and cp.index_hi > since_index else OPEN
            else:
                status = NEW if cp.index >= len(series.values) - config.new_within else OPEN
            alert = Alert(str(group), str(name), status, cp, th.min_effect_pct, len(series.values), axis)
            (alerts if cp.direction == "regression" else improvements).append(alert)
    groups = tuple(sorted(history["group"].unique())) if len(history) else ()
    order = {NEW: 0, OPEN: 1, RECOVERED: 2}
    alerts.sort(key=lambda a: (order[a.status], -abs(a.change.magnitude_pct)))
    return AlertReport(tuple(alerts), tuple(improvements), checked, groups, config.source, tuple(short))
