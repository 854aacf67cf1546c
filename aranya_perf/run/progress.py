"""The run's progress line: what happened since the previous line, not since the start.

Locust's ``current_rps`` reads 0 until its averaging window fills, and percentiles since the start
keep a ramp's spike on screen long after it is over. So a line is computed from two ``Tally``
snapshots (the previous line's and now): requests per second from the request count's delta over the
time between them, and p50/p99 from the latency histogram's delta (HDR buckets subtract exactly).
Requests and failures stay totals since the window opened. Pure: the run takes the snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from aranya_perf.measure.latency import new_histogram


@dataclass(frozen=True)
class Tally:
    """Counters at one moment: monotonic seconds, totals, and the cumulative latency of the kinds shown."""

    at: float
    requests: int
    failures: int
    latency: HdrHistogram


def since(before: HdrHistogram, now: HdrHistogram) -> HdrHistogram:
    """What ``now`` recorded beyond ``before`` (both cumulative, same precision). If ``now`` holds less
    than ``before`` (the stats were reset), all of ``now``."""
    if now.get_total_count() < before.get_total_count():
        return now
    out = new_histogram()
    for item in now.get_recorded_iterator():
        count = item.count_at_value_iterated_to - before.get_count_at_value(item.value_iterated_to)
        if count > 0:
            out.record_value(item.value_iterated_to, count)
    return out


def header(every_s: float, what: str) -> str:
    """The line above the first progress line: which figures are per interval. ``what``: the calls
    whose latency the lines show ("operator calls")."""
    return (
        f"  progress every {every_s:g}s: req/s and the p50/p99 of {what} over the interval since the "
        "previous line; requests and failures since the window opened\n"
    )


def line(before: Tally, now: Tally, *, elapsed_s: float, duration_s: float, level: str, what: str) -> str:
    """One progress line from the previous line's tally and this one's."""
    seconds = now.at - before.at
    delta = now.requests - before.requests if now.requests >= before.requests else now.requests
    rate = delta / seconds if seconds > 0 else 0.0
    latency = f"no {what} in the interval"
    recent = since(before.latency, now.latency)
    if recent.get_total_count():
        latency = f"{what} p50 {recent.get_value_at_percentile(50) / 1000:.2f} ms  "
        latency += f"p99 {recent.get_value_at_percentile(99) / 1000:.2f} ms"
    return (
        f"  [{elapsed_s:4.0f}s/{duration_s:.0f}s] {level}  req/s {rate:7.1f}  requests {now.requests:7d}  "
        f"failures {now.failures:4d}  {latency}\n"
    )
