"""``aranya-perf chaos``: the fault suite's table from real runs, and its input checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from aranya_perf.chaos import _samples_lost
from aranya_perf.results import META_SCHEMA_VERSION, write_meta
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


STATS_HEAD = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Requests/s\n"


@pytest.mark.parametrize(("answered", "lost"), [(82, 0), (83, 1)])
def test_samples_lost_counts_answers_the_gateway_saw_not_commands_cut_on_the_way(
    tmp_path: Path, answered: int, lost: int
) -> None:
    # 83 execs sent, the devices recorded 82 answers; the gateway closed the 83rd when a partition cut
    # its stream (nothing of ours lost), or says it got all 83 answers (one of ours lost).
    run_dir = tmp_path / "20261207T230915Z-profile"
    run_dir.mkdir()
    write_meta(run_dir, {"schema_version": META_SCHEMA_VERSION, "run_id": run_dir.name, "status": "failed"})
    (run_dir / "locust_stats.csv").write_text(
        STATS_HEAD + "device,CMD_RUNTIME:CMD_EXEC,82,0,1,1.0,5.0\ncontrol,Exec,82,0,2,2.0,5.0\n"
    )
    kind = 'kind="CMD_RUNTIME:CMD_EXEC"'
    (run_dir / "gateway_metrics.prom").write_text(
        "# TYPE aranya_gateway_commands_sent_total counter\n"
        f"aranya_gateway_commands_sent_total{{{kind}}} 83.0\n"
        "# TYPE aranya_gateway_sessions_completed_total counter\n"
        f'aranya_gateway_sessions_completed_total{{{kind},outcome="done"}} {answered}.0\n'
        f'aranya_gateway_sessions_completed_total{{{kind},outcome="closed"}} {83 - answered}.0\n'
        "# TYPE aranya_gateway_control_requests_total counter\n"
        'aranya_gateway_control_requests_total{method="Exec",code="OK"} 82.0\n'
    )
    assert _samples_lost(run_dir) == lost
