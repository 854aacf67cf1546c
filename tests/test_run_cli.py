"""``aranya-perf run`` end to end as a user runs it: a subprocess, real gateway, real Locust."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli

RUN_FILES = [
    "meta.json",
    "locust_stats.csv",
    "locust_stats_history.csv",
    "locust_failures.csv",
    "resources.csv",
    "gateway_metrics.prom",
    "latency.csv",
    "latency_hdr.json",
    "latency_intervals.jsonl",
    "profile.toml",
    "events.jsonl",
    "timeline.csv",
    "slo.json",
    "slo.xml",
    "report.md",
    "report.html",
]
PLOTS = ["shape.png", "latency_over_time.png", "throughput.png", "latency.png", "resources.png"]


def _only_run_dir(root: Path) -> Path:
    dirs = [p for p in root.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_run_leaves_every_result_file(tmp_path: Path) -> None:
    proc = run_cli(
        "run", "--devices", "20", "--operators", "2", "--duration", "10s", "--out", str(tmp_path),
        "--metrics-listen", "127.0.0.1:0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = _only_run_dir(tmp_path)
    # The progress lines are per interval, and the run says what it waits for after the window.
    assert "req/s and the p50/p99 of operator calls over the interval since the previous" in proc.stdout
    assert re.search(r"\[ +5s/10s\] devices online +\d+  req/s +[1-9]", proc.stdout), proc.stdout
    waiting = re.search(r"^  window closed at \d+s; waiting for (.*)$", proc.stdout, re.M)
    assert waiting, proc.stdout
    for step in ("the gateway's drain", "one more Prometheus scrape", "the verdict and the report"):
        assert step in waiting[1]
    for name in RUN_FILES:
        assert (run_dir / name).stat().st_size > 0, name
    for name in PLOTS:
        png = (run_dir / "plots" / name).read_bytes()
        assert png.startswith(b"\x89PNG"), name
    report = (run_dir / "report.md").read_text()
    for name in PLOTS:
        assert f"plots/{name}" in report
    # Nothing failed: no empty errors plot, a line instead.
    assert not (run_dir / "plots" / "errors.png").exists() and "No failures recorded." in report
    # Both sides counted every operator call and every command the same way (the gateway is drained).
    # The operators went through the Kubernetes face (the default), to the device itself (container host).
    rows = re.findall(r"^\| (kube|control|device) \| ([\w:]+) \| (\d+) \| (\d+) \| (-?\d+) \|$", report, re.M)
    names = {(side, name) for side, name, *_ in rows}
    calls = {("kube", n) for n in ("exec", "logs", "portforward", "metrics", "list")}
    assert calls | {("device", "CMD_NODE_INFO_GET"), ("device", "CMD_EXEC")} <= names
    assert not any(side == "control" and name != "Drain" for side, name in names), names  # the harness's
    assert all(gateway == generator for _, _, gateway, generator, _ in rows), rows
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= len(PLOTS)

    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "ok"
    assert meta["protocol"]["name"] == "aranya-v0.3" and meta["protocol"]["service"] == "aranya.EdgeDevice"
    assert meta["target"]["embedded"] is True
    assert meta["config"]["devices"] == 20
    assert meta["summary"]["requests"] > 0

    roles = {line.split(",")[2] for line in (run_dir / "resources.csv").read_text().splitlines()[1:]}
    assert roles == {"gateway", "generator"}
    assert meta["target"]["operators"] == "kubernetes api"
    assert re.search(r"^kube +exec ", proc.stdout, re.M) and str(run_dir / "report.md") in proc.stdout


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--target", "10.1.2.3:50051"], "refusing non-loopback target"),
        (["--target", "not-an-address"], "HOST:PORT"),
        (["--devices", "-3"], "must not be negative"),
        (["--duration", "soon"], "invalid duration"),
        (["--devices", "0", "--operators", "0"], "nothing to run"),
        (["--protocol", "aranya-v9"], "--protocol"),
        (["--target", "127.0.0.1:1-3", "--devices", "5"], "has 3 devices, the fleet needs 5"),
        (["--target", "127.0.0.1:30000-30010", "--devices", "5"], "operators need a control service"),
        (["--target", "127.0.0.1:1", "--listener-per-device"], "applies to the embedded gateway only"),
        (["--profile", "nope"], "no profile 'nope': shipped are"),
        (["--workers", "2", "--master-bind", "10.0.0.1:0"], "not loopback"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], expect: str) -> None:
    proc = run_cli("run", *args, "--out", str(tmp_path), timeout=30)
    assert proc.returncode == 2
    assert expect in _one_line(proc.stderr)
    assert not any(tmp_path.iterdir()), "a refused run must not leave a results directory"


def test_listener_per_device_run_in_an_old_version(tmp_path: Path) -> None:
    proc = run_cli(
        "run", "--protocol", "aranya-2020-09", "--listener-per-device", "--devices", "10", "--operators", "1",
        "--duration", "5s", "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = _only_run_dir(tmp_path)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert (
        meta["protocol"]["name"] == "aranya-2020-09" and meta["protocol"]["service"] == "aranya.Connectivity"
    )
    assert (
        meta["target"]["listener_per_device"] is True and meta["target"]["address_map"] == "address_map.csv"
    )
    assert len((run_dir / "address_map.csv").read_text().splitlines()) == 11
    assert "Protocol: aranya-2020-09" in (run_dir / "report.md").read_text()
    assert "CMD_POD_CTR_EXEC" in proc.stdout  # the version's own names in the summary


def test_unreachable_target_fails_fast(tmp_path: Path) -> None:
    start = time.monotonic()
    proc = run_cli("run", "--target", "127.0.0.1:1", "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 1
    assert "unreachable" in _one_line(proc.stderr)
    assert time.monotonic() - start < 30


def test_ctrl_c_leaves_a_readable_partial_run(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aranya_perf", "run", "--devices", "10", "--operators", "1",
         "--duration", "120s", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        history = None
        while time.monotonic() < deadline:
            runs = [p for p in tmp_path.iterdir() if p.is_dir()]
            history = runs[0] / "locust_stats_history.csv" if runs else None
            if history and history.exists() and len(history.read_text().splitlines()) > 3:
                break
            time.sleep(0.5)
        assert history is not None and history.exists(), "run never started writing"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    run_dir = _only_run_dir(tmp_path)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted"
    assert (run_dir / "report.md").exists()
    assert (run_dir / "latency.csv").exists()
