"""Change-point detection over per-commit benchmark histories: series in, change points out.

The shape follows Apache Otava (``Series`` -> ``AnalyzedSeries`` -> ``ChangePoint``), all frozen
dataclasses; nothing here reads files or prints. The detector uses what Otava's E-divisive and
asv's step detection leave out:

1. **Raw samples per commit.** With samples, a commit's value is the mean of its central half
   (a trimmed mean: robust to a sample hit by a GC pause, and about 1.5x more efficient than
   the median asv stores for gaussian noise). Without samples the stored value is used.
2. **Robust statistics.** The series is analysed in log space (steps are relative); the noise
   scale is the MAD of first differences (a step or slow drift barely moves it), and commits
   further than ``OUTLIER_Z`` scales from a running median are pulled back to it before testing.
3. **Multi-scale moving sums with a minimum segment length.** Candidates are local maxima of
   the standardised difference between the ``h`` commits before and after each commit, for
   ``h`` in ``scales`` (all >= ``min_size``): short windows locate big steps exactly and are
   blind to slow drift; long windows find small steps.
4. **A permutation check of each candidate.** Between its neighbours (at most ``max_window``
   commits each side) the candidate's best split statistic is compared with that of
   ``permutations`` seeded shuffles of the same commits, searching the same split range, so
   the p-value pays for the search. Candidates that fail it, or whose shift is below
   ``min_effect``, are dropped weakest first and their neighbours re-tested (Otava's merge).

References: Matteson & James (2014), doi:10.1080/01621459.2013.849605 (E-divisive); Fleming
et al. (2023), doi:10.1145/3578244.3583719 (Otava/Hunter); Eichinger & Kirch (2018),
doi:10.3150/16-BEJ887 (MOSUM); asv's ``step_detect`` (Potts/L1 segmentation).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter

LOWER_IS_BETTER = "lower"
HIGHER_IS_BETTER = "higher"
OUTLIER_Z = 4.0
_MAD_TO_SD = 1.4826
DEFAULT_BUDGET = 1.0  # false alarms per 1,000 points a default DetectConfig allows
CALIBRATION_FILE = Path(__file__).with_name("detect_calibration.json")


def _load_calibration() -> tuple[tuple[float, float], ...]:
    """(budget, z_min) pairs, budget increasing, from ``CALIBRATION_FILE`` (scripts/calibrate_detector.py)."""
    doc = json.loads(CALIBRATION_FILE.read_text())
    return tuple(sorted((float(r["budget"]), float(r["z_min"])) for r in doc["table"]))


CALIBRATION = _load_calibration()


def z_for_budget(max_false_alarms: float) -> float:
    """The ``z_min`` that keeps false alarms within ``max_false_alarms`` per 1,000 points on each
    noise kind of the calibration corpus; interpolated in log budget, clamped to the table's ends."""
    if not max_false_alarms > 0:
        raise ValueError(f"the false-alarm budget must be positive, not {max_false_alarms!r}")
    budgets = np.log([b for b, _ in CALIBRATION])
    zs = [z for _, z in CALIBRATION]
    return float(np.interp(np.log(max_false_alarms), budgets, zs))


