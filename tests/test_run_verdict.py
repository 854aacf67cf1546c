"""The pure rules a run is judged by: status, SLO values, outage windows, multi-process metrics, routing."""

from __future__ import annotations

import dataclasses

import pandas as pd

from aranya_perf import profiles
from aranya_perf.address_map import AddressMap, parse
from aranya_perf.judge.measured import Measured
from aranya_perf.judge.outages import fleet_outages, request_outages, stalls
from aranya_perf.judge.slo import evaluate, junit_xml, status
from aranya_perf.judge.verdict import decide
from aranya_perf.measure.latency import new_histogram
from aranya_perf.profiles.schema import Slo
from aranya_perf.run.target import merge_prometheus


def _data(**fields: object) -> Measured:
    return Measured(t0=100.0, seconds=10.0, **fields)  # type: ignore[arg-type]


def _hist(*ms: float):
    h = new_histogram()
    for v in ms:
        h.record_value(round(v * 1000))
    return h


def test_status_rules() -> None:
    p = profiles.resolve("smoke")
    common = dict(interrupted="", start_error=None, target_lost=[], workers_lost=[], slo_failures=[])
    assert decide(p, requests=1000, failures=10, **common).status == "ok"  # exactly 1 %: allowed
    high = decide(p, requests=1000, failures=11, **common)
    assert high.status == "failed" and "11 of 1000 requests failed (1.1%)" in high.reason
    lost = decide(p, requests=1000, failures=0, **{**common, "target_lost": ["gone (at 8s)"]})
    assert lost.status == "failed" and lost.reason.startswith("target went away: gone")
    assert decide(p, requests=5, failures=5, **common).reasons[0] == "no successful request"
    stopped = decide(p, requests=0, failures=0, **{**common, "interrupted": "interrupted by SIGTERM"})
    assert (stopped.status, stopped.reason) == ("interrupted", "interrupted by SIGTERM")
    # A profile with its own overall error_rate SLO decides that itself.
    own = dataclasses.replace(p, slo=(Slo(metric="error_rate", max=0.5),))
    assert decide(own, requests=100, failures=40, **common).status == "ok"


def test_slo_values_and_junit() -> None:
    p = dataclasses.replace(
        profiles.resolve("smoke"),
        slo=(
            Slo(metric="p99", kind="control Exec", max=50.0),
            Slo(metric="error_rate", kind="control *", max=0.01),
            Slo(metric="throughput", kind="control *", min=5.0),
            Slo(metric="p50", kind="control Logs", max=1.0),
        ),
    )
    hists = {
        "control Exec": _hist(*([10.0] * 98 + [100.0] * 2)),  # p99 = 100 ms
        "control Exec (service time)": _hist(*([1.0] * 100)),  # never matched by "control Exec"
        "device status_push": _hist(1.0),
    }
    data = _data(histograms=hists, failures={"control Exec": 1})
    results = evaluate(data, p)
    by = {r.metric: r for r in results}
    assert abs(by["p99"].value - 100.0) <= 0.1 and not by["p99"].passed  # HDR: within 0.1 %
    assert by["error_rate"].value == 0.01 and by["error_rate"].passed
    assert by["throughput"].value == 99 / 10.0 and by["throughput"].passed  # successes per window second
    assert by["p50"].value is None and not by["p50"].passed  # nothing measured is a failure, not a pass
    assert status(results) == "failed" and status([]) == "none"
    xml = junit_xml(results, "run-1")
    assert 'tests="4" failures="2"' in xml
    assert "FAIL: p99 control Exec &lt;= 50: measured 100 ms, needs &lt;= 50 ms" in xml  # 4 figures


def test_outage_windows() -> None:
    ok, bad = _hist(1.0, 1.0), _hist(1.0, 1.0)
    intervals = [
        (100.0, {"control Exec": ok}, {}),
        (101.0, {"control Exec": bad}, {"control Exec": 2}),
        (103.0, {"control Exec": bad}, {"control Exec": 2}),  # 102 had no Exec: the outage goes on
        (104.0, {"control Exec": ok, "device offline_at_end": bad}, {"device offline_at_end": 2}),
    ]
    (out,) = request_outages(_data(intervals=intervals))
    assert (out.what, out.start_s, out.end_s) == ("control Exec", 1.0, 4.0)
    timeline = pd.DataFrame(
        {
            "elapsed_s": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
            "devices_target": [10] * 7,
            "online": [0, 10, 10, 3, 4, 10, 10],  # the ramp is no outage; the drop is
            "target_up": [1, 1, 1, 1, 0, 1, 1],
        }
    )
    outages = fleet_outages(timeline)
    assert [(o.what, o.start_s, o.end_s) for o in outages] == [
        ("devices online", 1.5, 2.5),
        ("target", 2.0, 2.5),
    ]
    assert outages[0].detail == "down to 3 of 10 devices online"


