"""Saturation: the judge's rule over resource samples (``judge.saturation``), the sampler's run-queue
wait, and real runs: a generator starved of its core is noted in the summary, meta.json's notes and the
report's Warnings without changing the status; an idle run is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from aranya_perf.judge.saturation import saturation
from aranya_perf.judge.verdict import decide
from aranya_perf.measure.resources import ResourceSampler, read_samples
from tests.helpers import REPO
from tests.test_grpc_scenario import EchoServer


def _frame(role: str, cpu: list[float], wait: list[float] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "process": role,
            "elapsed_s": [float(i + 1) for i in range(len(cpu))],
            "cpu_percent": cpu,
            "wait_percent": wait if wait is not None else [0.0] * len(cpu),
        }
    )


def test_a_generator_busy_a_fifth_of_the_window_is_noted_with_workers_and_its_gain() -> None:
    frame = pd.concat(
        [_frame("generator", [95, 97, 20, 20, 20, 20, 20, 20, 20, 20]), _frame("gateway", [30] * 10)]
    )
    s = saturation(frame, 10.0, cores=4, workers=0)
    assert s.limited_by == ("generator",)
    (note,) = s.notes
    assert "load generator may have limited" in note and "20% of the window's 10 samples" in note
    # 4 cores, the run used 0.65 of them: two workers can at most double the generator's share
    assert "try --workers 2: at most 2.0x" in note
    assert s.busiest_line() == "generator 35 % of a core, gateway 30 %"


def test_a_generator_waiting_for_its_cpu_is_saturated_and_told_more_workers_will_not_help() -> None:
    s = saturation(_frame("generator", [40] * 5, [60] * 5), 5.0, cores=2, workers=2)
    (note,) = s.notes
    assert "waited for a CPU 60 %" in note and "--workers 4 would take CPU" in note
    assert s.busiest_line() == "generator 40 % of a core (+60 % waiting for a CPU)"


def test_below_the_mark_outside_the_window_or_multicore_processes_are_not_saturation() -> None:
    frame = pd.concat(
        [
            _frame("generator", [95] * 1 + [50] * 9),  # one busy sample in ten
            _frame("gateway", [99, 99]),  # too few samples
            _frame("etcd-1", [180] * 10),  # Go, several cores: named, never judged
        ]
    )
    late = _frame("worker-0", [99] * 5).assign(elapsed_s=[20.0, 21, 22, 23, 24])  # after the window
    s = saturation(pd.concat([frame, late]), 10.0, cores=2)
    assert s.notes == () and s.limited_by == ()
    assert s.busiest_line().startswith("etcd-1 180 % of a core")
    assert [b.role for b in s.busiest] == ["etcd-1", "gateway", "generator"]


def test_an_embedded_gateway_at_its_core_is_the_runs_limit() -> None:
    s = saturation(_frame("gateway-0", [96] * 6), 6.0, cores=8)
    (note,) = s.notes
    assert note.startswith("the embedded gateway was the run's limit") and "--gateway-processes 2" in note


def test_notes_travel_with_the_verdict_and_never_change_its_status() -> None:
    from aranya_perf.profiles import resolve

    p = resolve()
    v = decide(
        p,
        interrupted=False,
        start_error=None,
        target_lost=[],
        workers_lost=[],
        requests=10,
        failures=0,
        slo_failures=[],
        notes=["generator saturated"],
    )
    assert v.status == "ok" and v.notes == ("generator saturated",)


def test_the_sampler_records_the_run_queue_wait(tmp_path: Path) -> None:
    out = tmp_path / "resources.csv"
    sampler = ResourceSampler(out, {"generator": os.getpid()})
    sum(i * i for i in range(200_000))
    sampler.sample_once()
    sampler.stop()
    frame = read_samples(out, t0=0.0)
    assert len(frame) == 1
    wait = frame["wait_percent"].iloc[0]
    assert wait >= 0 if sys.platform == "linux" else pd.isna(wait)


PROFILE = """
description = "{what}"
[run]
scenario = "grpc"
duration = "5s"
[service]
users = {users}
spawn_rate = 100
think_min = "{think}"
think_max = "{think}"
[grpc]
proto = ["tests/data/echo.proto"]
[[call]]
method = "echo.v1.Echo/Unary"
name = "Unary"
request.text = "x"
"""


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    try:
        yield server
    finally:
        server.kill()


def _run(profile: Path, echo: EchoServer, out: Path, core: int | None) -> tuple[str, dict, str]:
    pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aranya_perf",
            "run",
            "--profile",
            str(profile),
            "--target",
            echo.address,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        preexec_fn=pin,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
    meta = json.loads((run_dir / "meta.json").read_text())
    warnings = (run_dir / "report.md").read_text().split("## Warnings", 1)[1].split("\n## ", 1)[0]
    return proc.stdout, meta, warnings


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_a_generator_sharing_its_core_with_busy_loops_is_noted(tmp_path: Path, echo: EchoServer) -> None:
    core = min(os.sched_getaffinity(0))
    profile = tmp_path / "starved.toml"
    profile.write_text(PROFILE.format(what="starved", users=32, think="0s"))
    out = tmp_path / "results"
    hogs = []
    try:
        for _ in range(2):  # bounded: each stops by itself after a minute
            hog = subprocess.Popen(
                [sys.executable, "-c", "import time\nend = time.time() + 60\nwhile time.time() < end: pass"]
            )
            os.sched_setaffinity(hog.pid, {core})
            hogs.append(hog)
        stdout, meta, warnings = _run(profile, echo, out, core)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert meta["status"] == "ok"
    assert "generator" in meta["saturation"]["limited_by"]
    (note,) = meta["notes"]
    assert note.startswith("the load generator may have limited the target's figures: generator wanted")
    assert f"note: {note}" in stdout and "busiest: generator" in stdout
    assert "The load generator may have limited" in warnings


def test_an_idle_run_has_no_saturation_note(tmp_path: Path, echo: EchoServer) -> None:
    profile = tmp_path / "idle.toml"
    profile.write_text(PROFILE.format(what="idle", users=1, think="200ms"))
    stdout, meta, warnings = _run(profile, echo, tmp_path / "results", None)
    assert meta["status"] == "ok" and meta["notes"] == [] and meta["saturation"]["limited_by"] == []
    assert "busiest: generator" in stdout and "note:" not in stdout
    assert "may have limited" not in warnings