@dataclass(frozen=True)
class DetectConfig:
    """Detector settings; defaults are the ones measured by ``aranya-perf evaluate``."""

    min_size: int = 5  # commits on each side of a change before it can be reported
    scales: tuple[int, ...] = (5, 10, 20, 40)
    # Standardised step (robust scale) a change needs: by default the one calibrated for
    # DEFAULT_BUDGET; for another budget use ``DetectConfig.for_budget``.
    z_min: float = z_for_budget(DEFAULT_BUDGET)
    # A commit is a candidate when a moving sum reaches z_min - candidate_margin: at the longest
    # scale the moving sum is the split statistic itself, so fainter candidates cannot pass.
    candidate_margin: float = 1.0
    alpha: float = 0.01  # permutation p-value a change needs
    min_effect: float = 0.01  # relative shift a change needs (1 %)
    max_window: int = 40  # commits each side used to test and size a change
    permutations: int = 199
    search: int = 3  # split positions either side searched, in data and in permutations
    trend_t: float = 3.0  # t of a local linear trend above which a step must also beat the trend
    trend_z: float = 3.0  # z of the step, with that trend fitted, that counts as z_min
    sharpness: float = 0.5  # share of a change that must show across the commits next to it
    near_z: float = 3.5  # z the shift across the 2 * min_size commits next to the split needs
    seed: int = 0

    def __post_init__(self) -> None:
        if self.min_size < 2 or any(h < self.min_size for h in self.scales) or not self.scales:
            raise ValueError("scales must be non-empty and each >= min_size >= 2")
        if not 0 < self.alpha < 1 or self.permutations < 9:
            raise ValueError("alpha must be in (0, 1) and permutations >= 9")

    @classmethod
    def for_budget(cls, max_false_alarms: float, **settings: object) -> DetectConfig:
        """The config whose threshold allows at most ``max_false_alarms`` per 1,000 points on
        step-free series (``z_for_budget``); ``settings`` override other fields."""
        return cls(z_min=z_for_budget(max_false_alarms), **settings)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Series:
    """One benchmark's history in commit order; ``samples[i]`` are commit i's raw samples (or None)."""

    name: str
    values: np.ndarray
    commits: tuple[str, ...] = ()
    samples: np.ndarray | tuple[np.ndarray | None, ...] | None = None
    better: str = LOWER_IS_BETTER

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", np.asarray(self.values, dtype=float))
        if self.commits and len(self.commits) != len(self.values):
            raise ValueError(f"{self.name}: {len(self.commits)} commits for {len(self.values)} values")
        if self.samples is not None and len(self.samples) != len(self.values):
            raise ValueError(f"{self.name}: {len(self.samples)} sample sets for {len(self.values)} values")
        if self.better not in (LOWER_IS_BETTER, HIGHER_IS_BETTER):
            raise ValueError(f"{self.name}: better must be 'lower' or 'higher', not {self.better!r}")

    def commit(self, index: int) -> str:
        return self.commits[index] if self.commits else str(index)


@dataclass(frozen=True)
class ChangePoint:
    """A level shift starting at commit ``index`` (the first commit at the new level)."""

    index: int
    index_lo: int  # the shift happened between index_lo - 1 and index_hi, with ~95 % confidence
    index_hi: int
    commit_before: str  # last commit at the old level (of the range)
    commit_after: str  # first commit at the new level (of the range)
    before: float  # level before (median of the segment), in the series' unit
    after: float
    magnitude_pct: float  # (after / before - 1) * 100
    direction: str  # "regression" or "improvement"
    p_value: float
    z: float  # standardised step size
    recovered_at: int | None = None  # index of a later change that brought the level back
    recovered_commit: str | None = None  # its first commit

    @property
    def confidence(self) -> float:
        return 1.0 - self.p_value

    @property
    def recovered(self) -> bool:
        return self.recovered_at is not None


@dataclass(frozen=True)
class AnalyzedSeries:
    series: Series
    change_points: tuple[ChangePoint, ...]
    noise: float  # robust relative noise of one commit (log-space sd)
    config: DetectConfig = field(default_factory=DetectConfig)

    def regressions(self, unrecovered_only: bool = False) -> tuple[ChangePoint, ...]:
        return tuple(
            cp
            for cp in self.change_points
            if cp.direction == "regression" and not (unrecovered_only and cp.recovered)
        )


# --- numeric kernels ----------------------------------------------------------------------------


