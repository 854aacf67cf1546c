"""The run's record: each phase set once; meta.json schema 3 keeps every key of 2; both read alike."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from aranya_perf.analysis.run_data import load_run, measured

from aranya_perf import results
from aranya_perf.run import record as rec

SCHEMA_2_KEYS = {
    "schema_version", "run_id", "profile", "status", "started_at", "finished_at", "argv", "config",
    "target", "git", "host", "packages", "summary", "protocol", "transport", "window",
}  # fmt: skip


def _finished() -> rec.RunRecord:
    identity = rec.Identity(
        run_id="20261207T000000Z-smoke",
        profile="smoke",
        argv=("run",),
        started_at="2026-12-07T00:00:00.000Z",
        provenance={"git": {"sha": None}, "host": {"cpu_count": 2}, "packages": {"locust": "2"}},
    )
    config = rec.Config(
        config={"devices": 3},
        protocol={"name": "aranya-v0.3"},
        transport={"name": "grpc"},
        target={"address": None, "embedded": True},
    )
    record = rec.RunRecord(identity).add(config)
    assert record.meta()["status"] == "running" and record.meta()["phases"] == ["identity", "config"]
    with pytest.raises(ValueError, match="config is already set"):
        record.add(config)
    record = record.add(rec.Target({"address": "127.0.0.1:1", "embedded": True}))
    window = rec.Window(
        started_at=100.0, ended_at=110.0, fleet={"online": 3}, window={"arrivals": 0}, workers_lost=("w",)
    )
    record = record.add(window).add(rec.Counts(10, 0, 3, 1, "none"))
    assert record.meta()["status"] == "running"  # counts are no verdict
    return record.add(rec.Verdict("failed", "worker lost: w", "2026-12-07T00:00:12.000Z"))


def test_phases_are_set_once_and_the_status_waits_for_the_verdict() -> None:
    record = _finished()
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.verdict = None  # type: ignore[misc]
    meta = record.meta()
    assert set(meta) >= SCHEMA_2_KEYS
    assert meta["phases"] == ["identity", "config", "target", "window", "counts", "verdict"]
    assert (meta["status"], meta["reason"], meta["schema_version"]) == ("failed", "worker lost: w", 3)
    assert meta["target"]["address"] == "127.0.0.1:1" and meta["summary"]["requests"] == 10
    assert meta["window"]["workers_lost"] == ["w"] and meta["window"]["fleet"] == {"online": 3}


def test_the_analysis_reads_schema_2_and_3_alike(tmp_path: Path) -> None:
    meta = _finished().meta()
    old = {k: v for k, v in meta.items() if k in SCHEMA_2_KEYS} | {"schema_version": 2}
    old["window"] = {k: v for k, v in meta["window"].items() if k != "workers_lost"}
    runs = []
    for name, doc in (("new", meta), ("old", old)):
        (tmp_path / name).mkdir()
        results.write_meta(tmp_path / name, doc)
        written = json.loads((tmp_path / name / "meta.json").read_text())
        assert written["schema_version"] == doc["schema_version"]
        runs.append(load_run(tmp_path / name))
    new, v2 = runs
    assert new.t0 == v2.t0 == 100.0
    assert measured(new).seconds == measured(v2).seconds == 10.0
    assert measured(new).fleet == measured(v2).fleet == {"online": 3}
