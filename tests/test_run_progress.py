"""The progress line's figures: per interval (req/s from the count's delta, p50/p99 from the histogram's
delta), so the first line has a rate and a ramp's spike leaves the next line."""

from __future__ import annotations

from aranya_perf.measure.latency import merge, new_histogram
from aranya_perf.run.progress import Tally, header, line, since


def _hist(*us: int):
    h = new_histogram()
    for v in us:
        h.record_value(v)
    return h


def _line(before: Tally, now: Tally) -> str:
    return line(before, now, elapsed_s=10, duration_s=45, level="devices online   200", what="operator calls")


def test_the_first_line_has_the_rate_of_its_interval() -> None:
    start = Tally(100.0, 0, 0, _hist())
    first = Tally(105.0, 106, 0, _hist(2000, 3000))
    text = _line(start, first)
    assert "req/s    21.2" in text and "requests     106" in text


def test_percentiles_are_of_the_interval_not_since_the_start() -> None:
    ramp = _hist(*[900_000] * 50)  # a 900 ms spike while devices connect
    before = Tally(5.0, 50, 0, ramp)
    steady = merge([ramp, _hist(*[2000] * 100)])
    text = _line(before, Tally(10.0, 150, 1, steady))
    assert "operator calls p50 2.00 ms  p99 2.00 ms" in text
    assert "req/s    20.0" in text and "failures    1" in text
    # Since the start, p99 would still be the spike.
    assert steady.get_value_at_percentile(99) > 800_000


def test_an_interval_without_calls_says_so() -> None:
    calls = _hist(1000)
    text = _line(Tally(5.0, 10, 0, calls), Tally(10.0, 10, 0, merge([calls])))
    assert "req/s     0.0" in text and "no operator calls in the interval" in text


def test_reset_stats_count_from_the_reset() -> None:
    before = Tally(5.0, 500, 0, _hist(*[1000] * 500))
    after_reset = Tally(10.0, 40, 0, _hist(*[3000] * 40))
    assert since(before.latency, after_reset.latency).get_total_count() == 40
    assert "req/s     8.0" in _line(before, after_reset)


def test_the_header_says_which_figures_are_per_interval() -> None:
    text = header(5.0, "operator calls")
    assert "every 5s" in text and "p50/p99 of operator calls over the interval" in text
    assert "requests and failures since the window opened" in text
