"""The locustfile as users run it: ``locust -f loadtests/locustfile.py --headless`` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from aranya_perf.loadtests.hooks import RAW_MODE_LINE

from aranya_perf.gateway.metrics import parse_metrics
from aranya_perf.targets import wait_reachable
from tests.helpers import REPO, free_port, gateway_process, make_pki

LOCUST = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py"), "--headless"]


def _locust(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOCUST, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env
    )


def test_headless_run_stops_cleanly_at_run_time_with_streams_open(tmp_path: Path) -> None:
    with gateway_process("--node-info-interval", "1s") as gw:
        proc = _locust(
            "--host", gw.address, "-u", "101", "-r", "100", "-t", "5s", "--stop-timeout", "5",
            "--csv", str(tmp_path / "run"), "--only-summary",
        )  # fmt: skip
        metrics = parse_metrics(gw.metrics_text())
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    # It says at start-up, once, that plain Locust is the raw mode and where the verdicts are.
    assert proc.stderr.count(RAW_MODE_LINE) == 1 and "aranya-perf run --profile" in RAW_MODE_LINE
    # Stopping with 20 streams open: no hang (we got here), no noise from killed greenlets.
    for noise in ("GreenletExit", "Traceback", "Internal gRPC call error", "Exception ignored"):
        assert noise not in out, out
    # Weights 100:1 give 100 devices and 1 operator; all devices came online and got commands.
    assert metrics["aranya_gateway_device_connects_total"] == 100
    stats = (tmp_path / "run_stats.csv").read_text()
    assert ",Exec," in stats and ",CMD_NODE_INFO_GET," in stats


def test_graceful_stop_lets_operator_calls_in_flight_finish(tmp_path: Path) -> None:
    # Devices answer operators 300 ms late and operators never think, so when the profile's duration
    # ends a call is in flight to some device: a graceful stop must not close that device's stream
    # before its answer is sent (devices park in wait_time, where Locust stops them at once).
    profile = tmp_path / "profile.toml"
    profile.write_text(
        '[run]\nduration = "4s"\n'
        '[fleet]\ndevices = 5\nstatus_interval = "0s"\nanswer_delay = "300ms"\n'
        '[operators]\ncount = 2\nthink_min = "0s"\nthink_max = "0s"\nmix = { exec = 1 }\n'
    )
    with gateway_process() as gw:
        proc = _locust(
            "--host", gw.address, "--profile", str(profile), "--stop-timeout", "5",
            "--csv", str(tmp_path / "run"), "--only-summary",
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    failures = (tmp_path / "run_failures.csv").read_text().strip().splitlines()
    assert failures[1:] == [], failures
    stats = (tmp_path / "run_stats.csv").read_text()
    assert ",Exec," in stats


def test_protocol_and_address_map_options(tmp_path: Path) -> None:
    # A v0.1 gateway with a listener per device; locust gets the version and the device map.
    amap = tmp_path / "devices.csv"
    with gateway_process(
        "--protocol",
        "aranya-v0.1",
        "--listener-per-device",
        "--devices",
        "100",
        "--address-map-out",
        str(amap),
    ) as gw:
        proc = _locust(
            "--host", gw.address, "--protocol", "aranya-v0.1", "--address-map", str(amap),
            "-u", "101", "-r", "100", "-t", "4s", "--csv", str(tmp_path / "run"), "--only-summary",
        )  # fmt: skip
        metrics = parse_metrics(gw.metrics_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert metrics["aranya_gateway_device_connects_total"] == 100
    assert metrics['aranya_gateway_info{protocol="aranya-v0.1",service="aranya.EdgeDevice"}'] == 1
    stats = (tmp_path / "run_stats.csv").read_text()
    assert ",CMD_POD_LIST," in stats and ",CMD_EXEC," in stats  # v0.1 names, no runtime


def test_bad_protocol_or_map_is_one_line_before_any_user_starts(tmp_path: Path) -> None:
    for args, expect in (
        (["--protocol", "aranya-v9"], "unknown protocol 'aranya-v9'"),
        (["--address-map", str(tmp_path / "none.csv")], "cannot read address map"),
    ):
        proc = _locust("--host", "127.0.0.1:1", *args, "-u", "1", "-t", "2s", timeout=30)
        assert proc.returncode != 0
        assert expect in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_non_loopback_host_is_refused_before_any_user_starts() -> None:
    proc = _locust("--host", "10.1.2.3:50051", "-u", "1", "-t", "2s", timeout=30)
    assert proc.returncode != 0
    assert "refusing non-loopback target" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_mtls_through_grpc_user(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    tls = ("--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"]))
    with gateway_process(*tls, "--tls-client-ca", str(pki["ca.pem"])) as gw:
        env = {
            **os.environ,
            "ARANYA_PERF_TLS_CA": str(pki["ca.pem"]),
            "ARANYA_PERF_TLS_CERT": str(pki["client.pem"]),
            "ARANYA_PERF_TLS_KEY": str(pki["client.key"]),
        }
        proc = _locust("--host", gw.address, "-u", "101", "-r", "100", "-t", "3s", "--only-summary", env=env)
        metrics = parse_metrics(gw.metrics_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert metrics["aranya_gateway_device_connects_total"] == 100


def test_web_ui_starts_and_stops_a_swarm() -> None:
    port = free_port()
    with gateway_process() as gw:
        proc = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py"),
             "--host", gw.address, "--web-host", "127.0.0.1", "--web-port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        try:
            wait_reachable("127.0.0.1", port, timeout=20)
            form = urllib.parse.urlencode({"user_count": 101, "spawn_rate": 100, "host": gw.address})
            urllib.request.urlopen(f"http://127.0.0.1:{port}/swarm", data=form.encode(), timeout=10).close()
            deadline = time.monotonic() + 20
            stats: dict = {}
            while time.monotonic() < deadline:
                time.sleep(0.5)
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=10) as resp:
                    stats = json.load(resp)
                names = {s["name"] for s in stats["stats"]}
                online = parse_metrics(gw.metrics_text())["aranya_gateway_devices_online"]
                if {"Exec", "CMD_NODE_INFO_GET"} <= names and online == 100:
                    break
            assert {"Exec", "CMD_NODE_INFO_GET"} <= {s["name"] for s in stats["stats"]}, stats
            assert online == 100
            assert stats["fail_ratio"] == 0
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stop", data=b"", timeout=10).close()
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err


def test_a_profiles_shape_drives_plain_locust(tmp_path: Path) -> None:
    # The step profile's levels through Locust's own LoadTestShape: no -u, no -t; the shape ends the run.
    profile = REPO / "tests" / "data" / "profiles" / "step-small.toml"
    with gateway_process() as gw:
        start = time.monotonic()
        proc = _locust(
            "--host", gw.address, "--profile", str(profile), "--csv", str(tmp_path / "run"), "--only-summary",
            timeout=90,
        )  # fmt: skip
        took = time.monotonic() - start
        metrics = parse_metrics(gw.metrics_text())
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    # 20, 40 and 60 devices, plus the one user that runs the open-model arrivals.
    assert "Shape test updating to 21 users" in out and "Shape test updating to 61 users" in out, out
    assert metrics["aranya_gateway_device_connects_total"] == 60  # the last step's fleet
    assert 12 <= took < 60
    stats = (tmp_path / "run_stats.csv").read_text()
    assert ",Exec," in stats  # the open-model operators ran too
