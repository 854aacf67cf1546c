"""The one sample-size rule (aranya_perf.analysis.samples): its table, the metric names it reads and its
label."""

from __future__ import annotations

import math

import pytest
from aranya_perf.analysis import samples


@pytest.mark.parametrize(
    ("percentile", "needed"), [(50, 5), (25, 5), (75, 20), (90, 20), (95, 100), (99, 100), (99.9, 1000)]
)
def test_each_percentile_needs_the_rule_of_the_next_listed_one(percentile: float, needed: int) -> None:
    assert samples.min_samples(percentile) == needed


def test_beyond_the_table_one_request_must_lie_past_the_percentile() -> None:
    assert samples.min_samples(99.99) == 10_000
    assert samples.min_samples(100) > 10**9


def test_metric_names_and_boundaries() -> None:
    assert not samples.enough("p99_ms", 99) and samples.enough("p99_ms", 100)
    assert not samples.enough("p90", 19) and samples.enough("p90", 20)
    assert not samples.enough("p50_ms", 4) and samples.enough("p50_ms", 5)
    assert samples.metric_min("throughput_rps") == samples.THROUGHPUT_MIN
    assert not samples.enough("p50_ms", math.nan)


def test_label_names_the_count() -> None:
    assert samples.too_few(12) == "too few samples (n=12)"
    assert samples.too_few(math.nan) == "too few samples (n=0)"
