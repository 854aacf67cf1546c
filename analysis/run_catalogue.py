"""The run catalogue: one row per load-test run directory, written as ``runs.parquet``.

``catalogue(paths)`` reads every run directory given (or found one level under a results root)
through ``meta.json`` and returns a frame with ``CATALOGUE_COLUMNS``, keyed by ``run_id``:

- provenance: ``commit`` (git sha or ""), ``dirty``, ``host``, ``cpu_count``, ``platform``,
  ``python``, ``packages`` (JSON object of name -> version);
- what ran: ``profile``, ``protocol`` (the name in meta.json ``protocol`` if the run recorded
  one, else ``"unknown"``), ``target``, ``embedded``, ``devices``, ``operators``, ``duration_s``,
  ``config`` (JSON), ``status``, ``started_at``, ``finished_at``, ``path``;
- ``slo``: the SLO verdict of runs that wrote an ``slo.json`` (its ``status``, or ``passed``/
  ``failed`` from a boolean ``passed``), ``""`` otherwise;
- ``workload``: ``"<devices> devices, <operators> operators"``; until profiles define the load,
  the profile is only a label, and two runs of one profile can carry different fleets;
- ``comparable``: the key two runs must share before their numbers are compared (host, CPU
  count, profile, protocol, workload); see ``comparability_problems``.

``run_latency(catalogue)`` adds the per-request-kind latency of each run (latency.csv, else
the HDR file) as a long frame. Request kinds are opaque strings. A directory whose meta.json
is missing or corrupt is skipped with a one-line warning naming the file.
"""

from __future__ import annotations

import importlib.util
import io
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import run_frames as rf
from aranya_perf.results import META_FILE, ResultsError, atomic_write_bytes, read_meta

CATALOGUE_FILE = "runs.parquet"
SLO_FILE = "slo.json"
CATALOGUE_COLUMNS = (
    "run_id",
    "path",
    "status",
    "started_at",
    "finished_at",
    "commit",
    "dirty",
    "profile",
    "protocol",
    "target",
    "embedded",
    "host",
    "cpu_count",
    "platform",
    "python",
    "packages",
    "devices",
    "operators",
    "duration_s",
    "config",
    "slo",
    "workload",
    "comparable",
)
# What two runs must share for their figures to be compared (pyperf's metadata check, asv's machine).
COMPARABILITY = ("host", "cpu_count", "profile", "protocol", "workload")
Warn = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


def run_dirs(paths: Iterable[Path]) -> list[Path]:
    """The run directories among ``paths``: each path itself if it holds meta.json, else its children."""
    out: list[Path] = []
    for path in paths:
        path = Path(path)
        if (path / META_FILE).exists():
            out.append(path)
        elif path.is_dir():
            out += sorted(p for p in path.iterdir() if p.is_dir() and (p / META_FILE).exists())
    return out


