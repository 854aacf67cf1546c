"""Guards the Universal Scalability Law fit (``aranya_perf.analysis.usl.fit_usl``) behind ``aranya-perf
sweep``.

``time_fit_usl`` fits ``steps`` points of a known curve (lambda 2, alpha 0.02, beta 1e-5) with 1 %
seeded noise, as a sweep or the capacity notebook does once per model.
"""

from __future__ import annotations

import numpy as np
from aranya_perf.analysis.usl import fit_usl, usl


class FitUSL:
    params = [4, 16]
    param_names = ["steps"]

    def setup(self, steps: int) -> None:
        rng = np.random.default_rng(7)
        self.load = np.geomspace(50, 5000, steps)
        self.throughput = usl(self.load, 2.0, 0.02, 1e-5) * (1 + rng.normal(0, 0.01, steps))

    def time_fit_usl(self, steps: int) -> None:
        fit_usl(self.load, self.throughput)