def test_stalls_need_requests_outstanding_and_no_answer() -> None:
    def second(at: float, *ms: float) -> tuple:
        return (100.0 + at, {"control Exec": _hist(*ms), "device status_push": _hist(1.0)}, {})

    quiet = [second(0, 1.0), second(1, 1.0), second(5, 1.0), second(6, 1.0)]  # nobody asked from 2 to 5
    frozen = [second(0, 1.0), second(1, 1.0), second(5, 1.0, 3_900.0), second(6, 1.0)]  # one call waited
    timeline = pd.DataFrame({"elapsed_s": [0.0, 3.0, 6.0], "calls_in_flight": [0, 0, 0]})
    assert stalls(_data(intervals=quiet, timeline=timeline), 2.0) == []
    (stall,) = stalls(_data(intervals=frozen, timeline=timeline), 2.0)
    assert stall.what == "target" and abs(stall.seconds - 3.9) < 0.01 and stall.end_s == 5.5  # HDR: 0.1 %
    assert stalls(_data(intervals=frozen, timeline=timeline), 4.0) == []  # not longer than the threshold
    in_flight = pd.DataFrame({"elapsed_s": [0.0, 2.5, 3.5, 4.5, 6.0], "calls_in_flight": [0, 2, 2, 2, 0]})
    (seen,) = stalls(_data(intervals=quiet, timeline=in_flight), 2.0)  # calls in flight, none answered
    assert seen.seconds == 3.0
    caught = pd.DataFrame({"elapsed_s": [0.0, 2.5, 3.5, 4.5, 6.0], "calls_in_flight": [0, 0, 1, 0, 0]})
    assert stalls(_data(intervals=quiet, timeline=caught), 2.0) == []  # one quick call caught in flight

    p = profiles.resolve("smoke")
    common = dict(interrupted=False, start_error=None, target_lost=[], workers_lost=[], slo_failures=[])
    failed = decide(p, requests=100, failures=0, stalls=["no answer for 3.9s"], **common)
    assert failed.status == "failed" and failed.reason == "target stalled: no answer for 3.9s"
    # A profile with SLOs judges stalls with max_stall.
    gated = dataclasses.replace(p, slo=(Slo(metric="max_stall", max=2.0),))
    assert decide(gated, requests=100, failures=0, stalls=["no answer for 3.9s"], **common).status == "ok"
    (result,) = evaluate(_data(intervals=frozen, timeline=timeline), gated)
    assert abs(result.value - 3.9) < 0.01 and not result.passed and result.unit == "s"


def test_several_gateway_processes_one_metrics_file() -> None:
    a = '# HELP x_total X\n# TYPE x_total counter\nx_total{kind="a"} 1.0\ny 2.0\n'
    b = '# HELP x_total X\n# TYPE x_total counter\nx_total{kind="a"} 3.0\n'
    merged = merge_prometheus([a, b])
    assert merged.count("# HELP x_total") == 1
    assert 'x_total{gateway="0",kind="a"} 1.0' in merged and 'x_total{gateway="1",kind="a"} 3.0' in merged
    assert merge_prometheus([a]) == a


def test_shards_route_every_device_the_same_way_everywhere() -> None:
    amap = parse("127.0.0.1:5001,127.0.0.1:5002")
    assert amap.shards == ("127.0.0.1:5001", "127.0.0.1:5002") and amap.shared is None
    ids = [f"dev-{w}-{n:05d}" for w in range(2) for n in range(200)]
    routes = [amap.address_for(d) for d in ids]
    assert routes == [AddressMap("again", shards=amap.shards).address_for(d) for d in ids]
    assert 150 <= routes.count("127.0.0.1:5001") <= 250  # a fair split
