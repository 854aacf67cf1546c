"""A real Locust Environment with devices and operators against the real gateway over loopback.

The gateway runs as a child process (as in ``aranya-perf run``); Locust runs in
this process on the load engine. Counts seen by Locust must equal the
gateway's own Prometheus counters.
"""

from __future__ import annotations

import gevent
import pytest
from locust.env import Environment

from aranya_perf.gateway.metrics import parse_metrics
from loadtests import hooks
from loadtests.devices import DeviceUser
from loadtests.engine import shutdown_engine
from loadtests.operators import OperatorUser
from tests.helpers import gateway_process

DEVICES = 12
OPERATORS = 2


def _metric(metrics: dict[str, float], name: str, **labels: str) -> float:
    key = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    return metrics.get(key, 0.0)


@pytest.fixture
def fleet_run():
    """Run the fleet for a few seconds against a fresh gateway; yield (env, gateway metrics after stop)."""
    with gateway_process("--node-info-interval", "1s", "--metrics-interval", "1s") as gw:
        devices = type("DeviceUser", (DeviceUser,), {"fixed_count": DEVICES})
        operators = type(
            "OperatorUser", (OperatorUser,), {"fixed_count": OPERATORS, "device_list_ttl_s": 0.5}
        )
        env = Environment(user_classes=[devices, operators], host=gw.address, stop_timeout=10)
        hooks.install(env.events)
        runner = env.create_local_runner()
        try:
            runner.start(DEVICES + OPERATORS, spawn_rate=100)
            gevent.sleep(5)
            runner.stop_users({"OperatorUser": OPERATORS})
            runner.quit()
            metrics = parse_metrics(gw.metrics_text())
        finally:
            shutdown_engine()
        yield env, metrics


def test_fleet_counts_match_gateway(fleet_run):
    env, metrics = fleet_run
    stats = env.stats

    assert stats.total.num_failures == 0, stats.errors
    assert _metric(metrics, "aranya_gateway_device_connects_total") == DEVICES

    execs = stats.get("Exec", "control").num_requests
    logs = stats.get("Logs", "control").num_requests
    forwards = stats.get("PortForward", "control").num_requests
    assert execs > 0 and logs > 0 and forwards > 0

    # Every operator call issued was answered, and the gateway saw exactly those calls.
    for method, n in (("Exec", execs), ("Logs", logs), ("PortForward", forwards)):
        assert _metric(metrics, "aranya_gateway_control_requests_total", method=method, code="OK") == n
    # ...and each became exactly one command that a device answered.
    for kind, n in (
        ("CMD_POD_CTR_EXEC", execs),
        ("CMD_POD_CTR_LOGS", logs),
        ("CMD_POD_PORT_FORWARD", forwards),
    ):
        assert _metric(metrics, "aranya_gateway_commands_sent_total", kind=kind) == n
        assert stats.get(kind, "device").num_requests == n

    # Background commands: every device got NODE_INFO_GET(ALL) at connect plus the 1 s schedule.
    sent = _metric(metrics, "aranya_gateway_commands_sent_total", kind="CMD_NODE_INFO_GET")
    done = _metric(
        metrics, "aranya_gateway_sessions_completed_total", kind="CMD_NODE_INFO_GET", outcome="done"
    )
    answered = stats.get("CMD_NODE_INFO_GET", "device").num_requests
    assert sent >= 2 * DEVICES
    assert done <= sent
    # At most one NODE_INFO_GET per device can be in flight when the fleet stops.
    assert sent - DEVICES <= answered <= sent

    assert stats.get("connect", "device").num_requests == DEVICES
    assert stats.get("first_cmd", "device").num_requests == DEVICES
