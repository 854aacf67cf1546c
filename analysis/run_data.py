"""One run directory, read once: every file parsed into one immutable ``RunData``.

The report, the printed summary, the SLO verdict and the outage marks all take a ``RunData``
instead of opening files themselves, so they describe the same bytes. Readers are the
tolerant ones of ``run_frames`` (a crashed run still loads); nothing here writes.
Time origin: ``t0`` is the start of the measured window (meta.json ``window.started_at``),
else the run's start, so ``elapsed_s`` columns line up with the profile's shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from aranya_perf.analysis import run_frames as rf
from aranya_perf.analysis.run_inputs import file_states, lines_problem, text_problems
from aranya_perf.analysis.run_summary import load_meta, run_duration
from hdrh.histogram import HdrHistogram

from aranya_perf.judge.measured import Measured
from aranya_perf.measure.latency import load_failures, load_histograms, load_intervals
from aranya_perf.profiles import Profile, ProfileError
from aranya_perf.profiles.parse import read_profile
from aranya_perf.results import TIMELINE_COLUMNS, ResultsError, RunFiles, read_events

Intervals = list[tuple[float, dict[str, HdrHistogram], dict[str, int]]]


@dataclass(frozen=True)
class RunData:
    run_dir: Path
    meta: dict[str, Any] | None
    profile: Profile | None
    t0: float | None
    stats: pd.DataFrame
    history: pd.DataFrame
    failures: pd.DataFrame
    exceptions: pd.DataFrame
    latency: pd.DataFrame
    histograms: dict[str, HdrHistogram]
    hdr_failures: dict[str, int]
    intervals: Intervals
    timeline: pd.DataFrame
    resources: pd.DataFrame
    gateway_metrics: pd.DataFrame
    events: list[dict[str, Any]]
    missing: dict[str, str]
    slo: dict[str, Any] | None = None
    """slo.json, when the run has judged itself."""
    findings: dict[str, Any] | None = None
    """findings.json: the invariants checked and those broken, when the run has judged itself."""
    drift: dict[str, Any] | None = None
    """drift.json: the target's cost over time, when the run sampled the target."""
    file_states: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    """Present but damaged files -> why (``aranya_perf.analysis.run_inputs``)."""
    duration: float | None = None

    @property
    def window(self) -> dict[str, Any]:
        return dict((self.meta or {}).get("window") or {})

    def window_span(self) -> tuple[float, float] | None:
        """The measured window as unix seconds (start, end), when meta.json records it."""
        w = self.window
        if isinstance(w.get("started_at"), int | float) and isinstance(w.get("ended_at"), int | float):
            return float(w["started_at"]), float(w["ended_at"])
        return None


def measured(data: RunData) -> Measured:
    """What the judge's rules read, from a run directory as read."""
    span = data.window_span()
    window = data.window
    return Measured(
        histograms=data.histograms,
        failures=data.hdr_failures,
        intervals=data.intervals,
        timeline=data.timeline,
        t0=data.t0,
        seconds=span[1] - span[0] if span else data.duration,
        fleet=dict(window.get("fleet") or {}),
        window=dict(window.get("window") or {}),
    )


def _t0(meta: dict[str, Any] | None, run_dir: Path) -> float | None:
    started = ((meta or {}).get("window") or {}).get("started_at")
    if isinstance(started, int | float):
        return float(started)
    return rf.run_t0(run_dir)


