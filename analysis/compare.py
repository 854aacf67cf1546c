"""A/B comparison of two runs (or two groups of runs): per request kind, percentile and throughput
deltas with bootstrap confidence intervals, and a verdict per row.

Latency comes from each run's HDR histograms (``latency_hdr.json``), which keep every request at
3 significant figures: a bootstrap replicate of one run redraws its request count from the
histogram's buckets (a multinomial draw), and with several runs per side the runs themselves
are redrawn first (run-to-run variance is usually the larger part). Throughput per kind is the
request count over the run's measured window, redrawn as a Poisson count. Every draw comes from
``numpy.random.default_rng(seed)``.

A row is **worse** when its whole interval lies on the bad side of zero and the change is at least
``min_effect_pct``, **better** in the mirror case, else **no significant change**. Latency: lower
is better; throughput: higher is better. Request kinds are opaque ``"<type> <name>"`` keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hdrh.histogram import HdrHistogram

from aranya_perf.measure.latency import split_key

PERCENTILES = (50.0, 90.0, 99.0)
WORSE, BETTER, SAME = "worse", "better", "no significant change"
COMPARE_COLUMNS = (
    "request_type",
    "name",
    "metric",
    "a",
    "b",
    "delta_pct",
    "ci_low_pct",
    "ci_high_pct",
    "verdict",
    "count_a",
    "count_b",
    "note",
)
MIN_COUNT = 20  # below this a percentile's interval is mostly the two extreme requests


@dataclass(frozen=True)
class RunData:
    """What the comparison needs of one run: histograms by kind and the measured window."""

    run_id: str
    histograms: Mapping[str, HdrHistogram]
    window_s: float


@dataclass(frozen=True)
class CompareConfig:
    bootstrap: int = 1000
    confidence: float = 0.95
    min_effect_pct: float = 2.0
    seed: int = 0


def buckets(hist: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """(value in µs, count) of every non-empty bucket of ``hist``."""
    values, counts = [], []
    for item in hist.get_recorded_iterator():
        values.append(item.value_iterated_to)
        counts.append(item.count_added_in_this_iter_step)
    return np.asarray(values, dtype=float), np.asarray(counts, dtype=np.int64)


def _aligned(hists: Sequence[HdrHistogram | None]) -> tuple[np.ndarray, np.ndarray]:
    """Union of bucket values and a (runs x buckets) count matrix."""
    parts = [buckets(h) if h is not None else (np.empty(0), np.empty(0, dtype=np.int64)) for h in hists]
    values = np.unique(np.concatenate([v for v, _ in parts])) if parts else np.empty(0)
    matrix = np.zeros((len(parts), len(values)), dtype=np.int64)
    for i, (v, c) in enumerate(parts):
        matrix[i, np.searchsorted(values, v)] = c
    return values, matrix


def _percentiles(values: np.ndarray, counts: np.ndarray, pcts: Sequence[float]) -> np.ndarray:
    """HdrHistogram's percentile rule on count rows: the first value whose cumulative count reaches
    ceil(p/100 * n). ``counts`` is (replicates x buckets); returns (replicates x len(pcts))."""
    counts = np.atleast_2d(counts)
    cs = np.cumsum(counts, axis=1)
    n = cs[:, -1:]
    out = np.empty((counts.shape[0], len(pcts)))
    for j, p in enumerate(pcts):
        rank = np.maximum(np.ceil(p / 100.0 * n), 1)
        out[:, j] = values[np.argmax(cs >= rank, axis=1)]
    return out


def _replicates(matrix: np.ndarray, boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap count rows of one side: runs redrawn (when several), then requests per bucket."""
    runs = matrix.shape[0]
    if runs > 1:
        picks = rng.integers(0, runs, size=(boot, runs))
        pooled = matrix[picks].sum(axis=1)
    else:
        pooled = np.broadcast_to(matrix[0], (boot, matrix.shape[1]))
    totals = pooled.sum(axis=1)
    if not totals.all():  # a redraw of only empty runs: no requests in that replicate
        pooled = np.where(totals[:, None] > 0, pooled, 1)
    out = rng.multinomial(totals, pooled / pooled.sum(axis=1, keepdims=True))
    return out


def _verdict(lo: float, hi: float, delta: float, lower_is_better: bool, cfg: CompareConfig) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)) or abs(delta) < cfg.min_effect_pct:
        return SAME
    if lo > 0:
        return WORSE if lower_is_better else BETTER
    if hi < 0:
        return BETTER if lower_is_better else WORSE
    return SAME


