"""A bring-your-own history for ``aranya-perf detect``: CSV ``series,index,value`` in, change points out.

Each row is one measurement of point ``index`` (an integer, e.g. a commit number) of ``series``;
several rows with the same series and index are raw samples of that point, which the detector
reduces as it does asv's samples (``detect.commit_values``: the central-half mean of three or
more). Points are taken in index order. ``records`` is the JSON shape of the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from aranya_perf.analysis import detect

COLUMNS = ("series", "index", "value")


class HistoryCsvError(ValueError):
    """A CSV that cannot be used; the message is one line naming the file and the problem."""


def _numeric(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame.index[values.isna() | ~np.isfinite(values.astype(float))]
    if len(bad):
        row = int(bad[0]) + 2  # 1-based, after the header line
        raise HistoryCsvError(
            f"{path}: line {row}: {column} {frame[column].iloc[bad[0]]!r} is not a finite number"
        )
    return values.astype(float)


def read_history_csv(path: Path, better: str = detect.LOWER_IS_BETTER) -> list[detect.Series]:
    """One ``detect.Series`` per series name, in order of first appearance; samples kept per point."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise HistoryCsvError(f"{path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise HistoryCsvError(f"{path}: empty file (expected the header {','.join(COLUMNS)})") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise HistoryCsvError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    except OSError as exc:
        raise HistoryCsvError(f"{path}: cannot read ({exc.strerror or exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise HistoryCsvError(
            f"{path}: missing column(s) {', '.join(missing)} (have: {', '.join(frame.columns)})"
        )
    if frame.empty:
        raise HistoryCsvError(f"{path}: no rows after the header")
    index = _numeric(frame, "index", path)
    if (index != np.round(index)).any():
        raise HistoryCsvError(
            f"{path}: index must be an integer, not {frame['index'][index != np.round(index)].iloc[0]!r}"
        )
    tidy = pd.DataFrame(
        {"series": frame["series"], "index": index.astype(np.int64), "value": _numeric(frame, "value", path)}
    )
    out = []
    for name, rows in tidy.groupby("series", sort=False):
        points = rows.groupby("index", sort=True)["value"]
        samples = tuple(np.asarray(v, dtype=float) for _, v in points)
        counts = points.size()
        out.append(
            detect.Series(
                str(name),
                points.median().to_numpy(float),
                commits=tuple(str(i) for i in counts.index),
                samples=samples if (counts > 1).any() else None,
                better=better,
            )
        )
    return out


def records(analyzed: list[detect.AnalyzedSeries]) -> list[dict[str, Any]]:
    """The change points as JSON objects: series, index (of the first point at the new level),
    direction, magnitude_pct, confidence; in series order, then index."""
    return [
        {
            "series": a.series.name,
            "index": int(a.series.commit(cp.index)),
            "direction": cp.direction,
            "magnitude_pct": round(cp.magnitude_pct, 3),
            "confidence": round(cp.confidence, 4),
        }
        for a in analyzed
        for cp in a.change_points
    ]
