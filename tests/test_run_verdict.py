"""The pure rules a run is judged by: status, SLO values, outage windows, multi-process metrics, routing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from analysis.outages import fleet_outages, request_outages
from analysis.run_data import RunData
from analysis.slo import evaluate, junit_xml, status
from aranya_perf import profiles
from aranya_perf.address_map import AddressMap, parse
from aranya_perf.measure.latency import new_histogram
from aranya_perf.profiles.schema import Slo
from aranya_perf.results import TIMELINE_COLUMNS
from aranya_perf.run.target import merge_prometheus
from aranya_perf.run.verdict import decide


def _data(**fields: object) -> RunData:
    empty = pd.DataFrame()
    base = dict(
        run_dir=Path("."), meta={"window": {"started_at": 100.0, "ended_at": 110.0}}, profile=None, t0=100.0,
        stats=empty, history=empty, failures=empty, exceptions=empty, latency=empty, histograms={},
        hdr_failures={}, intervals=[], timeline=pd.DataFrame(columns=list(TIMELINE_COLUMNS)),
        resources=empty, gateway_metrics=empty, events=[], missing={},
    )  # fmt: skip
    base.update(fields)
    return RunData(**base)  # type: ignore[arg-type]


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
    data = _data(histograms=hists, hdr_failures={"control Exec": 1})
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
