"""Guards latency recording: HDR histogram record, merge and creation (``aranya_perf.measure.latency``).

``LatencyRecorder.record`` runs once per request the load generator makes, so its
cost caps how many requests a generator can time. ``time_record`` records a batch
of 10,000 log-normal response times (fixed seed, 4 request kinds) through the
recorder; ``time_merge`` sums ``histograms`` filled histograms as a run report
merging workers or runs does; ``time_new_histogram`` is the allocation every new
request kind and every merge pays.
"""

from __future__ import annotations

import functools
import random
from typing import Any

from hdrh.histogram import HdrHistogram

from aranya_perf.measure.latency import LatencyRecorder, merge, new_histogram

BATCH = 10_000
SEED = 20240601
KINDS = [("control", "Exec"), ("control", "Logs"), ("device", "CMD_RUNTIME:CMD_EXEC"), ("device", "connect")]


class _Hook:
    def add_listener(self, handler: Any) -> None:
        pass

    def remove_listener(self, handler: Any) -> None:
        pass


class _Events:
    request = _Hook()


class _Environment:
    """What ``LatencyRecorder`` needs of a Locust environment, without importing Locust."""

    events = _Events()


def _samples(n: int, seed: int) -> list[tuple[str, str, float]]:
    rng = random.Random(seed)
    # Median ~2 ms with a long tail, clipped into the recorder's range by the recorder itself.
    return [(*KINDS[i % len(KINDS)], rng.lognormvariate(0.7, 0.9)) for i in range(n)]


class Record:
    timeout = 60.0

    def setup(self) -> None:
        self.samples = _samples(BATCH, SEED)
        self.recorder = LatencyRecorder(_Environment(), follow_resets=False)

    def time_record(self) -> None:
        record = self.recorder.record
        for request_type, name, ms in self.samples:
            record(request_type, name, ms)


@functools.cache
def _filled(count: int) -> list[HdrHistogram]:
    # Cached: asv re-runs setup before every sample, and merge leaves its inputs untouched.
    hists = []
    for i in range(count):
        hist = new_histogram()
        for _, _, ms in _samples(2000, SEED + i):
            hist.record_value(max(1, round(ms * 1000)))
        hists.append(hist)
    return hists


class Merge:
    params = [2, 16, 64]
    param_names = ["histograms"]
    timeout = 60.0

    def setup(self, histograms: int) -> None:
        self.hists = _filled(histograms)

    def time_merge(self, histograms: int) -> None:
        merge(self.hists)


def time_new_histogram() -> None:
    new_histogram()
