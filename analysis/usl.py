"""The Universal Scalability Law fitted to throughput against load (Gunther, *Guerrilla Capacity
Planning*, 2007, ch. 4-6):

    X(N) = lambda * N / (1 + alpha * (N - 1) + beta * N * (N - 1))

``alpha`` is contention (the serial share), ``beta`` coherency (the cost of keeping N parties
consistent), ``lambda`` the throughput of one unit of load. Fitted by bounded non-linear least
squares (``scipy.optimize.curve_fit``, alpha in [0, 1], beta >= 0); intervals are Student-t
intervals from the fit's covariance, which are honest only with a few more points than the three
parameters (with exactly three there are none: NaN).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True)
class USLFit:
    lam: float
    alpha: float
    beta: float
    lam_ci: tuple[float, float]
    alpha_ci: tuple[float, float]
    beta_ci: tuple[float, float]
    residual_sd: float  # in throughput units, with n - 3 degrees of freedom
    points: int

    @property
    def peak_load(self) -> float:
        """Load of the highest throughput, sqrt((1 - alpha) / beta); inf without coherency cost."""
        return math.sqrt((1 - self.alpha) / self.beta) if self.beta > 0 else math.inf

    def predict(self, n: np.ndarray | float) -> np.ndarray:
        return usl(np.asarray(n, dtype=float), self.lam, self.alpha, self.beta)


def usl(n: np.ndarray, lam: float, alpha: float, beta: float) -> np.ndarray:
    return lam * n / (1 + alpha * (n - 1) + beta * n * (n - 1))


def fit_usl(load: np.ndarray, throughput: np.ndarray, confidence: float = 0.95) -> USLFit:
    """Fit the USL to (load, throughput) points; ValueError with fewer than 3 usable points."""
    n = np.asarray(load, dtype=float)
    x = np.asarray(throughput, dtype=float)
    ok = np.isfinite(n) & np.isfinite(x) & (n > 0) & (x > 0)
    n, x = n[ok], x[ok]
    if len(n) < 3 or len(np.unique(n)) < 3:
        raise ValueError(
            f"the USL has 3 parameters: need 3 distinct loads with throughput, got {len(np.unique(n))}"
        )
    lam0 = float(np.max(x / n))
    # Scale load so that the parameters are of similar size for the optimiser.
    scale = float(np.max(n))
    with warnings.catch_warnings():
        # An exact or degenerate fit has no covariance: the intervals come out NaN, which is the answer.
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        popt, pcov = optimize.curve_fit(
            lambda m, lam, a, b: usl(m * scale, lam, a, b),
            n / scale,
            x,
            p0=(lam0, 0.01, 1e-6),
            bounds=([0.0, 0.0, 0.0], [np.inf, 1.0, np.inf]),
            maxfev=20000,
        )
    resid = x - usl(n, *popt)
    dof = len(n) - 3
    sd = float(np.sqrt(resid @ resid / dof)) if dof > 0 else math.nan
    t = stats.t.ppf(0.5 + confidence / 2, dof) if dof > 0 else math.nan
    se = np.sqrt(np.clip(np.diag(pcov), 0, None)) if dof > 0 and np.all(np.isfinite(pcov)) else [math.nan] * 3

    def ci(k: int, low: float = 0.0) -> tuple[float, float]:
        return (max(low, float(popt[k] - t * se[k])), float(popt[k] + t * se[k]))

    return USLFit(float(popt[0]), float(popt[1]), float(popt[2]), ci(0), ci(1), ci(2), sd, len(n))
