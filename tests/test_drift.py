"""The cost-per-request slope over synthetic series: noise is not a finding, growth is, with its size."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hdrh.histogram import HdrHistogram

from aranya_perf.judge import drift
from aranya_perf.judge.drift import Rules, Samples

SHORT = Rules(min_window_s=30.0)


def samples(
    cost_ms: Callable[[int], float],
    *,
    seconds: int = 120,
    rate: float = 50.0,
    noise: float = 0.05,
    seed: int = 7,
    **kw: Any,
) -> Samples:
    """Per second: ``rate`` requests, each costing ``cost_ms(t)`` of CPU, times a noise factor."""
    rng = random.Random(seed)
    cpu = [(t + 0.5, cost_ms(t) / 1000 * rate * (1 + rng.gauss(0, noise))) for t in range(seconds)]
    requests = [(t + 0.5, rate) for t in range(seconds)]
    return Samples("test", float(seconds), cpu=cpu, requests=requests, **kw)


def slope(d: drift.Drift, series: str) -> drift.Slope:
    (s,) = [s for s in d.slopes if s.series == series]
    return s


def test_a_flat_noisy_cost_is_rarely_significant_and_never_a_finding() -> None:
    # A 95 % interval excludes zero in about 5 % of flat series: significance alone would be noise.
    significant = 0
    for seed in range(200):
        d = drift.drift(samples(lambda t: 1.0, noise=0.2, seed=seed), SHORT)
        significant += slope(d, "cpu_per_request").significant
    assert 0 < significant <= 20
    # A soak's window and the default threshold: no flat series grows 50 % per hour.
    for seed in range(20):
        d = drift.drift(samples(lambda t: 1.0, seconds=1200, noise=0.2, seed=seed), Rules(warmup_s=60.0))
        assert d.judged and drift.findings(d, Rules()) == ()


def test_a_growing_cost_is_significant_with_its_sign_and_size() -> None:
    # 1 ms per request growing by 0.5 % of that per second: +1,800 % of 1 ms per hour.
    d = drift.drift(samples(lambda t: 1.0 + 0.005 * t), SHORT)
    s = slope(d, "cpu_per_request")
    kept = [float(b["cpu_per_request"] or 0.0) for b in d.buckets]
    expected = 0.005 * 3600 / (sum(kept) / len(kept)) * 100  # % of the fitted series' mean
    assert s.significant and s.low > 0
    assert s.low <= expected <= s.high and s.per_hour == pytest.approx(expected, rel=0.1)
    (f,) = drift.findings(d, SHORT)
    assert f.name == "cost-slope" and f.severity == "fail" and f.count == 1
    assert f.summary.startswith("target CPU per request +") and "% per hour [" in f.summary
    assert f.evidence[0]["series"] == "cpu_per_request"


def test_a_shrinking_cost_is_significant_but_never_a_finding() -> None:
    d = drift.drift(samples(lambda t: 2.0 - 0.005 * t), SHORT)
    s = slope(d, "cpu_per_request")
    assert s.significant and s.high < 0 and s.per_hour < 0
    assert drift.findings(d, SHORT) == ()


def test_growth_below_the_threshold_or_in_a_short_window_is_reported_not_found() -> None:
    d = drift.drift(samples(lambda t: 1.0 + 0.005 * t), SHORT)
    assert slope(d, "cpu_per_request").significant
    assert drift.findings(d, Rules(min_window_s=30.0, cost_pct_per_hour=1e6)) == ()
    long_window = Rules()  # ten minutes by default
    d = drift.drift(samples(lambda t: 1.0 + 0.005 * t), long_window)
    assert not d.judged and d.slopes and drift.findings(d, long_window) == ()


def test_the_warm_up_is_dropped() -> None:
    # Bringing a fleet online costs ten times as much per request for the first 20 s.
    s = samples(lambda t: 10.0 if t < 20 else 1.0)
    d = drift.drift(s, Rules(warmup_s=20.0, min_window_s=30.0))
    assert d.bucket_s == 5.0 and d.dropped_s == 20.0 and d.buckets[0]["start_s"] == 20.0
    assert not slope(d, "cpu_per_request").significant
    # Kept, the warm-up alone looks like a falling cost.
    kept = drift.drift(s, SHORT)
    assert kept.dropped_s == 5.0 and slope(kept, "cpu_per_request").high < 0


def test_cost_per_exec_and_memory_slopes() -> None:
    execs = [(t + 0.5, 10.0) for t in range(120)]
    rss = [(float(t), 100 * drift.MIB + t * 0.5 * drift.MIB) for t in range(120)]  # +1,800 MiB per hour
    s = samples(lambda t: 1.0 + 0.005 * t, execs=execs, memory={"rss": rss, "goroutines": [(0.0, 5.0)] * 3})
    d = drift.drift(s, SHORT)
    assert slope(d, "cpu_per_exec").significant
    memory = slope(d, "rss")
    assert memory.per_hour == pytest.approx(1800.0, rel=0.01) and memory.unit == "MiB"
    assert "goroutines" not in {x.series for x in d.slopes}  # too few points
    found = {f.name: f for f in drift.findings(d, SHORT)}
    assert set(found) == {"cost-slope", "memory-slope"} and found["cost-slope"].count == 2
    assert "target resident memory +1,800 MiB per hour [" in found["memory-slope"].summary
    lowered = drift.findings(
        d, Rules(min_window_s=30.0, severity={"memory-slope": "warn", "cost-slope": "off"})
    )
    assert [(f.name, f.severity) for f in lowered] == [("memory-slope", "warn")]


def test_too_few_buckets_give_no_slope() -> None:
    assert drift.fit([(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]) is None
    assert drift.drift(samples(lambda t: 1.0, seconds=20), SHORT).slopes == ()


def test_the_target_s_processes_from_resources_csv() -> None:
    rows = []
    for t in range(1, 6):
        for role, pct, rss in (("gateway", 50.0, 100), ("gateway-1", 20.0, 50), ("generator", 90.0, 999)):
            rows.append({"process": role, "elapsed_s": float(t), "cpu_percent": pct, "rss_bytes": rss})
    roles, cpu, memory = drift.from_processes(pd.DataFrame(rows))
    assert roles == ("gateway", "gateway-1")
    assert sum(v for _, v in cpu) == pytest.approx(5 * 0.7) and cpu[0][0] == 0.5
    assert memory == [(float(t), 150.0) for t in range(1, 6)]


def test_prometheus_answers_and_counter_resets() -> None:
    doc = {
        "status": "success",
        "data": {"result": [{"values": [[100, "1"], [105, "3"], [110, "0.5"], [115, "1.5"]]}]},
    }
    points = drift.prometheus_points(doc, 100.0)
    assert points == [(0.0, 1.0), (5.0, 3.0), (10.0, 0.5), (15.0, 1.5)]
    assert drift.increments(points) == [(2.5, 2.0), (12.5, 1.0)]
    assert drift.prometheus_points({"status": "error"}, 0.0) == []


def test_answered_requests_and_execs_per_interval() -> None:
    def hist(n: int) -> HdrHistogram:
        h = HdrHistogram(1, 60_000_000, 3)
        for _ in range(n):
            h.record_value(1000)
        return h

    hists = {
        "control Exec": hist(4),
        "control Exec (service time)": hist(4),
        "device CMD_RUNTIME:CMD_EXEC": hist(4),
        "kube exec": hist(2),
        "control Logs": hist(3),
    }
    requests, execs = drift.answered([(1000.0, hists, {"control Exec": 1})], 999.0)
    assert requests == [(1.5, 12.0)] and execs == [(1.5, 5.0)]


def test_the_run_reads_the_target_s_processes_else_its_prometheus_series(tmp_path: Path) -> None:
    from aranya_perf.judge.measured import Measured
    from aranya_perf.measure import promql
    from aranya_perf.profiles import Profile
    from aranya_perf.results import RunFiles, atomic_write_json
    from aranya_perf.run import cost

    queries = promql.target_cost_queries("10.0.0.1:9100")
    assert [q.expr for q in queries][:2] == [
        'sum(process_cpu_seconds_total{instance="10.0.0.1:9100"})',
        'sum(process_resident_memory_bytes{instance="10.0.0.1:9100"})',
    ]
    t0 = 1000.0
    m = Measured(intervals=[(t0 + t, {}, {}) for t in range(60)], t0=t0, seconds=60.0)
    assert cost.samples(Profile(), tmp_path, m) is None  # nothing sampled of the target
    (tmp_path / RunFiles.PROMETHEUS).mkdir()
    for name, values in (("target_cpu_seconds", [0.0, 1.0, 2.5]), ("target_goroutines", [10, 12, 14])):
        doc = {
            "status": "success",
            "data": {"result": [{"values": [[t0 + 5 * i, str(v)] for i, v in enumerate(values)]}]},
        }
        atomic_write_json(tmp_path / RunFiles.PROMETHEUS / f"{name}.json", doc)
    s = cost.samples(Profile(), tmp_path, m)
    assert s is not None and s.source.startswith("prometheus")
    assert list(s.cpu) == [(2.5, 1.0), (7.5, 1.5)] and list(s.memory["goroutines"])[-1] == (10.0, 14.0)
    (tmp_path / RunFiles.RESOURCES).write_text(
        "timestamp,elapsed_s,process,pid,cpu_percent,rss_bytes,threads,fds,wait_percent\n"
        f"{t0 + 1},1,gateway,7,50,100,1,1,\n{t0 + 2},2,gateway,7,50,100,1,1,\n"
    )
    s = cost.samples(Profile(), tmp_path, m)
    assert s is not None and s.source == "processes gateway" and sum(v for _, v in s.cpu) == 1.0
