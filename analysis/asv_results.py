"""Reads asv result files (``results/asv/<machine>/<commit>-<env>.json``) into one tidy frame.

One row per (machine, env, commit, benchmark, parameter combination), columns ``ASV_COLUMNS``:

- ``machine``, ``env``: asv's machine name and environment; results of different machines or
  environments are different series (asv's own rule) and are never compared.
- ``commit``, ``date`` (the commit's date, UTC), ``benchmark`` (asv's name, e.g.
  ``codec.DataFrames.time_encode``), ``params`` (``"('MSG_DATA_DEFAULT', '1024')"`` or ``""``),
  ``series`` (benchmark plus params: the key a history is built on).
- ``value`` (asv's result, the median of its samples; NaN for a failed run), ``samples`` (the
  raw samples as a tuple where ``asv run --record-samples`` kept them, else None), ``ci_low``,
  ``ci_high`` (asv's 99 % interval), ``unit`` and ``type`` from ``benchmarks.json`` if present.

Files that do not parse, or are of an asv results version other than 2, are skipped with a
one-line warning naming the file; the rest is read. Pure: nothing is written.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

ASV_COLUMNS = (
    "machine",
    "env",
    "commit",
    "date",
    "benchmark",
    "params",
    "series",
    "value",
    "samples",
    "ci_low",
    "ci_high",
    "unit",
    "type",
)
ASV_RESULTS_VERSION = 2
Warn = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


def _column(row: list[Any], columns: list[str], name: str) -> Any:
    return row[columns.index(name)] if name in columns and columns.index(name) < len(row) else None


def _benchmark_info(results_dir: Path, warn: Warn) -> dict[str, dict[str, Any]]:
    path = results_dir / "benchmarks.json"
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        warn(f"{path}: skipped, not readable JSON ({exc})")
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, dict)}


def _finite(x: Any) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def read_result_file(path: Path, machine: str, info: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of one asv result file; ValueError with a reason when it is not one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"not readable: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("version") != ASV_RESULTS_VERSION:
        version = doc.get("version") if isinstance(doc, dict) else None
        raise ValueError(f"not an asv results file of version {ASV_RESULTS_VERSION} (version {version!r})")
    columns = doc.get("result_columns")
    results = doc.get("results")
    commit = doc.get("commit_hash")
    if not isinstance(columns, list) or not isinstance(results, dict) or not isinstance(commit, str):
        raise ValueError("missing commit_hash, result_columns or results")
    date = doc.get("date")
    when = datetime.fromtimestamp(date / 1000.0, UTC) if isinstance(date, int | float) else pd.NaT
    env = str(doc.get("env_name") or "")
    rows: list[dict[str, Any]] = []
    for name, row in results.items():
        if not isinstance(row, list):
            continue
        values = _column(row, columns, "result")
        params = _column(row, columns, "params") or []
        if values is None:
            continue
        if not isinstance(values, list):
            values = [values]
        combos = [", ".join(c) for c in itertools.product(*params)] if params else [""]
        samples = _column(row, columns, "samples")
        ci_a = _column(row, columns, "stats_ci_99_a")
        ci_b = _column(row, columns, "stats_ci_99_b")
        meta = info.get(name, {})
        for i, combo in enumerate(combos):
            if i >= len(values):
                break
            params_text = f"({combo})" if combo else ""
            s = samples[i] if isinstance(samples, list) and i < len(samples) else None
            rows.append(
                {
                    "machine": machine,
                    "env": env,
                    "commit": commit,
                    "date": when,
                    "benchmark": name,
                    "params": params_text,
                    "series": name + params_text,
                    "value": _finite(values[i]),
                    "samples": tuple(_finite(v) for v in s) if isinstance(s, list) and s else None,
                    "ci_low": _finite(ci_a[i]) if isinstance(ci_a, list) and i < len(ci_a) else math.nan,
                    "ci_high": _finite(ci_b[i]) if isinstance(ci_b, list) and i < len(ci_b) else math.nan,
                    "unit": str(meta.get("unit", "")),
                    "type": str(meta.get("type", "")),
                }
            )
    return rows


def read_asv_results(results_dir: Path, warn: Warn = _ignore) -> pd.DataFrame:
    """Every result file under ``results_dir/<machine>/``, sorted by machine, env, date and commit."""
    results_dir = Path(results_dir)
    info = _benchmark_info(results_dir, warn)
    rows: list[dict[str, Any]] = []
    for machine_dir in sorted(p for p in results_dir.iterdir() if p.is_dir()) if results_dir.is_dir() else []:
        if not (machine_dir / "machine.json").is_file():
            continue  # html/, env caches and the like
        for path in sorted(machine_dir.glob("*.json")):
            if path.name == "machine.json":
                continue
            try:
                rows += read_result_file(path, machine_dir.name, info)
            except ValueError as exc:
                warn(f"{path}: skipped, {exc}")
    frame = pd.DataFrame(rows, columns=list(ASV_COLUMNS))
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    frame["value"] = frame["value"].astype(float)
    return frame.sort_values(["machine", "env", "date", "commit", "series"], kind="stable").reset_index(
        drop=True
    )
