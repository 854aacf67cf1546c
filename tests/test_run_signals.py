"""A run stopped by a signal, as CI time-outs, Kubernetes and systemd stop one: real runs as subprocesses
(20 devices, a 20 s window) against the embedded gateway, watched through their results directory.

SIGTERM and SIGHUP take Ctrl-C's path: the window closes, every file is written, the status names the
signal and the exit code is 128 + its number. A second signal leaves at once with a readable meta.json.
No process of the run outlives it, also when the run itself is SIGKILLed.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from aranya_perf.chaos import RunWatch

MEASURED = ("report.md", "latency.csv", "latency_hdr.json", "latency_intervals.jsonl", "locust_stats.csv")


@pytest.mark.parametrize(
    ("signals", "moment", "code", "reason", "files"),
    [
        pytest.param(("SIGTERM",), "mid", 143, "interrupted by SIGTERM", MEASURED, id="sigterm-mid"),
        pytest.param(("SIGHUP",), "mid", 129, "interrupted by SIGHUP", MEASURED, id="sighup-mid"),
        # After the window closed, the measurement is complete: nothing of it may be lost.
        pytest.param(("SIGINT",), "closed", 130, "interrupted by SIGINT", MEASURED, id="sigint-closed"),
        pytest.param(("SIGTERM", "SIGTERM"), "mid", 143, "SIGTERM forced the exit", (), id="second-sigterm"),
    ],
)
def test_a_signal_ends_the_run_readably(
    tmp_path: Path, signals: tuple[str, ...], moment: str, code: int, reason: str, files: tuple[str, ...]
) -> None:
    watch = RunWatch(tmp_path, [], duration_s=20)
    try:
        assert watch.wait_for(moment) is not None, watch.stderr()
        gateway = watch.pid_of("gateway")
        assert gateway is not None and gateway in watch.seen  # the tree was captured before the signal
        first, *more = signals
        watch.proc.send_signal(getattr(signal, first))
        for name in more:
            # Two signals sent back to back may arrive as one: the second goes once the first closed the
            # window, while the run is still writing its files.
            assert watch.wait_for("closed") is not None, watch.stderr()
            watch.proc.send_signal(getattr(signal, name))
        exit_code = watch.wait()
        left = watch.left_behind()
    finally:
        watch.close()
    err = watch.stderr()
    assert exit_code == code, err
    assert "Traceback" not in err
    assert watch.run_dir is not None
    meta = json.loads((watch.run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted"
    assert reason in meta["reason"]
    for name in files:
        assert (watch.run_dir / name).stat().st_size > 0, name
    assert left == []


def test_a_killed_run_takes_its_gateway_and_workers_with_it(tmp_path: Path) -> None:
    watch = RunWatch(tmp_path, ["--workers", "2"], duration_s=20)
    try:
        assert watch.wait_for("mid") is not None, watch.stderr()
        roles = {role: watch.pid_of(role) for role in ("gateway", "worker-0", "worker-1")}
        assert None not in roles.values() and set(roles.values()) <= set(watch.seen), roles
        watch.proc.kill()
        assert watch.wait() == -signal.SIGKILL
        left = watch.left_behind()
    finally:
        watch.close()
    assert left == []
