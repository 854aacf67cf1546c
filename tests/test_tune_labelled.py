"""``aranya-perf tune --from-runs`` in-process over labelled run directories with known histograms:
the recommendation, the guide's files, and a void comparison refused (measured runs:
tests/test_analysis_tune.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aranya_perf.cli import main
from tests.analysis_fixtures import fake_run_dir, hdr_run_dir


def test_a_value_significantly_faster_than_the_default_is_recommended(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    runs = tmp_path / "runs"
    on = [hdr_run_dir(runs / "on", f"on{i}", i, seed=i, delay_ms=5.0) for i in range(2)]
    off = [hdr_run_dir(runs / "off", f"off{i}", 10 + i, seed=10 + i) for i in range(2)]
    labelled = [f"--from-runs=gc_freeze=on:{d}" for d in on] + [f"--from-runs=gc_freeze=off:{d}" for d in off]
    out = tmp_path / "guide"
    assert main(["tune", *labelled, "--out", str(out)]) == 0
    (knob,) = json.loads((out / "tuning.json").read_text())["knobs"]
    assert knob["knob"] == "gc_freeze" and knob["baseline"] == "on" and knob["recommended"] == "off"
    values = {v["value"]: v for v in knob["values"]}
    assert values["on"]["p99_verdict"] == "baseline" and values["off"]["p99_verdict"] == "better"
    assert values["off"]["p99_delta_pct"] < 0 and values["on"]["runs"] == values["off"]["runs"] == 2
    md = (out / "tuning.md").read_text()
    assert "**Recommended: off**: p99 of all operator calls -" in md
    assert (out / "plots" / "gc_freeze.png").read_bytes().startswith(b"\x89PNG")
    assert "gc_freeze: recommended off" in capsys.readouterr().err


def test_labelled_runs_that_differ_otherwise_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    on = hdr_run_dir(tmp_path / "on", "on", 0, seed=0)
    off = fake_run_dir(tmp_path / "off", "off", p99_ms=4.0, minute=1, operators=3)
    args = ["tune", f"--from-runs=gc_freeze=on:{on}", f"--from-runs=gc_freeze=off:{off}"]
    assert main([*args, "--out", str(tmp_path / "g")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "gc_freeze: runs not comparable" in line