def _row(run_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    git = meta.get("git") or {}
    host = meta.get("host") or {}
    target = meta.get("target") or {}
    config = meta.get("config") or {}
    row = {
        "run_id": str(meta.get("run_id") or run_dir.name),
        "path": str(run_dir),
        "status": str(meta.get("status", "")),
        "started_at": meta.get("started_at"),
        "finished_at": meta.get("finished_at"),
        "commit": str(git.get("sha") or ""),
        "dirty": bool(git.get("dirty")) if git.get("dirty") is not None else None,
        "profile": str(meta.get("profile", "")),
        "protocol": _protocol(meta.get("protocol")),
        "target": str(target.get("address", "")),
        "embedded": bool(target.get("embedded", False)),
        "host": str(host.get("hostname", "")),
        "cpu_count": host.get("cpu_count"),
        "platform": str(host.get("platform", "")),
        "python": str(host.get("python", "")),
        "packages": json.dumps(meta.get("packages") or {}, sort_keys=True),
        "devices": config.get("devices"),
        "operators": config.get("operators"),
        "duration_s": config.get("duration_s"),
        "config": json.dumps(config, sort_keys=True, default=str),
        "slo": _slo_verdict(run_dir),
    }
    row["workload"] = f"{row['devices']} devices, {row['operators']} operators"
    row["comparable"] = "|".join(str(row[k]) for k in COMPARABILITY)
    return row


def _protocol(value: object) -> str:
    """The protocol version's name: meta.json holds ``{"name": ..., "source": ..., "service": ...}``
    (older runs a plain string, the oldest nothing)."""
    if isinstance(value, dict):
        value = value.get("name")
    return str(value) if isinstance(value, str) and value else "unknown"


def _slo_verdict(run_dir: Path) -> str:
    # slo.json comes with the SLO gates of the workloads issue; read what is there, guess nothing else.
    try:
        doc = json.loads((run_dir / SLO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    if not isinstance(doc, dict):
        return ""
    if isinstance(doc.get("status"), str):
        return doc["status"]
    if isinstance(doc.get("passed"), bool):
        return "passed" if doc["passed"] else "failed"
    return ""


def catalogue(paths: Sequence[Path], warn: Warn = _ignore) -> pd.DataFrame:
    """One row per readable run directory under ``paths``, sorted by start time."""
    rows = []
    for run_dir in run_dirs(paths):
        try:
            meta = read_meta(run_dir)
        except ResultsError as exc:
            warn(f"{run_dir / META_FILE}: skipped, {exc}")
            continue
        rows.append(_row(run_dir, meta))
    frame = pd.DataFrame(rows, columns=list(CATALOGUE_COLUMNS))
    for column in ("started_at", "finished_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, errors="coerce")
    for column in ("cpu_count", "devices", "operators"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    frame["duration_s"] = pd.to_numeric(frame["duration_s"], errors="coerce")
    frame = frame.drop_duplicates("run_id", keep="last")
    return frame.sort_values(["started_at", "run_id"], kind="stable").reset_index(drop=True)


def write_catalogue(frame: pd.DataFrame, path: Path) -> Path:
    """``runs.parquet`` (pyarrow), written atomically; without the parquet extra the same rows as
    ``runs.csv`` beside it. Returns the path written."""
    buf = io.BytesIO()
    if importlib.util.find_spec("pyarrow") is None:
        path = path.with_suffix(".csv")
        frame.to_csv(buf, index=False)
    else:
        frame.to_parquet(buf, index=False, engine="pyarrow")
    atomic_write_bytes(path, buf.getvalue())
    return path


def read_catalogue(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, parse_dates=["started_at", "finished_at"], keep_default_na=False)
    return pd.read_parquet(path, engine="pyarrow")


def comparability_problems(frame: pd.DataFrame, varied: tuple[str, ...] = ()) -> list[str]:
    """What differs between the runs of ``frame`` among COMPARABILITY, one sentence per field;
    ``varied`` names the fields a sweep changes on purpose."""
    problems = []
    for key in (k for k in COMPARABILITY if k not in varied):
        values = sorted({str(v) for v in frame[key]})
        if len(values) > 1:
            problems.append(f"runs differ in {key}: {', '.join(values)}")
    return problems


LATENCY_RUN_COLUMNS = ("run_id", "request_type", "name", "count", "failures", "p50_ms", "p90_ms", "p99_ms")


def run_latency(cat: pd.DataFrame) -> pd.DataFrame:
    """Per run and request kind: count, failures, p50/p90/p99 (ms) from the run's latency files."""
    parts = []
    for run_id, path in zip(cat["run_id"], cat["path"], strict=True):
        frame = rf.read_latency(Path(path))
        if frame.empty:
            continue
        frame = frame.assign(run_id=run_id)
        parts.append(frame[list(LATENCY_RUN_COLUMNS)])
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LATENCY_RUN_COLUMNS})
    return pd.concat(parts, ignore_index=True)
