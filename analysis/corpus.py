"""A labelled synthetic corpus of per-commit benchmark histories, for measuring change detectors.

Each series is ``n`` commits of one benchmark with true level shifts of the sizes given (by
default one each of ``STEP_SIZES``: 2, 5, 10 and 20 %), in random order, random direction, at
least ``min_gap`` commits apart and from the ends; a corpus also holds **step-free** series
(``sizes=()``), which is where a detector's false-alarm rate is calibrated and checked. Every
commit holds ``samples`` raw measurements (what ``asv run --record-samples`` keeps); ``value``
is their median, which is what asv stores as the commit's result and what detectors without the
samples get.

``sigma`` is the noise of that stored value: the standard deviation of a commit's median around
its level, relative to the level, for the kind's regular noise. The raw samples are scaled so
that their median carries ``sigma`` (the factor is measured once per kind by a seeded Monte Carlo
draw, ``_value_sd``), so "3 %" means what a detector that sees the stored value is up against.

Noise kinds:

- ``lognormal``: right-skewed per-sample noise, as timings are.
- ``bimodal``: each commit's run lands in a fast or a slow mode (p = 0.3), plus per-sample
  noise; half the variance each (frequency scaling, memory layout).
- ``outliers``: gaussian noise, plus 2 % of samples 30-100 % slow and, on top of ``sigma``, 2 %
  of commits whose whole run is 10-30 % slow (a noisy neighbour): one-commit spikes, not steps.
- ``drifting``: gaussian noise on a level that wanders slowly (a sine of 1 sigma amplitude and a
  random period of 100-300 commits, plus a random walk of 0.03 sigma per commit): no change
  point, but it moves the level as much as the 2 and 5 % steps do at sigma 3 %.

Every kind carries a per-commit (run-level) gaussian component of 0.4 of the per-sample scale
that the samples of one commit share, so the spread within a commit understates the spread
between commits, as on a real machine. Everything is drawn from ``numpy.random.default_rng``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

STEP_SIZES = (0.02, 0.05, 0.10, 0.20)
NOISE_KINDS = ("lognormal", "bimodal", "outliers", "drifting")
SIGMAS = (0.01, 0.03, 0.05)
RUN_LEVEL = 0.4  # share of the per-sample scale that is per commit, common to its samples
_VALUE_SD_DRAWS = 20_000  # commits drawn to measure the sd of a commit's median
_VALUE_SD_SEED = 7


@dataclass(frozen=True)
class SyntheticSeries:
    """One labelled history: per-commit values, raw samples and the true steps."""

    values: np.ndarray  # (n,) median of each commit's samples
    samples: np.ndarray  # (n, k) raw samples
    change_indices: tuple[int, ...]  # index of the first commit at the new level
    change_sizes: tuple[float, ...]  # relative size of each step, signed (+ = slower)
    noise: str
    sigma: float  # sd of a commit's stored value (median of its samples), relative
    seed: int


def _positions(rng: np.random.Generator, n: int, steps: int, min_gap: int) -> list[int]:
    # Rejection sampling with a bounded number of tries; a grid fallback keeps it total.
    if steps == 0:
        return []
    for _ in range(1000):
        pos = np.sort(rng.choice(np.arange(min_gap, n - min_gap + 1), size=steps, replace=False))
        if steps < 2 or np.min(np.diff(pos)) >= min_gap:
            return [int(p) for p in pos]
    return [int(min_gap + i * (n - 2 * min_gap) / max(steps - 1, 1)) for i in range(steps)]


def _regular(noise: str, scale: float, rng: np.random.Generator, n: int, samples: int) -> np.ndarray:
    """(n, samples) relative noise of the kind's regular part at per-sample scale ``scale``."""
    run = rng.normal(0.0, RUN_LEVEL * scale, size=(n, 1))
    sample_sd = scale * np.sqrt(1.0 - RUN_LEVEL**2)
    if noise == "lognormal":
        s = np.sqrt(np.log1p(sample_sd**2))  # lognormal with standard deviation sample_sd around 1
        return run + rng.lognormal(-(s**2) / 2, s, size=(n, samples)) - 1.0
    if noise == "bimodal":
        # Two modes 0 and d with p = 0.3: variance p(1-p)d^2 carries half of sample_sd^2.
        p = 0.3
        d = np.sqrt(0.5 / (p * (1 - p))) * sample_sd
        mode = (rng.random((n, 1)) < p) * d - p * d
        return run + mode + rng.normal(0.0, np.sqrt(0.5) * sample_sd, size=(n, samples))
    return run + rng.normal(0.0, sample_sd, size=(n, samples))  # outliers, drifting: gaussian


