"""Regression alerts over per-commit histories: tidy history frame in, ``AlertReport`` out.

A history frame has one row per (group, series, commit) with columns ``group`` (what must never
be mixed: asv machine and environment, or host/profile/protocol of load-test runs), ``series``,
``commit``, ``date``, ``value`` and optionally ``samples``. Each series of each group is analysed
on its own with ``analysis.detect`` under the thresholds its config rule gives.

A regression is **new** when it starts after ``since`` (a commit) or, without ``since``, within
the last ``new_within`` commits of its series; **recovered** when a later change brought the
level back; **open** otherwise. Only new, unrecovered regressions fail a check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import detect
from analysis.alert_config import AlertConfig

NEW, OPEN, RECOVERED = "new", "open", "recovered"


@dataclass(frozen=True)
class Alert:
    group: str
    series: str
    status: str
    change: detect.ChangePoint
    threshold_pct: float
    commits: int  # length of the series' history

    @property
    def failing(self) -> bool:
        return self.status == NEW


@dataclass(frozen=True)
class AlertReport:
    alerts: tuple[Alert, ...]
    improvements: tuple[Alert, ...]
    series_checked: int
    groups: tuple[str, ...]
    config_source: str

    @property
    def failing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.failing)


def asv_history(frame: pd.DataFrame) -> pd.DataFrame:
    """The history frame of ``analysis.asv_results.read_asv_results``: group = machine/env."""
    out = frame.assign(group=frame["machine"] + "/" + frame["env"])
    return out[["group", "series", "commit", "date", "value", "samples"]]


def runs_history(
    cat: pd.DataFrame, latency: pd.DataFrame, metrics: tuple[str, ...] = ("p50_ms", "p99_ms")
) -> pd.DataFrame:
    """The history frame of load-test runs: group = comparability key (host, CPUs, profile,
    protocol), series = ``"<type> <name> p99"``, one point per run in start order."""
    if cat.empty or latency.empty:
        return pd.DataFrame(columns=["group", "series", "commit", "date", "value", "samples"])
    lat = latency.merge(cat[["run_id", "comparable", "started_at"]], on="run_id")
    parts = [
        pd.DataFrame(
            {
                "group": lat["comparable"],
                "series": lat["request_type"] + " " + lat["name"] + " " + m.removesuffix("_ms"),
                "commit": lat["run_id"],
                "date": lat["started_at"],
                "value": pd.to_numeric(lat[m], errors="coerce"),
                "samples": None,
            }
        )
        for m in metrics
    ]
    return pd.concat(parts, ignore_index=True)


def _series_of(rows: pd.DataFrame, name: str, better: str) -> detect.Series:
    rows = rows.sort_values(["date", "commit"], kind="stable").drop_duplicates("commit", keep="last")
    samples = None
    if "samples" in rows and rows["samples"].notna().any():
        samples = tuple(None if s is None else np.asarray(s, dtype=float) for s in rows["samples"])
    return detect.Series(name, rows["value"].to_numpy(float), tuple(rows["commit"]), samples, better)


def find_alerts(
    history: pd.DataFrame, config: AlertConfig, since: str | None = None, seed: int = 0
) -> AlertReport:
    """Every regression (and improvement) of every series, classified new / open / recovered."""
    alerts: list[Alert] = []
    improvements: list[Alert] = []
    checked = 0
    for (group, name), rows in history.groupby(["group", "series"], sort=True):
        th = config.thresholds(str(name))
        if th.ignore:
            continue
        series = _series_of(rows, str(name), th.better)
        checked += 1
        analyzed = detect.analyze(series, th.detect_config(seed))
        n = len(series.values)
        since_index = series.commits.index(since) if since in series.commits else None
        for cp in analyzed.change_points:
            if cp.recovered:
                status = RECOVERED
            elif since is not None:
                status = NEW if since_index is not None and cp.index_hi > since_index else OPEN
            else:
                status = NEW if cp.index >= n - config.new_within else OPEN
            alert = Alert(str(group), str(name), status, cp, th.min_effect_pct, n)
            (alerts if cp.direction == "regression" else improvements).append(alert)
    groups = tuple(sorted(history["group"].unique())) if len(history) else ()
    order = {NEW: 0, OPEN: 1, RECOVERED: 2}
    alerts.sort(key=lambda a: (order[a.status], -abs(a.change.magnitude_pct)))
    return AlertReport(tuple(alerts), tuple(improvements), checked, groups, config.source)
