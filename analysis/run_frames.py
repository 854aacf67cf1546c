"""Pure readers turning the files of one run directory into pandas frames.

Every reader returns an empty frame with the documented columns when its file is
missing, empty, or cut off mid-row, because a crashed or still-running run must
still be reportable. Nothing here writes files or imports locust (importing locust
monkey-patches the process with gevent).

Time columns: Locust's ``Timestamp`` and resources' ``timestamp`` stay as unix
seconds; ``elapsed_s`` is recomputed against one origin per run (``run_t0``) so the
series of different files line up on one time axis.
"""

from __future__ import annotations

import contextlib
import io
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from aranya_perf.measure.latency import LATENCY_COLUMNS, latency_frame, load_histograms
from aranya_perf.measure.resources import RESOURCE_COLUMNS
from aranya_perf.results import TIMELINE_COLUMNS, ResultsError, RunFiles, read_meta

# File names are RunFiles'; these aliases keep the readers' names short.
STATS_CSV = RunFiles.STATS
HISTORY_CSV = RunFiles.HISTORY
FAILURES_CSV = RunFiles.FAILURES
EXCEPTIONS_CSV = RunFiles.EXCEPTIONS
RESOURCES_CSV = RunFiles.RESOURCES
GATEWAY_METRICS = RunFiles.GATEWAY_METRICS
LATENCY_CSV = RunFiles.LATENCY
LATENCY_HDR = RunFiles.LATENCY_HDR

# What a complete run directory holds, in report order, with what each file is for.
RUN_FILES: dict[str, str] = {
    RunFiles.META: "run metadata",
    RunFiles.PROFILE: "the resolved profile the run ran",
    RunFiles.EVENTS: "what happened, in order: phases, storms, outages, SLO verdicts",
    STATS_CSV: "Locust totals per request kind",
    HISTORY_CSV: "Locust per-second history",
    FAILURES_CSV: "Locust failures",
    EXCEPTIONS_CSV: "Locust user exceptions",
    LATENCY_CSV: "exact latency per request kind",
    LATENCY_HDR: "HDR latency histograms",
    RunFiles.LATENCY_INTERVALS: "HDR latency histograms per second",
    RunFiles.TIMELINE: "devices online, connects, arrivals per second",
    RESOURCES_CSV: "process CPU/memory samples",
    GATEWAY_METRICS: "gateway Prometheus snapshot",
    RunFiles.SLO: "SLO verdicts",
    RunFiles.SLO_JUNIT: "SLO verdicts as JUnit XML",
}

AGGREGATED = "Aggregated"  # Locust's name for the all-requests row

# Locust 2.x default PERCENTILES_TO_REPORT as its CSV writer labels them.
PERCENTILE_COLUMNS = ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%")
STATS_COLUMNS = (
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    *PERCENTILE_COLUMNS,
)
HISTORY_COLUMNS = (
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
    *PERCENTILE_COLUMNS,
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
    "elapsed_s",
)
FAILURES_COLUMNS = ("Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen")
EXCEPTIONS_COLUMNS = ("Count", "Message", "Traceback", "Nodes")
GATEWAY_METRICS_COLUMNS = ("name", "labels", "value", "family", "type")

_STATS_TEXT = ("Type", "Name")
_FAILURES_TEXT = ("Method", "Name", "Error", "First Seen", "Last Seen")
_EXCEPTIONS_TEXT = ("Message", "Traceback", "Nodes")
_RESOURCES_TEXT = ("process",)
_LATENCY_TEXT = ("request_type", "name")
TIMELINE_TEXT = ("phase",)

# Every CSV of a run: (its documented columns, those of them holding text); the others hold numbers.
CSV_LAYOUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    STATS_CSV: (STATS_COLUMNS, _STATS_TEXT),
    HISTORY_CSV: (HISTORY_COLUMNS, _STATS_TEXT),
    FAILURES_CSV: (FAILURES_COLUMNS, _FAILURES_TEXT),
    EXCEPTIONS_CSV: (EXCEPTIONS_COLUMNS, _EXCEPTIONS_TEXT),
    LATENCY_CSV: (LATENCY_COLUMNS, _LATENCY_TEXT),
    RunFiles.TIMELINE: (TIMELINE_COLUMNS, TIMELINE_TEXT),
    RESOURCES_CSV: (RESOURCE_COLUMNS, _RESOURCES_TEXT),
}