@lru_cache(maxsize=64)
def _value_sd(noise: str, scale: float, samples: int) -> float:
    """Relative sd of the median of ``samples`` samples of the regular noise at ``scale`` (seeded)."""
    rng = np.random.default_rng(_VALUE_SD_SEED)
    return float(np.std(np.median(_regular(noise, scale, rng, _VALUE_SD_DRAWS, samples), axis=1)))


def make_series(
    noise: str,
    sigma: float,
    seed: int,
    n: int = 300,
    samples: int = 5,
    sizes: Sequence[float] = STEP_SIZES,
    min_gap: int = 30,
    base: float = 1.0e-3,
) -> SyntheticSeries:
    """One series of ``n`` commits with one step of each size in ``sizes`` (random order, sign);
    ``sigma`` is the relative sd of each commit's median (see the module docstring)."""
    if noise not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {noise!r}; one of {', '.join(NOISE_KINDS)}")
    if len(sizes) * min_gap + min_gap > n:
        raise ValueError(f"{len(sizes)} steps {min_gap} commits apart do not fit in {n} commits")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sizes))
    signs = rng.choice([-1.0, 1.0], size=len(sizes))
    sizes_signed = [float(sizes[i] * s) for i, s in zip(order, signs, strict=True)]
    positions = _positions(rng, n, len(sizes), min_gap)

    level = np.ones(n)
    for pos, size in zip(positions, sizes_signed, strict=True):
        level[pos:] *= 1.0 + size

    # The per-sample scale whose median has sd sigma (one fixed-point step: the shape of the
    # lognormal barely changes between the two scales).
    scale = sigma * sigma / _value_sd(noise, sigma, samples) if sigma > 0 else 0.0
    eps = _regular(noise, scale, rng, n, samples)
    if noise == "outliers":
        hit = rng.random((n, samples)) < 0.02
        eps += hit * rng.uniform(0.3, 1.0, size=(n, samples))
        slow_run = rng.random((n, 1)) < 0.02
        eps += slow_run * rng.uniform(0.10, 0.30, size=(n, 1))
    elif noise == "drifting":
        period = rng.uniform(100, 300)
        phase = rng.uniform(0, 2 * np.pi)
        walk = np.cumsum(rng.normal(0.0, 0.03 * sigma, size=n))
        level = level * (1.0 + sigma * np.sin(2 * np.pi * np.arange(n) / period + phase) + walk)
    raw = base * level[:, None] * (1.0 + eps)
    return SyntheticSeries(
        values=np.median(raw, axis=1),
        samples=raw,
        change_indices=tuple(positions),
        change_sizes=tuple(sizes_signed),
        noise=noise,
        sigma=float(sigma),
        seed=int(seed),
    )


@dataclass(frozen=True)
class CorpusSpec:
    """What to generate: for every (noise, sigma) cell, ``per_cell`` series with one step of each
    size in ``sizes`` and ``step_free_per_cell`` series without steps, seeded from ``seed``."""

    per_cell: int = 25
    step_free_per_cell: int = 0
    n: int = 300
    samples: int = 5
    noises: tuple[str, ...] = NOISE_KINDS
    sigmas: tuple[float, ...] = SIGMAS
    sizes: tuple[float, ...] = STEP_SIZES
    seed: int = 1


def corpus(spec: CorpusSpec) -> Iterator[SyntheticSeries]:
    """Every series of ``spec``; series seeds are derived from ``spec.seed``, so cells are reproducible."""
    seeds = np.random.SeedSequence(spec.seed)
    cells = [(noise, sigma) for noise in spec.noises for sigma in spec.sigmas]
    children = seeds.spawn(len(cells))
    for (noise, sigma), child in zip(cells, children, strict=True):
        states = child.generate_state(spec.per_cell + spec.step_free_per_cell)
        for k, series_seed in enumerate(states):
            sizes = spec.sizes if k < spec.per_cell else ()
            yield make_series(noise, sigma, int(series_seed), n=spec.n, samples=spec.samples, sizes=sizes)


def labels_frame(series: Sequence[SyntheticSeries]) -> pd.DataFrame:
    """The true steps as a frame: series (position in ``series``), noise, sigma, index, size."""
    rows = [
        {"series": i, "noise": s.noise, "sigma": s.sigma, "index": idx, "size": size}
        for i, s in enumerate(series)
        for idx, size in zip(s.change_indices, s.change_sizes, strict=True)
    ]
    return pd.DataFrame(rows, columns=["series", "noise", "sigma", "index", "size"])
