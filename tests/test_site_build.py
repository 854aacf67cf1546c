"""The history site built in-process from a small asv history and a few runs: its page, plots and
files (the browser's view of a bigger site is tests/test_analysis_site.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from aranya_perf.analysis.alert_config import load_config
from aranya_perf.analysis.asv_results import read_asv_results
from aranya_perf.analysis.run_catalogue import catalogue, run_latency
from aranya_perf.analysis.site import build_site

from tests.analysis_fixtures import commit_hashes, fake_run_dir, write_history


def test_a_small_site_has_a_plot_per_trend_every_run_and_its_files(tmp_path: Path) -> None:
    write_history(tmp_path / "asv", "box", commit_hashes(6), {"codec.Encode.time_encode": lambda i: 2e-6})
    for i in range(3):
        fake_run_dir(tmp_path / "results", f"run-{i}", p99_ms=4.0, minute=i)
    no_report = fake_run_dir(tmp_path / "results", "run-3", p99_ms=4.0, minute=3)
    (no_report / "report.html").unlink()
    warnings: list[str] = []
    asv = read_asv_results(tmp_path / "asv", warnings.append)
    cat = catalogue([tmp_path / "results"], warnings.append)

    index = build_site(tmp_path / "site", asv, cat, run_latency(cat), load_config(None))

    assert warnings == []
    page = index.read_text()
    plots = re.findall(r'src="(plots/[^"]+\.png)"', page)
    assert plots and all((tmp_path / "site" / p).read_bytes().startswith(b"\x89PNG") for p in plots)
    assert "codec.Encode.time_encode" in page and "control Exec" in page
    links = dict(re.findall(r'<a class="run-report" href="([^"]+)">([^<]+)</a>', page))
    assert sorted(links.values()) == ["run-0", "run-1", "run-2"]  # run-3 has no report to link
    assert "run-3" in page
    # Six commits and four runs are too short a history to judge: named, not passed.
    assert "insufficient history" in page
    alerts = json.loads((tmp_path / "site" / "alerts.json").read_text())
    assert alerts["regressions"] == [] and alerts["insufficient_history"]
    assert sorted(pd.read_parquet(tmp_path / "site" / "runs.parquet")["run_id"]) == [
        f"run-{i}" for i in range(4)
    ]
