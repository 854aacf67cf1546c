"""A real Locust Environment with devices and operators against the real gateway over loopback.

The gateway runs as a child process (as in ``aranya-perf run``); Locust runs in this
process on the load engine. Counts seen by Locust must equal the gateway's own
Prometheus counters, in every protocol version, through a shared listener and through a
listener per device.
"""

from __future__ import annotations

import gevent
import pytest
from aranya_perf.loadtests import hooks
from aranya_perf.loadtests.devices import DeviceUser
from aranya_perf.loadtests.engine import shutdown_engine
from aranya_perf.loadtests.operators import ArrivalUser, OperatorUser
from aranya_perf.loadtests.scenarios import wanted_classes
from aranya_perf.loadtests.settings import configure
from aranya_perf.loadtests.window import window_for
from locust.env import Environment

from aranya_perf import profiles, protocol
from aranya_perf.address_map import AddressMap, DeviceAddress
from aranya_perf.protocol import Op
from tests.helpers import end_as_a_run, gateway_process

DEVICES = 12
OPERATORS = 2


def _metric(metrics: dict[str, float], name: str, **labels: str) -> float:
    key = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    return metrics.get(key, 0.0)


@pytest.fixture(
    params=[
        ("aranya-v0.3", True),
        ("aranya-v0.2", False),
        ("aranya-v0.1", True),
        ("aranya-2020-09", False),
    ],
    ids=lambda p: f"{p[0]}-{'per-device' if p[1] else 'shared'}",
)
def fleet_run(request):
    """Run the fleet for a few seconds against a fresh gateway; yield (protocol, env, gateway metrics)."""
    name, per_device = request.param
    args = ["--protocol", name, "--node-info-interval", "1s", "--metrics-interval", "1s"]
    if per_device:
        args += ["--listener-per-device", "--devices", str(DEVICES)]
    with gateway_process(*args) as gw:
        if per_device:
            devices = AddressMap(
                "gateway", tuple(DeviceAddress(d, a) for d, a in gw.device_addresses.items())
            )
        else:
            devices = AddressMap(gw.address, shards=(gw.address,))
        overrides = {"fleet.devices": DEVICES, "operators.count": OPERATORS, "target.protocol": name}
        profile = profiles.resolve("smoke", overrides)
        users = wanted_classes([DeviceUser, OperatorUser, ArrivalUser], profile)
        env = Environment(user_classes=users, stop_timeout=10)
        configure(env, profile, devices, (gw.address,))
        hooks.install(env.events)
        runner = env.create_local_runner()
        try:
            runner.start(DEVICES + OPERATORS, spawn_rate=100)
            gevent.sleep(5)
            # As aranya-perf run does: close the window (no new calls; those in flight finish and are
            # reported) before the users stop, or a stop cancels a call the gateway has already counted;
            # then stop the schedule and let sessions end, and read both sides.
            assert window_for(env).close(10.0) == 0
            metrics = end_as_a_run(runner, gw, {"OperatorUser": OPERATORS})
        finally:
            shutdown_engine()
        yield protocol.get(name), env, metrics


def test_fleet_counts_match_gateway(fleet_run):
    proto, env, metrics = fleet_run
    stats = env.stats

    assert stats.total.num_failures == 0, stats.errors
    assert _metric(metrics, "aranya_gateway_device_connects_total") == DEVICES
    assert _metric(metrics, "aranya_gateway_info", protocol=proto.name, service=proto.service) == 1

    calls = {
        m: stats.get(m, "control").num_requests for m in ("Exec", "Logs", "PortForward", "CollectMetrics")
    }
    assert all(n > 0 for n in calls.values()), calls

    # Every operator call issued was answered, and the gateway saw exactly those calls.
    for method, n in calls.items():
        assert _metric(metrics, "aranya_gateway_control_requests_total", method=method, code="OK") == n
    # ...and each became exactly one command that a device answered, under the same name on both sides.
    runtime = proto.via_runtime(profiles.resolve("smoke").operators.pod_uid)
    for op, method in ((Op.EXEC, "Exec"), (Op.LOGS, "Logs"), (Op.PORT_FORWARD, "PortForward")):
        label = proto.command(op, b"", runtime=runtime)[2]
        assert _metric(metrics, "aranya_gateway_commands_sent_total", kind=label) == calls[method]
        assert stats.get(label, "device").num_requests == calls[method]

    # The connect sequence: once per device.
    for label in (proto.pod_list_command()[2], proto.cmd_name(proto.cmd.METRICS_CONFIG)):
        assert _metric(metrics, "aranya_gateway_commands_sent_total", kind=label) == DEVICES
        assert stats.get(label, "device").num_requests == DEVICES

    # Background commands: every device got NODE_INFO_GET(ALL) at connect plus the 1 s schedule;
    # drained, every one sent was answered and completed, on both sides.
    for label, at_least in (
        (proto.cmd_name(proto.cmd.NODE_INFO_GET), 2 * DEVICES),
        (proto.cmd_name(proto.cmd.METRICS_COLLECT), DEVICES),
    ):
        sent = _metric(metrics, "aranya_gateway_commands_sent_total", kind=label)
        done = _metric(metrics, "aranya_gateway_sessions_completed_total", kind=label, outcome="done")
        assert sent >= at_least
        assert done == sent == stats.get(label, "device").num_requests

    assert stats.get("connect", "device").num_requests == DEVICES
    assert stats.get("first_cmd", "device").num_requests == DEVICES
