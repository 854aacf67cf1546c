"""The ``defects`` profile end to end: clean against the reference gateway, and a named finding for each
aranya defect the gateway plays.

Runs it as a subprocess, as users run it: the small copy (``tests/data/profiles/defects-small.toml``:
20 s, 40 devices, larger shares misbehaving) for the defects the invariants see, the shipped profile (a
minute) for the timer leak, which only the target's cost slope over the minute shows.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from aranya_perf.loadtests.misbehave import assigned

from aranya_perf import profiles
from aranya_perf.profiles.schema import BEHAVIOURS
from tests.helpers import REPO, run_cli

pytestmark = pytest.mark.timeout(300)

SMALL = REPO / "tests" / "data" / "profiles" / "defects-small.toml"


def _run(
    tmp_path: Path, *args: str, profile: str = str(SMALL)
) -> tuple[subprocess.CompletedProcess[str], dict]:
    proc = run_cli("run", "--profile", profile, *args, "--out", str(tmp_path), timeout=260)
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    return proc, json.loads((run_dir / "findings.json").read_text())


def test_the_shipped_profile_plays_every_behaviour_and_the_small_one_matches_it() -> None:
    shipped, small = profiles.resolve("defects"), profiles.resolve(str(SMALL))
    assert {b.kind for b in shipped.behaviours} == set(BEHAVIOURS)
    assert [b.kind for b in small.behaviours] == [b.kind for b in shipped.behaviours]
    assert shipped.run.duration_s == 60.0 and shipped.embedded


@pytest.mark.parametrize("name", ["defects", str(SMALL)])
def test_some_devices_stall_their_pod_list_with_no_act_to_rescue_them(name: str) -> None:
    # A device that drops and reconnects gets its pod list answered the second time (times = 1) and
    # comes online: only devices with no such act show aranya-sid0-timeout to online-within.
    p = profiles.resolve(name)
    stuck = []
    for device in (f"{p.fleet.prefix}-0-{n:05d}" for n in range(p.fleet.devices)):
        plays = assigned(device, p.behaviours)
        stalls = any(b.kind == "silent" and "pod_list" in b.commands for b in plays)
        if stalls and not {b.kind for b in plays} & {"flap", "duplicate", "offline"}:
            stuck.append(device)
    assert stuck, name


@pytest.mark.parametrize("profile", [str(SMALL), "defects"])
def test_clean_against_the_reference_gateway(tmp_path: Path, profile: str) -> None:
    proc, doc = _run(tmp_path, profile=profile)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert doc["findings"] == [] and "status: ok" in proc.stdout


@pytest.mark.parametrize(
    ("emulation", "expected"),
    [
        ("aranya-duplicate-lockout", {"reconnect-accepted", "rejects-name-reason"}),
        ("aranya-sid0-timeout", {"online-within", "call-ends"}),
    ],
)
def test_each_defect_fails_the_run_with_its_named_findings(
    tmp_path: Path, emulation: str, expected: set[str]
) -> None:
    proc, doc = _run(tmp_path, "--emulate", emulation)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = {f["name"]: f for f in doc["findings"]}
    assert set(found) == expected, found
    for name in expected:
        assert f"FAIL {name}: " in proc.stdout
        assert found[name]["evidence"] and all(e["device"] for e in found[name]["evidence"])
    assert "status: failed (" in proc.stdout and "invariant(s) broken" in proc.stdout


def test_the_timer_leak_fails_the_shipped_profile_on_the_cost_slope(tmp_path: Path) -> None:
    proc, doc = _run(tmp_path, "--emulate", "aranya-timer-leak", profile="defects")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = {f["name"]: f for f in doc["findings"]}
    assert "cost-slope" in found and "FAIL cost-slope: target CPU per " in proc.stdout, found
    # The leak slows the gateway; on a loaded machine a call can then outlive its deadline.
    assert set(found) <= {"cost-slope", "call-ends"}, found
    threshold = profiles.resolve("defects").findings.cost_slope_pct_per_hour
    assert all(e["low"] > 0 and e["per_hour"] >= threshold for e in found["cost-slope"]["evidence"])
    assert "status: failed (" in proc.stdout
