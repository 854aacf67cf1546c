"""Writes synthetic asv result directories (asv results format version 2) for the analysis tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

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