def file_state(run_dir: Path, name: str) -> str:
    """``"ok"``, ``"empty"`` (0 bytes) or ``"missing"`` for one file of the run directory."""
    path = Path(run_dir) / name
    if not path.is_file():
        return "missing"
    return "ok" if path.stat().st_size > 0 else "empty"


def missing_files(run_dir: Path) -> dict[str, str]:
    """The known run files that are missing or empty, mapped to that state."""
    states = {name: file_state(run_dir, name) for name in RUN_FILES}
    return {name: state for name, state in states.items() if state != "ok"}


def read_csv(path: Path, columns: tuple[str, ...], text_columns: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV tolerantly; the frame has at least ``columns`` (extras from the file are kept)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        text = ""
    # A writer that died mid-row leaves an unterminated last line: drop it rather than misparse it.
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    frame: pd.DataFrame | None = None
    if text.strip():
        try:
            frame = pd.read_csv(
                io.StringIO(text),
                na_values=["N/A"],
                on_bad_lines="skip",
                dtype={c: str for c in text_columns},
                keep_default_na=True,
            )
        except pd.errors.EmptyDataError:  # nothing but whitespace/garbage
            frame = None
    if frame is None:
        frame = pd.DataFrame({c: pd.Series(dtype=str if c in text_columns else float) for c in columns})
    for column in columns:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype=str if column in text_columns else float)
    for column in frame.columns:
        if column in text_columns:
            frame[column] = frame[column].fillna("").astype(str)
        else:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    ordered = [*columns, *(c for c in frame.columns if c not in columns)]
    return frame[ordered].reset_index(drop=True)


def run_t0(run_dir: Path) -> float | None:
    """Unix time the run's ``elapsed_s`` counts from: meta.json ``started_at``, else the earliest sample."""
    try:
        started = read_meta(run_dir).get("started_at")
        if isinstance(started, str):
            return datetime.fromisoformat(started).timestamp()
    except (ResultsError, ValueError):
        pass
    firsts = []
    for name, column in ((HISTORY_CSV, "Timestamp"), (RESOURCES_CSV, "timestamp")):
        frame = read_csv(Path(run_dir) / name, (column,), ())
        if frame[column].notna().any():
            firsts.append(float(frame[column].min()))
    return min(firsts) if firsts else None


def _origin(run_dir: Path, t0: float | None, series: pd.Series) -> float:
    if t0 is None:
        t0 = run_t0(run_dir)
    if t0 is None:
        t0 = float(series.min()) if series.notna().any() else 0.0
    return t0


def read_stats(run_dir: Path) -> pd.DataFrame:
    """``locust_stats.csv``: Locust's final totals, one row per request kind plus ``Aggregated``.

    Response times are whole milliseconds as Locust stores them; "N/A" becomes NaN.
    """
    return read_csv(Path(run_dir) / STATS_CSV, STATS_COLUMNS, _STATS_TEXT)


def read_history(run_dir: Path, t0: float | None = None) -> pd.DataFrame:
    """``locust_stats_history.csv`` with an added ``elapsed_s`` (Timestamp - t0; default ``run_t0``).

    Rows per request kind and per second, plus ``Aggregated`` rows (Type ""); percentile
    columns are over Locust's recent window and NaN ("N/A") before the first request.
    """
    frame = read_csv(Path(run_dir) / HISTORY_CSV, HISTORY_COLUMNS, _STATS_TEXT)
    frame = frame.dropna(subset=["Timestamp"]).reset_index(drop=True)
    frame["elapsed_s"] = frame["Timestamp"] - _origin(run_dir, t0, frame["Timestamp"])
    return frame


