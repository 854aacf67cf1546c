"""``aranya-perf compare`` in-process over small run directories with known histograms: the verdicts,
the files it writes and its one-line refusals (real runs: tests/test_analysis_compare.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aranya_perf.analysis.compare import BETTER, WITHIN_ONLY, WORSE

from aranya_perf.cli import main
from aranya_perf.measure.latency import LATENCY_HDR
from tests.analysis_fixtures import fake_run_dir, hdr_run_dir

DELAY_MS = 5.0


def _rows(doc: dict, kind: str) -> dict[str, dict]:
    return {r["metric"]: r for r in doc["rows"] if f"{r['request_type']} {r['name']}" == kind}


def test_a_known_slowdown_is_worse_and_every_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    a = [hdr_run_dir(tmp_path / "runs", f"a{i}", i, seed=i) for i in range(2)]
    b = [
        hdr_run_dir(tmp_path / "runs", f"b{i}", 10 + i, seed=10 + i, delay_ms=DELAY_MS, logs=True)
        for i in range(2)
    ]
    out = tmp_path / "cmp"
    code = main(["compare", *map(str, a), "--", *map(str, b), "--out", str(out), "--bootstrap", "200"])
    assert code == 0
    doc = json.loads((out / "compare.json").read_text())
    assert doc["a"] == ["a0", "a1"] and doc["b"] == ["b0", "b1"] and doc["forced"] == []
    exec_rows = _rows(doc, "control Exec")
    assert exec_rows["p50_ms"]["verdict"] == WORSE
    assert exec_rows["p50_ms"]["b"] - exec_rows["p50_ms"]["a"] == pytest.approx(DELAY_MS, rel=0.1)
    assert {r["verdict"] for r in _rows(doc, "control Logs").values()} == {"only in B"}
    md = (out / "compare.md").read_text()
    assert md == capsys.readouterr().out + "\n![deltas](compare.png)\n"
    assert "| control | Exec | p50_ms |" in md and "A: a0, a1" in md
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG")
    assert "data:image/png;base64," in (out / "compare.html").read_text()


def test_the_other_way_round_is_better_and_one_run_a_side_gets_no_verdict(tmp_path: Path) -> None:
    slow = [hdr_run_dir(tmp_path / "runs", f"slow{i}", i, seed=i, delay_ms=DELAY_MS) for i in range(2)]
    fast = [hdr_run_dir(tmp_path / "runs", f"fast{i}", 10 + i, seed=10 + i) for i in range(2)]
    main(
        [
            "compare",
            *map(str, slow),
            "--",
            *map(str, fast),
            "--out",
            str(tmp_path / "x"),
            "--bootstrap",
            "200",
        ]
    )
    rows = _rows(json.loads((tmp_path / "x" / "compare.json").read_text()), "control Exec")
    assert rows["p50_ms"]["verdict"] == BETTER and rows["p50_ms"]["delta_pct"] < 0
    # One run a side measures no variance between runs: a delta, never a verdict.
    main(["compare", str(slow[0]), str(fast[0]), "--out", str(tmp_path / "y"), "--bootstrap", "200"])
    rows = _rows(json.loads((tmp_path / "y" / "compare.json").read_text()), "control Exec")
    assert rows["p50_ms"]["delta_pct"] < 0 and {r["verdict"] for r in rows.values()} == {WITHIN_ONLY}


def test_refusals_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = hdr_run_dir(tmp_path / "runs", "r", 0, seed=0)
    other = fake_run_dir(tmp_path / "runs", "other", p99_ms=4.0, minute=1, operators=3)
    (other / LATENCY_HDR).write_text((run / LATENCY_HDR).read_text())
    no_hdr = fake_run_dir(tmp_path / "runs", "no-hdr", p99_ms=4.0, minute=2)
    cases = [
        ([str(run), str(other)], "not comparable"),
        ([str(run), str(no_hdr)], "no run with a readable latency_hdr.json"),
        ([str(run), str(tmp_path / "nope")], "no such directory"),
        ([str(run), str(run), "--bootstrap", "10"], "--bootstrap must be at least 100"),
        ([str(run), str(run), "--confidence", "1"], "--confidence must be in [0.5, 1)"),
    ]
    for args, expect in cases:
        capsys.readouterr()
        assert main(["compare", *args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert expect in err[-1], (args, err)