def commit_values(values: np.ndarray, samples: np.ndarray | Sequence[np.ndarray | None] | None) -> np.ndarray:
    """Per-commit value: the central-half mean of its raw samples where there are >= 3, else ``values``.

    ``samples`` is an (n, k) array (NaN for missing samples) or one array (or None) per commit.
    """
    out = np.asarray(values, dtype=float).copy()
    if samples is None:
        return out
    if isinstance(samples, np.ndarray) and samples.ndim == 2 and np.isfinite(samples).all():
        k = samples.shape[1]
        if k < 3:
            return np.median(samples, axis=1) if k else out
        cut = k // 4
        return np.sort(samples, axis=1)[:, cut : k - cut].mean(axis=1)
    for i, s in enumerate(samples):
        if s is None:
            continue
        s = np.sort(np.asarray(s, dtype=float))
        s = s[np.isfinite(s)]
        k = len(s)
        if k >= 3:
            cut = k // 4
            out[i] = s[cut : k - cut].mean()
        elif k:
            out[i] = np.median(s)
    return out


def robust_scale(x: np.ndarray) -> float:
    """Noise sd of one point from the MAD of first differences (steps and slow drift barely move it)."""
    if len(x) < 3:
        return float("nan")
    d = np.diff(x)
    mad = np.median(np.abs(d - np.median(d)))
    return float(_MAD_TO_SD * mad / np.sqrt(2.0))


def _clean(x: np.ndarray, scale: float, width: int) -> np.ndarray:
    """Commits further than OUTLIER_Z scales from a running median are replaced by that median."""
    med = median_filter(x, size=2 * width + 1, mode="nearest")
    return np.where(np.abs(x - med) > OUTLIER_Z * scale, med, x)


def _mosum(cs: np.ndarray, h: int, scale: float) -> np.ndarray:
    """Standardised (right mean - left mean) over h commits each side, at every split i (NaN near ends)."""
    n = len(cs) - 1
    out = np.full(n + 1, np.nan)
    if n < 2 * h:
        return out
    i = np.arange(h, n - h + 1)
    out[i] = ((cs[i + h] - cs[i]) - (cs[i] - cs[i - h])) / h / (scale * np.sqrt(2.0 / h))
    return out


def _candidates(y: np.ndarray, scale: float, cfg: DetectConfig) -> list[int]:
    cs = np.concatenate(([0.0], np.cumsum(y)))
    best = np.zeros(len(y) + 1)
    for h in cfg.scales:
        t = np.abs(_mosum(cs, h, scale))
        t = np.nan_to_num(t, nan=0.0)
        # Local maxima over +-h: one candidate per bump of each scale.
        peak = (t == maximum_filter1d(t, size=2 * h + 1, mode="constant")) & (
            t > cfg.z_min - cfg.candidate_margin
        )
        best = np.where(peak, np.maximum(best, t), best)
    idx = np.flatnonzero(best)
    # Merge candidates closer than min_size, keeping the strongest.
    kept: list[int] = []
    for i in idx[np.argsort(-best[idx], kind="stable")]:
        if all(abs(i - k) >= cfg.min_size for k in kept):
            kept.append(int(i))
    return sorted(kept)


