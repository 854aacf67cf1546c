"""Operators on the control route in a real Locust Environment: closed-model ``OperatorUser`` and
open-model ``ArrivalUser`` beside a small fleet, against the real gateway (a child process on free
loopback ports); every call answered and counted as the gateway counted it, through a connect storm
and the window's close and flush barriers of a local run. (Every protocol version:
tests/test_fleet_integration.py; the Kubernetes route: tests/test_kube_operators.py.)"""

from __future__ import annotations

import gevent
import pytest
from aranya_perf.loadtests import distributed, hooks
from aranya_perf.loadtests.devices import DeviceUser
from aranya_perf.loadtests.engine import shutdown_engine
from aranya_perf.loadtests.operators import ArrivalUser, OperatorUser
from aranya_perf.loadtests.scenarios import wanted_classes
from aranya_perf.loadtests.settings import configure
from locust.env import Environment

from aranya_perf import profiles
from aranya_perf.address_map import AddressMap
from tests.helpers import end_as_a_run, gateway_process

pytestmark = pytest.mark.timeout(120)

DEVICES = 6
METHODS = ("Exec", "Logs", "PortForward", "CollectMetrics")


def test_closed_and_open_operators_are_answered_and_counted_as_the_gateway_counted() -> None:
    overrides = {
        "fleet.devices": DEVICES,
        "operators.count": 1,
        "operators.arrival_rate": 5.0,
        "operators.api": "control",
        "operators.mix": {"exec": 2.0, "logs": 1.0, "port_forward": 1.0, "metrics": 1.0},
        "fleet.backoff_initial_s": 0.1,
        "fleet.backoff_max_s": 0.2,
        "shape.storm_fraction": 0.5,
    }
    p = profiles.resolve("smoke", overrides)
    users = wanted_classes([DeviceUser, OperatorUser, ArrivalUser], p)
    assert {u.__name__ for u in users} == {"DeviceUser", "OperatorUser", "ArrivalUser"}
    with gateway_process("--node-info-interval", "0", "--metrics-interval", "0") as gw:
        env = Environment(user_classes=users, stop_timeout=10)
        configure(env, p, AddressMap(gw.address, shards=(gw.address,)), (gw.address,))
        hooks.install(env.events, gc_freeze=False)
        runner = env.create_local_runner()
        distributed.install_local(env)
        try:
            runner.start(DEVICES + 2, spawn_rate=100)
            gevent.sleep(2)
            distributed.send_storm(runner, p, 0)  # half the fleet drops its stream and reconnects
            gevent.sleep(2)
            closed = distributed.barrier(runner, distributed.CLOSE, 10.0)
            assert closed == {"workers": 1, "missing": 0, "in_flight": 0}
            assert distributed.barrier(runner, distributed.FLUSH, 10.0)["in_flight"] == 0
            metrics = end_as_a_run(runner, gw, {"OperatorUser": 1, "ArrivalUser": 1})
        finally:
            shutdown_engine()

    stats = env.stats
    assert stats.total.num_failures == 0, stats.errors
    calls = {m: stats.get(m, "control").num_requests for m in METHODS}
    assert all(n > 0 for n in calls.values()), calls
    for method, n in calls.items():
        key = f'aranya_gateway_control_requests_total{{code="OK",method="{method}"}}'
        assert metrics.get(key, 0.0) == n, (method, n)
    connects = stats.get("connect", "device").num_requests
    assert connects == DEVICES + DEVICES // 2 == metrics["aranya_gateway_device_connects_total"]
    assert stats.get("offline_at_end", "device").num_requests == 0  # all back before the close