def _row(
    kind: str,
    metric: str,
    a: float,
    b: float,
    ratios: np.ndarray,
    lower: bool,
    cfg: CompareConfig,
    counts: tuple[int, int],
    note: str,
) -> dict[str, object]:
    tail = (1 - cfg.confidence) / 2 * 100
    finite = ratios[np.isfinite(ratios)]
    lo, hi = (np.percentile(finite, [tail, 100 - tail]) - 1) * 100 if len(finite) else (math.nan, math.nan)
    delta = (b / a - 1) * 100 if a > 0 else math.nan
    rtype, name = split_key(kind)
    return {
        "request_type": rtype,
        "name": name,
        "metric": metric,
        "a": a,
        "b": b,
        "delta_pct": delta,
        "ci_low_pct": float(lo),
        "ci_high_pct": float(hi),
        "verdict": _verdict(float(lo), float(hi), delta, lower, cfg) if not note else SAME,
        "count_a": counts[0],
        "count_b": counts[1],
        "note": note,
    }


def compare_runs(group_a: Sequence[RunData], group_b: Sequence[RunData], cfg: CompareConfig) -> pd.DataFrame:
    """One row per (request kind, metric): p50/p90/p99 in ms and throughput in requests/s."""
    if not group_a or not group_b:
        raise ValueError("each side needs at least one run")
    rng = np.random.default_rng(cfg.seed)
    kinds = sorted({k for r in (*group_a, *group_b) for k in r.histograms})
    rows: list[dict[str, object]] = []
    windows_a = np.array([r.window_s for r in group_a])
    windows_b = np.array([r.window_s for r in group_b])
    for kind in kinds:
        va, ma = _aligned([r.histograms.get(kind) for r in group_a])
        vb, mb = _aligned([r.histograms.get(kind) for r in group_b])
        na, nb = int(ma.sum()), int(mb.sum())
        note = ""
        if na == 0 or nb == 0:
            note = "only in B" if na == 0 else "only in A"
        elif min(na, nb) < MIN_COUNT:
            note = f"fewer than {MIN_COUNT} requests"
        if na and nb:
            point_a = _percentiles(va, ma.sum(axis=0), PERCENTILES)[0] / 1000.0
            point_b = _percentiles(vb, mb.sum(axis=0), PERCENTILES)[0] / 1000.0
            boot_a = _percentiles(va, _replicates(ma, cfg.bootstrap, rng), PERCENTILES) / 1000.0
            boot_b = _percentiles(vb, _replicates(mb, cfg.bootstrap, rng), PERCENTILES) / 1000.0
        else:
            point_a = point_b = np.full(len(PERCENTILES), math.nan)
            boot_a = boot_b = np.full((1, len(PERCENTILES)), math.nan)
        for j, p in enumerate(PERCENTILES):
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = boot_b[:, j] / boot_a[:, j]
            rows.append(_row(kind, f"p{p:g}_ms", point_a[j], point_b[j], ratios, True, cfg, (na, nb), note))
        rate_a = ma.sum(axis=1) / windows_a
        rate_b = mb.sum(axis=1) / windows_b
        thr_a, thr_b = float(rate_a.mean()), float(rate_b.mean())
        boot = [
            _rate_replicates(ma.sum(axis=1), windows_a, cfg.bootstrap, rng),
            _rate_replicates(mb.sum(axis=1), windows_b, cfg.bootstrap, rng),
        ]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = boot[1] / boot[0]
        rows.append(_row(kind, "throughput_rps", thr_a, thr_b, ratios, False, cfg, (na, nb), note))
    return pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))


def _rate_replicates(
    counts: np.ndarray, windows: np.ndarray, boot: int, rng: np.random.Generator
) -> np.ndarray:
    runs = len(counts)
    picks = rng.integers(0, runs, size=(boot, runs)) if runs > 1 else np.zeros((boot, 1), dtype=int)
    drawn = rng.poisson(counts[picks])
    return (drawn / windows[picks]).mean(axis=1)


def shifted(hist: HdrHistogram, delay_ms: float) -> HdrHistogram:
    """A copy of ``hist`` with every request ``delay_ms`` slower: what a gateway with an added delay
    would have recorded (used to build a known slow-down for tests and docs)."""
    from aranya_perf.measure.latency import new_histogram

    out = new_histogram()
    values, counts = buckets(hist)
    for v, c in zip(values, counts, strict=True):
        out.record_value(round(v + delay_ms * 1000.0), int(c))
    return out
