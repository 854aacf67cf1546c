"""``aranya-perf compare``: a real run against itself, and against a copy with a known slow-down.

The slowed run is synthetic: the real run's directory with every operator-call (non-device)
histogram shifted by ``DELAY_MS``, which is what a gateway adding that delay to each call would
record (the run has no flag for an added delay yet).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis.compare import SAME, WORSE, CompareConfig, RunData, compare_runs, shifted
from aranya_perf.measure.latency import LATENCY_HDR, load_histograms, new_histogram, split_key
from tests.helpers import run_cli

DELAY_MS = 20.0


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    proc = run_cli("run", "--devices", "20", "--operators", "2", "--duration", "8s", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def _slowed_copy(run_dir: Path, dest: Path, **meta_changes: str) -> Path:
    shutil.copytree(run_dir, dest)
    doc = json.loads((dest / LATENCY_HDR).read_text())
    for key, hist in load_histograms(dest / LATENCY_HDR).items():
        if split_key(key)[0] != "device":
            doc["histograms"][key] = shifted(hist, DELAY_MS).encode().decode("ascii")
    (dest / LATENCY_HDR).write_text(json.dumps(doc))
    (dest / "latency.csv").unlink()
    meta = json.loads((dest / "meta.json").read_text())
    meta.update(run_id=dest.name, **meta_changes)
    (dest / "meta.json").write_text(json.dumps(meta))
    return dest


def test_run_against_itself_is_no_significant_change_everywhere(real_run: Path, tmp_path: Path) -> None:
    proc = run_cli("compare", str(real_run), str(real_run), "--out", str(tmp_path / "cmp"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    verdicts = {r["verdict"] for r in doc["rows"]}
    assert verdicts == {SAME}
    assert len(doc["rows"]) >= 4 * 4  # several kinds x p50/p90/p99/throughput
    for name in ("compare.md", "compare.html"):
        assert "no significant change" in (tmp_path / "cmp" / name).read_text()
    assert (tmp_path / "cmp" / "compare.png").read_bytes().startswith(b"\x89PNG")


def test_slowed_gateway_is_worse_on_operator_calls_only(real_run: Path, tmp_path: Path) -> None:
    slow = _slowed_copy(real_run, tmp_path / "slow")
    proc = run_cli("compare", str(real_run), str(slow), "--out", str(tmp_path / "cmp"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "cmp" / "compare.json").read_text())["rows"]
    operator = [r for r in rows if r["request_type"] != "device" and r["metric"].startswith("p")]

    def enough(r: dict) -> bool:
        # An 8 s run has a few hundred calls per kind: its p99 is its two or three slowest, and one
        # scheduling stall on a shared machine widens that interval past a 20 ms shift.
        return r["count_a"] >= (1000 if r["metric"].startswith("p99") else 20)

    assert operator and all(r["verdict"] == WORSE for r in operator if enough(r)), operator
    assert all(r["ci_low_pct"] > 0 for r in operator if enough(r))
    device = [r for r in rows if r["request_type"] == "device"]
    assert device and {r["verdict"] for r in device} == {SAME}
    throughput = [r for r in rows if r["metric"] == "throughput_rps"]
    assert {r["verdict"] for r in throughput} == {SAME}
    assert "**worse**" in proc.stdout


def test_groups_and_comparability(real_run: Path, tmp_path: Path) -> None:
    group = tmp_path / "group"
    group.mkdir()
    shutil.copytree(real_run, group / "a1")
    _slowed_copy(real_run, group / "a2")
    other = _slowed_copy(real_run, tmp_path / "other", profile="soak")
    refused = run_cli("compare", str(group), str(other), timeout=60)
    assert refused.returncode == 2
    (line,) = refused.stderr.splitlines()
    assert "not comparable: runs differ in profile: smoke, soak" in line
    mixed = run_cli("compare", str(group), str(other), "--allow-mixed", timeout=60)
    assert mixed.returncode == 0, mixed.stderr
    assert "> warning: runs differ in profile" in mixed.stdout
    missing = run_cli("compare", str(tmp_path / "nope"), str(other), timeout=30)
    assert missing.returncode == 2 and "no such directory" in missing.stderr


def _hist(values_ms: np.ndarray):
    h = new_histogram()
    for v in values_ms:
        h.record_value(max(1, round(v * 1000)))
    return h


def test_bootstrap_sees_five_percent_and_not_noise() -> None:
    rng = np.random.default_rng(3)
    base = rng.lognormal(0.7, 0.5, size=5000)
    again = rng.lognormal(0.7, 0.5, size=5000)
    a = RunData("a", {"control Exec": _hist(base)}, 10.0)
    same = RunData("b", {"control Exec": _hist(again)}, 10.0)
    slower = RunData("c", {"control Exec": _hist(again * 1.05)}, 10.0)
    cfg = CompareConfig(bootstrap=400, seed=1)
    p50 = lambda frame: frame.set_index("metric").loc["p50_ms"]  # noqa: E731
    assert p50(compare_runs([a], [same], cfg))["verdict"] == SAME
    row = p50(compare_runs([a], [slower], cfg))
    assert row["verdict"] == WORSE and row["delta_pct"] == pytest.approx(5.0, abs=2.0)
    assert compare_runs([a], [slower], cfg).equals(compare_runs([a], [slower], cfg))  # seeded
