"""``aranya-perf chaos``: the fault suite's table from real runs, and its input checks."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli


def test_a_subset_of_faults_is_run_and_judged(tmp_path: Path) -> None:
    out = tmp_path / "chaos"
    proc = run_cli("chaos", "--faults", "sigterm-mid,target-killed", "--out", str(out), timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {
        line.split()[0]: line.split()
        for line in proc.stdout.splitlines()
        if line.startswith(("sigterm", "target"))
    }
    assert set(rows) == {"sigterm-mid", "target-killed"}
    # survived, verdict right; samples lost measured after a signal, not after the target died
    assert rows["sigterm-mid"][1:4] == ["yes", "yes", "0"]
    assert rows["target-killed"][1:4] == ["yes", "yes", "n/a"]
    assert all(row[-1] == "0" for row in rows.values())  # no process left behind
    assert sorted(p.name for p in out.iterdir()) == ["sigterm-mid", "target-killed"]


def test_an_unknown_fault_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = run_cli("chaos", "--faults", "sigterm-mid,meteor", "--out", str(tmp_path / "c"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "meteor" in proc.stderr
    assert not (tmp_path / "c").exists()
