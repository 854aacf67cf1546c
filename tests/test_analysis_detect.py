"""Change-point detection (``aranya_perf.analysis.detect``), the labelled corpus and a quick detector
evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from aranya_perf.analysis import corpus, detect, evaluate


def _steps(levels: list[tuple[int, float]], sigma: float, seed: int, samples: int = 5) -> detect.Series:
    rng = np.random.default_rng(seed)
    level = np.concatenate([np.full(n, v) for n, v in levels])
    raw = level[:, None] * (1 + rng.normal(0, sigma, size=(len(level), samples)))
    commits = tuple(f"c{i:03d}" for i in range(len(level)))
    return detect.Series("bench", np.median(raw, axis=1), commits=commits, samples=raw)


def test_one_step_is_found_where_it_is_with_its_size() -> None:
    analyzed = detect.analyze(_steps([(60, 1.0), (40, 1.07)], sigma=0.01, seed=1))
    (cp,) = analyzed.change_points
    assert cp.index == 60
    assert cp.index_lo <= 60 <= cp.index_hi
    assert (cp.commit_before, cp.commit_after) == ("c059", "c060") or cp.index_lo < 60
    assert cp.magnitude_pct == pytest.approx(7.0, abs=1.0)
    assert cp.direction == "regression" and not cp.recovered
    assert cp.p_value <= 0.01 and cp.confidence >= 0.99


def test_higher_is_better_turns_a_drop_into_a_regression() -> None:
    s = _steps([(50, 100.0), (50, 90.0)], sigma=0.01, seed=2)
    s = detect.Series(s.name, s.values, s.commits, s.samples, better=detect.HIGHER_IS_BETTER)
    (cp,) = detect.analyze(s).change_points
    assert cp.direction == "regression"
    assert cp.magnitude_pct == pytest.approx(-10.0, abs=1.0)


def test_a_regression_that_comes_back_is_recovered() -> None:
    analyzed = detect.analyze(_steps([(50, 1.0), (30, 1.15), (40, 1.0)], sigma=0.01, seed=3))
    up, down = analyzed.change_points
    assert (up.index, down.index) == (50, 80)
    assert up.direction == "regression" and up.recovered and up.recovered_at == 80
    assert down.direction == "improvement"
    assert analyzed.regressions(unrecovered_only=True) == ()


# Not "drifting": a wave of 1 sigma is what most false alarms are made of (docs/analysis.md).
@pytest.mark.parametrize("noise", ["lognormal", "bimodal", "outliers"])
def test_no_change_points_in_noise_alone(noise: str) -> None:
    s = corpus.make_series(noise, 0.03, seed=11, sizes=())
    assert s.change_indices == ()
    assert detect.analyze(detect.Series("flat", s.values, samples=s.samples)).change_points == ()


def test_one_outlier_commit_is_not_a_step() -> None:
    s = _steps([(80, 1.0)], sigma=0.01, seed=4)
    values = s.values.copy()
    values[40] *= 1.5
    samples = s.samples.copy()
    samples[40] *= 1.5
    assert detect.analyze(detect.Series("spike", values, samples=samples)).change_points == ()


def test_missing_values_keep_series_indices() -> None:
    s = _steps([(50, 1.0), (50, 1.2)], sigma=0.01, seed=5)
    values = s.values.copy()
    values[[10, 20, 70]] = np.nan
    (cp,) = detect.analyze(detect.Series("gaps", values)).change_points
    assert cp.index == 50


def test_same_seed_same_answer_and_seed_is_used() -> None:
    s = corpus.make_series("lognormal", 0.03, seed=9)
    a = detect.analyze(detect.Series("x", s.values, samples=s.samples), detect.DetectConfig(seed=1))
    b = detect.analyze(detect.Series("x", s.values, samples=s.samples), detect.DetectConfig(seed=1))
    assert a == b


def test_trimmed_mean_of_samples_ignores_one_wild_sample() -> None:
    samples = np.array([[1.0, 1.0, 1.0, 1.0, 9.0], [2.0, 2.0, 2.0, 2.0, 2.0]])
    assert detect.commit_values(np.array([5.0, 5.0]), samples).tolist() == [1.0, 2.0]
    ragged = (np.array([1.0, 2.0, 3.0, 100.0]), None)
    assert detect.commit_values(np.array([5.0, 7.0]), ragged).tolist() == [2.5, 7.0]


def test_corpus_is_seeded_and_labelled() -> None:
    spec = corpus.CorpusSpec(per_cell=2, step_free_per_cell=1, seed=3)
    a, b = list(corpus.corpus(spec)), list(corpus.corpus(spec))
    assert len(a) == 3 * len(corpus.NOISE_KINDS) * len(corpus.SIGMAS)
    assert all(np.array_equal(x.samples, y.samples) for x, y in zip(a, b, strict=True))
    with_steps = [s for s in a if s.change_indices]
    assert len(with_steps) == 2 * len(corpus.NOISE_KINDS) * len(corpus.SIGMAS)
    for s in with_steps:
        assert sorted(abs(round(v, 4)) for v in s.change_sizes) == list(corpus.STEP_SIZES)
        assert min(np.diff([0, *s.change_indices, 300])) >= 30
    labels = corpus.labels_frame(a)
    assert len(labels) == 4 * len(with_steps)


@pytest.mark.parametrize("noise", ["lognormal", "bimodal", "outliers"])
@pytest.mark.parametrize("sigma", [0.01, 0.05])
def test_corpus_sigma_is_the_noise_of_the_stored_value(noise: str, sigma: float) -> None:
    # The stored value (median of a commit's samples) carries sigma; the raw samples carry more.
    s = corpus.make_series(noise, sigma, seed=21, n=4000, sizes=())
    rel = s.values / np.median(s.values)
    robust_sd = 1.4826 * np.median(np.abs(rel - np.median(rel)))  # the outliers kind's spikes are on top
    assert robust_sd == pytest.approx(sigma, rel=0.1)
    assert np.std(s.samples / np.median(s.values)) > 1.1 * robust_sd


def test_budget_maps_to_a_threshold_that_falls_as_the_budget_grows() -> None:
    budgets = [0.1, 0.3, 1.0, 2.0, 50.0]
    zs = [detect.near_z_for_budget(b) for b in budgets]
    assert zs == sorted(zs, reverse=True) and zs[0] > zs[-1]
    assert detect.DetectConfig.for_budget(detect.DEFAULT_BUDGET) == detect.DetectConfig()
    # The budget sets the drift check's threshold; the step's own floor stays where it was calibrated.
    assert detect.DetectConfig.for_budget(0.1).z_min == detect.DetectConfig().z_min
    assert json.loads(detect.CALIBRATION_FILE.read_text())["z_min"] == detect.DetectConfig().z_min
    assert detect.DetectConfig.for_budget(0.2, seed=4).seed == 4
    with pytest.raises(ValueError, match="budget must be positive"):
        detect.near_z_for_budget(0.0)


def test_a_stricter_budget_finds_no_more_changes() -> None:
    s = corpus.make_series("drifting", 0.03, seed=12)
    series = detect.Series("x", s.values, samples=s.samples)
    counts = [
        len(detect.analyze(series, detect.DetectConfig.for_budget(b)).change_points) for b in (2, 1, 0.1)
    ]
    assert counts == sorted(counts, reverse=True)


def test_match_uses_each_detection_once() -> None:
    hits, fp = evaluate.match([50, 100], [49, 52, 300], tolerance=2)
    assert hits == [True, False] and fp == 2
    hits, fp = evaluate.match([50], [53], tolerance=2)
    assert hits == [False] and fp == 1


def test_quick_evaluation_ours_holds_its_budget_at_sigma_3pct() -> None:
    # A small, fixed corpus of its own seed: a guard that the detector keeps its quality, not the
    # published figures (those come from `aranya-perf evaluate --full`, see docs/analysis.md).
    spec = evaluate.EvaluationSpec(cpu_series=0, detectors=("ours",))
    result = evaluate.evaluate(spec)
    row = result.by_sigma.set_index("sigma").loc[0.03]
    assert row["fa_per_1000"] <= 2 * spec.budget
    assert row["f1"] >= 0.7
    assert row["recall_5pct"] >= 0.5
    assert row["recall_20pct"] >= 0.95


def test_evaluation_scores_every_detector_per_noise_kind_at_one_budget() -> None:
    spec = evaluate.EvaluationSpec(
        per_cell=1, step_free_per_cell=1, calibration_per_cell=2, cpu_series=2, cpu_points=400
    )
    result = evaluate.evaluate(spec)
    assert set(result.settings) == {"ours", "otava", "asv", "ruptures"}
    assert result.settings["ours"] == spec.budget
    kinds = result.by_noise[result.by_noise["sigma"] == 0.03]
    assert len(kinds) == 4 * len(corpus.NOISE_KINDS)
    assert set(result.cpu["detector"]) == set(result.settings)
    # Every other detector's setting was tried on step-free series only, and the chosen one is within budget
    # unless it is the least sensitive of its grid.
    for name, setting in result.settings.items():
        if name == "ours":
            continue
        tried = result.calibration[result.calibration["detector"] == name].set_index("setting")
        assert tried["recall"].isna().all()  # no steps to find
        grid = evaluate.SETTING_GRID[name]
        assert tried.loc[setting, "fa_per_1000"] <= spec.budget or setting == grid[0]
