"""The operators' route: Kubernetes by default, control where the face cannot serve (with the reason),
as given when a profile or flag names it; and runs of different routes are not compared silently."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from aranya_perf.analysis import run_catalogue

from aranya_perf import profiles
from aranya_perf.results import collect_meta, write_meta
from aranya_perf.run import gateway_processes
from aranya_perf.run.operator_api import choose, resolved


def _decided(name: str, overrides: dict[str, object] | None = None) -> profiles.Profile:
    """The profile as the run has it when it routes the operators: its gateway processes decided."""
    return gateway_processes.resolved(profiles.resolve(name, overrides), workers=0)[0]


@pytest.mark.parametrize(
    ("overrides", "api", "reason"),
    [
        ({}, "kubernetes", ""),  # smoke, the default run: the embedded gateway's face
        ({"gateway.listener_per_device": True}, "kubernetes", ""),
        ({"operators.count": 0, "operators.arrival_rate": 5.0}, "kubernetes", ""),  # open model
        ({"target.address": "127.0.0.1:1", "target.kubeconfig": "k.yaml"}, "kubernetes", ""),
        ({"target.transport": "mqtt"}, "control", "devices over MQTT"),
        ({"target.address": "127.0.0.1:1"}, "control", "--target without --kubeconfig"),
        ({"gateway.processes": 2}, "control", "one gateway process only"),
        ({"operators.count": 0}, "control", ""),  # no operators: nothing to route, and no face started
        ({"operators.api": "control"}, "control", ""),  # named: kept, nothing to say
        ({"operators.api": "kubernetes", "target.transport": "mqtt"}, "kubernetes", ""),  # refused elsewhere
    ],
)
def test_auto_chooses_kubernetes_unless_the_face_cannot_serve(
    overrides: dict[str, object], api: str, reason: str
) -> None:
    chosen = choose(_decided("smoke", overrides))
    assert chosen.api == api
    assert (reason in chosen.fallback) if reason else chosen.fallback == ""


def test_a_scenario_without_devices_keeps_control() -> None:
    assert choose(_decided("etcd")) == choose(_decided("smoke", {"operators.count": 0}))


def test_the_resolved_profile_records_the_choice() -> None:
    assert profiles.resolve("smoke").operators.api == "auto"
    p, line = resolved(_decided("smoke"))
    assert line == "" and tomllib.loads(profiles.render(p))["operators"]["api"] == "kubernetes"
    p, line = resolved(_decided("smoke", {"target.transport": "mqtt"}))
    assert p.operators.api == "control" and line.startswith("operators through the control service")
    assert "\n" not in line and "MQTT" in line


def _run(root: Path, name: str, operators: str | None) -> None:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    target = {"address": "127.0.0.1:1", "embedded": True, **({"operators": operators} if operators else {})}
    meta = collect_meta(["run"], {"devices": 10, "operators": 3}, target, "smoke", name)
    write_meta(run_dir, {**meta, "status": "ok"})


def test_runs_of_different_routes_are_not_comparable(tmp_path: Path) -> None:
    _run(tmp_path, "20261201T000000Z-smoke", None)  # before the route was recorded: control
    _run(tmp_path, "20261201T000100Z-smoke", "control")
    _run(tmp_path, "20261201T000200Z-smoke", "kubernetes api")
    cat = run_catalogue.catalogue([tmp_path])
    assert list(cat["operator_api"]) == ["control", "control", "kubernetes api"]
    assert run_catalogue.comparability_problems(cat[:2]) == []
    assert run_catalogue.comparability_problems(cat) == ["operator_api control vs kubernetes api"]
