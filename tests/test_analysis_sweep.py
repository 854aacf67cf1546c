"""Capacity: the USL fit, knees and replicas on known numbers, and ``aranya-perf sweep`` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from aranya_perf.analysis.capacity import SLO, capacity_model, knees
from aranya_perf.analysis.capacity_report import to_markdown
from aranya_perf.analysis.sweep_frames import read_steps
from aranya_perf.analysis.usl import fit_usl, usl

from tests.analysis_fixtures import fake_run_dir
from tests.helpers import run_cli


def test_usl_recovers_known_parameters_within_their_intervals() -> None:
    rng = np.random.default_rng(0)
    n = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=float)
    x = usl(n, 100.0, 0.05, 0.0005) * (1 + rng.normal(0, 0.01, len(n)))
    fit = fit_usl(n, x)
    assert fit.alpha_ci[0] <= 0.05 <= fit.alpha_ci[1]
    assert fit.beta_ci[0] <= 0.0005 <= fit.beta_ci[1]
    assert fit.lam == pytest.approx(100, rel=0.05)
    assert fit.peak_load == pytest.approx(math.sqrt(0.95 / 0.0005), rel=0.2)
    assert 0 < fit.residual_sd < 0.05 * x.max()
    with pytest.raises(ValueError, match="3 distinct loads"):
        fit_usl([1, 2], [1, 2])


def _steps(loads: list[int], p99: list[float], gen_cpu: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    steps = pd.DataFrame(
        {
            "step": range(len(loads)),
            "load": loads,
            "devices": loads,
            "throughput_rps": [float(usl(np.array(n), 2.0, 0.02, 1e-5)) for n in loads],
            "gateway_cpu_pct": [n / 10 for n in loads],
            "gateway_rss_bytes": [50 * 2**20 + n * 40 * 2**10 for n in loads],
            "generator_cpu_pct": gen_cpu,
            "generator_rss_bytes": [100 * 2**20 + n * 70 * 2**10 for n in loads],
        }
    )
    lat = pd.DataFrame(
        {
            "step": range(len(loads)),
            "load": loads,
            "request_type": "control",
            "name": "Exec",
            "count": 100,
            "p50_ms": 1.0,
            "p90_ms": 2.0,
            "p99_ms": p99,
        }
    )
    return steps, lat


def test_knee_is_interpolated_and_sets_replicas() -> None:
    steps, lat = _steps([100, 200, 400, 800], [50, 100, 200, 400], [10, 20, 40, 60])
    (knee,) = knees(lat, [SLO.parse("p99=250ms")])
    assert knee.load == pytest.approx(500) and knee.crossed_between == (400, 800)
    model = capacity_model(steps, lat, [SLO.parse("p99=250ms")], fleet=10_000, headroom=0.2)
    assert model.capacity == pytest.approx(500)
    assert model.replicas == math.ceil(10_000 / (500 * 0.8)) and model.replicas_bound == "exact"
    assert model.per_1000["gateway_cpu_pct"] == pytest.approx(100.0)
    assert model.per_1000["gateway_rss_mib"] == pytest.approx(40 * 1000 / 1024)
    assert model.holdout is not None and abs(model.holdout.error_pct) < 1.0
    assert model.generator_limited_from is None


def _reported(steps: pd.DataFrame) -> pd.DataFrame:
    return steps.assign(run_id="r", operators=1, failures=0, status="ok")


def test_knee_carries_its_interval_counts_and_skips_steps_below_the_sample_rule() -> None:
    steps, lat = _steps([100, 200, 400, 800], [50, 300, 200, 400], [10, 20, 40, 60])
    lat.loc[1, "count"] = 40  # 40 requests: its p99 of 300 ms is not a measurement
    slo = [SLO.parse("p99=250ms")]
    (knee,) = knees(lat, slo)
    assert knee.unusable == (200.0,) and knee.crossed_between == (400, 800) and knee.counts == (100, 100)
    model = capacity_model(steps, lat, slo, fleet=10_000, headroom=0.2)
    assert model.replicas_range == (math.ceil(10_000 / (800 * 0.8)), math.ceil(10_000 / (400 * 0.8)))
    md = to_markdown(model, _reported(steps), slo)
    assert "| p99 < 250 ms | control Exec | 500 | 400 .. 800 | 100 / 100 | 200 |" in md
    assert f"between {model.replicas_range[0]} and {model.replicas_range[1]} replicas" in md


def test_no_peak_is_claimed_when_beta_may_be_zero() -> None:
    steps, lat = _steps([100, 200, 300, 400], [5, 6, 7, 8], [10, 20, 30, 40])
    steps["throughput_rps"] = [190.0, 420.0, 520.0, 800.0]  # noisy and nearly linear: beta not measured
    model = capacity_model(steps, lat, [SLO.parse("p99=250ms")], fleet=10_000, headroom=0.2)
    assert model.fit is not None and model.fit.beta_ci[0] <= 0 < model.fit.beta_ci[1]
    assert not model.peak_claimed and not model.capacity_basis.startswith("USL throughput peak")
    md = to_markdown(model, _reported(steps), [SLO.parse("p99=250ms")])
    assert "No throughput peak can be claimed: beta's interval includes 0." in md and "peaks at" not in md


def test_saturated_generator_is_said_and_bounds_the_answer() -> None:
    # The USL peak of these steps is at ~313 devices; the generator saturated before that.
    steps, lat = _steps([100, 200, 400, 800], [5, 6, 7, 8], [30, 95, 97, 99])
    model = capacity_model(steps, lat, [SLO.parse("p99=250ms")], fleet=10_000, headroom=0.2)
    assert model.generator_limited_from == 200
    assert model.capacity_basis.startswith("USL throughput peak")
    assert model.replicas_bound == "upper bound" and "generator saturated from 200" in model.capacity_basis


@pytest.mark.parametrize("text", ["p95=10ms", "p99", "p99=abc", "p99=10ms@("])
def test_bad_slo(text: str) -> None:
    with pytest.raises(ValueError, match="bad SLO"):
        SLO.parse(text)


@pytest.mark.timeout(420)  # six steps of the default sweep, each a run of its own
def test_sweep_against_the_embedded_gateway(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    proc = run_cli("sweep", "--out", str(out), "--slo", "p99=250ms", "--fleet", "10000", timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "held-out last step" in proc.stderr
    doc = json.loads((out / "capacity.json").read_text())
    steps = pd.read_csv(out / "steps.csv")
    assert steps["devices"].tolist() == [50, 100, 150, 200, 300, 400]  # 6 steps: 3 degrees of freedom
    assert steps["operators"].tolist() == [1, 2, 3, 4, 6, 8]
    assert (steps["throughput_rps"].diff().dropna() > 0).all()
    fit = doc["fit"]
    for key in ("alpha", "beta", "lam", "residual_sd"):
        assert fit[key] is not None and fit[key] >= 0
    assert len(fit["alpha_ci"]) == 2 and len(fit["beta_ci"]) == 2
    # The held-out figure is the 5-step fit's prediction of the 6th step: recompute it here.
    head = fit_usl(steps["load"][:5], steps["throughput_rps"][:5])
    predicted = float(head.predict(400.0))
    assert doc["holdout"]["predicted"] == pytest.approx(predicted, rel=1e-6)
    assert doc["holdout_error_pct"] == pytest.approx((predicted / steps["throughput_rps"][5] - 1) * 100)
    assert {k["kind"] for k in doc["knees"]} >= {"kube exec"}  # operators go through the Kubernetes face
    assert doc["replicas"] >= 1 and doc["per_1000"]["gateway_rss_mib"] is not None
    md = (out / "capacity.md").read_text()
    for text in ("alpha (contention)", "Held-out check", "Resources per 1,000 devices", "replica(s)"):
        assert text in md
    assert "generator" in md
    for name in ("throughput", "latency", "resources"):
        assert (out / "plots" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert len(pd.read_parquet(out / "runs.parquet")) == 6

    again = run_cli("sweep", "--from-runs", str(out / "runs"), "--out", str(tmp_path / "again"), timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "again" / "capacity.json").read_text())["fit"] == fit


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--devices", "10,20"], "at least 3 steps"),
        (["--slo", "p95=3ms"], "bad SLO"),
        (["--headroom", "1.5"], "--headroom"),
        (["--devices", "10,20,30", "--operators", "1,2"], "--operators needs one value"),
        (["--run-args=--no-such-flag"], "refused its flags"),
    ],
)
def test_sweep_bad_input(tmp_path: Path, args: list[str], expect: str) -> None:
    out = str(tmp_path / "s")
    proc = run_cli("sweep", "--devices", "5,6,7", "--step-duration", "1s", *args, "--out", out, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert expect in proc.stderr.splitlines()[-1] and "Traceback" not in proc.stderr


def test_steps_of_an_operators_sweep_are_read_as_such(tmp_path: Path) -> None:
    dirs = [fake_run_dir(tmp_path, f"r{n}", p99_ms=5.0 * n, minute=n, operators=n) for n in (1, 2, 4)]
    warnings: list[str] = []
    steps, lat = read_steps([*dirs, tmp_path / "missing"], "auto", warnings.append)
    assert steps.attrs["load"] == "operators" and steps["load"].tolist() == [1, 2, 4]
    # An operators sweep counts operator calls only: 100 Exec per run over 5 s.
    assert steps["throughput_rps"].tolist() == [20.0, 20.0, 20.0]
    assert lat[lat["name"] == "Exec"]["p99_ms"].tolist() == [5.0, 10.0, 20.0]
    assert len(warnings) == 1 and "missing" in warnings[0]
