"""Repeat groups and labels of the run verb: what ``run --repeat N`` and ``run --label KEY=VALUE`` add.

A repeat group is N runs of one resolved profile, each in its own results directory. Each run's
meta.json holds ``group`` (``{"id", "index", "size"}``) and ``labels`` (``{KEY: VALUE}``, e.g. the
target's commit); ``OUT/groups/<id>.json`` lists the group's runs with their status, rewritten
after each run so an interrupted group still lists what it finished. The analysis reads both:
between-run variance comes from repeat groups, and ``alerts --order-by`` orders runs by a label.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aranya_perf import results

GROUPS_DIR = "groups"
_LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_labels(specs: list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` flags as a dict; ValueError with a one-line reason for a malformed or repeated key."""
    labels: dict[str, str] = {}
    for spec in specs or []:
        key, eq, value = spec.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not _LABEL_KEY.match(key) or not value:
            raise ValueError(f"--label {spec!r}: use KEY=VALUE, KEY of letters, digits, '_', '.', '-'")
        if key in labels:
            raise ValueError(f"--label {key}: given twice")
        labels[key] = value
    return labels


def new_group_id(profile: str) -> str:
    """``<UTC time>-<profile>-<4 random hex>``: unique without a registry, sortable by time."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{profile}-{secrets.token_hex(2)}"


def group_meta(group_id: str, index: int, size: int) -> dict[str, Any]:
    return {"id": group_id, "index": index, "size": size}


def write_listing(out: Path, group_id: str, size: int, runs: list[dict[str, str]]) -> Path:
    """``OUT/groups/<id>.json``: the group's runs so far (``run_id``, ``path``, ``status``)."""
    path = Path(out) / GROUPS_DIR / f"{group_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    results.atomic_write_json(path, {"group": group_id, "size": size, "runs": runs})
    return path
