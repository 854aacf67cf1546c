"""A soak at small scale finds aranya's timer leak by the target's cost per request over time, and finds
nothing without it.

Runs ``tests/data/profiles/soak-small.toml`` (a minute, 20 devices, 30 execs a second) as a subprocess,
as users run it, with and without ``--emulate aranya-timer-leak``.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers import REPO, gateway_process, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SMALL = REPO / "tests" / "data" / "profiles" / "soak-small.toml"


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    proc = run_cli("run", "--profile", str(SMALL), *args, "--out", str(tmp_path), timeout=280)
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    return proc, run_dir


def _doc(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / name).read_text())


def test_the_timer_leak_is_a_cost_slope_finding_and_fails_the_run(tmp_path: Path) -> None:
    proc, run_dir = _run(tmp_path, "--emulate", "aranya-timer-leak")
    out = proc.stdout[-4000:] + proc.stderr[-3000:]
    assert proc.returncode == 1, out
    found = {f["name"]: f for f in _doc(run_dir, "findings.json")["findings"]}
    assert "cost-slope" in found and found["cost-slope"]["severity"] == "fail", out
    per_exec = [e for e in found["cost-slope"]["evidence"] if e["series"] == "cpu_per_exec"]
    assert per_exec and per_exec[0]["low"] > 0 and per_exec[0]["per_hour"] >= 2400, out
    assert "FAIL cost-slope: target CPU per " in proc.stdout and "invariant(s) broken" in proc.stdout
    assert "cost over time:\n  target CPU per request " in proc.stdout
    suite = ET.parse(run_dir / "findings.xml").getroot()
    (case,) = [c for c in suite.iter("testcase") if c.get("name") == "cost-slope"]
    assert case.find("failure") is not None
    assert "| cost-slope | " in (run_dir / "report.md").read_text()


def test_without_the_leak_no_cost_slope(tmp_path: Path) -> None:
    # The status is not asserted: on a machine shared with other work the target can stall for seconds,
    # which fails a run on its own; what this test owns is the slope.
    proc, run_dir = _run(tmp_path)
    out = proc.stdout[-4000:] + proc.stderr[-3000:]
    doc = _doc(run_dir, "findings.json")
    assert "cost-slope" in doc["invariants"], out
    assert not [f for f in doc["findings"] if f["name"] in ("cost-slope", "memory-slope")], out
    slopes = {s["series"] for s in _doc(run_dir, "drift.json")["slopes"]}
    assert {"cpu_per_request", "cpu_per_exec", "rss"} <= slopes
    assert "cost over time:\n  target CPU per request " in proc.stdout


def test_a_given_target_s_own_process_is_sampled_with_target_pid(tmp_path: Path) -> None:
    with gateway_process() as gw:
        args = ["--target", gw.address, "--control", gw.address, "--target-pid", str(gw.pid)]
        proc = run_cli(
            "run", *args, "--devices", "10", "--arrival-rate", "10", "--duration", "35s",
            "--shape", "soak", "--out", str(tmp_path), timeout=200,
        )  # fmt: skip
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    out = proc.stdout[-4000:] + proc.stderr[-3000:]
    doc = _doc(run_dir, "drift.json")
    assert doc["source"] == "processes target" and not doc["judged"], out
    assert {s["series"] for s in doc["slopes"]} >= {"cpu_per_request", "rss"}, out
    assert "cost over time:\n  target CPU per request " in proc.stdout
