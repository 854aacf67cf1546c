"""The master's tally of its workers' reports (``distributed.RunTally``), fed the reports two workers'
recorders make: latency sums, per-worker counts, and a lost worker's later reports ignored."""

from __future__ import annotations

from typing import Any

from aranya_perf.loadtests.distributed import REPORT_KEY, RunTally
from locust.env import Environment

from aranya_perf.measure.latency import LatencyRecorder


def _report(recorder: LatencyRecorder, worker: int, devices: int, online: int) -> dict[str, Any]:
    return {
        REPORT_KEY: {
            "latency": recorder.export_delta(),
            "fleet": {"devices": devices, "online": online},
            "window": {"calls": 3},
            "worker": worker,
            "pid": 1000 + worker,
            "observations": [{"worker": worker}],
        }
    }


def test_reports_sum_per_worker_and_a_lost_worker_counts_no_more() -> None:
    workers = [LatencyRecorder(Environment()), LatencyRecorder(Environment())]
    tally = RunTally(LatencyRecorder(Environment()))
    for i, rec in enumerate(workers):
        for _ in range(5 + i):
            rec.record("control", "Exec", 2.0)
        rec.record("control", "Exec", 9.0, failed=True)
    tally.on_worker_report("w0", _report(workers[0], 0, devices=10, online=9))
    tally.on_worker_report("w1", _report(workers[1], 1, devices=20, online=20))
    tally.on_worker_report("w2", {"locust's own": 1})  # a report without ours is left alone

    assert tally.requests == {"w0": {"control Exec": 6}, "w1": {"control Exec": 7}}
    assert tally.failures == {"w0": {"control Exec": 1}, "w1": {"control Exec": 1}}
    assert tally.index == {"w0": 0, "w1": 1} and tally.pids == {"w0": 1000, "w1": 1001}
    assert tally.total("fleet") == {"devices": 30, "online": 29}
    assert tally.total("window") == {"calls": 6}
    assert tally.observations == [{"worker": 0}, {"worker": 1}]
    assert tally.recorder.histograms()["control Exec"].get_total_count() == 13

    assert tally.lose("w1", at=123.0) == 20
    assert tally.total("fleet") == {"devices": 30, "online": 9}
    workers[1].record("control", "Exec", 2.0)
    tally.on_worker_report("w1", _report(workers[1], 1, devices=20, online=20))
    assert tally.requests["w1"] == {"control Exec": 7} and tally.lost == {"w1": 123.0}
    assert tally.lose("w1", at=200.0) == 20 and tally.lost == {"w1": 123.0}  # the first loss stands
