"""Guards the change-point detector (``aranya_perf.analysis.detect.analyze``) that ``aranya-perf alerts``
runs per series.

``time_analyze`` analyses one synthetic history (``aranya_perf.analysis.corpus``, lognormal noise of 3 %,
four steps, 5 raw samples per commit, fixed seed) of ``points`` commits; alerts over the asv
history call it once per benchmark and parameter, the evaluation 1,000 times per cell.
"""

from __future__ import annotations

from aranya_perf.analysis import corpus, detect

SEED = 20261201


class Analyze:
    params = [1000, 10000]
    param_names = ["points"]
    timeout = 120.0

    def setup(self, points: int) -> None:
        s = corpus.make_series("lognormal", 0.03, SEED, n=points)
        self.series = detect.Series("bench", s.values, samples=s.samples)

    def time_analyze(self, points: int) -> None:
        detect.analyze(self.series)
