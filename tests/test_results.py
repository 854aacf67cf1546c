"""aranya_perf.results: atomic writes, run directory naming, meta.json, CsvAppender."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from aranya_perf import results
from aranya_perf.results import (
    META_SCHEMA_VERSION,
    RECORDED_PACKAGES,
    CsvAppender,
    ResultsError,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    collect_meta,
    finish_meta,
    new_run_dir,
    read_meta,
    write_meta,
)

NOW = datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)


def test_atomic_writes_replace_content_and_leave_no_tmp(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    atomic_write_text(target, "old\n")
    atomic_write_json(target, {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    atomic_write_bytes(tmp_path / "y.bin", b"\x00\x01")
    assert (tmp_path / "y.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json", "y.bin"]
    assert (target.stat().st_mode & 0o777) == 0o644


def test_atomic_write_failure_keeps_old_file_and_removes_tmp(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "meta.json"
    atomic_write_text(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(results.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_new_run_dir_names_and_collisions(tmp_path: Path) -> None:
    root = tmp_path / "results"  # created on demand
    first = new_run_dir(root, "fleet", now=NOW)
    second = new_run_dir(root, "fleet", now=NOW)
    third = new_run_dir(root, "fleet", now=NOW)
    assert first.name == "20240501T123456Z-fleet"
    assert second.name == "20240501T123456Z-fleet-2"
    assert third.name == "20240501T123456Z-fleet-3"
    assert all(p.is_dir() for p in (first, second, third))
    # Non-UTC input is converted, not mislabelled.
    east = NOW.astimezone(timezone(timedelta(hours=2)))
    assert new_run_dir(root, "smoke", now=east).name == "20240501T123456Z-smoke"


@pytest.mark.parametrize("profile", ["", "../x", "a/b", ".hidden", "with space"])
def test_new_run_dir_rejects_unsafe_profiles(tmp_path: Path, profile: str) -> None:
    with pytest.raises(ResultsError):
        new_run_dir(tmp_path, profile, now=NOW)


def test_collect_meta_shape() -> None:
    meta = collect_meta(
        ["run", "--devices", "5"], {"devices": 5}, {"address": "127.0.0.1:1", "embedded": True}, "p", "r1"
    )
    assert meta["schema_version"] == META_SCHEMA_VERSION
    assert meta["status"] == "running" and meta["finished_at"] is None
    assert meta["run_id"] == "r1" and meta["profile"] == "p"
    assert meta["argv"] == ["run", "--devices", "5"]
    assert datetime.fromisoformat(meta["started_at"]).tzinfo is not None
    assert set(meta["git"]) == {"sha", "dirty"}
    assert meta["git"]["sha"] is None or len(meta["git"]["sha"]) == 40
    assert set(meta["host"]) == {"hostname", "cpu_count", "platform", "python", "machine"}
    assert set(meta["packages"]) == set(RECORDED_PACKAGES)
    assert meta["packages"]["pandas"] == pd.__version__
    json.dumps(meta)  # must be serialisable as-is


def test_collect_meta_without_git(monkeypatch) -> None:
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(results.subprocess, "run", no_git)
    meta = collect_meta([], {}, {}, "p", "r")
    assert meta["git"] == {"sha": None, "dirty": None}


def test_meta_round_trip_and_finish(tmp_path: Path) -> None:
    meta = collect_meta([], {"duration_s": 1}, {}, "p", "r")
    write_meta(tmp_path, meta)
    assert read_meta(tmp_path) == meta
    done = finish_meta(tmp_path, "ok", summary={"requests": 10})
    assert read_meta(tmp_path) == done
    assert done["status"] == "ok" and done["finished_at"] and done["summary"] == {"requests": 10}
    with pytest.raises(ResultsError, match="status"):
        write_meta(tmp_path, {**meta, "status": "great"})


def test_read_meta_refuses_future_schema(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(json.dumps({"schema_version": META_SCHEMA_VERSION + 1}))
    with pytest.raises(ResultsError, match=rf"schema_version {META_SCHEMA_VERSION + 1}.*upgrade aranya-perf"):
        read_meta(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not a run directory"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"run_id": "x"}', "no valid schema_version"),
        ('{"schema_version": "1"}', "no valid schema_version"),
    ],
)
def test_read_meta_refuses_missing_and_corrupt(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "meta.json").write_text(content)
    with pytest.raises(ResultsError, match=message):
        read_meta(tmp_path)


def test_csv_appender_partial_file_is_readable(tmp_path: Path) -> None:
    path = tmp_path / "resources.csv"
    appender = CsvAppender(path, ["a", "b", "c"])
    appender.append({"a": 1, "b": "x,y", "c": None})
    appender.append([2, "z", 3.5])
    # Not closed (as after a crash): what is on disk must already parse.
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame["a"].tolist() == [1, 2]
    assert frame["b"].tolist() == ["x,y", "z"]
    assert pd.isna(frame["c"].iloc[0]) and frame["c"].iloc[1] == 3.5
    appender.close()
    assert appender.closed
    with pytest.raises(ResultsError, match="closed"):
        appender.append([1, 2, 3])


def test_csv_appender_reopen_continues_after_torn_row(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    with CsvAppender(path, ["a", "b"]) as app:
        app.append([1, 2])
    with open(path, "a") as fh:
        fh.write("3,")  # a crash in the middle of a row
    with CsvAppender(path, ["a", "b"]) as app:
        app.append([4, 5])
    lines = path.read_text().splitlines()
    assert lines[0] == "a,b" and lines.count("a,b") == 1
    assert lines[-1] == "4,5"
    with pytest.raises(ResultsError, match="columns"):
        CsvAppender(path, ["a", "other"])


def test_csv_appender_rejects_bad_rows(tmp_path: Path) -> None:
    with CsvAppender(tmp_path / "r.csv", ["a", "b"]) as app:
        with pytest.raises(ValueError, match="unknown columns"):
            app.append({"zzz": 1})
        with pytest.raises(ValueError, match="expected 2"):
            app.append([1])
    assert os.path.getsize(tmp_path / "r.csv") == len("a,b\n")
