"""``aranya-perf compare``: real runs against themselves and against copies with a known slow-down,
the comparability key, groups (``A1 A2 -- B1 B2``) and the between-run variance of the verdict.

The slowed runs are synthetic: real run directories with every operator-call (non-device)
histogram shifted by ``DELAY_MS``, which is what a gateway adding that delay to each call would
record. ``scripts/compare_power.py`` measures the same on real runs with ``--answer-delay``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from aranya_perf.analysis.compare import (
    BETTER,
    SAME,
    WITHIN_ONLY,
    WORSE,
    CompareConfig,
    RunData,
    between_runs,
    buckets,
    compare_runs,
    shifted,
)
from hdrh.histogram import HdrHistogram

from aranya_perf.measure.latency import HIGHEST_US, LATENCY_HDR, load_histograms, new_histogram, split_key
from tests.helpers import run_cli

DELAY_MS = 20.0
# The first test to use ``real_runs`` also pays for its three runs (about 40 s on a quiet machine).
pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("runs")
    # The control route: its calls take a few ms, so DELAY_MS stands out of the between-run spread even on
    # a busy machine (a Kubernetes call's connection and TLS handshake vary more from run to run).
    args = ("--devices", "20", "--operators", "2", "--duration", "8s", "--repeat", "3", "--out", str(out))
    args += ("--operator-api", "control")
    proc = run_cli("run", *args, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = sorted(p for p in out.iterdir() if p.is_dir() and p.name != "groups")
    assert len(runs) == 3
    return runs


def _slowed_copy(run_dir: Path, dest: Path, **meta_changes: object) -> Path:
    shutil.copytree(run_dir, dest)
    doc = json.loads((dest / LATENCY_HDR).read_text())
    for key, hist in load_histograms(dest / LATENCY_HDR).items():
        if split_key(key)[0] != "device":
            doc["histograms"][key] = shifted(hist, DELAY_MS).encode().decode("ascii")
    (dest / LATENCY_HDR).write_text(json.dumps(doc))
    (dest / "latency.csv").unlink()
    meta = json.loads((dest / "meta.json").read_text())
    meta.update(run_id=dest.name, **meta_changes)
    meta.pop("group", None)  # a copy is not one of the repeats
    (dest / "meta.json").write_text(json.dumps(meta))
    return dest


def test_repeat_writes_a_group(real_runs: list[Path]) -> None:
    metas = [json.loads((r / "meta.json").read_text()) for r in real_runs]
    (group,) = {m["group"]["id"] for m in metas}
    assert [m["group"]["index"] for m in metas] == [0, 1, 2] and {m["group"]["size"] for m in metas} == {3}
    listing = json.loads((real_runs[0].parent / "groups" / f"{group}.json").read_text())
    assert [r["run_id"] for r in listing["runs"]] == [r.name for r in real_runs]


def test_one_run_per_side_without_history_gives_no_verdict(real_runs: list[Path], tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    run = shutil.copytree(real_runs[0], alone / real_runs[0].name)
    proc = run_cli("compare", str(run), str(run), "--out", str(tmp_path / "cmp"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    verdicts = {r["verdict"] for r in doc["rows"]}
    assert WITHIN_ONLY in verdicts and not verdicts & {WORSE, BETTER, SAME}
    assert len(doc["rows"]) >= 4 * 4  # several kinds x p50/p90/p99/throughput
    assert all(r["delta_pct"] == 0 for r in doc["rows"] if r["delta_pct"] is not None)
    assert "Only within-run noise was measured" in (tmp_path / "cmp" / "compare.md").read_text()
    assert (tmp_path / "cmp" / "compare.png").read_bytes().startswith(b"\x89PNG")


def test_one_run_per_side_uses_the_repeat_groups_of_its_key(real_runs: list[Path], tmp_path: Path) -> None:
    # The repeats of the fixture are the history: compare their first run with its slowed copy.
    slow = _slowed_copy(real_runs[0], real_runs[0].parent.parent / f"slow-{tmp_path.name}")
    proc = run_cli("compare", str(real_runs[0]), str(slow), "--history", str(real_runs[0].parent), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "plus 1 repeat group(s) (2 runs)" in proc.stdout
    exec_p50 = [line for line in proc.stdout.splitlines() if "| Exec | p50_ms |" in line]
    assert exec_p50 and "| 1 |" in exec_p50[0]  # one degree of freedom: two runs of one group


def test_groups_slowed_are_worse_on_operator_calls_only(real_runs: list[Path], tmp_path: Path) -> None:
    slow = [_slowed_copy(r, tmp_path / f"slow{i}") for i, r in enumerate(real_runs)]
    sides = [*map(str, real_runs), "--", *map(str, slow)]
    proc = run_cli("compare", *sides, "--out", str(tmp_path / "cmp"), "--history", str(tmp_path), timeout=90)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "cmp" / "compare.json").read_text())["rows"]
    assert {r["runs_a"] for r in rows} == {3} and {r["dof"] for r in rows if r["dof"] is not None} == {4}
    operator = [r for r in rows if r["request_type"] != "device" and r["metric"].startswith("p50")]
    enough = [r for r in operator if r["count_a"] >= 3 * 20]
    assert enough and all(r["verdict"] == WORSE and r["ci_low_pct"] > 0 for r in enough), enough
    device = [r for r in rows if r["request_type"] == "device"]
    assert device and not {r["verdict"] for r in device} & {WORSE, BETTER}
    assert "**worse**" in proc.stdout


def test_comparability_refusal_names_each_difference(real_runs: list[Path], tmp_path: Path) -> None:
    mqtt = _slowed_copy(real_runs[0], tmp_path / "mqtt", transport={"name": "mqtt"})
    refused = run_cli("compare", str(real_runs[0]), str(mqtt), timeout=60)
    assert refused.returncode == 2
    (line,) = refused.stderr.splitlines()
    assert "not comparable: transport grpc vs mqtt" in line and "--force" in line
    bigger = _slowed_copy(real_runs[0], tmp_path / "bigger", transport={"name": "mqtt"})
    profile = (bigger / "profile.toml").read_text()
    (bigger / "profile.toml").write_text(profile.replace("devices = 20", "devices = 21", 1))
    (line,) = run_cli("compare", str(real_runs[0]), str(bigger), timeout=60).stderr.splitlines()
    assert "transport grpc vs mqtt; load " in line
    # The devices' answer delay stands for a slower target: what a comparison is for, not its load.
    delayed = _slowed_copy(real_runs[0], tmp_path / "delayed")
    profile = (delayed / "profile.toml").read_text()
    assert 'answer_delay = "0s"' in profile
    (delayed / "profile.toml").write_text(profile.replace('answer_delay = "0s"', 'answer_delay = "0.02s"'))
    accepted = run_cli("compare", str(real_runs[0]), str(delayed), timeout=60)
    assert accepted.returncode == 0, accepted.stderr
    forced = run_cli("compare", str(real_runs[0]), str(mqtt), "--force", timeout=60)
    assert forced.returncode == 0, forced.stderr
    top = forced.stdout.splitlines()[2]
    assert top.startswith("> **Not comparable, compared anyway (--force):** transport grpc vs mqtt")


def test_bad_sides_are_one_line(real_runs: list[Path], tmp_path: Path) -> None:
    missing = run_cli("compare", str(tmp_path / "nope"), str(real_runs[0]), timeout=60)
    assert missing.returncode == 2 and "no such directory" in missing.stderr
    three = run_cli("compare", *map(str, real_runs), timeout=60)
    assert three.returncode == 2 and "A1 A2 -- B1 B2" in three.stderr
    empty = run_cli("compare", str(real_runs[0]), "--", timeout=60)
    assert empty.returncode == 2 and len(empty.stderr.splitlines()) == 1


def _hist(values_ms: np.ndarray):
    h = new_histogram()
    for v in values_ms:
        h.record_value(max(1, round(v * 1000)))
    return h


def _runs(
    rng: np.random.Generator, n: int, run_sd: float, factor: float = 1.0, size: int = 3000
) -> list[RunData]:
    """``n`` runs whose level varies between runs by ``run_sd`` (log), each of ``size`` requests."""
    out = []
    for i in range(n):
        level = rng.normal(0, run_sd)
        values = rng.lognormal(0.7 + level, 0.4, size=size) * factor
        out.append(
            RunData(f"r{i}", {"control Exec": _hist(values), "control Logs": _hist(values[:30])}, 10.0)
        )
    return out


def _row(frame, kind: str = "control Exec", metric: str = "p50_ms"):
    return frame[(frame["request_type"] + " " + frame["name"] == kind) & (frame["metric"] == metric)].iloc[0]


def test_between_run_variance_decides_not_the_requests() -> None:
    rng = np.random.default_rng(5)
    cfg = CompareConfig(bootstrap=300, seed=1)
    # Two runs of one configuration 10 % apart, each with 3,000 requests: within-run noise alone
    # would call that a change; the repeat groups of the key (run sd 8 %) say it is not.
    a = RunData("a", {"control Exec": _hist(rng.lognormal(0.7, 0.4, size=3000))}, 10.0)
    b = RunData("b", {"control Exec": _hist(rng.lognormal(0.7 + 0.1, 0.4, size=3000))}, 10.0)
    history = between_runs([_runs(rng, 4, 0.08), _runs(rng, 4, 0.08), _runs(rng, 4, 0.08)])
    assert history.groups == 3 and history.get("control Exec", "p50_ms")[1] == 9
    assert _row(compare_runs([a], [b], cfg))["verdict"] == WITHIN_ONLY
    row = _row(compare_runs([a], [b], cfg, history))
    assert row["verdict"] == SAME and row["dof"] == 9 and row["ci_low_pct"] < 0 < row["ci_high_pct"]
    # A doubling is well past that noise.
    slow = RunData("c", {"control Exec": _hist(rng.lognormal(0.7 + math.log(2), 0.4, size=3000))}, 10.0)
    assert _row(compare_runs([a], [slow], cfg, history))["verdict"] == WORSE


def test_groups_carry_their_own_variance_and_the_sample_rule() -> None:
    rng = np.random.default_rng(7)
    cfg = CompareConfig(bootstrap=300, seed=2)
    base, again, slower = _runs(rng, 5, 0.03), _runs(rng, 5, 0.03), _runs(rng, 5, 0.03, factor=1.3)
    assert _row(compare_runs(base, again, cfg))["verdict"] == SAME
    row = _row(compare_runs(base, slower, cfg))
    assert row["verdict"] == WORSE and row["delta_pct"] == pytest.approx(30.0, abs=8.0) and row["dof"] == 8
    # 30 requests per run: a p99 from them is the maximum; the row says so and still shows the delta.
    logs = _row(compare_runs(base, slower, cfg), "control Logs", "p99_ms")
    assert logs["verdict"] == "too few samples (n=30)" and math.isfinite(logs["delta_pct"])
    assert (
        _row(compare_runs(base, slower, cfg), "control Logs", "p50_ms")["verdict"] != "too few samples (n=30)"
    )
    assert compare_runs(base, slower, cfg).equals(compare_runs(base, slower, cfg))  # seeded


def _contended(rng: np.random.Generator, n: int, delay_ms: float = 0.0, size: int = 150) -> list[RunData]:
    """``n`` runs of an exec of ~3.5 ms that a busy machine holds back by ~15 ms on a share of its
    requests, the share drawn per run between 10 and 70 %; ``delay_ms`` is added to every request."""
    out = []
    for i in range(n):
        held = rng.random(size) < rng.uniform(0.1, 0.7)
        values = rng.lognormal(math.log(3.5), 0.15, size) + held * rng.exponential(15.0, size) + delay_ms
        out.append(RunData(f"c{i}", {"control Exec": _hist(values)}, 10.0))
    return out


def test_p25_sees_a_slower_target_through_the_machines_load() -> None:
    rng = np.random.default_rng(11)
    cfg = CompareConfig(bootstrap=300, seed=3)
    history = between_runs([_contended(rng, 2) for _ in range(10)])
    a, again = _contended(rng, 2)
    (slower,) = _contended(rng, 1, delay_ms=DELAY_MS)
    # Same configuration: neither the median nor the lower quarter calls the load's drift a change.
    same = compare_runs([a], [again], cfg, history)
    assert {_row(same, metric=m)["verdict"] for m in ("p25_ms", "p50_ms")} == {SAME}
    # Every request 20 ms later: p25 sees it with one run per side, its interval narrower than the
    # median's, which moves with the share of requests the machine held back.
    worse = compare_runs([a], [slower], cfg, history)
    p25, p50 = _row(worse, metric="p25_ms"), _row(worse, metric="p50_ms")
    assert p25["verdict"] == WORSE and p25["dof"] == 10
    assert _log_width(p25) < _log_width(p50)


def _log_width(row) -> float:
    return math.log1p(row["ci_high_pct"] / 100) - math.log1p(row["ci_low_pct"] / 100)


def test_a_kind_on_one_side_only_is_named_not_compared() -> None:
    rng = np.random.default_rng(9)
    exec_ = _hist(rng.lognormal(0.7, 0.4, size=500))
    a = RunData("a", {"control Exec": exec_, "control Logs": _hist(rng.lognormal(0.7, 0.4, size=500))}, 10.0)
    b = RunData("b", {"control Exec": exec_}, 10.0)
    rows = compare_runs([a], [b], CompareConfig(bootstrap=100, seed=3))
    logs = rows[rows["name"] == "Logs"]
    assert len(logs) >= 4 and set(logs["verdict"]) == {"only in A"} and set(logs["note"]) == {"only in A"}
    assert set(rows[rows["name"] == "Exec"]["verdict"]) == {WITHIN_ONLY}


@pytest.mark.parametrize("figures", [2, 3])
def test_buckets_are_the_recorded_iterator_s_values_and_counts(figures: int) -> None:
    hist = new_histogram(figures)
    rng = np.random.default_rng(7)
    for us in [*rng.lognormal(8, 2.5, 5000).astype(int), 0, 1, 2047, 2048, 4096, HIGHEST_US]:
        hist.record_value(int(min(us, HIGHEST_US)))
    for h in (hist, HdrHistogram.decode(hist.encode()), new_histogram(figures)):
        # The iterator yields one object, changed at each step: read it as it goes.
        items = [(i.value_iterated_to, i.count_added_in_this_iter_step) for i in h.get_recorded_iterator()]
        values, counts = buckets(h)
        assert values.tolist() == [float(v) for v, _ in items] and counts.tolist() == [c for _, c in items]
        assert counts.sum() == h.get_total_count()
