"""A/B comparison of two runs or two groups of runs: per request kind, percentile and throughput
deltas with confidence intervals that account for the variance between runs, and a verdict per row.

Run-to-run variance is the larger part of a load test's noise: two runs of one configuration
differ by more than the requests inside one run say. So each run is reduced to one statistic per
(request kind, metric), in log space (p25/p50/p90/p99 from its HDR histogram, throughput as its
request count over its measured window), and the two sides are compared by a t-interval on the
difference of their mean log statistics. Its variance pools:

- the spread of the per-run statistics within each side (n_a - 1 + n_b - 1 degrees of freedom);
- the **between-run variance stored for the comparability key** (``BetweenRuns``): the spread
  within other repeat groups (``run --repeat``) of the same configuration.

The standard error is never below the within-run one (bootstrap of each side's requests, Poisson
for throughput): a statistic that barely moves between runs is still not known more exactly than
its requests allow. With no between-run degree of freedom at all (one run per side, no repeat group
of that key), the row shows the within-run interval and says **no verdict (within-run noise only)**.

Why p25 beside the median: on a shared machine the load of other processes holds some requests
back for milliseconds, and how many it holds back changes from run to run; once it is half of them
the median moves with it (over 24 runs of one configuration a loopback exec's p50 ranged
3.4-12.9 ms, its p25 3.1-7.0 ms; docs/analysis.md has the figures). The lower quarter is what most
requests reach when nothing holds them up, so it is the statistic that still sees a slower target
(every request later) with one run per side; the median keeps its own, wider, interval and verdict.

Verdict rules, in order: a kind missing on one side is "only in A"/"only in B"; a run below the
sample rule (``aranya_perf.analysis.samples``) makes the row "too few samples (n=...)", delta still shown;
without between-run variance, no verdict; else **worse** when the interval lies on the bad side of
zero and the change is at least ``min_effect_pct``, **better** in the mirror case, else **no
significant change**. Latency: lower is better; throughput: higher is better. Request kinds are
opaque ``"<type> <name>"`` keys; every random draw comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from aranya_perf.analysis import samples
from hdrh.histogram import HdrHistogram
from scipy import stats

from aranya_perf.measure.latency import split_key

PERCENTILES = (25.0, 50.0, 90.0, 99.0)
METRICS = (*(f"p{p:g}_ms" for p in PERCENTILES), "throughput_rps")
WORSE, BETTER, SAME = "worse", "better", "no significant change"
WITHIN_ONLY = "no verdict (within-run noise only)"
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
    "runs_a",
    "runs_b",
    "dof",
    "note",
)


@dataclass(frozen=True)
class RunData:
    """What the comparison needs of one run: histograms by kind and the measured window."""

    run_id: str
    histograms: Mapping[str, HdrHistogram]
    window_s: float


@dataclass(frozen=True)
class CompareConfig:
    bootstrap: int = 1000
    # 99 %, not 95 %: a comparison has some 75 rows, and at 95 % nearly four of them would be flagged
    # in a pair of identical configurations on average.
    confidence: float = 0.99
    min_effect_pct: float = 2.0
    seed: int = 0


@dataclass(frozen=True)
class BetweenRuns:
    """Between-run variance of per-run log statistics, pooled over repeat groups of one
    comparability key: (kind, metric) -> (sum of squared deviations from each group's mean,
    degrees of freedom)."""

    pooled: Mapping[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    groups: int = 0
    runs: int = 0

    def get(self, kind: str, metric: str) -> tuple[float, int]:
        return self.pooled.get((kind, metric), (0.0, 0))


def buckets(hist: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """(value in µs, count) of every non-empty bucket of ``hist``: what its recorded iterator yields
    (each bucket's highest equivalent value), found with numpy. The iterator steps through all of
    the tens of thousands of buckets in Python, which made a compare of a few runs take seconds."""
    # A decoded histogram may hold fewer counts than counts_len; the missing ones are empty.
    counts = np.ctypeslib.as_array(hist.counts)[: hist.counts_len].astype(np.int64)
    index = np.flatnonzero(counts)
    # HdrHistogram.get_value_from_index and get_highest_equivalent_value, on arrays.
    half, half_magnitude = hist.sub_bucket_half_count, hist.sub_bucket_half_count_magnitude
    bucket = (index >> half_magnitude) - 1
    sub = (index & (half - 1)) + half
    first = bucket < 0
    sub[first] -= half
    bucket[first] = 0
    shift = bucket + hist.unit_magnitude
    values = (sub << shift) + (np.int64(1) << shift) - 1
    return values.astype(float), counts[index]


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


def run_statistics(run: RunData) -> dict[tuple[str, str], tuple[float, int]]:
    """(kind, metric) -> (value, requests) of one run: p25/p50/p90/p99 in ms, throughput in requests/s."""
    out: dict[tuple[str, str], tuple[float, int]] = {}
    for kind, hist in run.histograms.items():
        values, counts = buckets(hist)
        n = int(counts.sum())
        if n == 0:
            continue
        for metric, v in zip(
            METRICS[:-1], _percentiles(values, counts, PERCENTILES)[0] / 1000.0, strict=True
        ):
            out[(kind, metric)] = (float(v), n)
        out[(kind, "throughput_rps")] = (n / run.window_s, n)
    return out


def between_runs(groups: Sequence[Sequence[RunData]]) -> BetweenRuns:
    """Pool the spread of per-run log statistics within each group (runs of one configuration)."""
    return pool_statistics([[run_statistics(r) for r in g] for g in groups])


def pool_statistics(groups: Sequence[Sequence[Mapping[tuple[str, str], tuple[float, int]]]]) -> BetweenRuns:
    """``between_runs`` over ``run_statistics`` already computed; a run below the sample rule for
    a metric does not count for it."""
    pooled: dict[tuple[str, str], list[float]] = {}
    used = [g for g in groups if len(g) > 1]
    for group in used:
        per_key: dict[tuple[str, str], list[float]] = {}
        for run in group:
            for key, (value, n) in run.items():
                if value > 0 and samples.enough(key[1], n):
                    per_key.setdefault(key, []).append(math.log(value))
        for key, logs in per_key.items():
            if len(logs) > 1:
                acc = pooled.setdefault(key, [0.0, 0])
                acc[0] += float(np.sum((np.asarray(logs) - np.mean(logs)) ** 2))
                acc[1] += len(logs) - 1
    return BetweenRuns(
        {k: (float(ss), int(dof)) for k, (ss, dof) in pooled.items()},
        len(used),
        sum(len(g) for g in used),
    )


def _within_sd(
    va: np.ndarray,
    ca: np.ndarray,
    vb: np.ndarray,
    cb: np.ndarray,
    cfg: CompareConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Within-run noise of each latency metric: bootstrap (multinomial redraw of each side's pooled
    requests) sd of log(B/A), and the bootstrap ratios themselves, per percentile."""
    boot_a = _percentiles(va, rng.multinomial(int(ca.sum()), ca / ca.sum(), size=cfg.bootstrap), PERCENTILES)
    boot_b = _percentiles(vb, rng.multinomial(int(cb.sum()), cb / cb.sum(), size=cfg.bootstrap), PERCENTILES)
    log_ratios = np.log(boot_b) - np.log(boot_a)
    return log_ratios.std(axis=0, ddof=1), log_ratios


def _verdict(lo: float, hi: float, delta: float, lower_is_better: bool, cfg: CompareConfig) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)) or abs(delta) < cfg.min_effect_pct:
        return SAME
    if lo > 0:
        return WORSE if lower_is_better else BETTER
    if hi < 0:
        return BETTER if lower_is_better else WORSE
    return SAME