def history_rates(history: pd.DataFrame) -> pd.DataFrame:
    """Per-interval ``req_per_s`` / ``fail_per_s`` from the cumulative counts of ``read_history`` rows.

    Locust's own ``Requests/s`` column is a ~10 s moving average that lags 2 s, which flattens
    short runs to zero and smears steps; differencing ``Total Request Count`` between rows
    gives what happened in each interval. Rows of one kind sharing a whole-second Timestamp
    collapse to the last; a count going down (stats reset) gives NaN for that interval, as does
    the first tick of the run (its interval start is unknown).
    """
    out = history.copy()
    out["req_per_s"] = pd.Series(dtype=float)
    out["fail_per_s"] = pd.Series(dtype=float)
    if out.empty:
        return out
    ticks = sorted(out["Timestamp"].dropna().unique())
    parts = []
    for _, grp in out.groupby(["Type", "Name"], sort=False):
        grp = grp.sort_values("Timestamp", kind="stable").drop_duplicates("Timestamp", keep="last")
        # A kind first seen after the first tick had a count of 0 at the tick before.
        first = grp["Timestamp"].iloc[0]
        earlier = [t for t in ticks if t < first]
        prev_t = earlier[-1] if earlier else math.nan
        dt = grp["Timestamp"].diff()
        dt.iloc[0] = first - prev_t
        for column, total in (("req_per_s", "Total Request Count"), ("fail_per_s", "Total Failure Count")):
            delta = grp[total].diff()
            delta.iloc[0] = grp[total].iloc[0]
            rate = (delta / dt).where((dt > 0) & (delta >= 0))
            if math.isnan(prev_t) and grp[total].iloc[0] == 0:
                rate.iloc[0] = 0.0  # no predecessor, but a zero count still means a zero rate
            grp[column] = rate
        parts.append(grp)
    return pd.concat(parts).sort_values(["Timestamp", "Type", "Name"], kind="stable").reset_index(drop=True)


def read_failures(run_dir: Path) -> pd.DataFrame:
    """``locust_failures.csv``: one row per (method, name, error) with its occurrences."""
    frame = read_csv(Path(run_dir) / FAILURES_CSV, FAILURES_COLUMNS, _FAILURES_TEXT)
    return frame.sort_values("Occurrences", ascending=False, kind="stable").reset_index(drop=True)


def read_exceptions(run_dir: Path) -> pd.DataFrame:
    """``locust_exceptions.csv``: exceptions raised inside Locust users (not request failures)."""
    return read_csv(Path(run_dir) / EXCEPTIONS_CSV, EXCEPTIONS_COLUMNS, _EXCEPTIONS_TEXT)


def read_resources(run_dir: Path, t0: float | None = None) -> pd.DataFrame:
    """``resources.csv``: one row per process per sample; ``elapsed_s`` recomputed against t0.

    ``cpu_percent`` is of one core; ``fds`` is NaN where the OS would not tell.
    """
    frame = read_csv(Path(run_dir) / RESOURCES_CSV, RESOURCE_COLUMNS, _RESOURCES_TEXT)
    frame = frame.dropna(subset=["timestamp"])
    frame = frame[frame["process"] != ""].reset_index(drop=True)
    frame["elapsed_s"] = frame["timestamp"] - _origin(run_dir, t0, frame["timestamp"])
    return frame


def read_latency(run_dir: Path) -> pd.DataFrame:
    """``latency.csv``: exact latency per request kind (ms), else rebuilt from latency_hdr.json if present."""
    run_dir = Path(run_dir)
    frame = read_csv(run_dir / LATENCY_CSV, LATENCY_COLUMNS, _LATENCY_TEXT)
    if frame.empty and file_state(run_dir, LATENCY_HDR) == "ok":
        with contextlib.suppress(ResultsError):  # a damaged histogram file just means no latency data
            frame = latency_frame(load_histograms(run_dir / LATENCY_HDR))
    return frame


def read_gateway_metrics(run_dir: Path) -> pd.DataFrame:
    """``gateway_metrics.prom`` as one row per sample: name, labels (dict), value, family, type.

    A snapshot cut off mid-file yields the samples parsed before the damage.
    """
    from prometheus_client.parser import text_string_to_metric_families

    path = Path(run_dir) / GATEWAY_METRICS
    rows: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        text = ""
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                rows.append(
                    {
                        "name": sample.name,
                        "labels": dict(sample.labels),
                        "value": float(sample.value),
                        "family": family.name,
                        "type": family.type,
                    }
                )
    except (ValueError, TypeError, IndexError):  # what the parser raises on malformed text
        pass
    if not rows:
        return pd.DataFrame(
            {c: pd.Series(dtype=float if c == "value" else object) for c in GATEWAY_METRICS_COLUMNS}
        )
    return pd.DataFrame(rows, columns=list(GATEWAY_METRICS_COLUMNS))
