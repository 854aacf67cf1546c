"""Renders an ``AlertReport`` as Markdown, JSON, JUnit XML and GitHub workflow annotation lines."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from analysis.alerts import NEW, RECOVERED, Alert, AlertReport

ALERTS_SCHEMA_VERSION = 1


def _short(commit: str) -> str:
    return commit[:8]


def describe(a: Alert) -> str:
    """``codec.X: regression of +7.9 % (1.2e-06 -> 1.3e-06) at abcd1234..ef567890 (p = 0.005, ...)``."""
    cp = a.change
    text = (
        f"{a.series}: {cp.direction} of {cp.magnitude_pct:+.1f} % "
        f"({cp.before:.4g} -> {cp.after:.4g}) at {_short(cp.commit_before)}..{_short(cp.commit_after)} "
        f"(p = {cp.p_value:.3g}, z = {cp.z:.1f}) on {a.group}"
    )
    if a.status == RECOVERED and cp.recovered_commit is not None:
        text += f"; recovered at {_short(cp.recovered_commit)}"
    return text


def to_json(report: AlertReport) -> dict[str, Any]:
    def item(a: Alert) -> dict[str, Any]:
        cp = a.change
        return {
            "group": a.group,
            "series": a.series,
            "status": a.status,
            "direction": cp.direction,
            "magnitude_pct": round(cp.magnitude_pct, 3),
            "before": cp.before,
            "after": cp.after,
            "commit_range": [cp.commit_before, cp.commit_after],
            "index": cp.index,
            "index_range": [cp.index_lo, cp.index_hi],
            "p_value": cp.p_value,
            "confidence": cp.confidence,
            "z": round(cp.z, 3),
            "recovered_at": cp.recovered_at,
            "recovered_commit": cp.recovered_commit,
            "threshold_pct": a.threshold_pct,
            "commits": a.commits,
        }

    return {
        "schema_version": ALERTS_SCHEMA_VERSION,
        "config": report.config_source,
        "groups": list(report.groups),
        "series_checked": report.series_checked,
        "failing": len(report.failing),
        "regressions": [item(a) for a in report.alerts],
        "improvements": [item(a) for a in report.improvements],
    }


def to_markdown(report: AlertReport) -> str:
    lines = ["# Performance alerts", ""]
    lines.append(
        f"{report.series_checked} series checked on {', '.join(report.groups) or 'no machine'}; "
        f"{len(report.failing)} new regression(s), "
        f"{sum(a.status == RECOVERED for a in report.alerts)} recovered, "
        f"{len(report.improvements)} improvement(s). Thresholds: {report.config_source}."
    )
    lines.append("")
    if report.alerts:
        lines += [
            "| Status | Series | Change | Commits | p | Group |",
            "| --- | --- | ---: | --- | ---: | --- |",
        ]
        for a in report.alerts:
            cp = a.change
            lines.append(
                f"| {a.status} | `{a.series}` | {cp.magnitude_pct:+.1f} % | "
                f"`{_short(cp.commit_before)}..{_short(cp.commit_after)}` | {cp.p_value:.3g} | {a.group} |"
            )
    else:
        lines.append("No regressions.")
    if report.improvements:
        lines += ["", "## Improvements", ""]
        lines += [f"- {describe(a)}" for a in report.improvements]
    return "\n".join(lines) + "\n"


def to_junit(report: AlertReport) -> str:
    """One test case per alerting series; a new regression is a failure, others pass with a note."""
    suite = ET.Element(
        "testsuite",
        name="aranya-perf alerts",
        tests=str(max(report.series_checked, len(report.alerts))),
        failures=str(len(report.failing)),
        errors="0",
    )
    for a in report.alerts:
        case = ET.SubElement(suite, "testcase", classname=a.group, name=a.series)
        if a.status == NEW:
            failure = ET.SubElement(case, "failure", message=describe(a), type="regression")
            failure.text = describe(a)
        else:
            ET.SubElement(case, "system-out").text = f"{a.status}: {describe(a)}"
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _escape(text: str) -> str:
    # GitHub's workflow-command escaping for messages and properties.
    return (
        text.replace("%", "%25")
        .replace("\r", "%0D")
        .replace("\n", "%0A")
        .replace(",", "%2C")
        .replace(":", "%3A")
    )


def to_github(report: AlertReport) -> str:
    """``::error`` for new regressions, ``::warning`` for open ones, ``::notice`` for recovered ones."""
    level = {NEW: "error", RECOVERED: "notice"}
    lines = []
    for a in report.alerts:
        title = _escape(f"{a.status} regression: {a.series}")
        message = describe(a).replace("%", "%25").replace("\n", "%0A")
        lines.append(f"::{level.get(a.status, 'warning')} title={title}::{message}")
    return "\n".join(lines) + ("\n" if lines else "")