def _pct(log_ratio: float) -> float:
    return math.expm1(log_ratio) * 100.0


def _row(kind: str, metric: str, **values: object) -> dict[str, object]:
    rtype, name = split_key(kind)
    row: dict[str, object] = dict.fromkeys(COMPARE_COLUMNS, math.nan)
    row.update(request_type=rtype, name=name, metric=metric, note="")
    row.update(values)  # a note given here replaces the empty one
    return row


def _judge(
    kind: str,
    metric: str,
    side_a: list[tuple[float, int]],
    side_b: list[tuple[float, int]],
    within: tuple[float, np.ndarray | None],
    history: BetweenRuns,
    cfg: CompareConfig,
) -> dict[str, object]:
    """One row: per-run statistics of each side in, delta, interval and verdict out."""
    la = np.log([v for v, _ in side_a])
    lb = np.log([v for v, _ in side_b])
    diff = float(lb.mean() - la.mean())
    smallest = min(n for _, n in (*side_a, *side_b))
    base = {
        "a": math.exp(la.mean()),
        "b": math.exp(lb.mean()),
        "delta_pct": _pct(diff),
        "count_a": sum(n for _, n in side_a),
        "count_b": sum(n for _, n in side_b),
        "runs_a": len(side_a),
        "runs_b": len(side_b),
    }
    ss_hist, dof_hist = history.get(kind, metric)
    dof = len(la) - 1 + len(lb) - 1 + dof_hist
    ss = float(((la - la.mean()) ** 2).sum() + ((lb - lb.mean()) ** 2).sum()) + ss_hist
    within_sd, ratios = within
    tail = (1 - cfg.confidence) / 2
    if dof == 0:
        if ratios is not None:
            lo, hi = (float(q) for q in np.quantile(ratios, [tail, 1 - tail]))
        else:
            z = float(stats.norm.ppf(1 - tail))
            lo, hi = diff - z * within_sd, diff + z * within_sd
        verdict = WITHIN_ONLY
    else:
        se = max(math.sqrt(ss / dof * (1 / len(la) + 1 / len(lb))), within_sd)
        half = float(stats.t.ppf(1 - tail, dof)) * se
        lo, hi = diff - half, diff + half
        verdict = _verdict(_pct(lo), _pct(hi), _pct(diff), metric != "throughput_rps", cfg)
    if not samples.enough(metric, smallest):
        verdict = samples.too_few(smallest)
    return _row(kind, metric, **base, ci_low_pct=_pct(lo), ci_high_pct=_pct(hi), verdict=verdict, dof=dof)


