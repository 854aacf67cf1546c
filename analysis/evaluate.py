"""Scores change detectors on the labelled synthetic corpus (``aranya_perf.analysis.corpus``), side by side.

Detectors are registered by name in ``DETECTORS``: ours (``aranya_perf.analysis.detect``), Apache Otava's
``compute_change_points`` (E-divisive with t-test merge; the ``apache-otava`` package) and asv's
``step_detect.detect_steps`` (L1 Potts segmentation; asv itself) and ruptures' ``KernelCPD``
(kernel change-point detection with an RBF kernel, PELT search and a linear penalty; Arlot,
Celisse & Harchaoui, JMLR 2019), each with the sensitivity setting given. Otava, asv and ruptures
get each commit's stored value (the median of its samples, as asv stores it); ours also gets the
raw samples. Ours is given the false-alarm budget itself and maps it to its threshold from its
own calibration table; the others are calibrated here, on step-free series of a separate seed.

A detection matches a true step when it is within ``tolerance`` commits of it; each step is
matched at most once, nearest first. Counted per detector: true positives, false positives
(false alarms), missed steps; precision, recall, F1, false alarms per 1,000 points, recall per
step size, and the CPU time (``time.process_time``) spent inside the detector.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from aranya_perf.analysis import detect
from aranya_perf.analysis.corpus import SyntheticSeries

TOLERANCE = 2


@dataclass(frozen=True)
class Inputs:
    """What a detector is given for one series: what a results file holds for it."""

    values: np.ndarray  # per-commit value (the median of the samples, as asv stores it)
    samples: np.ndarray  # (commits, samples) raw samples, as `asv run --record-samples` keeps them
    weights: np.ndarray | None = None  # asv's per-commit weight, 2 / width of its stored 99 % interval


def inputs(name: str, s: SyntheticSeries) -> Inputs:
    """A series' inputs for detector ``name``; asv's weights are computed here, outside the timing,
    because asv computes them when it measures and stores them with the results."""
    if name != "asv":
        return Inputs(s.values, s.samples)
    from asv._stats import get_weight
    from asv_runner.statistics import compute_stats

    weights = [get_weight(compute_stats(row.tolist(), 1)[1]) for row in s.samples]
    return Inputs(s.values, s.samples, np.array([np.nan if w is None else w for w in weights]))


# A detector: (inputs, setting) -> indices of detected changes.
Detector = Callable[[Inputs, float], list[int]]


def ours(x: Inputs, setting: float) -> list[int]:
    """``setting`` is the false-alarm budget per 1,000 points (``DetectConfig.for_budget``)."""
    cfg = detect.DetectConfig.for_budget(setting)
    s = detect.Series("corpus", x.values, samples=x.samples)
    return [cp.index for cp in detect.analyze(s, cfg).change_points]


def otava(x: Inputs, setting: float) -> list[int]:
    """Otava's detector (window 50, its default), ``setting`` its max p-value, ours' 1 % effect floor."""
    from otava.analysis import compute_change_points

    cps, _ = compute_change_points(
        x.values.tolist(), window_len=50, max_pvalue=setting, min_magnitude=detect.DetectConfig().min_effect
    )
    return [int(cp.index) for cp in cps]


def asv_steps(x: Inputs, setting: float) -> list[int]:
    """asv's step detection with the weights ``asv publish`` gives it; a step counts when its relative
    size is >= ``setting`` (asv's threshold)."""
    weights = None if x.weights is None else tuple(None if np.isnan(w) else float(w) for w in x.weights)
    steps = _asv_detect_steps(tuple(x.values.tolist()), weights)
    out = []
    for (_, _, v0, _, _), (left, _, v1, _, _) in itertools.pairwise(steps):
        if v0 > 0 and abs(v1 / v0 - 1.0) >= setting:
            out.append(int(left))
    return out


@functools.lru_cache(maxsize=512)
def _asv_detect_steps(values: tuple[float, ...], weights: tuple[float | None, ...] | None) -> list:
    # The segmentation does not depend on the threshold: calibration tries every threshold on one
    # segmentation of each series (the timed runs see each series once, so pay for it in full).
    from asv.step_detect import detect_steps

    return detect_steps(list(values), None if weights is None else list(weights))


def kernel(x: Inputs, setting: float) -> list[int]:
    """ruptures' ``KernelCPD`` (RBF kernel, bandwidth by its median heuristic, segments >= 5 commits)
    on log values in units of their noise (``detect.robust_scale``); ``setting`` is its penalty."""
    import ruptures

    y = np.log(x.values)
    scale = detect.robust_scale(y)
    signal = ((y - np.median(y)) / (scale if scale > 0 else 1.0))[:, None]
    ends = ruptures.KernelCPD(kernel="rbf", min_size=5).fit(signal).predict(pen=setting)
    return [int(e) for e in ends[:-1]]


DETECTORS: dict[str, Detector] = {"ours": ours, "otava": otava, "asv": asv_steps, "ruptures": kernel}
# The settings calibration tries, least sensitive first; each detector's default is among them.
# Ours is not calibrated here: its setting is the budget (see ``ours``).
SETTING_GRID = {
    "otava": (1e-12, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2),
    "asv": (0.1, 0.07, 0.05, 0.04, 0.03, 0.025, 0.02, 0.015, 0.01),
    "ruptures": (64.0, 48.0, 32.0, 24.0, 16.0, 12.0, 8.0, 6.0, 4.0, 3.0, 2.0),
}


def match(
    true_idx: Sequence[int], found: Sequence[int], tolerance: int = TOLERANCE
) -> tuple[list[bool], int]:
    """Which true steps were found (nearest detection within tolerance, each used once), and the FPs."""
    used: set[int] = set()
    hits = [False] * len(true_idx)
    pairs = sorted(
        ((abs(t - f), ti, fi) for ti, t in enumerate(true_idx) for fi, f in enumerate(found)),
        key=lambda p: p[0],
    )
    for dist, ti, fi in pairs:
        if dist <= tolerance and not hits[ti] and fi not in used:
            hits[ti] = True
            used.add(fi)
    return hits, len(found) - len(used)


@dataclass(frozen=True)
class Outcome:
    """What one detector found on one series."""

    detector: str
    setting: float
    series: int
    noise: str
    sigma: float
    points: int
    hits: tuple[bool, ...]
    sizes: tuple[float, ...]
    false_alarms: int
    cpu_s: float


def run_detector(
    name: str,
    setting: float,
    corpus: Sequence[SyntheticSeries],
    tolerance: int = TOLERANCE,
    prepared: Sequence[Inputs] | None = None,
) -> list[Outcome]:
    """``name`` at ``setting`` on every series; ``prepared`` are the series' inputs when already made."""
    fn = DETECTORS[name]
    out = []
    for i, s in enumerate(corpus):
        x = prepared[i] if prepared is not None else inputs(name, s)
        t0 = time.process_time()
        found = fn(x, setting)
        cpu = time.process_time() - t0
        hits, fp = match(s.change_indices, found, tolerance)
        out.append(
            Outcome(name, setting, i, s.noise, s.sigma, len(s.values), tuple(hits), s.change_sizes, fp, cpu)
        )
    return out


def score(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Precision, recall, F1, false alarms per 1,000 points, recall per step size, CPU seconds."""
    tp = sum(sum(o.hits) for o in outcomes)
    steps = sum(len(o.hits) for o in outcomes)
    fp = sum(o.false_alarms for o in outcomes)
    points = sum(o.points for o in outcomes)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / steps if steps else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    row = {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "fa_per_1000": 1000.0 * fp / points if points else float("nan"),
        "cpu_s": sum(o.cpu_s for o in outcomes),
        "series": len(outcomes),
    }
    by_size: dict[float, list[bool]] = {}
    for o in outcomes:
        for hit, size in zip(o.hits, o.sizes, strict=True):
            by_size.setdefault(round(abs(size), 4), []).append(hit)
    for size, hits in sorted(by_size.items()):
        row[f"recall_{round(size * 100)}pct"] = float(np.mean(hits))
    return row


def score_frame(outcomes: Sequence[Outcome], by: Sequence[str] = ("detector", "setting")) -> pd.DataFrame:
    """``score`` per group of outcomes (e.g. detector and setting, or detector and sigma)."""
    groups: dict[tuple, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(tuple(getattr(o, b) for b in by), []).append(o)
    rows = [{**dict(zip(by, key, strict=True)), **score(group)} for key, group in groups.items()]
    return pd.DataFrame(rows)


def calibrate(
    name: str, corpus: Sequence[SyntheticSeries], budget: float = 1.0, grid: Sequence[float] | None = None
) -> tuple[float, pd.DataFrame]:
    """The most sensitive setting of ``grid`` (least sensitive first) before the first one whose false
    alarms per 1,000 points on ``corpus`` (step-free series) exceed ``budget``.

    Falls back to the least sensitive setting when none is within budget; returns it with the
    scores of every setting tried.
    """
    grid = tuple(grid or SETTING_GRID[name])
    prepared = [inputs(name, s) for s in corpus]
    rows = []
    chosen = grid[0]
    for setting in grid:
        row = {
            "detector": name,
            "setting": setting,
            **score(run_detector(name, setting, corpus, prepared=prepared)),
        }
        rows.append(row)
        if row["fa_per_1000"] > budget:
            break
        chosen = setting
    return chosen, pd.DataFrame(rows)


@dataclass(frozen=True)
class EvaluationSpec:
    """One evaluation: calibrate on step-free series of one seed, score on another, time on long series.

    The defaults are the small evaluation (under a minute); ``FULL`` is the published one.
    """

    per_cell: int = 6  # series with steps per (noise, sigma) cell of the scored corpus
    step_free_per_cell: int = 4  # step-free series per cell of the scored corpus
    calibration_per_cell: int = 10  # step-free calibration series per noise kind at calibration_sigma
    calibration_sigma: float = 0.03
    budget: float = 1.0  # false alarms per 1,000 points allowed at calibration
    cpu_series: int = 20
    cpu_points: int = 1000
    cpu_steps: int = 10
    detectors: tuple[str, ...] = ("ours", "otava", "asv", "ruptures")
    seed: int = 20261207
    tolerance: int = TOLERANCE


FULL = EvaluationSpec(per_cell=50, step_free_per_cell=25, calibration_per_cell=50, cpu_series=1000)


def timing_corpus(spec: EvaluationSpec) -> list[SyntheticSeries]:
    """``cpu_series`` series of ``cpu_points`` commits with ``cpu_steps`` steps each (the step sizes
    repeated), random noise kinds at ``calibration_sigma``."""
    from aranya_perf.analysis.corpus import NOISE_KINDS, STEP_SIZES, make_series

    rng = np.random.default_rng(spec.seed + 2)
    sizes = tuple(STEP_SIZES[i % len(STEP_SIZES)] for i in range(spec.cpu_steps))
    return [
        make_series(
            str(rng.choice(list(NOISE_KINDS))),
            spec.calibration_sigma,
            int(rng.integers(2**31)),
            n=spec.cpu_points,
            sizes=sizes,
        )
        for _ in range(spec.cpu_series)
    ]


@dataclass(frozen=True)
class Evaluation:
    spec: EvaluationSpec
    settings: dict[str, float]  # the setting of each detector (ours: the budget it was given)
    calibration: pd.DataFrame  # every setting tried: detector, setting, scores
    by_sigma: pd.DataFrame  # detector, sigma, scores at the calibrated setting
    by_noise: pd.DataFrame  # detector, sigma, noise, scores at the calibrated setting
    cpu: pd.DataFrame  # detector, series, points, cpu_s on cpu_series x cpu_points


def evaluate(spec: EvaluationSpec) -> Evaluation:
    """Calibrate each detector within ``budget`` on step-free series, then score and time it."""
    from aranya_perf.analysis.corpus import CorpusSpec, corpus

    for name in spec.detectors:
        if name not in DETECTORS:
            raise ValueError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")
    calib = list(
        corpus(
            CorpusSpec(
                per_cell=0,
                step_free_per_cell=spec.calibration_per_cell,
                sigmas=(spec.calibration_sigma,),
                seed=spec.seed + 1,
            )
        )
    )
    scored = list(
        corpus(CorpusSpec(per_cell=spec.per_cell, step_free_per_cell=spec.step_free_per_cell, seed=spec.seed))
    )
    settings: dict[str, float] = {}
    calib_frames = []
    outcomes: list[Outcome] = []
    for name in spec.detectors:
        if name == "ours":
            settings[name] = spec.budget
            row = {"detector": name, "setting": spec.budget, **score(run_detector(name, spec.budget, calib))}
            calib_frames.append(pd.DataFrame([row]))
        else:
            settings[name], frame = calibrate(name, calib, spec.budget)
            calib_frames.append(frame)
        outcomes += run_detector(name, settings[name], scored, spec.tolerance)
    cpu_rows = []
    if spec.cpu_series:
        long = timing_corpus(spec)
        for name in spec.detectors:
            fn = DETECTORS[name]
            prepared = [inputs(name, s) for s in long]
            t0 = time.process_time()
            for x in prepared:
                fn(x, settings[name])
            cpu_rows.append(
                {
                    "detector": name,
                    "series": spec.cpu_series,
                    "points": spec.cpu_points,
                    "cpu_s": time.process_time() - t0,
                }
            )
    return Evaluation(
        spec=spec,
        settings=settings,
        calibration=pd.concat(calib_frames, ignore_index=True),
        by_sigma=score_frame(outcomes, ("detector", "sigma")),
        by_noise=score_frame(outcomes, ("detector", "sigma", "noise")),
        cpu=pd.DataFrame(cpu_rows, columns=["detector", "series", "points", "cpu_s"]),
    )
