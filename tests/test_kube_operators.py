"""The Kubernetes operators in a real Locust Environment: devices and operators against the gateway's
Kubernetes face over loopback, through the API server paths and straight to the kubelet paths.

Every call must succeed with the device's answer, and the gateway's own counts (requests per route
on the face, sessions per command kind) must equal Locust's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import gevent
import pytest
from aranya_perf.loadtests import hooks
from aranya_perf.loadtests.devices import DeviceUser
from aranya_perf.loadtests.engine import shutdown_engine
from aranya_perf.loadtests.kube_operators import (
    CALL_NAMES,
    LIST_NAME,
    REQUEST_TYPE,
    KubeArrivalUser,
    KubeConfigError,
    KubeOperatorUser,
    load_kubeconfig,
    provide_kube,
)
from aranya_perf.loadtests.operators import ArrivalUser, OperatorUser
from aranya_perf.loadtests.scenarios import wanted_classes
from aranya_perf.loadtests.settings import configure
from aranya_perf.loadtests.window import window_for
from locust.env import Environment

from aranya_perf import profiles
from aranya_perf.address_map import AddressMap
from tests.helpers import end_as_a_run, gateway_process, run_cli

pytestmark = pytest.mark.timeout(120)

DEVICES = 6
OPERATORS = 2
ROUTE_OF = {
    "exec": "exec",
    "logs": "logs",
    "portforward": "portforward",
    "metrics": "metrics",
}


def _metric(metrics: dict[str, float], name: str, **labels: str) -> float:
    key = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    return metrics.get(key, 0.0)


@pytest.mark.parametrize("route", ["api", "kubelet"])
def test_kube_operators_counts_match_the_gateway(route: str, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    args = ["--kube-listen", "127.0.0.1:0", "--kubeconfig-out", str(kubeconfig), "--node-info-interval", "0"]
    args += ["--metrics-interval", "0"]
    with gateway_process(*args) as gw:
        overrides = {
            "fleet.devices": DEVICES,
            "operators.count": OPERATORS,
            "operators.arrival_rate": 5.0,
            "operators.log_tail_lines": 7,
            "operators.mix": {"exec": 3.0, "logs": 2.0, "port_forward": 2.0, "metrics": 1.0},
            "operators.api": "kubernetes",
            "operators.route": route,
        }
        profile = profiles.resolve("smoke", overrides)
        users = wanted_classes(
            [DeviceUser, OperatorUser, ArrivalUser, KubeOperatorUser, KubeArrivalUser], profile
        )
        assert {u.__name__ for u in users} == {"DeviceUser", "KubeOperatorUser", "KubeArrivalUser"}
        env = Environment(user_classes=users, stop_timeout=10)
        configure(env, profile, AddressMap(gw.address, shards=(gw.address,)), (gw.address,))
        provide_kube(env, load_kubeconfig(kubeconfig, route))
        hooks.install(env.events)
        runner = env.create_local_runner()
        try:
            runner.start(DEVICES + OPERATORS + 1, spawn_rate=100)
            gevent.sleep(6)
            # As aranya-perf run does: no new calls, those in flight answered and reported, then stop.
            # (Stopped mid-call, a call the face answered could go uncounted by Locust.)
            assert window_for(env).close(10.0) == 0
            metrics = end_as_a_run(runner, gw, {"KubeOperatorUser": OPERATORS, "KubeArrivalUser": 1})
        finally:
            shutdown_engine()

    stats = env.stats
    assert stats.total.num_failures == 0, stats.errors
    calls = {name: stats.get(name, REQUEST_TYPE).num_requests for name in CALL_NAMES.values()}
    assert all(n > 0 for n in calls.values()), calls
    for name, n in calls.items():
        code_ok = _metric(metrics, "aranya_gateway_kube_requests_total", route=ROUTE_OF[name], code="OK")
        assert code_ok == n, (name, code_ok, n)
    assert (
        _metric(metrics, "aranya_gateway_kube_requests_total", route="list", code="OK")
        == stats.get(LIST_NAME, REQUEST_TYPE).num_requests
    )
    # Each call was one session on a device, answered (port-forwards end with the operator's close).
    done = "aranya_gateway_sessions_completed_total"
    assert _metric(metrics, done, kind="CMD_EXEC", outcome="done") == calls["exec"]
    assert _metric(metrics, done, kind="CMD_LOGS", outcome="done") == calls["logs"]
    assert (
        _metric(metrics, "aranya_gateway_commands_sent_total", kind="CMD_PORT_FORWARD")
        == calls["portforward"]
    )
    scrapes = _metric(metrics, done, kind="CMD_METRICS_COLLECT", outcome="done")
    assert scrapes == calls["metrics"]


def test_an_unusable_kubeconfig_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="cannot read kubeconfig"):
        load_kubeconfig(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.write_text("not: [a kubeconfig")
    with pytest.raises(KubeConfigError, match="kubeconfig"):
        load_kubeconfig(bad)
    with pytest.raises(KubeConfigError, match="unknown operator route"):
        load_kubeconfig(bad, "ssh")


def test_run_goes_through_the_kubernetes_face_by_default(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    args = ["--devices", "8", "--operators", "2", "--arrival-rate", "4", "--duration", "8s"]
    # No scheduled metrics pulls: every CMD_METRICS_COLLECT a device answers is then an operator's scrape.
    args += ["--metrics-interval", "0", "--kubeconfig-out", str(kubeconfig), "--out", str(tmp_path / "out")]
    proc = run_cli("run", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = (tmp_path / "out").iterdir()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "ok" and meta["summary"]["failures"] == 0
    assert meta["target"]["operators"] == "kubernetes api" and meta["target"]["kube"]
    report = (run_dir / "report.md").read_text()
    assert f"| Operators through | kubernetes api ({meta['target']['kube']}) |" in report
    rows = re.findall(
        r"^\| (kube|device|control) \| ([\w: ]+) \| (\d+) \| (\d+) \| (-?\d+) \|$", report, re.M
    )
    kube = {name: int(generator) for side, name, _, generator, _ in rows if side == "kube"}
    assert set(kube) >= {"exec", "logs", "portforward", "metrics", "list"}
    assert all(n > 0 for n in kube.values()), kube
    assert not any(side == "control" and name != "Drain" for side, name, *_ in rows), rows
    assert all(gateway == generator for _, _, gateway, generator, _ in rows), rows
    # Each call was one session a device answered: the face's counts, the devices' and Locust's agree.
    device = {name: int(generator) for side, name, _, generator, _ in rows if side == "device"}
    sessions = {"exec": "CMD_EXEC", "logs": "CMD_LOGS", "portforward": "CMD_PORT_FORWARD"}
    assert {call: device[kind] for call, kind in sessions.items()} == {c: kube[c] for c in sessions}
    assert device["CMD_METRICS_COLLECT"] == kube["metrics"]
    # The kubeconfig went where asked and held the face's token while the run lasted.
    assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"
    assert json.loads(kubeconfig.read_text())["contexts"][0]["context"]["namespace"] == "edge"


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--target", "127.0.0.1:1", "--operator-api", "kubernetes"], "needs --kubeconfig"),
        (
            ["--target", "127.0.0.1:1", "--operator-api", "kubernetes", "--kubeconfig", "/nonexistent"],
            "kubeconfig",
        ),
        (["--operator-route", "ssh"], "--operator-route"),
        (["--operator-api", "kubernetes", "--gateway-processes", "2"], "one gateway process"),
        (["--operator-api", "kubernetes", "--transport", "mqtt"], "MQTT"),
        (["--target", "127.0.0.1:1", "--kubeconfig-out", "/tmp/kc"], "--kubeconfig-out applies to"),
    ],
)
def test_bad_kubernetes_options_are_one_line(tmp_path: Path, args: list[str], expect: str) -> None:
    proc = run_cli("run", *args, "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr and expect in lines[0], proc.stderr