def compare_runs(
    group_a: Sequence[RunData],
    group_b: Sequence[RunData],
    cfg: CompareConfig,
    history: BetweenRuns | None = None,
) -> pd.DataFrame:
    """One row per (request kind, metric): p25/p50/p90/p99 in ms and throughput in requests/s.
    ``history`` is the between-run variance of the key from other runs (none: only the sides' own)."""
    if not group_a or not group_b:
        raise ValueError("each side needs at least one run")
    history = history or BetweenRuns()
    rng = np.random.default_rng(cfg.seed)
    stats_a = [run_statistics(r) for r in group_a]
    stats_b = [run_statistics(r) for r in group_b]
    kinds = sorted({k for r in (*group_a, *group_b) for k in r.histograms})
    rows: list[dict[str, object]] = []
    for kind in kinds:
        in_a = all((kind, "p50_ms") in s for s in stats_a)
        in_b = all((kind, "p50_ms") in s for s in stats_b)
        if not (in_a and in_b):
            note = "only in B" if in_b else "only in A" if in_a else "missing in some runs"
            rows += [_row(kind, m, verdict=note, note=note) for m in METRICS]
            continue
        va, ma = _aligned([r.histograms[kind] for r in group_a])
        vb, mb = _aligned([r.histograms[kind] for r in group_b])
        sd, ratios = _within_sd(va, ma.sum(axis=0), vb, mb.sum(axis=0), cfg, rng)
        for j, metric in enumerate(METRICS[:-1]):
            side_a = [s[(kind, metric)] for s in stats_a]
            side_b = [s[(kind, metric)] for s in stats_b]
            rows.append(_judge(kind, metric, side_a, side_b, (float(sd[j]), ratios[:, j]), history, cfg))
        side_a = [s[(kind, "throughput_rps")] for s in stats_a]
        side_b = [s[(kind, "throughput_rps")] for s in stats_b]
        poisson = math.sqrt(1 / sum(n for _, n in side_a) + 1 / sum(n for _, n in side_b))
        rows.append(_judge(kind, "throughput_rps", side_a, side_b, (poisson, None), history, cfg))
    return pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))


def shifted(hist: HdrHistogram, delay_ms: float) -> HdrHistogram:
    """A copy of ``hist`` with every request ``delay_ms`` slower: what a gateway with an added delay
    would have recorded (used to build a known slow-down for tests and docs)."""
    from aranya_perf.measure.latency import new_histogram

    out = new_histogram()
    values, counts = buckets(hist)
    for v, c in zip(values, counts, strict=True):
        out.record_value(round(v + delay_ms * 1000.0), int(c))
    return out
