"""``aranya-perf alerts`` on synthetic asv histories with a known, injected slow-down."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from aranya_perf.analysis.alert_config import ConfigError, load_config
from aranya_perf.analysis.asv_results import read_asv_results

from tests.analysis_fixtures import commit_hashes, fake_run_dir, write_history
from tests.helpers import run_cli

N = 40
SLOW_AT = 33  # first slow commit: 7 commits before the end, within new_within
SLOWDOWN = 0.08


def _history(root: Path, slow: dict[str, float], recover_at: int | None = None, seed: int = 0) -> list[str]:
    commits = commit_hashes(N)

    def level(base: float, name: str):
        def f(i: int) -> float:
            slowed = i >= SLOW_AT if recover_at is None else SLOW_AT - 15 <= i < recover_at
            return base * (1 + slow.get(name, 0.0) * slowed)

        return f

    names = {"codec.Encode.time_encode": 2e-6, "hdr.Record.time_record": 1.1e-2}
    write_history(root, "aranya-ci", commits, {n: level(b, n) for n, b in names.items()}, seed=seed)
    return commits


def _alerts(root: Path, tmp: Path, *extra: str):
    out = tmp / "out"
    out.mkdir(exist_ok=True)
    proc = run_cli(
        "alerts",
        "--results",
        str(root),
        "--json",
        str(out / "a.json"),
        "--markdown",
        str(out / "a.md"),
        "--junit",
        str(out / "a.xml"),
        *extra,
        timeout=60,
    )
    doc = json.loads((out / "a.json").read_text()) if (out / "a.json").exists() else None
    return proc, doc, out


def test_injected_slowdown_names_the_commit_range_and_size(tmp_path: Path) -> None:
    root = tmp_path / "asv"
    commits = _history(root, {"codec.Encode.time_encode": SLOWDOWN})
    proc, doc, out = _alerts(root, tmp_path)
    assert proc.returncode == 1, proc.stderr
    (alert,) = doc["regressions"]
    assert alert["series"] == "codec.Encode.time_encode"
    assert alert["status"] == "new" and alert["direction"] == "regression"
    assert alert["commit_range"] == [commits[SLOW_AT - 1], commits[SLOW_AT]]
    assert alert["magnitude_pct"] == pytest.approx(SLOWDOWN * 100, abs=1.0)
    assert alert["group"] == "aranya-ci/virtualenv-py3.11"
    assert doc["series_checked"] == 2

    md = (out / "a.md").read_text()
    assert "codec.Encode.time_encode" in md and commits[SLOW_AT][:8] in md
    suite = ET.fromstring((out / "a.xml").read_text())
    assert suite.get("failures") == "1"
    (failure,) = suite.iter("failure")
    assert "codec.Encode.time_encode" in failure.get("message")

    gh = run_cli("alerts", "--results", str(root), "--github", timeout=60)
    assert gh.returncode == 1
    (line,) = gh.stdout.splitlines()
    assert line.startswith("::error title=new regression%3A codec.Encode.time_encode::")
    assert f"{commits[SLOW_AT - 1][:8]}..{commits[SLOW_AT][:8]}" in line


def test_since_a_later_commit_makes_it_old(tmp_path: Path) -> None:
    root = tmp_path / "asv"
    commits = _history(root, {"codec.Encode.time_encode": SLOWDOWN})
    proc, doc, _ = _alerts(root, tmp_path, "--since", commits[SLOW_AT + 2][:10])
    assert proc.returncode == 0, proc.stderr
    assert [a["status"] for a in doc["regressions"]] == ["open"]


def test_recovered_regression_is_reported_and_passes(tmp_path: Path) -> None:
    root = tmp_path / "asv"
    commits = _history(root, {"hdr.Record.time_record": 0.15}, recover_at=SLOW_AT)
    proc, doc, _ = _alerts(root, tmp_path)
    assert proc.returncode == 0, proc.stderr
    (alert,) = doc["regressions"]
    assert alert["status"] == "recovered" and alert["recovered_at"] == SLOW_AT
    assert alert["recovered_commit"] == commits[SLOW_AT]
    assert [i["direction"] for i in doc["improvements"]] == ["improvement"]


def test_no_change_no_alert_and_machines_are_kept_apart(tmp_path: Path) -> None:
    root = tmp_path / "asv"
    _history(root, {})
    # Another machine 30 % slower, same commits: mixing it in would look like steps everywhere.
    write_history(root, "laptop", commit_hashes(N), {"codec.Encode.time_encode": lambda i: 2.6e-6}, seed=5)
    proc, doc, _ = _alerts(root, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert doc["regressions"] == []
    assert doc["groups"] == ["aranya-ci/virtualenv-py3.11", "laptop/virtualenv-py3.11"]
    assert doc["series_checked"] == 3


def test_corrupt_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    root = tmp_path / "asv"
    commits = _history(root, {"codec.Encode.time_encode": SLOWDOWN})
    bad = root / "aranya-ci" / f"{commits[3][:8]}-virtualenv-py3.11.json"
    bad.write_text('{"version": 2, "results": ')
    proc, doc, _ = _alerts(root, tmp_path)
    assert proc.returncode == 1
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and str(bad) in warnings[0]
    assert doc["regressions"][0]["commit_range"] == [commits[SLOW_AT - 1], commits[SLOW_AT]]
    assert len(read_asv_results(root)["commit"].unique()) == N - 1


@pytest.mark.parametrize(
    ("config", "expect"),
    [
        ("[defaults]\nmin_efect_pct = 3\n", "unknown key 'min_efect_pct'"),
        ("[defaults]\nbetter = 'up'\n", "bad value for 'better'"),
        ("[[rule]]\nmin_effect_pct = 3\n", "needs a 'pattern'"),
        ("[[rule]]\npattern = '('\n", "bad pattern"),
        ("colour = 1\n", "unknown key 'colour'"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(tmp_path: Path, config: str, expect: str) -> None:
    root = tmp_path / "asv"
    _history(root, {})
    path = tmp_path / "alerts.toml"
    path.write_text(config)
    with pytest.raises(ConfigError, match=expect):
        load_config(path)
    proc = run_cli("alerts", "--results", str(root), "--config", str(path), timeout=60)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert expect in line and str(path) in line


def test_rules_apply_in_order() -> None:
    config = load_config(None)
    assert config.thresholds("gateway.ExecThroughput.track_exec_cost(1)").min_effect_pct == 25.0
    assert config.thresholds("gateway.ExecThroughput.track_exec_throughput(1)").better == "higher"
    assert config.thresholds("codec.DataFrames.time_encode").min_effect_pct == 5.0


def test_stored_history_reads_and_checks(tmp_path: Path) -> None:
    from tests.helpers import REPO

    proc = run_cli("alerts", "--results", str(REPO / "results" / "asv"), "--machine", "aranya-ci", timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    assert "series judged on aranya-ci/virtualenv-py3.11" in proc.stdout
    # Four stored commits: below the detector's minimum, and said so (issue 15), not "No regressions".
    assert "insufficient history: n < 10" in proc.stdout and "No regressions" not in proc.stdout
    bad = run_cli("alerts", "--results", str(REPO / "results" / "asv"), "--machine", "nope", timeout=60)
    assert bad.returncode == 2 and "no results for machine 'nope'" in bad.stderr


def test_load_test_runs_alert_per_request_kind(tmp_path: Path) -> None:
    runs = tmp_path / "results"
    rng = np.random.default_rng(1)
    for i in range(16):
        p99 = 10.0 * (1.3 if i >= 11 else 1.0) * (1 + rng.normal(0, 0.01))
        fake_run_dir(runs, f"20261201T{i:02d}0000Z-fleet", p99_ms=round(p99, 3), minute=i)
    fake_run_dir(runs, "20261201T990000Z-soak", p99_ms=50.0, minute=99, profile="soak")
    proc, doc, _ = _alerts(tmp_path / "none", tmp_path, "--no-asv", "--runs", str(runs))
    assert proc.returncode == 1, proc.stderr
    (alert,) = doc["regressions"]
    assert alert["series"] == "control Exec p99" and alert["status"] == "new"
    assert alert["commit_range"] == ["20261201T100000Z-fleet", "20261201T110000Z-fleet"]
    assert alert["magnitude_pct"] == pytest.approx(30.0, abs=1.0)
    assert alert["group"].startswith("aranya|grpc|none|unknown|remote|")
    assert alert["where"] == "between runs 20261201T100000Z-fleet and 20261201T110000Z-fleet"
    assert len(doc["groups"]) == 2  # the soak run is a group of its own...
    short = doc["insufficient_history"]  # ...of one run, too short to judge, and said so
    assert len(short) == 4 and {s["points"] for s in short} == {1} and "control Exec p99" in proc.stdout


def test_short_histories_are_named_never_passed(tmp_path: Path) -> None:
    root = tmp_path / "asv"
    write_history(root, "aranya-ci", commit_hashes(4), {"codec.Encode.time_encode": lambda i: 2e-6})
    proc, doc, out = _alerts(root, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert doc["series_checked"] == 0 and [s["points"] for s in doc["insufficient_history"]] == [4]
    md = (out / "a.md").read_text()
    assert "insufficient history: n < 10 for 1 series" in md and "No regressions" not in md
    assert "Nothing could be judged" in md
    skipped = ET.parse(out / "a.xml").getroot()
    assert skipped.get("skipped") == "1" and skipped.find("testcase/skipped") is not None

    # Three runs where Exec p50 went 3.2 -> 24 ms: far too few points for the detector to judge.
    runs = tmp_path / "results"
    for i, p50 in enumerate((3.2, 3.3, 24.0)):
        fake_run_dir(runs, f"20261201T{i:02d}0000Z-fleet", p99_ms=30.0, minute=i, p50_ms=p50)
    proc, doc, out = _alerts(tmp_path / "none", tmp_path, "--no-asv", "--runs", str(runs))
    assert proc.returncode == 0, proc.stderr
    md = (out / "a.md").read_text()
    assert "insufficient history: n < 10 for 4 series" in md and "control Exec p50 (n=3)" in md
    assert "No regressions" not in md and "4 with too short a history" in proc.stderr


def test_runs_ordered_by_a_label_name_the_label_range(tmp_path: Path) -> None:
    # 20 target commits c1..c20, run in shuffled order, two runs at some of them; Exec p50 is 25 %
    # slower from c8 on. In start order the step is scattered; ordered by the label it is one step.
    runs = tmp_path / "results"
    rng = np.random.default_rng(4)
    commits = [f"c{i}" for i in range(1, 21)] + ["c3", "c12"]
    for minute, k in enumerate(rng.permutation(len(commits))):
        commit = commits[k]
        p50 = 4.0 * (1.25 if int(commit[1:]) >= 8 else 1.0) * (1 + rng.normal(0, 0.01))
        labels = {"aranya_commit": commit, "pool": "edge"}
        fake_run_dir(
            runs, f"run-{minute:02d}", p99_ms=9.0, minute=minute, p50_ms=round(p50, 3), labels=labels
        )
    fake_run_dir(runs, "run-unlabelled", p99_ms=9.0, minute=59)
    proc, doc, _ = _alerts(
        tmp_path / "none", tmp_path, "--no-asv", "--runs", str(runs), "--order-by", "aranya_commit"
    )
    assert proc.returncode == 0, proc.stderr  # the step is 13 points back: open, not new
    (alert,) = doc["regressions"]
    assert alert["series"] == "control Exec p50" and alert["where"] == "between aranya_commit=c7 and c8"
    assert alert["magnitude_pct"] == pytest.approx(25.0, abs=2.0) and alert["status"] == "open"
    assert "1 run(s) without the label aranya_commit left out" in proc.stderr
    unknown = run_cli("alerts", "--no-asv", "--runs", str(runs), "--order-by", "nope", timeout=60)
    assert unknown.returncode == 2 and "no run has that label" in unknown.stderr
