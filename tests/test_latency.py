"""aranya_perf.measure.latency: HDR recording from real Locust request events, files, merging."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest
from hdrh.histogram import HdrHistogram
from locust.env import Environment

from aranya_perf.measure.latency import (
    HIGHEST_US,
    INTERVAL_FIGURES,
    LATENCY_COLUMNS,
    LOWEST_US,
    SIGNIFICANT_FIGURES,
    LatencyRecorder,
    load_failures,
    load_histograms,
    mean_us,
    merge,
    merge_by_key,
    new_histogram,
    read_intervals,
    record_one,
)
from aranya_perf.results import ResultsError

HDR_REL = 1e-3  # 3 significant figures


def fire(
    env: Environment, name: str, ms: float, times: int, failed: bool = False, rtype: str = "grpc"
) -> None:
    for _ in range(times):
        env.events.request.fire(
            request_type=rtype,
            name=name,
            response_time=ms,
            response_length=0,
            exception=RuntimeError("boom") if failed else None,
            context={},
        )


@pytest.fixture
def env() -> Environment:
    return Environment()


def test_percentiles_from_real_request_events(env: Environment) -> None:
    rec = LatencyRecorder(env)
    fire(env, "Exec", 0.25, 1000)
    fire(env, "Exec", 2.0, 10)  # top 1% of 1010
    fire(env, "Logs", 12.345, 98)
    fire(env, "Logs", 150.0, 2, failed=True)
    frame = rec.frame()
    assert list(frame.columns) == list(LATENCY_COLUMNS)
    exec_, logs = (frame[frame["name"] == n].iloc[0] for n in ("Exec", "Logs"))
    assert exec_["count"] == 1010 and exec_["failures"] == 0
    assert exec_["p50_ms"] == pytest.approx(0.25, rel=HDR_REL)
    assert exec_["p90_ms"] == pytest.approx(0.25, rel=HDR_REL)
    assert exec_["p99_ms"] == pytest.approx(0.25, rel=HDR_REL)
    assert exec_["p999_ms"] == pytest.approx(2.0, rel=HDR_REL)
    assert exec_["min_ms"] == pytest.approx(0.25, rel=HDR_REL)
    assert exec_["max_ms"] == pytest.approx(2.0, rel=HDR_REL)
    assert exec_["mean_ms"] == pytest.approx((0.25 * 1000 + 2.0 * 10) / 1010, rel=HDR_REL)
    assert logs["count"] == 100 and logs["failures"] == 2
    assert logs["p50_ms"] == pytest.approx(12.345, rel=HDR_REL)
    assert logs["p99_ms"] == pytest.approx(150.0, rel=HDR_REL)
    assert logs["max_ms"] == pytest.approx(150.0, rel=HDR_REL)


def test_clamps_out_of_range_and_counts_untimed(env: Environment) -> None:
    rec = LatencyRecorder(env)
    fire(env, "Exec", 0.0001, 1)  # 0.1 µs -> 1 µs
    fire(env, "Exec", 120_000.0, 1)  # 2 min -> 60 s
    env.events.request.fire(
        request_type="grpc", name="Exec", response_time=None, response_length=0, exception=None, context={}
    )
    row = rec.frame().iloc[0]
    assert row["count"] == 2 and rec.clamped == 2
    assert row["min_ms"] == pytest.approx(0.001, rel=HDR_REL)
    assert row["max_ms"] == pytest.approx(60_000.0, rel=HDR_REL)


def test_write_load_merge_round_trip(env: Environment, tmp_path: Path) -> None:
    rec = LatencyRecorder(env)
    fire(env, "Exec", 0.25, 1000)
    fire(env, "Port Forward", 3.5, 100, failed=True)
    csv_path, hdr_path = rec.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "latency.csv",
        "latency_hdr.json",
        "latency_intervals.jsonl",
    ]

    on_disk = pd.read_csv(csv_path)
    assert list(on_disk.columns) == list(LATENCY_COLUMNS)
    pd.testing.assert_frame_equal(on_disk, rec.frame(), check_dtype=False, atol=1e-4)

    doc = json.loads(hdr_path.read_text())
    assert doc["schema_version"] == 1 and doc["unit"] == "us"
    assert set(doc["histograms"]) == {"grpc Exec", "grpc Port Forward"}
    hists = load_histograms(hdr_path)
    assert load_failures(tmp_path) == {"grpc Exec": 0, "grpc Port Forward": 100}
    assert hists["grpc Exec"].get_total_count() == 1000
    assert hists["grpc Port Forward"].get_value_at_percentile(50) == pytest.approx(3500, rel=HDR_REL)

    # Two "workers" with the same data merge into twice the counts and the same percentiles.
    doubled = merge_by_key(hists, load_histograms(tmp_path))
    assert doubled["grpc Exec"].get_total_count() == 2000
    assert doubled["grpc Exec"].get_value_at_percentile(99) == hists["grpc Exec"].get_value_at_percentile(99)
    everything = merge(hists.values())
    assert everything.get_total_count() == 1100
    assert everything.get_min_value() == 250 and everything.get_max_value() == pytest.approx(
        3500, rel=HDR_REL
    )
    # Merging an empty histogram must not drag the minimum to 0 (hdrh's add() would).
    assert merge([new_histogram(), hists["grpc Exec"]]).get_min_value() == 250
    assert merge([]).get_total_count() == 0


def test_load_histograms_refuses_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "latency_hdr.json"
    with pytest.raises(ResultsError, match="not found"):
        load_histograms(path)
    path.write_text(json.dumps({"schema_version": 2, "unit": "us", "histograms": {}}))
    with pytest.raises(ResultsError, match="schema_version"):
        load_histograms(path)
    path.write_text(json.dumps({"schema_version": 1, "unit": "us", "histograms": {"grpc X": "garbage"}}))
    with pytest.raises(ResultsError, match="does not decode"):
        load_histograms(path)


def test_detach_and_resets(env: Environment) -> None:
    rec = LatencyRecorder(env)
    fire(env, "Exec", 1.0, 5)
    env.reset_stats = True
    env.events.spawning_complete.fire(user_count=1)  # Locust's --reset-stats moment
    assert rec.frame().empty
    fire(env, "Exec", 1.0, 3)
    env.events.reset_stats.fire()  # web UI reset button
    fire(env, "Exec", 1.0, 2)
    assert rec.frame()["count"].tolist() == [2]
    rec.detach()
    rec.detach()  # idempotent
    fire(env, "Exec", 1.0, 7)
    assert rec.frame()["count"].tolist() == [2]


def test_intervals_and_worker_deltas_add_up_exactly(tmp_path: Path) -> None:
    # Two "workers" record into their own recorders; the "master" imports their deltas.
    master, workers = (
        LatencyRecorder(Environment(), interval_s=1.0),
        [LatencyRecorder(Environment()) for _ in range(2)],
    )
    raw: list[float] = []
    for w, recorder in enumerate(workers):
        for i in range(500):
            ms = 1.0 + (i * 7 + w) % 97
            raw.append(ms)
            recorder.record("control", "Exec", ms, failed=i % 50 == 0, now=1000.0 + i / 100)
        recorder.finish_intervals()
        master.import_delta(recorder.export_delta())
        assert recorder.export_delta()["histograms"] == {}  # exported once, then forgotten
    merged = master.histograms()["control Exec"]
    assert merged.get_total_count() == len(raw)
    for pct in (50, 90, 99):
        exact = sorted(raw)[max(0, round(pct / 100 * len(raw)) - 1)]
        assert merged.get_value_at_percentile(pct) / 1000 == pytest.approx(exact, rel=0.002, abs=0.001)
    assert master.frame().set_index("name").loc["Exec", "failures"] == 20
    master.write(tmp_path)
    per_second = read_intervals(tmp_path / "latency_intervals.jsonl")
    assert list(per_second["t"]) == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]  # both workers' seconds merged
    assert per_second["count"].sum() == len(raw)


def test_service_time_is_recorded_beside_the_corrected_time() -> None:
    env = Environment()
    recorder = LatencyRecorder(env)
    env.events.request.fire(
        request_type="control", name="Exec", response_time=120.0, response_length=0, exception=None,
        context={"service_ms": 2.0},
    )  # fmt: skip
    frame = recorder.frame().set_index("name")
    assert frame.loc["Exec", "p50_ms"] == pytest.approx(120.0, rel=HDR_REL)
    assert frame.loc["Exec (service time)", "p50_ms"] == pytest.approx(2.0, rel=HDR_REL)


@pytest.mark.parametrize("figures", [SIGNIFICANT_FIGURES, INTERVAL_FIGURES])
def test_record_one_encodes_exactly_as_hdrh_records(figures: int) -> None:
    # Every bucket boundary of the range, its neighbours, and the range's ends.
    values = [LOWEST_US, 2, 3, HIGHEST_US - 1, HIGHEST_US]
    for bit in range(1, HIGHEST_US.bit_length()):
        values += [v for v in ((1 << bit) - 1, 1 << bit, (1 << bit) + 1) if LOWEST_US <= v <= HIGHEST_US]
    values += [12_345, 999, 1_000, 1_001, 250_000, 7]
    ours, theirs = new_histogram(figures), new_histogram(figures)
    for v in values:
        record_one(ours, v)
        theirs.record_value(v)
    assert ours.encode() == theirs.encode()
    assert (ours.total_count, ours.min_value, ours.max_value) == (
        theirs.total_count,
        theirs.min_value,
        theirs.max_value,
    )
    assert ours.get_value_at_percentile(99) == theirs.get_value_at_percentile(99)


@pytest.mark.parametrize("seed", range(5))
def test_mean_is_the_librarys_mean_to_the_last_bit(seed: int) -> None:
    rng = random.Random(seed)
    hist = new_histogram()
    for _ in range(rng.randrange(1, 3000)):  # µs: from sub-millisecond to the top of the range
        hist.record_value(min(int(rng.lognormvariate(7, 3)) + 1, 3_600_000_000))
    decoded = merge([hist])
    assert mean_us(decoded) == hist.get_mean_value()
    # A histogram decoded from latency_hdr.json may hold fewer counts than its range: the same mean.
    again = HdrHistogram.decode(hist.encode())
    assert mean_us(again) == again.get_mean_value() == hist.get_mean_value()
    assert mean_us(new_histogram()) == 0.0
