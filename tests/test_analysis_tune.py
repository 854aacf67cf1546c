"""``aranya-perf tune``: one knob measured against the embedded gateway, one listed as not measurable yet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aranya_perf.analysis.compare import WITHIN_ONLY

from tests.helpers import run_cli


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tune") / "guide"
    proc = run_cli(
        "tune", "--knobs", "gc_freeze,chunk_size", "--devices", "20", "--operators", "2",
        "--duration", "4s", "--out", str(out), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gc_freeze: recommended" in proc.stderr
    return out


def test_guide_has_each_value_with_evidence(guide: Path) -> None:
    doc = json.loads((guide / "tuning.json").read_text())
    (knob,) = doc["knobs"]
    assert knob["knob"] == "gc_freeze" and knob["baseline"] == "on"
    assert [v["value"] for v in knob["values"]] == ["on", "off"]
    assert knob["recommended"] in ("on", "off") and knob["reason"]
    for v in knob["values"]:
        assert v["runs"] == 1 and v["p99_ms"] > 0 and v["throughput_rps"] > 0 and v["gateway_rss_mib"] > 0
    off = knob["values"][1]
    # One run per value: no between-run variance, so no better/worse verdict (aranya_perf.analysis.compare).
    assert off["p99_verdict"] == WITHIN_ONLY or off["p99_verdict"].startswith("too few samples")
    assert off["p99_ci"][0] <= off["p99_delta_pct"] <= off["p99_ci"][1]
    assert doc["needs_flag"] == ["chunk_size"]
    md = (guide / "tuning.md").read_text()
    assert "**Recommended:" in md and "needs the run flag `--chunk-size`" in md
    assert (guide / "plots" / "gc_freeze.png").read_bytes().startswith(b"\x89PNG")
    assert 'src="data:image/png;base64,' in (guide / "tuning.html").read_text()


def test_labelled_runs_give_the_same_guide(guide: Path, tmp_path: Path) -> None:
    runs = guide / "runs" / "gc_freeze"
    out = tmp_path / "again"
    proc = run_cli(
        "tune", "--from-runs", f"gc_freeze=on:{runs / 'on'}", "--from-runs", f"gc_freeze=off:{runs / 'off'}",
        "--out", str(out), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    first = json.loads((guide / "tuning.json").read_text())["knobs"]
    assert json.loads((out / "tuning.json").read_text())["knobs"] == first


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--knobs", "turbo"], "unknown knob(s) turbo"),
        (["--from-runs", "gc_freeze:/tmp"], "use KNOB=VALUE:RUN_DIR"),
        (["--from-runs", "gc_freeze=on:/no/such/dir"], "no such directory"),
    ],
)
def test_tune_bad_input(tmp_path: Path, args: list[str], expect: str) -> None:
    proc = run_cli("tune", *args, "--out", str(tmp_path / "t"), timeout=60)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert expect in line
