"""Runs a step sweep: one ``aranya-perf run`` subprocess per load step, against the embedded gateway.

Only the run's existing command-line flags are used, so the sweep keeps working while the run
itself changes; anything else the run accepts can be passed through ``extra_args``. Every step
has a hard timeout (its duration plus ``STEP_OVERHEAD_S``) and the sweep stops at the first step
that could not start (exit code 2) or was interrupted.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

STEP_OVERHEAD_S = 120.0  # gateway start, ramp, stop and report rendering, with room for a busy machine


@dataclass(frozen=True)
class StepSpec:
    devices: int
    operators: int
    duration_s: float
    spawn_rate: float
    status_interval_s: float
    node_info_interval_s: float
    metrics_interval_s: float
    gc_freeze: bool = True
    extra_args: tuple[str, ...] = ()

    def argv(self, out: Path) -> list[str]:
        """``aranya-perf run`` flags for this step (the default profile, these settings on top)."""
        return [
            "run",
            "--devices",
            str(self.devices),
            "--operators",
            str(self.operators),
            "--duration",
            f"{self.duration_s:g}s",
            "--spawn-rate",
            f"{self.spawn_rate:g}",
            "--status-interval",
            f"{self.status_interval_s:g}s",
            "--node-info-interval",
            f"{self.node_info_interval_s:g}s",
            "--metrics-interval",
            f"{self.metrics_interval_s:g}s",
            "--gc-freeze" if self.gc_freeze else "--no-gc-freeze",
            "--out",
            str(out),
            *self.extra_args,
        ]


@dataclass(frozen=True)
class StepResult:
    spec: StepSpec
    run_dir: Path | None
    returncode: int
    stderr_tail: str


class SweepError(RuntimeError):
    """A step that could not run at all (bad flags); the message is the run's own error line."""


def run_steps(specs: Sequence[StepSpec], out: Path, progress: Callable[[str], None]) -> list[StepResult]:
    """Run every step in order; results in the same order. Raises SweepError on a usage error."""
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for i, spec in enumerate(specs):
        before = {p.name for p in out.iterdir()}
        progress(f"step {i + 1}/{len(specs)}: {spec.devices} devices, {spec.operators} operators")
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "aranya_perf", *spec.argv(out)],
                capture_output=True,
                text=True,
                timeout=spec.duration_s + STEP_OVERHEAD_S,
                stdin=subprocess.DEVNULL,
            )
            code, tail = proc.returncode, proc.stderr.strip().splitlines()[-1:] or [""]
        except subprocess.TimeoutExpired:
            code, tail = -1, [f"timed out after {spec.duration_s + STEP_OVERHEAD_S:g} s"]
        new = sorted(p for p in out.iterdir() if p.name not in before and p.is_dir())
        results.append(StepResult(spec, new[-1] if new else None, code, tail[0]))
        if code == 2:
            raise SweepError(tail[0])
        if code == 130:
            break
    return results
