"""The sweep's step runner: each step's ``aranya-perf run`` flags, and a step the run refuses stops the
sweep with the run's own error line before any later step starts (steps that run: test_analysis_sweep)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aranya_perf.analysis.sweep_runner import StepSpec, SweepError, run_steps


def _spec(devices: int, *extra: str) -> StepSpec:
    return StepSpec(devices, 1, 2.0, 50.0, 1.0, 0.0, 0.0, gc_freeze=False, extra_args=tuple(extra))


def test_a_step_s_flags_are_the_run_s_own(tmp_path: Path) -> None:
    argv = _spec(10, "--seed", "3").argv(tmp_path)
    assert argv[0] == "run" and argv[argv.index("--devices") + 1] == "10"
    assert argv[argv.index("--duration") + 1] == "2s" and argv[argv.index("--node-info-interval") + 1] == "0s"
    assert "--no-gc-freeze" in argv and argv[argv.index("--out") + 1] == str(tmp_path)
    assert argv[-2:] == ["--seed", "3"]


def test_a_refused_step_stops_the_sweep_with_the_run_s_error_line(tmp_path: Path) -> None:
    progress: list[str] = []
    with pytest.raises(SweepError) as refused:
        run_steps([_spec(5, "--no-such-flag"), _spec(10)], tmp_path / "sweep", progress.append)
    assert "--no-such-flag" in str(refused.value) and "\n" not in str(refused.value)
    assert progress == ["step 1/2: 5 devices, 1 operators"]  # the second step never started
    assert list((tmp_path / "sweep").iterdir()) == []
