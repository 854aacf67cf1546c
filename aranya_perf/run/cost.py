"""The target's cost over the run's window: its samples read from the run directory, judged by
``judge.drift``, written to ``drift.json``.

Where the samples come from, first found: the target's local processes in ``resources.csv`` (the
embedded gateway's, or ``--target-pid``'s), else the Prometheus series stored after the window
(``measure.promql.TARGET_COST``, for a remote target with ``--prometheus``). The requests answered per
second come from ``latency_intervals``, through ``Measured``.
"""

from __future__ import annotations

import json
from pathlib import Path

from aranya_perf import results
from aranya_perf.judge import drift
from aranya_perf.judge.measured import Measured
from aranya_perf.measure.promql import TARGET_COST
from aranya_perf.measure.resources import read_samples
from aranya_perf.profiles import Profile
from aranya_perf.results import RunFiles


def rules(p: Profile) -> drift.Rules:
    """The profile's thresholds; the warm-up is the fleet's ramp."""
    f = p.findings
    return drift.Rules(
        warmup_s=max(p.shape.ramp_s, p.fleet.devices / p.fleet.spawn_rate),
        cost_pct_per_hour=f.cost_slope_pct_per_hour,
        memory_mib_per_hour=f.rss_slope_mib_per_hour,
        min_window_s=f.slope_min_window_s,
        severity=f.severity,
    )


def _prometheus(run_dir: Path, t0: float) -> dict[str, list[tuple[float, float]]]:
    out = {}
    for name in TARGET_COST:
        try:
            doc = json.loads((run_dir / RunFiles.PROMETHEUS / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out[name] = drift.prometheus_points(doc, t0)
    return out


def samples(p: Profile, run_dir: Path, m: Measured) -> drift.Samples | None:
    """What the run sampled of the target over its window; None when it sampled nothing of it."""
    if m.t0 is None or not m.seconds or not p.fleet_run:
        return None
    requests, execs = drift.answered(m.intervals, m.t0)
    roles, cpu, rss = drift.from_processes(read_samples(run_dir / RunFiles.RESOURCES, m.t0))
    if roles:
        return drift.Samples(f"processes {', '.join(roles)}", m.seconds, cpu, {"rss": rss}, requests, execs)
    series = _prometheus(run_dir, m.t0)
    if not any(series.values()):
        return None
    memory = {
        "rss": series.get("target_rss_bytes", []),
        "heap": series.get("target_heap_bytes", []),
        "goroutines": series.get("target_goroutines", []),
    }
    cpu = drift.increments(series.get("target_cpu_seconds", []))
    return drift.Samples(f"prometheus {p.target.prometheus}", m.seconds, cpu, memory, requests, execs)


def judge(p: Profile, run_dir: Path, m: Measured) -> drift.Drift | None:
    """The drift of the target's cost, written to ``drift.json``; None (and no file) without samples."""
    sampled = samples(p, run_dir, m)
    if sampled is None:
        return None
    d = drift.drift(sampled, rules(p))
    results.atomic_write_json(run_dir / RunFiles.DRIFT, d.to_json())
    return d
