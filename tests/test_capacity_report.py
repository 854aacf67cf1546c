"""The capacity report of a sweep, written from known steps: its files, their figures and its plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from aranya_perf.analysis import capacity_report
from aranya_perf.analysis.capacity import SLO, capacity_model
from aranya_perf.analysis.sweep_frames import read_steps

from tests.analysis_fixtures import fake_run_dir
from tests.test_analysis_sweep import _reported as reported
from tests.test_analysis_sweep import _steps as known_steps

PNG = b"\x89PNG\r\n\x1a\n"


def _steps(loads: list[int], p99: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    steps, lat = known_steps(loads, p99, [10.0 * (i + 1) for i in range(len(loads))])
    return reported(steps), lat


def test_write_leaves_every_file_with_the_model_s_figures(tmp_path: Path) -> None:
    steps, lat = _steps([100, 200, 400, 800], [50, 100, 200, 400])
    slos = [SLO.parse("p99=250ms")]
    model = capacity_model(steps, lat, slos, fleet=10_000, headroom=0.2)
    md_path = capacity_report.write(tmp_path / "cap", model, steps, lat, slos)

    out = tmp_path / "cap"
    assert md_path == out / "capacity.md"
    md = md_path.read_text()
    assert "| p99 < 250 ms | control Exec | 500 |" in md
    for name in ("throughput", "latency", "resources"):
        assert f"![{name}](plots/{name}.png)" in md
        assert (out / "plots" / f"{name}.png").read_bytes().startswith(PNG)
    doc = json.loads((out / "capacity.json").read_text())
    assert doc["schema_version"] == capacity_report.CAPACITY_SCHEMA_VERSION
    assert doc["capacity"] == pytest.approx(500) and doc["replicas"] == math.ceil(10_000 / (500 * 0.8))
    assert [(s["percentile"], s["threshold_ms"]) for s in doc["slos"]] == [("p99_ms", 250.0)]
    assert doc["holdout_error_pct"] == pytest.approx(model.holdout.error_pct)
    assert pd.read_csv(out / "steps.csv")["load"].tolist() == [100, 200, 400, 800]
    assert pd.read_csv(out / "step_latency.csv")["p99_ms"].tolist() == [50, 100, 200, 400]
    html = (out / "capacity.html").read_text()
    assert "Capacity report" in html and html.count("data:image/png;base64,") == 3


def test_too_few_steps_for_a_fit_still_write_a_report_that_says_so(tmp_path: Path) -> None:
    steps, lat = _steps([100, 200], [5, 6])
    slos = [SLO.parse("p99=250ms")]
    model = capacity_model(steps, lat, slos, fleet=1_000, headroom=0.2)
    assert model.fit is None and "3 distinct loads" in model.fit_error
    md = capacity_report.write(tmp_path / "cap", model, steps, lat, slos).read_text()
    assert "3 distinct loads" in md
    doc = json.loads((tmp_path / "cap" / "capacity.json").read_text())
    assert doc["fit"] is None and doc["peak_load"] is None
    assert doc["capacity"] == 200 and doc["replicas_bound"] == "upper bound"


def test_steps_of_a_devices_sweep_are_read_in_load_order(tmp_path: Path) -> None:
    dirs = [fake_run_dir(tmp_path, f"d{n}", p99_ms=n / 10, minute=n // 10) for n in (40, 10, 20)]
    for run_dir, devices in zip(dirs, (40, 10, 20), strict=True):
        meta = json.loads((run_dir / "meta.json").read_text())
        meta["config"]["devices"] = devices
        (run_dir / "meta.json").write_text(json.dumps(meta))
    warnings: list[str] = []
    steps, lat = read_steps(dirs, "auto", warnings.append)
    assert steps.attrs["load"] == "devices" and sorted(steps["load"].tolist()) == [10, 20, 40]
    assert warnings == []
    exec_p99 = lat[lat["name"] == "Exec"].sort_values("load")["p99_ms"].tolist()
    assert exec_p99 == [1.0, 2.0, 4.0]
