"""Reads the run directories of a step sweep into two tidy frames (``steps``, ``step_latency``).

``steps``: one row per step (run), columns ``STEP_COLUMNS``: ``step`` (0-based, in load order),
``run_id``, ``devices``, ``operators``, ``load`` (the swept variable's value), ``window_s``,
``requests``, ``failures``, ``window_s`` (``measured_window``), ``throughput_rps`` (requests per
second of that window, the once-per-device ramp kinds left out; an operators sweep counts operator
calls only, since the fixed fleet's own traffic is a constant the USL has no term for),
``gateway_cpu_pct`` and ``generator_cpu_pct`` (mean, % of one core, over the second half of the
run: the fleet is online then), ``gateway_rss_bytes`` /
``generator_rss_bytes`` (maximum), ``status``.

``step_latency``: one row per (step, request kind): ``step``, ``load``, ``request_type``,
``name``, ``count``, ``p50_ms``, ``p90_ms``, ``p99_ms``. Kinds are opaque strings.

Runs without meta.json or latency are skipped with a one-line warning naming the directory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
from aranya_perf.analysis import run_frames as rf
from aranya_perf.analysis.run_plots import DEVICE_TYPE, RAMP_NAMES

from aranya_perf.results import ResultsError, read_meta

STEP_COLUMNS = (
    "step",
    "run_id",
    "devices",
    "operators",
    "load",
    "window_s",
    "requests",
    "failures",
    "throughput_rps",
    "gateway_cpu_pct",
    "gateway_rss_bytes",
    "generator_cpu_pct",
    "generator_rss_bytes",
    "status",
)
STEP_LATENCY_COLUMNS = ("step", "load", "request_type", "name", "count", "p50_ms", "p90_ms", "p99_ms")


def measured_window(run_dir: Path, configured_s: float) -> float:
    """Seconds the run's requests were counted over: the span of Locust's per-second history.

    A big fleet's ramp and stop stretch a run well past its ``--duration`` (a 20 s run of 3,000
    devices on 2 cores spans 38 s), and its counts cover all of it. Without a history (or a
    span under 1 s) the configured duration stands.
    """
    history = rf.read_history(run_dir, t0=0.0)
    span = float(history["Timestamp"].max() - history["Timestamp"].min()) if len(history) else math.nan
    return span if math.isfinite(span) and span >= 1.0 else configured_s


def _resources(run_dir: Path, role: str) -> tuple[float, float]:
    res = rf.read_resources(run_dir)
    res = res[res["process"] == role]
    if res.empty:
        return math.nan, math.nan
    steady = res[res["elapsed_s"] >= res["elapsed_s"].median()]
    return float(steady["cpu_percent"].mean()), float(res["rss_bytes"].max())


def read_steps(
    run_dirs: Sequence[Path], load: str, warn: Callable[[str], None]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sweep's frames; ``load`` is ``"devices"``, ``"operators"`` or ``"auto"`` (operators when
    only the operators vary between the runs, else devices)."""
    if load == "auto":
        configs = []
        for run_dir in run_dirs:
            try:
                configs.append(read_meta(Path(run_dir)).get("config") or {})
            except ResultsError:
                continue
        only_operators = (
            len({c.get("devices") for c in configs}) == 1 and len({c.get("operators") for c in configs}) > 1
        )
        load = "operators" if only_operators else "devices"
    rows, lat_rows = [], []
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        try:
            meta = read_meta(run_dir)
        except ResultsError as exc:
            warn(f"{run_dir}: skipped, {exc}")
            continue
        latency = rf.read_latency(run_dir)
        if latency.empty:
            warn(f"{run_dir}: skipped, no latency data")
            continue
        config = meta.get("config") or {}
        window = measured_window(run_dir, float(config.get("duration_s") or math.nan))
        device_side = latency["request_type"] == DEVICE_TYPE
        # The swept side only: a fixed number of operators adds a constant the USL has no term for.
        steady = latency[
            (device_side if load == "devices" else ~device_side) & ~latency["name"].isin(RAMP_NAMES)
        ]
        gw_cpu, gw_rss = _resources(run_dir, "gateway")
        gen_cpu, gen_rss = _resources(run_dir, "generator")
        row = {
            "run_id": str(meta.get("run_id") or run_dir.name),
            "devices": int(config.get("devices") or 0),
            "operators": int(config.get("operators") or 0),
            "window_s": window,
            "requests": int(steady["count"].sum()),
            "failures": int(steady["failures"].sum()),
            "throughput_rps": float(steady["count"].sum()) / window if window > 0 else math.nan,
            "gateway_cpu_pct": gw_cpu,
            "gateway_rss_bytes": gw_rss,
            "generator_cpu_pct": gen_cpu,
            "generator_rss_bytes": gen_rss,
            "status": str(meta.get("status", "")),
        }
        row["load"] = row[load]
        rows.append(row)
        for _, r in latency.iterrows():
            lat_rows.append(
                {
                    "run_id": row["run_id"],
                    "load": row["load"],
                    **{c: r[c] for c in ("request_type", "name", "p50_ms", "p90_ms", "p99_ms")},
                    "count": int(r["count"]),
                }
            )
    steps = pd.DataFrame(rows, columns=[c for c in STEP_COLUMNS if c != "step"])
    steps = steps.sort_values("load", kind="stable").reset_index(drop=True)
    steps.insert(0, "step", range(len(steps)))
    order = dict(zip(steps["run_id"], steps["step"], strict=True))
    lat = pd.DataFrame(lat_rows, columns=["run_id", *STEP_LATENCY_COLUMNS[1:]])
    lat.insert(0, "step", lat["run_id"].map(order))
    lat = lat.drop(columns="run_id").sort_values(["step", "request_type", "name"], kind="stable")
    steps = steps[list(STEP_COLUMNS)]
    steps.attrs["load"] = load
    return steps, lat.reset_index(drop=True)
