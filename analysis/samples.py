"""The one sample-size rule: how many requests a statistic needs before anything is said about it.

A percentile p is only measured when a handful of requests lie beyond it; below that it is little
more than the largest value seen. The table (``MIN_SAMPLES``) is shared by the run report,
``compare``, ``sweep`` and ``alerts --runs``:

- p50 needs 5 requests, p90 20, p99 100, p99.9 1,000 (about one in ten beyond the percentile
  would be better; one is the least that separates the percentile from the maximum);
- any other percentile needs the rule of the next listed percentile above it (above p99.9,
  100 / (100 - p));
- a throughput (a count over a window) needs 5 requests, like the median.

Rows below the rule read ``too_few(n)`` ("too few samples (n=12)") next to the figure: the
figure is still shown, but no verdict is given on it.
"""

from __future__ import annotations

import math
import re
import sys

MIN_SAMPLES: dict[float, int] = {50.0: 5, 90.0: 20, 99.0: 100, 99.9: 1000}
THROUGHPUT_MIN = 5


def min_samples(percentile: float) -> int:
    """Requests the ``percentile`` (0-100) needs; beyond the table, 100 / (100 - p) rounded up."""
    for p, n in sorted(MIN_SAMPLES.items()):
        if percentile <= p:
            return n
    return math.ceil(100.0 / (100.0 - percentile)) if percentile < 100 else sys.maxsize


_METRIC = re.compile(r"^p(\d+(?:\.\d+)?)(?:_ms)?$")


def metric_min(metric: str) -> int:
    """The rule for a metric name: ``p99``/``p99_ms`` by its percentile, anything else (throughput,
    mean) as a throughput."""
    m = _METRIC.match(metric)
    return min_samples(float(m.group(1))) if m else THROUGHPUT_MIN


def enough(metric: str, n: int | float) -> bool:
    """Whether ``n`` requests are enough to say anything about ``metric``."""
    return n == n and n >= metric_min(metric)  # n == n: NaN counts are never enough


def too_few(n: int | float) -> str:
    """The label of a row below the rule."""
    return f"too few samples (n={int(n) if n == n else 0})"
