"""The report's Findings section, rendered from findings.json and drift.json alone."""

from __future__ import annotations

import random
from pathlib import Path

from aranya_perf.analysis import findings_report
from aranya_perf.analysis.run_report import write_run_report

from aranya_perf import findings
from aranya_perf.judge import drift
from aranya_perf.results import RunFiles, atomic_write_json


def _drift(growth: float) -> drift.Drift:
    rng = random.Random(3)
    cpu = [(t + 0.5, (1.0 + growth * t) / 1000 * 40 * (1 + rng.gauss(0, 0.05))) for t in range(120)]
    requests = [(t + 0.5, 40.0) for t in range(120)]
    rss = [(float(t), 80 * drift.MIB) for t in range(120)]
    samples = drift.Samples("processes gateway", 120.0, cpu, {"rss": rss}, requests, requests)
    return drift.drift(samples, drift.Rules(min_window_s=60.0))


def _write(run_dir: Path, found: tuple[findings.Finding, ...], d: drift.Drift) -> None:
    rules = findings.Rules()
    checked = findings.INVARIANTS + findings.DRIFT
    atomic_write_json(run_dir / RunFiles.FINDINGS, findings.findings_json(found, rules, checked))
    atomic_write_json(run_dir / RunFiles.DRIFT, d.to_json())


def test_rows_name_every_invariant_checked_the_broken_first() -> None:
    d = _drift(0.005)
    found = (
        findings.Finding(
            "sids-unique", "1 sessions opened ...", 1, ({"device": "dev-1", "sid": 7, "t": 5.0},)
        ),
        *drift.findings(d, drift.Rules(min_window_s=60.0)),
    )
    doc = findings.findings_json(found, findings.Rules(), findings.INVARIANTS + findings.DRIFT)
    rows = findings_report.finding_rows(doc)
    assert [r[0] for r in rows[:2]] == ["sids-unique", "cost-slope"] and len(rows) == 8
    assert rows[0][1:] == ["1", '{"device": "dev-1", "sid": 7, "t": 5.0}', "fail"]
    assert rows[1][2].startswith("target CPU per request +") and rows[1][3] == "fail"
    assert all(r[1:] == ["0", "-", "held"] for r in rows[2:])
    slopes = findings_report.slope_rows(d.to_json())
    assert [r[0] for r in slopes] == [
        "target CPU per request",
        "target CPU per exec",
        "target resident memory",
    ]
    assert slopes[0][1].endswith(" %") and slopes[0][3].endswith(" ms") and slopes[2][3] == "80 MiB"
    assert slopes[0][5] == "yes" and slopes[2][5] == "no"


def test_the_report_has_a_findings_section_with_the_cost_slope(tmp_path: Path) -> None:
    d = _drift(0.005)
    _write(tmp_path, drift.findings(d, drift.Rules(min_window_s=60.0)), d)
    text = write_run_report(tmp_path).read_text()
    section = text.split("\n## Findings\n", 1)[1].split("\n## ", 1)[0]
    assert "| cost-slope | 2 | target CPU per request +" in section and "1 of 8 broken" in section
    assert "| online-within | 0 | - | held |" in section
    assert "from processes gateway: per 5 s bucket" in section and "the first 5 s (the warm-up)" in section
    assert "| target CPU per exec | +" in section


def test_a_run_without_the_files_says_so(tmp_path: Path) -> None:
    text = write_run_report(tmp_path).read_text()
    section = text.split("\n## Findings\n", 1)[1].split("\n## ", 1)[0]
    assert f"{RunFiles.FINDINGS} is missing" in section and "Cost over time: not measured" in section
