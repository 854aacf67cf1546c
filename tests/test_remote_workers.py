"""``aranya-perf run --remote-workers N``: a master that starts no workers of its own and waits a bounded
time (``--workers-wait``) for N ``aranya-perf worker`` processes. Workers that do not come fail the run
with one line, a readable results directory and exit code 1. A run with a remote worker that joins is
run for real by ``tests/test_deploy_chart.py`` (the chart's master and worker commands)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli


def test_workers_that_do_not_come_fail_the_run(tmp_path: Path) -> None:
    proc = run_cli(
        "run", "--remote-workers", "2", "--workers-wait", "2s", "--devices", "5", "--duration", "5s",
        "--out", str(tmp_path), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "waiting up to 2s for 2 workers at 127.0.0.1:" in proc.stdout
    assert proc.stderr.strip().splitlines() == [
        "aranya-perf run: failed: only 0 of 2 workers connected within 2s"
    ]
    [run_dir] = tmp_path.iterdir()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["reason"] == "only 0 of 2 workers connected within 2s"
    assert meta["config"]["workers"] == 2
    assert not list(run_dir.glob("worker-*.log"))  # no local workers were started
    assert (run_dir / "report.md").is_file() and (run_dir / "slo.json").is_file()
