"""The static history site of ``aranya-perf publish``: asv benchmarks and load-test runs over time.

``build_site`` writes ``index.html`` (``templates/site.html.j2``: one section per asv machine
and per group of comparable runs), ``plots/*.png`` (one trend per benchmark and per request kind,
change points from ``aranya_perf.analysis.detect`` marked), ``runs.parquet`` (the run catalogue)
and ``alerts.json``. Every run in a table links to its own ``report.html``. Histories of
different asv machines, or of runs from different hosts, profiles or protocol versions, get
separate plots: they are never drawn as one line. A small script in the page counts the plots
the browser managed to load and writes the count into ``#plots-status``, so a headless browser
can check the page as a person sees it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from aranya_perf.analysis import detect, pages, samples
from aranya_perf.analysis.alert_config import AlertConfig
from aranya_perf.analysis.alert_report import to_json as alerts_json
from aranya_perf.analysis.alerts import find_alerts, min_history
from aranya_perf.analysis.report_io import save_png

from aranya_perf.results import atomic_write_json, atomic_write_text

matplotlib.use("Agg")  # rendered headless, also from inside a Locust process
import matplotlib.pyplot as plt  # after use(): pyplot picks its backend on import

RUN_METRICS = ("p50_ms", "p99_ms")


@dataclass(frozen=True)
class Trend:
    """One plot: several lines (series) of one group over the same ordered commits or runs."""

    slug: str
    title: str
    group: str
    ylabel: str
    x_labels: tuple[str, ...]
    lines: tuple[tuple[str, np.ndarray], ...]  # (label, values aligned to x_labels, NaN where missing)
    changes: tuple[tuple[str, detect.ChangePoint], ...]  # (line label, change point)
    short: tuple[tuple[str, int, int], ...] = ()  # (line label, points, points needed): not judged


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:80] or "plot"


def _analyze_lines(lines: Sequence[tuple[str, np.ndarray]], x: Sequence[str], config: AlertConfig, key: str):
    """Change points of each line, and the lines too short to judge (``alerts.min_history``)."""
    changes, short = [], []
    for label, values in lines:
        th = config.thresholds(f"{key} {label}".strip())
        cfg = th.detect_config()
        n = int((np.isfinite(values) & (values > 0)).sum())
        if n < min_history(cfg):
            short.append((label, n, min_history(cfg)))
            continue
        series = detect.Series(label, values, tuple(x), better=th.better)
        changes += [(label, cp) for cp in detect.analyze(series, cfg).change_points]
    return tuple(changes), tuple(short)


def asv_trends(frame: pd.DataFrame, config: AlertConfig) -> list[Trend]:
    """One trend per (machine/env, benchmark), a line per parameter combination, x = commits by date."""
    trends = []
    if frame.empty:
        return trends
    frame = frame.assign(group=frame["machine"] + "/" + frame["env"])
    for (group, bench), rows in frame.groupby(["group", "benchmark"], sort=True):
        order = rows.sort_values(["date", "commit"]).drop_duplicates("commit")["commit"].tolist()
        lines = []
        for params, part in rows.groupby("params", sort=True):
            values = part.drop_duplicates("commit", keep="last").set_index("commit")["value"].reindex(order)
            lines.append((str(params) or "value", values.to_numpy(float)))
        unit = str(rows["unit"].iloc[0] or "")
        changes, short = _analyze_lines(lines, [c[:12] for c in order], config, str(bench))
        trends.append(
            Trend(
                _slug(f"asv-{group}-{bench}"),
                str(bench),
                str(group),
                unit,
                tuple(c[:8] for c in order),
                tuple(lines),
                changes,
                short,
            )
        )
    return trends


def run_trends(cat: pd.DataFrame, latency: pd.DataFrame, config: AlertConfig) -> list[Trend]:
    """One trend per (comparable group, request kind), lines p50/p99, x = runs by start time; a run's
    value below the sample rule is left out (a gap), as in ``alerts --runs``."""
    trends = []
    if cat.empty or latency.empty:
        return trends
    lat = latency.merge(cat[["run_id", "comparable", "started_at"]], on="run_id")
    lat = lat.assign(kind=lat["request_type"] + " " + lat["name"])
    counts = pd.to_numeric(lat["count"], errors="coerce")
    for m in RUN_METRICS:
        lat[m] = pd.to_numeric(lat[m], errors="coerce").where([samples.enough(m, n) for n in counts])
    for (group, kind), rows in lat.groupby(["comparable", "kind"], sort=True):
        order = cat[cat["comparable"] == group].sort_values("started_at")["run_id"].tolist()
        by_run = rows.drop_duplicates("run_id", keep="last").set_index("run_id")
        lines = tuple((m.removesuffix("_ms"), by_run[m].reindex(order).to_numpy(float)) for m in RUN_METRICS)
        changes, short = _analyze_lines(lines, order, config, str(kind))
        trends.append(
            Trend(
                _slug(f"runs-{group}-{kind}"),
                str(kind),
                str(group),
                "latency (ms)",
                tuple(order),
                lines,
                changes,
                short,
            )
        )
    return trends


def plot_trend(trend: Trend, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 3.4))
    x = np.arange(len(trend.x_labels))
    for label, values in trend.lines:
        ax.plot(x, values, "o-", markersize=3, linewidth=1.2, label=label)
    for label, cp in trend.changes:
        color = "tab:red" if cp.direction == "regression" else "tab:green"
        ax.axvline(cp.index - 0.5, color=color, linestyle="--", linewidth=1)
        where = (cp.index - 0.5, 1.0)
        ax.annotate(
            f"{cp.magnitude_pct:+.1f} % {label}",
            where,
            xycoords=("data", "axes fraction"),
            xytext=(3, -10),
            textcoords="offset points",
            fontsize="x-small",
            color=color,
        )
    finite = np.concatenate([v[np.isfinite(v) & (v > 0)] for _, v in trend.lines] or [np.empty(0)])
    if len(finite) and finite.max() > 20 * finite.min():
        ax.set_yscale("log")  # parameters of very different sizes (1 KiB and 16 MiB frames) on one plot
    step = max(1, len(x) // 12)
    ax.set_xticks(
        x[::step], [trend.x_labels[i] for i in x[::step]], rotation=30, ha="right", fontsize="x-small"
    )
    ax.set_ylabel(trend.ylabel)
    ax.set_title(f"{trend.title} ({trend.group})", fontsize="medium", loc="left")
    ax.grid(True, alpha=0.3)
    if len(trend.lines) > 1:
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save_png(fig, path, dpi=90)


def build_site(
    out: Path, asv: pd.DataFrame, cat: pd.DataFrame, latency: pd.DataFrame, config: AlertConfig
) -> Path:
    """Write the site into ``out``; returns the index.html path."""
    from aranya_perf.analysis.alerts import asv_history, runs_history
    from aranya_perf.analysis.run_catalogue import CATALOGUE_FILE, write_catalogue

    out.mkdir(parents=True, exist_ok=True)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    trends_asv = asv_trends(asv, config)
    trends_runs = run_trends(cat, latency, config)
    sections = []
    for heading, trends in (("asv benchmarks", trends_asv), ("Load-test runs", trends_runs)):
        for group in dict.fromkeys(t.group for t in trends):
            mine = [t for t in trends if t.group == group]
            for t in mine:
                plot_trend(t, plots / f"{t.slug}.png")
            runs = _run_rows(cat[cat["comparable"] == group], out) if heading.startswith("Load") else None
            anchor = _slug(f"{heading}-{group}")
            sections.append(
                {"anchor": anchor, "heading": heading, "group": group, "runs": runs, "trends": mine}
            )
    short = sum(len(t.short) for t in [*trends_asv, *trends_runs])
    atomic_write_text(out / "index.html", pages.render("site.html.j2", sections=sections, short=short))
    write_catalogue(cat, out / CATALOGUE_FILE)
    history = pd.concat([asv_history(asv), runs_history(cat, latency)], ignore_index=True)
    atomic_write_json(out / "alerts.json", alerts_json(find_alerts(history, config)))
    return out / "index.html"


def _run_rows(cat: pd.DataFrame, out: Path) -> list[dict[str, object]]:
    """The runs of one group, oldest first, as the site's table shows them; ``href`` None without a report."""
    rows = []
    for _, r in cat.sort_values("started_at").iterrows():
        report = Path(r["path"]) / "report.html"
        rows.append(
            {
                "run_id": r["run_id"],
                "href": os.path.relpath(report, out) if report.exists() else None,
                "started_at": str(r["started_at"]),
                "status": r["status"],
                "commit": r["commit"][:12],
                "devices": r["devices"],
                "operators": r["operators"],
                "labels": _labels(r["labels"]),
            }
        )
    return rows


def _labels(text: str) -> str:
    return " ".join(f"{k}={v}" for k, v in json.loads(text or "{}").items())
