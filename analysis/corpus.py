"""A labelled synthetic corpus of per-commit benchmark histories, for measuring change detectors.

Each series is ``n`` commits of one benchmark with ``steps`` true level shifts of the sizes in
``STEP_SIZES`` (2, 5, 10 and 20 %), in random order, random direction, at least ``min_gap``
commits apart and from the ends. Every commit holds ``samples`` raw measurements (what
``asv run --record-samples`` keeps); ``value`` is their median, which is what asv stores as the
commit's result and what detectors without the samples get.

Noise kinds (``sigma`` is the standard deviation of one raw sample, relative to its level):

- ``lognormal``: right-skewed per-sample noise, as timings are.
- ``bimodal``: each commit's run lands in a fast or a slow mode (p = 0.3), plus per-sample
  noise; half the variance each (frequency scaling, memory layout).
- ``outliers``: gaussian per-sample noise, 2 % of samples 30-100 % slow, and 2 % of commits
  whose whole run is 10-30 % slow (a noisy neighbour): one-commit spikes that are not steps.
- ``drifting``: gaussian per-sample noise on a level that wanders slowly (a sine of 1 sigma
  amplitude and a random period of 100-300 commits, plus a random walk of 0.03 sigma per
  commit): no change point, but it moves the level as much as the smaller steps do.

Every kind also carries a per-commit (run-level) gaussian component of 0.4 sigma that the
samples of one commit share, so the spread within a commit understates the spread between
commits, as on a real machine. Everything is drawn from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

STEP_SIZES = (0.02, 0.05, 0.10, 0.20)
NOISE_KINDS = ("lognormal", "bimodal", "outliers", "drifting")
SIGMAS = (0.01, 0.03, 0.05)
RUN_LEVEL = 0.4  # share of sigma that is per commit, common to its samples


@dataclass(frozen=True)
class SyntheticSeries:
    """One labelled history: per-commit values, raw samples and the true steps."""

    values: np.ndarray  # (n,) median of each commit's samples
    samples: np.ndarray  # (n, k) raw samples
    change_indices: tuple[int, ...]  # index of the first commit at the new level
    change_sizes: tuple[float, ...]  # relative size of each step, signed (+ = slower)
    noise: str
    sigma: float
    seed: int


def _positions(rng: np.random.Generator, n: int, steps: int, min_gap: int) -> list[int]:
    # Rejection sampling with a bounded number of tries; a grid fallback keeps it total.
    for _ in range(1000):
        pos = np.sort(rng.choice(np.arange(min_gap, n - min_gap + 1), size=steps, replace=False))
        if steps < 2 or np.min(np.diff(pos)) >= min_gap:
            return [int(p) for p in pos]
    return [int(min_gap + i * (n - 2 * min_gap) / max(steps - 1, 1)) for i in range(steps)]


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
    """One series of ``n`` commits with one step of each size in ``sizes`` (random order, sign)."""
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

    sample_sd = sigma * np.sqrt(1.0 - RUN_LEVEL**2)
    run = rng.normal(0.0, RUN_LEVEL * sigma, size=(n, 1))
    if noise == "lognormal":
        s = np.sqrt(np.log1p(sample_sd**2))  # lognormal with standard deviation sample_sd around 1
        eps = rng.lognormal(-(s**2) / 2, s, size=(n, samples)) - 1.0
    elif noise == "bimodal":
        # Two modes 0 and d with p = 0.3: variance p(1-p)d^2 carries half of sample_sd^2.
        p = 0.3
        d = np.sqrt(0.5 / (p * (1 - p))) * sample_sd
        mode = (rng.random((n, 1)) < p) * d - p * d
        eps = mode + rng.normal(0.0, np.sqrt(0.5) * sample_sd, size=(n, samples))
    elif noise == "outliers":
        eps = rng.normal(0.0, sample_sd, size=(n, samples))
        hit = rng.random((n, samples)) < 0.02
        eps += hit * rng.uniform(0.3, 1.0, size=(n, samples))
        slow_run = rng.random((n, 1)) < 0.02
        eps += slow_run * rng.uniform(0.10, 0.30, size=(n, 1))
    else:  # drifting
        period = rng.uniform(100, 300)
        phase = rng.uniform(0, 2 * np.pi)
        walk = np.cumsum(rng.normal(0.0, 0.03 * sigma, size=n))
        drift = sigma * np.sin(2 * np.pi * np.arange(n) / period + phase) + walk
        level = level * (1.0 + drift)
        eps = rng.normal(0.0, sample_sd, size=(n, samples))
    raw = base * level[:, None] * (1.0 + run + eps)
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
    """What to generate: ``per_cell`` series for every (noise, sigma) pair, seeded from ``seed``."""

    per_cell: int = 25
    n: int = 300
    samples: int = 5
    noises: tuple[str, ...] = NOISE_KINDS
    sigmas: tuple[float, ...] = SIGMAS
    seed: int = 1


def corpus(spec: CorpusSpec) -> Iterator[SyntheticSeries]:
    """Every series of ``spec``; series seeds are derived from ``spec.seed``, so cells are reproducible."""
    seeds = np.random.SeedSequence(spec.seed)
    cells = [(noise, sigma) for noise in spec.noises for sigma in spec.sigmas]
    children = seeds.spawn(len(cells))
    for (noise, sigma), child in zip(cells, children, strict=True):
        for series_seed in child.generate_state(spec.per_cell):
            yield make_series(noise, sigma, int(series_seed), n=spec.n, samples=spec.samples)


def labels_frame(series: Sequence[SyntheticSeries]) -> pd.DataFrame:
    """The true steps as a frame: series (position in ``series``), noise, sigma, index, size."""
    rows = [
        {"series": i, "noise": s.noise, "sigma": s.sigma, "index": idx, "size": size}
        for i, s in enumerate(series)
        for idx, size in zip(s.change_indices, s.change_sizes, strict=True)
    ]
    return pd.DataFrame(rows, columns=["series", "noise", "sigma", "index", "size"])