def load_run(run_dir: Path) -> RunData:
    """Read ``run_dir``; ``ResultsError`` only when it is not a directory or meta.json is corrupt/too new.

    A data file that is present but damaged is read as what its reader can use, and named in
    ``problems`` (with ``file_states`` ``unreadable``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir} is not a directory")
    meta = load_meta(run_dir)
    t0 = _t0(meta, run_dir)
    problems: dict[str, str] = {}
    profile = None
    if (run_dir / RunFiles.PROFILE).is_file():
        try:  # an unreadable profile.toml: report without its shape
            profile = read_profile(run_dir / RunFiles.PROFILE)
        except ProfileError as exc:
            problems[RunFiles.PROFILE] = _why(run_dir / RunFiles.PROFILE, exc)
    histograms: dict[str, HdrHistogram] = {}
    hdr_failures: dict[str, int] = {}
    if rf.file_state(run_dir, RunFiles.LATENCY_HDR) == "ok":
        try:
            histograms = load_histograms(run_dir)
            hdr_failures = load_failures(run_dir)
        except ResultsError as exc:
            problems[RunFiles.LATENCY_HDR] = _why(run_dir / RunFiles.LATENCY_HDR, exc)
    intervals = load_intervals(run_dir / RunFiles.LATENCY_INTERVALS)
    events, events_problem = _read_events(run_dir)
    slo, slo_problem = _read_json(run_dir, RunFiles.SLO)
    found, findings_problem = _read_json(run_dir, RunFiles.FINDINGS)
    drift, drift_problem = _read_json(run_dir, RunFiles.DRIFT)
    problems.update(text_problems(run_dir))
    intervals_problem = _lines_problem(run_dir, RunFiles.LATENCY_INTERVALS, len(intervals), header=1)
    problems.update(
        _present(
            {
                RunFiles.LATENCY_INTERVALS: intervals_problem,
                RunFiles.EVENTS: events_problem,
                RunFiles.SLO: slo_problem,
                RunFiles.FINDINGS: findings_problem,
                RunFiles.DRIFT: drift_problem,
            }
        )
    )
    history = rf.read_history(run_dir, t0)
    resources = rf.read_resources(run_dir, t0)
    return RunData(
        run_dir=run_dir,
        meta=meta,
        profile=profile,
        t0=t0,
        stats=rf.read_stats(run_dir),
        history=history,
        failures=rf.read_failures(run_dir),
        exceptions=rf.read_exceptions(run_dir),
        latency=rf.read_latency(run_dir),
        histograms=histograms,
        hdr_failures=hdr_failures,
        intervals=intervals,
        timeline=read_timeline(run_dir, t0),
        resources=resources,
        gateway_metrics=rf.read_gateway_metrics(run_dir),
        events=events,
        slo=slo,
        findings=found,
        drift=drift,
        problems=problems,
        **_states(run_dir, profile, problems),
        duration=run_duration(meta, history["Timestamp"], resources["timestamp"]),
    )


def _states(run_dir: Path, profile: Profile | None, problems: dict[str, str]) -> dict[str, Any]:
    """``file_states`` and ``missing`` of a RunData."""
    names = dict(rf.RUN_FILES)
    if profile is not None and not profile.fleet_run and not profile.target.metrics:
        names.pop(RunFiles.GATEWAY_METRICS, None)  # a service run has no gateway metrics unless asked
    states = file_states(run_dir, names, problems)
    return {"file_states": states, "missing": {n: s for n, s in states.items() if s != "ok"}}


def _why(path: Path, exc: Exception) -> str:
    """A reader's error without the path it names (the report is the same wherever its directory is)."""
    return str(exc).replace(f"{path}: ", "").replace(str(path), path.name)


def _present(problems: dict[str, str | None]) -> dict[str, str]:
    return {name: problem for name, problem in problems.items() if problem}


def _lines_problem(run_dir: Path, name: str, parsed: int, *, header: int) -> str | None:
    if rf.file_state(run_dir, name) != "ok":
        return None
    return lines_problem(run_dir / name, parsed, header=header)


def _read_events(run_dir: Path) -> tuple[list[dict[str, Any]], str | None]:
    events = read_events(run_dir / RunFiles.EVENTS)
    return events, _lines_problem(run_dir, RunFiles.EVENTS, len(events), header=0)


def _read_json(run_dir: Path, name: str) -> tuple[dict[str, Any] | None, str | None]:
    """A JSON object the run wrote (slo.json, findings.json, drift.json), and why a present one is
    unreadable."""
    path = run_dir / name
    if rf.file_state(run_dir, name) != "ok":
        return None, None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"not JSON ({exc})"
    if not isinstance(doc, dict):
        return None, "not a JSON object"
    return doc, None


def read_timeline(run_dir: Path, t0: float | None = None) -> pd.DataFrame:
    """``timeline.csv`` with ``elapsed_s`` recomputed against ``t0`` (when given)."""
    frame = rf.read_csv(Path(run_dir) / RunFiles.TIMELINE, TIMELINE_COLUMNS, rf.TIMELINE_TEXT)
    frame = frame.dropna(subset=["timestamp"]).reset_index(drop=True)
    if t0 is not None:
        frame["elapsed_s"] = frame["timestamp"] - t0
    return frame
