"""Reads Prometheus HTTP API range-query answers (``/api/v1/query_range`` JSON) into a tidy frame.

One row per sample: ``metric`` (``__name__``, or "" for an expression), ``labels`` (the other
labels as a sorted ``k=v,...`` string, so rows group and join), ``timestamp`` (unix seconds),
``value`` (float; Prometheus' "NaN"/"+Inf" strings become floats too) and ``source`` (the file).
Vector answers (instant queries) are read as one sample per series. A file that is not such an
answer (not JSON, ``status`` not ``success``, another result type) is skipped with a one-line
warning naming it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

PROM_COLUMNS = ("metric", "labels", "timestamp", "value", "source")
Warn = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def parse_range_query(doc: Any) -> list[dict[str, Any]]:
    """Rows of one decoded answer; ValueError with the reason when it is not a usable answer."""
    if not isinstance(doc, dict) or doc.get("status") != "success":
        raise ValueError(f"status is {doc.get('status') if isinstance(doc, dict) else None!r}, not 'success'")
    data = doc.get("data")
    if not isinstance(data, dict) or data.get("resultType") not in ("matrix", "vector"):
        kind = data.get("resultType") if isinstance(data, dict) else None
        raise ValueError(f"resultType {kind!r}, expected 'matrix' or 'vector'")
    rows = []
    for series in data.get("result") or []:
        labels = dict(series.get("metric") or {})
        name = str(labels.pop("__name__", ""))
        label_text = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
        points = series.get("values") if data["resultType"] == "matrix" else [series.get("value")]
        for point in points or []:
            if isinstance(point, list | tuple) and len(point) == 2:
                rows.append(
                    {
                        "metric": name,
                        "labels": label_text,
                        "timestamp": _float(point[0]),
                        "value": _float(point[1]),
                    }
                )
    return rows


def read_range_queries(paths: Iterable[Path], warn: Warn = _ignore) -> pd.DataFrame:
    rows = []
    for path in paths:
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            parsed = parse_range_query(doc)
        except OSError as exc:
            warn(f"{path}: skipped, not readable: {exc.strerror or exc}")
            continue
        except json.JSONDecodeError as exc:
            warn(f"{path}: skipped, not valid JSON (line {exc.lineno}: {exc.msg})")
            continue
        except ValueError as exc:
            warn(f"{path}: skipped, {exc}")
            continue
        rows += [{**r, "source": str(path)} for r in parsed]
    frame = pd.DataFrame(rows, columns=list(PROM_COLUMNS))
    frame["timestamp"] = frame["timestamp"].astype(float)
    frame["value"] = frame["value"].astype(float)
    return frame.sort_values(["metric", "labels", "timestamp"], kind="stable").reset_index(drop=True)
