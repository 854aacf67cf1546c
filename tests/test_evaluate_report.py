"""The renderings of a small detector evaluation: the text table ``aranya-perf evaluate`` prints and its
JSON, both carrying the evaluation's own figures."""

from __future__ import annotations

import json

from aranya_perf.analysis import evaluate
from aranya_perf.analysis.evaluate_report import render_text, to_json


def test_text_and_json_carry_the_evaluation_s_settings_and_scores() -> None:
    spec = evaluate.EvaluationSpec(
        per_cell=1, step_free_per_cell=1, calibration_per_cell=2, cpu_series=1, cpu_points=400,
        detectors=("ours", "asv"),
    )  # fmt: skip
    result = evaluate.evaluate(spec)
    text = render_text(result)
    assert f"seed {spec.seed}" in text and f"ours budget={result.settings['ours']:g}" in text
    assert f"asv min step={result.settings['asv']:g}" in text
    assert "by sigma:" in text and "by noise kind:" in text and "CPU over 1 series of 400 points" in text
    header = next(line for line in text.splitlines() if line.startswith("detector"))
    assert header.split()[:2] == ["detector", "setting"] and "F1" in header.split()

    doc = json.loads(json.dumps(to_json(result)))  # plain JSON: NaN written as null
    assert doc["schema_version"] == 1 and doc["settings"] == result.settings
    assert doc["spec"]["detectors"] == ["ours", "asv"]
    assert len(doc["by_sigma"]) == len(result.by_sigma) and {r["detector"] for r in doc["cpu"]} == {
        "ours",
        "asv",
    }
