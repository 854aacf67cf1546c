"""The generator's live metrics on their own: counting from Locust events and the fleet plan, and the
``--metrics-listen`` option's input checks (the Prometheus integration test covers a real run)."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from types import SimpleNamespace

import gevent
import gevent.monkey
from aranya_perf.loadtests.engine import LAG_PERIOD_S, get_engine, shutdown_engine
from aranya_perf.loadtests.fleet import plan_for
from aranya_perf.loadtests.live_metrics import LiveMetrics
from aranya_perf.loadtests.settings import configure
from locust.event import Events
from prometheus_client import generate_latest

from aranya_perf import profiles
from aranya_perf.address_map import AddressMap
from aranya_perf.gateway.metrics import parse_metrics
from tests.helpers import REPO


class Agent:
    """What the fleet plan counts of a ``DeviceAgent``."""

    def __init__(self, online: bool, connects: int) -> None:
        self.online, self.connects = online, connects
        self.msgs_sent = 0


def _environment(agents: list[Agent]) -> SimpleNamespace:
    runner = SimpleNamespace(user_classes_count={"DeviceUser": len(agents)})
    env = SimpleNamespace(events=Events(), runner=runner, parsed_options=None)
    configure(env, profiles.resolve("smoke"), AddressMap("test", shards=("127.0.0.1:1",)))
    plan = plan_for(env)
    for agent in agents:
        plan.attach(agent)
    return env


def test_counts_requests_devices_online_and_reconnects() -> None:
    agents = [Agent(online=True, connects=1), Agent(online=False, connects=1)]
    env = _environment(agents)
    live = LiveMetrics(env)
    address = live.serve("127.0.0.1", 0)
    try:
        fire = env.events.request.fire
        for ms in (1.0, 3.0, 250.0):
            fire(request_type="control", name="Exec", response_time=ms, response_length=0, exception=None)
        fire(request_type="control", name="Exec", response_time=5, response_length=0, exception=OSError())
        for _ in range(2):
            fire(request_type="device", name="connect", response_time=2.0, response_length=0, exception=None)
        live.set_slo("exec_p99", False)

        def scrape() -> dict[str, float]:
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as resp:
                return parse_metrics(resp.read().decode())

        assert live.linger_s() == 0  # nothing scrapes it: the run does not wait
        m = scrape()
        assert live.linger_s() == 1.5 * 15 + 1  # one scrape: Prometheus' default interval assumed
        assert m['aranya_perf_requests_total{name="Exec",request_type="control"}'] == 4
        assert m['aranya_perf_request_failures_total{name="Exec",request_type="control"}'] == 1
        assert m['aranya_perf_request_duration_seconds_count{name="Exec",request_type="control"}'] == 4
        bucket = 'aranya_perf_request_duration_seconds_bucket{le="0.005",name="Exec",request_type="control"}'
        assert m[bucket] == 3
        assert m["aranya_perf_devices_online"] == 1
        assert m['aranya_perf_users{user_class="DeviceUser"}'] == 2
        assert m["aranya_perf_device_reconnects_total"] == 0  # two agents, two connects
        assert m['aranya_perf_slo_passing{slo="exec_p99"}'] == 0
        assert m['aranya_perf_generator_info{role="local",run="",worker_index="0"}'] == 1
        assert m["aranya_perf_process_cpu_seconds_total"] > 0
        assert not any(k.startswith(("aranya_perf_window_open", "aranya_perf_phase")) for k in m)

        # One device drops and comes back: one more connect, counted as a reconnect, and it stays
        # counted after that agent's user is gone.
        agents[0].connects = 2
        fire(request_type="device", name="connect", response_time=2.0, response_length=0, exception=None)
        assert scrape()["aranya_perf_device_reconnects_total"] == 1
        plan_for(env).detach(agents[0])
        m = scrape()
        assert m["aranya_perf_device_reconnects_total"] == 1 and m["aranya_perf_devices_online"] == 0
    finally:
        live.stop()


def test_window_and_phase_series_follow_the_run() -> None:
    """What the dashboard's annotations read: the window's state and the current phase, under the run's id."""
    env = _environment([])
    live = LiveMetrics(env, run="20261207T000000Z-smoke")
    run = 'run="20261207T000000Z-smoke"'

    def series() -> dict[str, float]:
        return parse_metrics(generate_latest(live.registry).decode())

    live.set_window(True)
    live.set_phase("ramp")
    m = series()
    assert m[f"aranya_perf_window_open{{{run}}}"] == 1
    assert m[f'aranya_perf_phase{{phase="ramp",{run}}}'] == 1
    assert m[f'aranya_perf_generator_info{{role="local",{run},worker_index="0"}}'] == 1
    live.set_phase("hold")
    m = series()
    assert m[f'aranya_perf_phase{{phase="hold",{run}}}'] == 1
    assert not any("ramp" in k for k in m)  # the ended phase is gone, not 0
    live.set_phase(None)
    live.set_window(False)
    m = series()
    assert m[f"aranya_perf_window_open{{{run}}}"] == 0 and not any("aranya_perf_phase{" in k for k in m)


def test_a_master_exports_its_workers_and_an_engine_its_loop_lag() -> None:
    env = _environment([])
    MasterRunner = type("MasterRunner", (), {"worker_count": 1, "user_classes_count": {}})
    env.runner = MasterRunner()
    env.parsed_options = SimpleNamespace(expect_workers=2)
    m = parse_metrics(generate_latest(LiveMetrics(env).registry).decode())
    assert m["aranya_perf_workers_expected"] == 2 and m["aranya_perf_workers_connected"] == 1
    assert "aranya_perf_event_loop_lag_seconds" not in m  # no engine in this process
    engine = get_engine()
    try:
        native_sleep = gevent.monkey.get_original("time", "sleep")

        async def block_the_loop() -> None:
            native_sleep(0.4)  # a device hogging the loop: every timer on it runs late

        engine.call(block_the_loop)
        gevent.sleep(3 * LAG_PERIOD_S)  # the lag timer's next periods
        m = parse_metrics(generate_latest(LiveMetrics(env).registry).decode())
        # Its timer was due within 0.25 s and could not run for 0.4 s: at least 0.15 s late.
        assert 0.15 <= m["aranya_perf_event_loop_lag_seconds"] < 5
    finally:
        shutdown_engine()


def test_metrics_listen_refuses_bad_addresses_in_one_line() -> None:
    locust = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py"), "--headless"]
    for address, expect in (("0.0.0.0:0", "is not loopback"), ("nowhere", "not a HOST:PORT address")):
        proc = subprocess.run(
            [*locust, "--host", "127.0.0.1:1", "-u", "1", "-t", "2s", "--metrics-listen", address],
            capture_output=True, text=True, timeout=60, cwd=REPO,
        )  # fmt: skip
        assert proc.returncode != 0
        assert expect in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
