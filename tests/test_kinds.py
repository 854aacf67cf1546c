"""Route-neutral request kinds: ``operator exec`` covers ``control Exec`` and ``kube exec``, nothing else."""

from __future__ import annotations

import dataclasses

import pytest
from aranya_perf.analysis.compare import RunData
from aranya_perf.analysis.tuning import ALL_CALLS, merged_operator_histograms

from aranya_perf import profiles
from aranya_perf.judge.measured import Measured
from aranya_perf.judge.slo import evaluate
from aranya_perf.measure.kinds import ANY_CALL, OPERATOR_CALLS, call_names, matches, neutral_key
from aranya_perf.measure.latency import SERVICE_SUFFIX, new_histogram
from aranya_perf.profiles.schema import OperatorsSection, Slo

CONTROL = {
    "exec": "control Exec",
    "logs": "control Logs",
    "portforward": "control PortForward",
    "metrics": "control CollectMetrics",
    "list": "control ListDevices",
}
KUBE = {
    "exec": "kube exec",
    "logs": "kube logs",
    "portforward": "kube portforward",
    "metrics": "kube metrics",
    "list": "kube list",
}
NOT_CALLS = ("control arrivals", "kube operator")  # a schedule or an operator loop that died
OTHERS = (
    "device connect",
    "device CMD_RUNTIME:CMD_EXEC",
    "device CMD_LOGS",
    "device CMD_METRICS_COLLECT",
    "etcd Put",
    "grpc Health/Check",
    "setup grpc",
)
TWINS = tuple(k + SERVICE_SUFFIX for k in (*CONTROL.values(), *KUBE.values()))
ROWS = (*CONTROL.values(), *KUBE.values(), *NOT_CALLS, *OTHERS, *TWINS)


@pytest.mark.parametrize("call", sorted(CONTROL))
def test_each_neutral_kind_matches_both_routes_and_nothing_else(call: str) -> None:
    covered = {row for row in ROWS if matches(row, f"operator {call}")}
    assert covered == {CONTROL[call], KUBE[call]}


def test_operator_star_covers_every_operator_row_and_no_other() -> None:
    covered = {row for row in ROWS if matches(row, ANY_CALL)}
    assert covered == {*CONTROL.values(), *KUBE.values(), *NOT_CALLS}
    twins = {row for row in ROWS if matches(row, f"operator *{SERVICE_SUFFIX}")}
    assert twins == set(TWINS)  # a twin only when the glob names it, as for the route's own kinds
    exec_twins = {row for row in ROWS if matches(row, f"operator exec{SERVICE_SUFFIX}")}
    assert exec_twins == {f"control Exec{SERVICE_SUFFIX}", f"kube exec{SERVICE_SUFFIX}"}


def test_route_kinds_keep_their_meaning() -> None:
    assert {row for row in ROWS if matches(row, "control Exec")} == {"control Exec"}
    assert {row for row in ROWS if matches(row, "kube *")} == {*KUBE.values(), "kube operator"}
    assert {row for row in ROWS if matches(row, "control *")} == {*CONTROL.values(), "control arrivals"}
    assert {row for row in ROWS if matches(row, "*")} == {*ROWS} - set(TWINS)
    assert neutral_key("device CMD_EXEC") is None and neutral_key("kube exec") == "operator exec"


def test_the_table_names_every_call_of_the_mix() -> None:
    mix = set(OperatorsSection().mix)
    assert set(call_names("control")) == set(call_names("kube")) == mix
    assert set(OPERATOR_CALLS) == {*mix, "list"}


def _hist(*ms: float):
    h = new_histogram()
    for v in ms:
        h.record_value(round(v * 1000))
    return h


@pytest.mark.parametrize("route", [CONTROL, KUBE])
def test_a_neutral_slo_judges_either_route(route: dict[str, str]) -> None:
    p = dataclasses.replace(
        profiles.resolve("smoke"),
        slo=(
            Slo(metric="p99", kind="operator exec", max=50.0),
            Slo(metric="error_rate", kind="operator *", max=0.01),
            Slo(metric="p50", kind="operator logs", max=5.0),
        ),
    )
    hists = {
        route["exec"]: _hist(*([10.0] * 98 + [100.0] * 2)),  # p99 = 100 ms
        route["exec"] + SERVICE_SUFFIX: _hist(*([1.0] * 100)),  # not covered by "operator exec"
        "device CMD_LOGS": _hist(*([1.0] * 100)),  # the device side of a log call, not an operator call
    }
    results = evaluate(Measured(t0=100.0, seconds=10.0, histograms=hists, failures={route["exec"]: 1}), p)
    by = {r.metric: r for r in results}
    assert abs(by["p99"].value - 100.0) <= 0.1 and not by["p99"].passed
    assert by["error_rate"].value == 0.01 and by["error_rate"].passed
    assert by["p50"].value is None and not by["p50"].passed  # no log call on either route


def test_tune_merges_the_operator_calls_of_either_route() -> None:
    hists = {
        "control Exec": _hist(1.0, 2.0),
        "kube exec": _hist(3.0),
        "kube logs": _hist(4.0),
        "kube exec" + SERVICE_SUFFIX: _hist(9.0),
        "device connect": _hist(50.0),
    }
    merged = merged_operator_histograms(RunData("r", hists, 10.0)).histograms
    assert list(merged) == [ALL_CALLS] and ALL_CALLS == "operator all calls"
    assert merged[ALL_CALLS].get_total_count() == 4 and merged[ALL_CALLS].get_max_value() < 5000