def _split_stats(seg: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """sqrt(k(L-k)/L) * |mean(seg[:k]) - mean(seg[k:])| for k in [lo, hi], vectorised over rows."""
    seg = np.atleast_2d(seg)
    L = seg.shape[1]
    cs = np.cumsum(seg, axis=1)
    k = np.arange(lo, hi + 1)
    left = cs[:, k - 1] / k
    right = (cs[:, -1:] - cs[:, k - 1]) / (L - k)
    return np.sqrt(k * (L - k) / L) * np.abs(left - right)


@dataclass(frozen=True)
class _Test:
    index: int
    p: float
    z: float
    shift: float  # log-space difference of medians, right - left
    lo: int
    hi: int


def _test(
    y: np.ndarray, i: int, a: int, b: int, scale: float, cfg: DetectConfig, rng: np.random.Generator
) -> _Test:
    """Permutation test of a change at ``i`` within y[a:b], re-located within +-search."""
    a = max(a, i - cfg.max_window)
    b = min(b, i + cfg.max_window)
    seg = y[a:b]
    L = len(seg)
    k0 = i - a
    lo = max(cfg.min_size, k0 - cfg.search)
    hi = min(L - cfg.min_size, k0 + cfg.search)
    if hi < lo:
        return _Test(i, 1.0, 0.0, 0.0, i, i)
    obs = _split_stats(seg, lo, hi)[0]
    j = int(np.argmax(obs))
    k = lo + j
    z = float(obs[j] / scale)
    # The cheap checks first: medians, the trend fit and the permutations only for a change that
    # could still pass.
    if z < cfg.z_min:
        return _Test(a + k, 1.0, z, 0.0, a + k, a + k)
    shift = float(np.median(seg[k:]) - np.median(seg[:k]))
    if abs(np.expm1(shift)) < cfg.min_effect:
        return _Test(a + k, 1.0, z, shift, a + k, a + k)
    trend_t, step_z = _trend_fit(seg, k)
    if trend_t >= cfg.trend_t:  # a significant trend: the step must beat it too
        z = min(z, step_z * cfg.z_min / cfg.trend_z)
    if z < cfg.z_min or not _sharp(seg, k, scale, cfg):
        return _Test(a + k, 1.0, z, shift, a + k, a + k)
    perm = rng.permuted(np.broadcast_to(seg, (cfg.permutations, L)), axis=1)
    null = _split_stats(perm, lo, hi).max(axis=1)
    p = (1 + int(np.count_nonzero(null >= obs[j]))) / (cfg.permutations + 1)
    # ~95 % set for the location: splits whose log-likelihood is within chi2(1, 0.95) / 2 of the
    # best (the statistic squared, in units of the noise, is twice the log-likelihood gain).
    near = np.flatnonzero(obs**2 >= obs[j] ** 2 - 3.84 * scale**2)
    return _Test(a + k, p, z, shift, a + lo + int(near.min()), a + lo + int(near.max()))


def _sharp(seg: np.ndarray, k: int, scale: float, cfg: DetectConfig) -> bool:
    """Whether the shift across the 2 * min_size commits next to the split is at least ``sharpness`` of
    the shift across the whole windows and itself ``near_z`` standard errors: true of a step, not
    of a smooth wave whose slope made the long windows differ (over 10 commits next to the split a
    wave of 1 sigma and period 100 moves about 0.6 sigma, a 5 % step at 3 % noise all of its 1.7)."""
    h = min(2 * cfg.min_size, k, len(seg) - k)
    near = seg[k : k + h].mean() - seg[k - h : k].mean()
    far = seg[k:].mean() - seg[:k].mean()
    return (
        near * far > 0
        and abs(near) >= cfg.sharpness * abs(far)
        and abs(near) >= cfg.near_z * scale * np.sqrt(2.0 / h)
    )


def _trend_fit(seg: np.ndarray, k: int) -> tuple[float, float]:
    """(t of a common linear trend, z of the step) when both are fitted with a level to ``seg``.

    A slow drift makes every long window look like a step; a real step stays significant with
    the trend in the model, though fitting a trend costs a step about half its z.
    """
    L = len(seg)
    if L < 6:
        return 0.0, float("inf")
    t = np.arange(L) - (L - 1) / 2.0
    X = np.column_stack((np.ones(L), t, (np.arange(L) >= k).astype(float)))
    inv = np.linalg.inv(X.T @ X)
    coef = inv @ (X.T @ seg)
    resid = seg - X @ coef
    s2 = float(resid @ resid) / (L - 3)
    if s2 <= 0:
        return 0.0, float("inf")
    return float(abs(coef[1]) / np.sqrt(s2 * inv[1, 1])), float(abs(coef[2]) / np.sqrt(s2 * inv[2, 2]))


def _passes(t: _Test, cfg: DetectConfig) -> bool:
    return t.p <= cfg.alpha and t.z >= cfg.z_min and abs(np.expm1(t.shift)) >= cfg.min_effect


def _weakness(t: _Test, cfg: DetectConfig) -> tuple[int, float]:
    # Failing tests first, then the smallest z.
    return (0 if not _passes(t, cfg) else 1, t.z)


def detect_log(y_raw: np.ndarray, cfg: DetectConfig) -> tuple[list[_Test], float]:
    """Core of ``analyze`` on finite log values: the accepted tests and the noise scale."""
    scale = robust_scale(y_raw)
    n = len(y_raw)
    if n < 2 * cfg.min_size or not np.isfinite(scale):
        return [], scale
    if scale == 0:
        scale = 1e-12
    y = _clean(y_raw, scale, cfg.min_size)
    rng = np.random.default_rng(cfg.seed)
    cps = _candidates(y, scale, cfg)
    # Merge: re-test every change between its neighbours, drop the weakest failing one, repeat.
    cache: dict[tuple[int, int, int], _Test] = {}
    tests: list[_Test] = []
    for _ in range(2 * len(cps) + 2):
        if not cps:
            return [], scale
        bounds = [0, *cps, n]
        tests = []
        for k, c in enumerate(cps):
            key = (c, bounds[k], bounds[k + 2])
            if key not in cache:
                cache[key] = _test(y, c, bounds[k], bounds[k + 2], scale, cfg, rng)
            tests.append(cache[key])
        worst = min(range(len(tests)), key=lambda k: _weakness(tests[k], cfg))
        if not _passes(tests[worst], cfg):
            del cps[worst]
            continue
        locs = sorted({t.index for t in tests})
        if locs == cps:
            break
        cps = locs  # a change re-located within its search range: test it again where it is
    return [t for t in tests if _passes(t, cfg)], scale


def _direction(magnitude: float, better: str) -> str:
    worse = magnitude > 0 if better == LOWER_IS_BETTER else magnitude < 0
    return "regression" if worse else "improvement"


def analyze(series: Series, cfg: DetectConfig | None = None) -> AnalyzedSeries:
    """Change points of ``series``; NaN or non-positive values are skipped (indices stay the series')."""
    cfg = cfg or DetectConfig()
    values = commit_values(series.values, series.samples)
    ok = np.flatnonzero(np.isfinite(values) & (values > 0))
    y = np.log(values[ok])
    tests, scale = detect_log(y, cfg)
    tests = sorted(tests, key=lambda t: t.index)
    bounds = [0, *(t.index for t in tests), len(y)]
    points: list[ChangePoint] = []
    levels = [float(np.exp(np.median(y[bounds[k] : bounds[k + 1]]))) for k in range(len(bounds) - 1)]
    for k, t in enumerate(tests):
        before, after = levels[k], levels[k + 1]
        magnitude = (after / before - 1.0) * 100.0
        idx, lo, hi = int(ok[t.index]), int(ok[t.lo]), int(ok[t.hi])
        points.append(
            ChangePoint(
                index=idx,
                index_lo=lo,
                index_hi=hi,
                commit_before=series.commit(int(ok[t.lo - 1])),
                commit_after=series.commit(hi),
                before=before,
                after=after,
                magnitude_pct=magnitude,
                direction=_direction(magnitude, series.better),
                p_value=t.p,
                z=t.z,
            )
        )
    points = _mark_recoveries(points, levels, cfg)
    return AnalyzedSeries(series, tuple(points), float(scale), cfg)


def _mark_recoveries(points: list[ChangePoint], levels: list[float], cfg: DetectConfig) -> list[ChangePoint]:
    """A regression recovers once a later level is back within half its shift (or min_effect) or past it."""
    out = []
    for k, cp in enumerate(points):
        recovered_at, recovered_commit = None, None
        if cp.direction == "regression":
            tolerance = max(cfg.min_effect, abs(cp.magnitude_pct) / 200.0)
            for j in range(k + 1, len(points)):
                if abs(levels[j + 1] / cp.before - 1.0) <= tolerance or (
                    (levels[j + 1] < cp.before) == (cp.after > cp.before)
                ):
                    recovered_at, recovered_commit = points[j].index, points[j].commit_after
                    break
        if recovered_at is not None:
            cp = replace(cp, recovered_at=recovered_at, recovered_commit=recovered_commit)
        out.append(cp)
    return out
