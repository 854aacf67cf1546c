"""The report's Findings section, from ``findings.json`` and ``drift.json`` as the run wrote them.

One row per invariant the run checked (count, first evidence, severity: ``held`` when it did not
fire), then the target's cost over time: one row per slope with its interval, and how it was
measured. Reads only the two documents (``RunData.findings``, ``RunData.drift``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aranya_perf.analysis.run_summary import shorten

FINDING_HEADERS = ("Invariant", "Count", "Example", "Severity")
SLOPE_HEADERS = ("Series", "Per hour", "Interval", "Mean", "Buckets", "Significant")
EXAMPLE_CHARS = 160


def finding_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    """Every invariant checked, the broken ones first."""
    found = {f["name"]: f for f in doc.get("findings") or [] if isinstance(f, dict) and "name" in f}
    rows = []
    for name, f in found.items():
        first = (f.get("evidence") or [{}])[0]
        # A slope's evidence carries its own sentence; a case of an invariant is its JSON.
        example = first.get("text") or (json.dumps(first, sort_keys=True) if first else f.get("summary", ""))
        count, severity = str(f.get("count", "")), str(f.get("severity", ""))
        rows.append([name, count, shorten(str(example), EXAMPLE_CHARS), severity])
    rows += [[name, "0", "-", "held"] for name in doc.get("invariants") or [] if name not in found]
    return rows


def _per_hour(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    text = f"{x:+,.0f}" if abs(x) >= 100 else f"{x:+.3g}"
    return f"{text} {unit}".strip()


def slope_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for s in doc.get("slopes") or []:
        unit = s.get("unit_per_hour", "")
        interval = f"[{_per_hour(s.get('low'), '')}, {_per_hour(s.get('high'), '')}]"
        rows.append(
            [
                str(s.get("what", s.get("series", ""))),
                _per_hour(s.get("per_hour"), unit),
                interval,
                f"{s.get('mean', 0.0):.3g} {s.get('unit', '')}".strip(),
                str(s.get("points", "")),
                "yes" if s.get("significant") else "no",
            ]
        )
    return rows


def drift_text(doc: Mapping[str, Any]) -> str:
    """How the slopes were measured, in one paragraph."""
    confidence = float(doc.get("confidence", 0.95))
    judged = (
        "A slope that grows significantly past the profile's threshold is a finding (`cost-slope`, "
        "`memory-slope`)."
        if doc.get("judged")
        else "The window is shorter than `findings.slope_min_window`: the slopes are reported, not judged."
    )
    return (
        f"The target's cost over time, from {doc.get('source', '-')}: per {doc.get('bucket_s', 0):g} s "
        f"bucket, its CPU per answered request (and per exec) and its memory; the first "
        f"{doc.get('dropped_s', 0):g} s (the warm-up) left out. Least-squares slopes with their "
        f"{confidence:.0%} interval; costs in % of their mean (ms) per hour, memory in MiB per hour. {judged}"
    )
