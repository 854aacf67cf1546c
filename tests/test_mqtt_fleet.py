"""MQTT fleets through a real mosquitto: devices on the load engine in a Locust process, runs whose
counts agree on all three sides (devices, gateway, broker), storms, and the one-line refusals.

Counts truth, and why it can be exact: the embedded run starts the broker, then the gateway
(which subscribes before any device exists), then the devices, so the broker's
``$SYS/broker/publish/messages/received`` counts every PUBLISH of the run from zero. It is
read after the window closed (schedule stopped, status pushes paused, operators done) and
after mosquitto refreshed ``$SYS`` (it does so at most every 2 s), so nothing is in flight.
mosquitto 2.0 leaves retained publishes out of that counter, and only the devices' online
messages are retained (as arhat's are), so: broker received = Msgs the devices sent (MSG_STATE
aside; the fleet's ``msgs_sent``) + Cmds the gateway published (its ``frames_sent_total``).
And every one of those Msgs reached the gateway: its non-STATE ``msgs_received_total`` equals
the fleet's ``msgs_sent``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import gevent
import gevent.monkey
import locust  # noqa: F401  (this process is a Locust process: gevent has patched socket, threading)
import pytest
from aranya_perf.loadtests.device_agent import DeviceAgent, DeviceProfile
from aranya_perf.loadtests.engine import get_engine, shutdown_engine

from aranya_perf import protocol
from aranya_perf.gateway.metrics import parse_metrics
from aranya_perf.transport import mosquitto, mqtt
from tests.helpers import free_port, gateway_process, run_cli

P = protocol.get("aranya-v0.3")


def _metric_sum(metrics: dict[str, float], name: str, skip: str | None = None) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(name + "{") and (skip is None or skip not in k))


def _wait(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        gevent.sleep(0.05)


# --- devices on the load engine --------------------------------------------------------------------


@pytest.fixture
def engine():
    yield get_engine()
    shutdown_engine()


def test_devices_run_on_the_engine_loop_with_native_sockets(engine) -> None:
    assert gevent.monkey.is_module_patched("socket")  # the trap is armed in this process
    n = 12
    reports: list[tuple[str, str, float, int, BaseException | None]] = []
    with (
        mosquitto.Broker() as broker,
        gateway_process(
            "--transport", "mqtt", "--broker", broker.address, "--node-info-interval", "1s"
        ) as gw,
    ):
        address = mqtt.resolve(broker.host, broker.port)

        async def make(device_id: str) -> mqtt.DeviceChannel:
            return mqtt.DeviceChannel(P, device_id, address)

        agents = []
        for k in range(n):
            device_id = f"eng-{k}"
            channel = engine.call(make, device_id, timeout=5)
            agent = DeviceAgent(
                device_id,
                channel,
                lambda *r: reports.append(r),
                P,
                DeviceProfile(status_push_interval_s=0.5, backoff_initial_s=0.2),
                new_channel=lambda device_id=device_id: make(device_id),
                open_stream=lambda ch: ch.open_stream(),
                duplicate_on_stream=True,
            )
            agents.append((agent, engine.spawn(agent.run)))

        def online() -> float:
            return parse_metrics(gw.metrics_text()).get("aranya_gateway_devices_online", 0.0)

        _wait(lambda: online() == n and all(a.online for a, _ in agents))
        # Every connection is a socket of the original socket module, not gevent's.
        native = gevent.monkey.get_original("socket", "socket")
        for agent, _ in agents:
            raw = agent.channel._client._connection._transport.get_extra_info("socket")._sock
            assert type(raw) is native, type(raw)
        # A storm, as the shapes cause one: half drop clean, half come back as a duplicate online.
        for k, (agent, _) in enumerate(agents):
            engine.loop.call_soon_threadsafe(agent.drop, k % 2 == 1)
        _wait(lambda: all(a.connects == 2 and a.online for a, _ in agents) and online() == n)
        gevent.sleep(1.2)  # status pushes and the schedule go on over the new connections
        for _, handle in agents:
            handle.cancel()
        metrics = parse_metrics(gw.metrics_text())
    failures = [r for r in reports if r[4] is not None]
    assert not failures, failures[:3]
    names = [r[1] for r in reports]
    assert names.count("connect") == 2 * n and names.count("first_cmd") == 2 * n
    assert names.count("duplicate_online") == n // 2
    assert names.count("status_push") >= n
    # The gateway refused each duplicate online as aranya does: REJECT(ALREADY_CONNECTED).
    assert metrics['aranya_gateway_rejects_total{reason="REJECTION_ALREADY_CONNECTED"}'] == n // 2


# --- runs --------------------------------------------------------------------------------------------


def _run(tmp_path: Path, *args: str, timeout: float = 120) -> tuple[int, str, Path | None]:
    proc = run_cli("run", *args, "--out", str(tmp_path), timeout=timeout)
    dirs = [p for p in tmp_path.iterdir() if p.is_dir()]
    return proc.returncode, proc.stdout + proc.stderr, dirs[0] if dirs else None


def test_mqtt_run_counts_agree_on_devices_gateway_and_broker(tmp_path: Path) -> None:
    code, out, run_dir = _run(
        tmp_path, "--transport", "mqtt", "--devices", "20", "--operators", "2", "--duration", "6s",
        "--node-info-interval", "1s", "--metrics-interval", "1s", "--status-interval", "1s",
    )  # fmt: skip
    assert code == 0, out
    assert run_dir is not None
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["transport"] == {"name": "mqtt", "namespace": "aranya-perf/{device}"}
    assert meta["target"]["transport"] == "mqtt" and meta["target"]["broker"]
    fleet = meta["window"]["fleet"]
    assert fleet["online"] == 20 and fleet["reconnects"] == 0 and fleet["msgs_sent"] > 0
    metrics = parse_metrics((run_dir / "gateway_metrics.prom").read_text())
    cmds = _metric_sum(metrics, "aranya_gateway_frames_sent_total")
    msgs = _metric_sum(metrics, "aranya_gateway_msgs_received_total", skip='kind="MSG_STATE"')
    broker = json.loads((run_dir / "broker_sys.json").read_text())["counters"]
    assert msgs == fleet["msgs_sent"]
    assert broker["$SYS/broker/publish/messages/received"] == fleet["msgs_sent"] + cmds
    assert broker["$SYS/broker/publish/messages/dropped"] == 0
    # The report's "Both sides" table: the gateway's counts next to the devices' and the operators'.
    report = (run_dir / "report.md").read_text()
    rows = re.findall(r"^\| (control|device) \| ([\w:]+) \| (\d+) \| (\d+) \| (-?\d+) \|$", report, re.M)
    assert len(rows) >= 6 and all(gw == gen for _, _, gw, gen, _ in rows), rows
    assert "transport: mqtt" in report and "| broker |" in report
    roles = {line.split(",")[2] for line in (run_dir / "resources.csv").read_text().splitlines()[1:]}
    assert {"generator", "gateway", "broker"} <= roles


def test_mqtt_connect_storm(tmp_path: Path) -> None:
    profile = tmp_path / "storm.toml"
    profile.write_text(
        '[run]\nduration = "8s"\n[target]\ntransport = "mqtt"\n[fleet]\ndevices = 30\nspawn_rate = 200\n'
        'backoff_initial = "0.5s"\n[operators]\ncount = 1\n[shape]\nkind = "storm"\nstorm_at = ["3s"]\n'
        'storm_duplicate = 0.2\n[[slo]]\nmetric = "devices_online"\nmin = 1.0\n'
        # Operator calls to a device between streams fail by design (as over gRPC); devices must not.
        '[[slo]]\nmetric = "error_rate"\nkind = "*"\nmax = 0.1\n'
        '[[slo]]\nmetric = "error_rate"\nkind = "device *"\nmax = 0.0\n'
    )
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, run_dir = _run(out_dir, "--profile", str(profile))
    assert code == 0, out
    assert run_dir is not None
    fleet = json.loads((run_dir / "meta.json").read_text())["window"]["fleet"]
    assert fleet["devices"] == 30 and fleet["online"] == 30 and fleet["reconnects"] >= 30, fleet
    with (run_dir / "latency.csv").open() as fh:
        rows = {(r.split(",")[0], r.split(",")[1]): r.split(",") for r in fh.read().splitlines()[1:]}
    assert rows[("device", "duplicate_online")][2] == "6"  # a fifth of the fleet, each answered
    assert ("device", "reject") not in rows and ("device", "stream") not in rows


def test_combinations_mqtt_cannot_serve_are_one_line_errors(tmp_path: Path) -> None:
    for args, expect in (
        (("--listener-per-device",), "listener-per-device is a gRPC topology"),
        (("--gateway-processes", "2"), "one process serves the whole fleet"),
        (("--mqtt-namespace", "fleet/+"), "must contain {device}"),
    ):
        code, out, run_dir = _run(tmp_path, "--transport", "mqtt", *args, timeout=30)
        assert code == 2 and run_dir is None, out
        assert expect in out and len(out.strip().splitlines()) == 1, out
    code, out, _ = _run(tmp_path, "--target", "mqtt://10.0.0.1:1883", timeout=30)
    assert code == 2 and "refusing non-loopback" in out and len(out.strip().splitlines()) == 1, out


def test_unreachable_broker_is_a_one_line_error(tmp_path: Path) -> None:
    code, out, run_dir = _run(
        tmp_path, "--target", f"mqtt://127.0.0.1:{free_port()}", "--operators", "0", timeout=60
    )
    assert code == 1 and run_dir is None, out
    assert "unreachable" in out and len(out.strip().splitlines()) == 1, out
    proc = run_cli("gateway", "--transport", "mqtt", "--broker", f"127.0.0.1:{free_port()}", timeout=30)
    assert proc.returncode == 2 and "MQTT broker" in proc.stderr and "unreachable" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_embedded_run_without_mosquitto_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aranya_perf import profiles
    from aranya_perf.run.target import TargetStartError, start_embedded

    monkeypatch.setattr(mosquitto.shutil, "which", lambda _name: None)
    monkeypatch.setattr(mosquitto, "FALLBACK_PATHS", ())
    with pytest.raises(TargetStartError, match="mosquitto is not installed"):
        # Decided as a run decides `auto` (run.gateway_processes) before the target starts.
        p = profiles.resolve("smoke", {"target.transport": "mqtt", "gateway.processes": 1})
        start_embedded(p, tmp_path)
