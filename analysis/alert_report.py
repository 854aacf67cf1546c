"""Renders an ``AlertReport`` as Markdown, JSON, JUnit XML and GitHub workflow annotation lines."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from aranya_perf.analysis.alerts import NEW, RECOVERED, Alert, AlertReport

ALERTS_SCHEMA_VERSION = 1


def _short(commit: str) -> str:
    return commit[:8]


def where(a: Alert) -> str:
    """Where the change happened, in the terms of the series' points: ``at abcd1234..ef567890`` (asv
    commits), ``between runs R1 and R2``, ``between aranya_commit=c7 and c8`` (a run label)."""
    cp = a.change
    if a.axis == "commit":
        return f"at {_short(cp.commit_before)}..{_short(cp.commit_after)}"
    if a.axis == "run":
        return f"between runs {cp.commit_before} and {cp.commit_after}"
    return f"between {a.axis}={cp.commit_before} and {cp.commit_after}"


def describe(a: Alert) -> str:
    """``codec.X: regression of +7.9 % (1.2e-06 -> 1.3e-06) at abcd1234..ef567890 (p = 0.005, ...)``."""
    cp = a.change
    text = (
        f"{a.series}: {cp.direction} of {cp.magnitude_pct:+.1f} % "
        f"({cp.before:.4g} -> {cp.after:.4g}) {where(a)} "
        f"(p = {cp.p_value:.3g}, z = {cp.z:.1f}) on {a.group}"
    )
    if a.status == RECOVERED and cp.recovered_commit is not None:
        text += f"; recovered at {_short(cp.recovered_commit) if a.axis == 'commit' else cp.recovered_commit}"
    return text


def insufficient(report: AlertReport) -> str:
    """``insufficient history: n < 10 for 3 series (a, b, c)``, or "" when every series was judged."""
    if not report.short:
        return ""
    needed = max(s.needed for s in report.short)
    names = ", ".join(f"{s.series} (n={s.points})" for s in report.short)
    return f"insufficient history: n < {needed} for {len(report.short)} series, not judged: {names}"


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
            "axis": a.axis,
            "where": where(a),
        }

    return {
        "schema_version": ALERTS_SCHEMA_VERSION,
        "config": report.config_source,
        "groups": list(report.groups),
        "series_checked": report.series_checked,
        "insufficient_history": [
            {"group": s.group, "series": s.series, "points": s.points, "needed": s.needed}
            for s in report.short
        ],
        "failing": len(report.failing),
        "regressions": [item(a) for a in report.alerts],
        "improvements": [item(a) for a in report.improvements],
    }


def to_markdown(report: AlertReport) -> str:
    lines = ["# Performance alerts", ""]
    lines.append(
        f"{report.series_checked} series judged on {', '.join(report.groups) or 'no machine'}; "
        f"{len(report.failing)} new regression(s), "
        f"{sum(a.status == RECOVERED for a in report.alerts)} recovered, "
        f"{len(report.improvements)} improvement(s). Thresholds: {report.config_source}."
    )
    lines.append("")
    if report.short:
        lines += [f"**{insufficient(report)}.**", ""]
    if report.alerts:
        lines += [
            "| Status | Series | Change | Where | p | Group |",
            "| --- | --- | ---: | --- | ---: | --- |",
        ]
        for a in report.alerts:
            cp = a.change
            lines.append(
                f"| {a.status} | `{a.series}` | {cp.magnitude_pct:+.1f} % | {where(a)} | {cp.p_value:.3g} | "
                f"{a.group} |"
            )
    elif report.series_checked:
        lines.append(f"No regressions in the {report.series_checked} series judged.")
    else:
        lines.append("Nothing could be judged: no series has enough history.")
    if report.improvements:
        lines += ["", "## Improvements", ""]
        lines += [f"- {describe(a)}" for a in report.improvements]
    return "\n".join(lines) + "\n"


def to_junit(report: AlertReport) -> str:
    """One test case per alerting series; a new regression is a failure, others pass with a note."""
    suite = ET.Element(
        "testsuite",
        name="aranya-perf alerts",
        tests=str(max(report.series_checked, len(report.alerts)) + len(report.short)),
        failures=str(len(report.failing)),
        errors="0",
        skipped=str(len(report.short)),
    )
    for a in report.alerts:
        case = ET.SubElement(suite, "testcase", classname=a.group, name=a.series)
        if a.status == NEW:
            failure = ET.SubElement(case, "failure", message=describe(a), type="regression")
            failure.text = describe(a)
        else:
            ET.SubElement(case, "system-out").text = f"{a.status}: {describe(a)}"
    for short in report.short:
        case = ET.SubElement(suite, "testcase", classname=short.group, name=short.series)
        ET.SubElement(case, "skipped", message=f"insufficient history: n = {short.points} < {short.needed}")
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
    if report.short:
        lines.append(f"::warning title=insufficient history::{_escape(insufficient(report))}")
    return "\n".join(lines) + ("\n" if lines else "")
