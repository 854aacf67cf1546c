"""``aranya-perf detect`` as a user runs it: a CSV history in, a JSON list of change points out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_cli


def _write(path: Path, rows: list[tuple[str, int, float]]) -> Path:
    path.write_text("series,index,value\n" + "".join(f"{s},{i},{v!r}\n" for s, i, v in rows))
    return path


def _level_rows(name: str, levels: list[tuple[int, float]], seed: int, samples: int = 1, start: int = 0):
    rng = np.random.default_rng(seed)
    rows, i = [], start
    for n, level in levels:
        for _ in range(n):
            rows += [(name, i, float(level * (1 + rng.normal(0, 0.01)))) for _ in range(samples)]
            i += 1
    return rows


def _detect(tmp_path: Path, rows, *args: str) -> list[dict]:
    out = tmp_path / "cps.json"
    proc = run_cli("detect", str(_write(tmp_path / "h.csv", rows)), "--json", str(out), *args, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def test_one_known_step_is_reported_at_its_index(tmp_path: Path) -> None:
    # Indices start at 1000 (a commit number, say): the answer is in the file's indices.
    rows = _level_rows("exec p50", [(60, 10.0), (60, 10.8)], seed=1, start=1000)
    (cp,) = _detect(tmp_path, rows)
    assert cp["series"] == "exec p50"
    assert abs(cp["index"] - 1060) <= 2
    assert cp["direction"] == "regression"
    assert cp["magnitude_pct"] == pytest.approx(8.0, abs=1.5)
    assert 0.0 < cp["confidence"] <= 1.0
    assert set(cp) == {"series", "index", "direction", "magnitude_pct", "confidence"}


def test_a_flat_series_has_no_change_points(tmp_path: Path) -> None:
    assert _detect(tmp_path, _level_rows("flat", [(200, 5.0)], seed=2)) == []


def test_raw_samples_per_point_are_reduced_to_one_point(tmp_path: Path) -> None:
    # 5 rows per index: 80 points, not 400. One sample of every other point before the step is
    # 3x too slow; the per-point reduction ignores it, so the step keeps its -10 %.
    rows = _level_rows("s", [(40, 1.0), (40, 0.9)], seed=3, samples=5)
    rows = [(s, i, v * 3 if k % 5 == 0 and i < 40 and i % 2 == 0 else v) for k, (s, i, v) in enumerate(rows)]
    (cp,) = _detect(tmp_path, rows, "--max-false-alarms", "0.5")
    assert abs(cp["index"] - 40) <= 2
    assert cp["direction"] == "improvement"
    assert cp["magnitude_pct"] == pytest.approx(-10.0, abs=1.5)


def test_series_are_analysed_apart_and_the_budget_is_used(tmp_path: Path) -> None:
    rows = _level_rows("a", [(60, 1.0), (60, 1.1)], seed=4) + _level_rows("b", [(120, 2.0)], seed=5)
    found = _detect(tmp_path, rows, "--max-false-alarms", "2")
    assert [cp["series"] for cp in found] == ["a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("series,index\nx,1\n", "missing column(s) value"),
        ("series,index,value\n", "no rows"),
        ("series,index,value\nx,1,fast\n", "line 2: value 'fast' is not a finite number"),
        ("series,index,value\nx,one,1.0\n", "index 'one' is not a finite number"),
        ("series,index,value\nx,1.5,1.0\n", "index must be an integer"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    proc = run_cli("detect", str(path), "--json", str(tmp_path / "out.json"), timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "out.json").exists()


def test_missing_file_and_bad_budget_exit_2(tmp_path: Path) -> None:
    proc = run_cli("detect", str(tmp_path / "nope.csv"), timeout=60)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    path = _write(tmp_path / "h.csv", _level_rows("x", [(30, 1.0)], seed=6))
    proc = run_cli("detect", str(path), "--max-false-alarms", "0", timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
