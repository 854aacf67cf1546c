"""aranya_perf.measure.resources: sampling live and exiting processes, plain and under gevent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from aranya_perf.analysis.run_frames import read_resources

from aranya_perf.measure.resources import RESOURCE_COLUMNS, ResourceSampler

REPO = Path(__file__).resolve().parent.parent


def _sleeper(seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


def test_sample_once_on_own_process(tmp_path: Path) -> None:
    out = tmp_path / "resources.csv"
    sampler = ResourceSampler(out, {"generator": os.getpid()}, interval=0.05)
    sum(i * i for i in range(200_000))  # some CPU between priming and the sample
    rows = sampler.sample_once()
    sampler.stop()
    assert len(rows) == 1
    row = rows[0]
    assert row["process"] == "generator" and row["pid"] == os.getpid()
    assert row["rss_bytes"] > 10 * 2**20
    assert row["threads"] >= 1 and row["fds"] >= 3
    assert row["cpu_percent"] >= 0
    frame = pd.read_csv(out)
    assert tuple(frame.columns) == RESOURCE_COLUMNS and len(frame) == 1
    summary = sampler.summary()["generator"]
    assert set(summary) >= {"cpu_percent_mean", "cpu_percent_max", "rss_max_bytes", "threads_max", "fds_max"}
    assert summary["rss_max_bytes"] == row["rss_bytes"] and summary["samples"] == 1


def test_background_loop_survives_processes_exiting(tmp_path: Path) -> None:
    out = tmp_path / "resources.csv"
    zombie = _sleeper(0.2)  # exits mid-sampling and is not reaped until the end: a zombie
    reaped = _sleeper(0.2)  # exits mid-sampling and is reaped: its pid is gone
    sampler = ResourceSampler(
        out, {"generator": os.getpid(), "gateway": zombie.pid, "other": reaped.pid}, interval=0.05
    )
    sampler.start()
    try:
        reaped.wait(5)
        time.sleep(0.45)
    finally:
        sampler.stop()
        zombie.wait(5)
    frame = read_resources(tmp_path)
    counts = frame.groupby("process").size()
    assert counts["generator"] >= 6
    assert 1 <= counts.get("gateway", 0) < counts["generator"]
    assert counts.get("other", 0) < counts["generator"]
    assert sampler.roles == ["generator"]
    summary = sampler.summary()
    assert summary["gateway"]["exited"] and summary["other"]["exited"]
    assert not summary["generator"]["exited"]
    assert all(g["elapsed_s"].is_monotonic_increasing for _, g in frame.groupby("process"))
    sampler.stop()  # idempotent


def test_missing_pid_and_late_added_process(tmp_path: Path) -> None:
    gone = _sleeper(0)
    gone.wait(5)
    sampler = ResourceSampler(tmp_path / "r.csv", {"gateway": gone.pid}, interval=0.05)
    assert sampler.roles == []
    assert sampler.sample_once() == []
    assert not (tmp_path / "r.csv").exists()  # nothing sampled, no file
    sampler.add_process("generator", os.getpid())
    assert [r["process"] for r in sampler.sample_once()] == ["generator"]
    summary = sampler.summary()
    assert summary["gateway"]["samples"] == 0 and summary["gateway"]["cpu_percent_mean"] is None
    sampler.stop()


def test_runs_inside_gevent_patched_locust_process(tmp_path: Path) -> None:
    # Importing locust monkey-patches threading/time with gevent: the loop must run as a greenlet.
    code = f"""
import os, locust, gevent
from gevent import monkey
assert monkey.is_module_patched("threading")
from aranya_perf.measure.resources import ResourceSampler
s = ResourceSampler({str(tmp_path / "r.csv")!r}, {{"generator": os.getpid()}}, interval=0.05)
s.start()
gevent.sleep(0.4)
s.stop()
print(s.summary()["generator"]["samples"])
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO, check=False
    )
    assert proc.returncode == 0, proc.stderr
    samples = int(proc.stdout.strip().splitlines()[-1])
    assert samples >= 4
    assert len(pd.read_csv(tmp_path / "r.csv")) == samples
