"""Synthetic inputs for the analysis tests: asv result directories (results format version 2) and
run directories holding just what the cross-run readers use (meta.json, latency.csv, report.html,
and for comparisons latency_hdr.json)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from aranya_perf.measure.latency import LATENCY_HDR, LATENCY_HDR_SCHEMA_VERSION, new_histogram
from aranya_perf.results import collect_meta, write_meta

BASE_DATE_MS = 1_795_000_000_000
COLUMNS = [
    "result",
    "params",
    "version",
    "started_at",
    "duration",
    "stats_ci_99_a",
    "stats_ci_99_b",
    "samples",
]


def commit_hashes(n: int, salt: str = "") -> list[str]:
    return [hashlib.sha1(f"{salt}commit-{i}".encode()).hexdigest() for i in range(n)]


def write_history(
    root: Path,
    machine: str,
    commits: Sequence[str],
    benchmarks: dict[str, Callable[[int], float]],
    sigma: float = 0.01,
    samples: int = 10,
    seed: int = 0,
) -> None:
    """One result file per commit under ``root/machine``; ``benchmarks[name](i)`` is commit i's level."""
    rng = np.random.default_rng(seed)
    mdir = root / machine
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "machine.json").write_text(json.dumps({"machine": machine, "version": 1}))
    info = {name: {"name": name, "type": "time", "unit": "seconds", "version": "1"} for name in benchmarks}
    (root / "benchmarks.json").write_text(json.dumps({**info, "version": 2}))
    for i, commit in enumerate(commits):
        results = {}
        for name, level in benchmarks.items():
            raw = level(i) * (1 + rng.normal(0, sigma, size=samples))
            results[name] = [
                [float(np.median(raw))],
                [],
                "1",
                BASE_DATE_MS + i,
                1.0,
                [float(raw.min())],
                [float(raw.max())],
                [raw.tolist()],
            ]
        doc = {
            "commit_hash": commit,
            "env_name": "virtualenv-py3.11",
            "date": BASE_DATE_MS + i * 3_600_000,
            "params": {"machine": machine, "python": "3.11"},
            "python": "3.11",
            "requirements": {},
            "env_vars": {},
            "result_columns": COLUMNS,
            "results": results,
            "durations": {},
            "version": 2,
        }
        (mdir / f"{commit[:8]}-virtualenv-py3.11.json").write_text(json.dumps(doc))


def fake_run_dir(
    root: Path,
    name: str,
    p99_ms: float,
    minute: int,
    profile: str = "fleet",
    operators: int = 1,
    labels: dict[str, str] | None = None,
    p50_ms: float = 2.0,
    count: int = 100,
) -> Path:
    """A finished run whose only request kinds are ``control Exec`` (p50, p99 and count as given) and
    ``device CMD_EXEC``."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    config = {"devices": 10, "operators": operators, "duration_s": 5.0}
    meta = collect_meta(["run"], config, {"address": "127.0.0.1:1"}, profile, name)
    meta.update(status="ok", started_at=f"2026-12-01T{minute // 60:02d}:{minute % 60:02d}:00.000Z")
    if labels:
        meta["labels"] = labels
    write_meta(run_dir, meta)
    (run_dir / "latency.csv").write_text(
        "request_type,name,count,failures,min_ms,mean_ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms\n"
        f"control,Exec,{count},0,1,2,{p50_ms},3,{p99_ms},{p99_ms},{p99_ms}\ndevice,CMD_EXEC,100,0,1,2,1,2,3,3,3\n"
    )
    (run_dir / "report.html").write_text(f"<html><body>report of {name}</body></html>")
    return run_dir


def hdr_run_dir(
    root: Path, name: str, minute: int, seed: int, delay_ms: float = 0.0, logs: bool = False
) -> Path:
    """``fake_run_dir`` with a ``latency_hdr.json``: ``control Exec`` holds 2,000 requests of about 2 ms
    (lognormal, from ``seed``), each ``delay_ms`` slower; with ``logs``, ``control Logs`` as well."""
    from aranya_perf.analysis.compare import shifted

    run_dir = fake_run_dir(root, name, p99_ms=4.0, minute=minute)
    hist = new_histogram()
    for v in np.random.default_rng(seed).lognormal(0.7, 0.3, size=2000):
        hist.record_value(max(1, round(v * 1000)))
    hists = {"control Exec": shifted(hist, delay_ms) if delay_ms else hist}
    if logs:
        hists["control Logs"] = hist
    doc = {
        "schema_version": LATENCY_HDR_SCHEMA_VERSION,
        "unit": "us",
        "histograms": {k: h.encode().decode("ascii") for k, h in hists.items()},
        "failures": {},
    }
    (run_dir / LATENCY_HDR).write_text(json.dumps(doc))
    return run_dir
