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
- ``workload``: ``"<devices> devices, <operators> operators"``, for people;
- ``group`` (the repeat group id of ``run --repeat``, ``""`` if none) and ``labels`` (JSON object
  of ``run --label KEY=VALUE``);
- the comparability key, one column per part (``COMPARABILITY``): ``scenario``, ``transport``,
  ``link``, ``protocol``, ``target_kind`` (embedded or remote), ``operator_api`` (how operators
  reached the devices: ``control``, ``kubernetes api`` or ``kubernetes kubelet``; ``control`` for
  runs that did not record it, made before the Kubernetes face), ``machine`` (host name and CPU
  count) and ``load``, a hash of the load-relevant keys of the run's ``profile.toml``
  (``load_key``); ``comparable`` joins them. It is computed from meta.json and profile.toml, so
  runs written before it existed get one too.

``run_latency(catalogue)`` adds the per-request-kind latency of each run (latency.csv, else
the HDR file) as a long frame. Request kinds are opaque strings. A directory whose meta.json
is missing or corrupt is skipped with a one-line warning naming the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import tomllib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from aranya_perf.analysis import run_frames as rf

from aranya_perf.results import META_FILE, ResultsError, RunFiles, atomic_write_bytes, read_meta

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
    "group",
    "labels",
    "scenario",
    "transport",
    "link",
    "target_kind",
    "operator_api",
    "machine",
    "load",
    "comparable",
)
# What two runs must share for their figures to be compared (pyperf's metadata check, asv's machine).
COMPARABILITY = (
    "scenario",
    "transport",
    "link",
    "protocol",
    "target_kind",
    "operator_api",
    "machine",
    "load",
)
# Profile sections that make the load; within them, keys that do not change it (the seed draws
# other but like choices) or that are the system under test (the devices' answer delay stands
# for a slower target, gc_freeze is a tuning knob of ours). The gateway section is the target's
# configuration, what A/B comparisons and tune vary on purpose.
LOAD_SECTIONS = ("run", "fleet", "operators", "service", "etcd", "grpc", "shape", "call")
# profile.toml writes durations without their "_s" (answer_delay = "0.02s").
NOT_LOAD = {
    "run": ("seed", "keep_samples"),
    "fleet": ("answer_delay", "answer_delay_s", "gc_freeze", "prefix"),
}
# Without profile.toml (the oldest runs) the load is what meta.json's config and profile name say.
META_LOAD = (
    "scenario",
    "devices",
    "operators",
    "arrival_rate",
    "duration_s",
    "shape",
    "status_interval_s",
    "users",
)
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
    group = meta.get("group")
    row["group"] = str(group.get("id", "")) if isinstance(group, dict) else ""
    labels = meta.get("labels")
    row["labels"] = json.dumps(
        {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    )
    row.update(comparability_key(run_dir, meta))
    row["comparable"] = "|".join(str(row[k]) for k in COMPARABILITY)
    return row


def _profile_toml(run_dir: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads((run_dir / RunFiles.PROFILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_key(profile: dict[str, Any]) -> str:
    """A short hash of the load-relevant keys of a resolved profile (``LOAD_SECTIONS`` less ``NOT_LOAD``)."""
    chosen: dict[str, Any] = {}
    for section in LOAD_SECTIONS:
        value = profile.get(section)
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in NOT_LOAD.get(section, ())}
        if value is not None:
            chosen[section] = value
    text = json.dumps(chosen, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def comparability_key(run_dir: Path, meta: dict[str, Any]) -> dict[str, str]:
    """The parts of ``COMPARABILITY`` of one run, from its meta.json and profile.toml."""
    config = meta.get("config") or {}
    host = meta.get("host") or {}
    target = meta.get("target") or {}
    transport = meta.get("transport")
    transport_name = transport.get("name") if isinstance(transport, dict) else None
    profile = _profile_toml(Path(run_dir))
    link = ((profile or {}).get("target") or {}).get("link") or (meta.get("link") or {}).get("name")
    if profile is not None:
        load = load_key(profile)
    else:
        known = {k: config.get(k) for k in META_LOAD}
        text = json.dumps({"profile": meta.get("profile"), **known}, sort_keys=True, default=str)
        load = "meta-" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return {
        "scenario": str(config.get("scenario") or "aranya"),
        "transport": str(transport_name or config.get("transport") or "grpc"),
        "link": str(link or "none"),
        "protocol": _protocol(meta.get("protocol")),
        "target_kind": "embedded" if target.get("embedded") else "remote",
        "operator_api": str(target.get("operators") or "control"),
        "machine": f"{host.get('hostname', '')}/{host.get('cpu_count', '')} CPUs",
        "load": load,
    }


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
    """What differs between the runs of ``frame`` among COMPARABILITY, one ``"transport grpc vs
    mqtt"`` per part; ``varied`` names the parts a sweep changes on purpose."""
    problems = []
    for key in (k for k in COMPARABILITY if k not in varied):
        values = sorted({str(v) for v in frame[key]})
        if len(values) > 1:
            problems.append(f"{key} {' vs '.join(values)}")
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
