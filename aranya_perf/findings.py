"""Invariants a controller must keep, checked over what a run's devices and operators observed.

The run records observations (``observations.jsonl``): one JSON object per line with ``t``
(unix seconds), ``event`` and ``device``, written by the simulated devices and operators:

- ``connecting``: a device opened a stream and said it is online;
- ``online``: the controller sent it its first command (the connect sequence began);
- ``listed``: an operator's device list named it for the first time (online for operators);
- ``reject`` (``reason``, ``message``): the controller sent CMD_REJECT;
- ``closed`` (``detail``): the controller ended a stream that was not online, or a duplicate
  online, without a reject;
- ``gone`` (``detail``): a stream that was online ended (the device comes back);
- ``sid_reused`` (``sid``): a command opened a session with a sid already used on the stream;
- ``cmd_after_close`` (``sid``): input arrived for a session the controller had closed;
- ``call`` (``call``, ``ms``, ``deadline_s``, ``outcome``, ``detail``; ``t`` is its start): an
  operator call failed: ``error`` (the controller answered with an error) or ``unanswered`` (only
  the operator's own deadline ended it); answered calls are not recorded.

Each check is pure and returns at most one ``Finding`` naming its evidence. The invariants:

``online-within``
    every device that connects is online within ``online_within_s`` of its first attempt: listed
    by the controller for operators (by its first command when no operator ever listed devices);
``call-ends``
    every operator call ends with an answer or an error from the controller within its deadline;
``reconnect-accepted``
    a device whose stream is gone is online again within ``online_within_s``;
``sids-unique``
    the controller never opens a session with a sid already used on the stream;
``no-command-after-close``
    the controller sends nothing for a session it has closed;
``rejects-name-reason``
    every turned-away stream gets a CMD_REJECT naming a reason and saying why.

Observations after the window's end are not judged (the run is tearing down), nor is a device
or a ``gone`` within ``online_within_s`` of it: the run ended before its time was up. A finding
of severity ``fail`` fails the run; the profile's ``[findings] severity`` may lower one to
``warn`` (reported, not failing) or ``off``.

The target's cost over time gives two more findings, ``DRIFT`` (``aranya_perf.judge.drift``): they
are ``Finding``s too, and travel with the invariants into ``findings.json``, ``findings.xml`` (JUnit)
and the verdict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

INVARIANTS = (
    "online-within",
    "call-ends",
    "reconnect-accepted",
    "sids-unique",
    "no-command-after-close",
    "rejects-name-reason",
)
DRIFT = ("cost-slope", "memory-slope")
"""Findings on the target's cost over time (``aranya_perf.judge.drift``), judged with the invariants."""
SEVERITIES = ("fail", "warn", "off")
EVIDENCE_MAX = 20
"""Evidence items kept per finding (the count says how many there were)."""

EXPECTATIONS = {
    "late": (
        "call-ends",
        "a call to a late device ends, with its answer or a timeout error, by its deadline",
    ),
    "silent": ("call-ends", "a call to a silent device ends with a timeout error within its deadline"),
    "error": ("call-ends", "the device's error reaches the operator as an error"),
    "half": ("call-ends", "a call to a device that stalls half way ends with a timeout error"),
    "malformed": ("call-ends", "a malformed answer fails the call, or the stream is rejected or closed"),
    "huge": ("call-ends", "a huge answer reaches the operator whole, or fails the call"),
    "flap": ("reconnect-accepted", "a device that drops and comes back is let back in"),
    "duplicate": (
        "rejects-name-reason",
        "a duplicate online is rejected with a reason; the device is let back",
    ),
    "offline": ("reconnect-accepted", "a device that said offline and comes back is let back in"),
    "deaf": ("call-ends", "calls to a device that stopped reading end with a timeout error"),
}
"""Behaviour kind -> (the invariant that checks it, what a correct controller must do)."""


@dataclass(frozen=True)
class Finding:
    """One broken invariant: how often, and its first ``EVIDENCE_MAX`` cases (device ids, sids, times)."""

    name: str
    summary: str
    count: int
    evidence: tuple[Mapping[str, Any], ...] = ()
    severity: str = "fail"

    def line(self) -> str:
        return f"{self.severity.upper()} {self.name}: {self.summary}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "severity": self.severity,
            "summary": self.summary,
            "count": self.count,
            "evidence": [dict(e) for e in self.evidence],
        }


@dataclass(frozen=True)
class Rules:
    """What the checks need to know of the run."""

    online_within_s: float = 30.0
    window_end: float | None = None
    """Unix time the measured window ended; None: judge everything."""
    severity: Mapping[str, str] = field(default_factory=dict)


def _finding(name: str, cases: Sequence[Mapping[str, Any]], what: str) -> Finding | None:
    if not cases:
        return None
    devices = len({c.get("device") for c in cases})
    summary = f"{len(cases)} {what} ({devices} device{'s' if devices != 1 else ''})"
    return Finding(name, summary, len(cases), tuple(cases[:EVIDENCE_MAX]))


def _judged(t: float, rules: Rules) -> bool:
    return rules.window_end is None or t + rules.online_within_s <= rules.window_end


def online_within(obs: Sequence[Mapping[str, Any]], rules: Rules) -> Finding | None:
    first: dict[str, float] = {}
    online: dict[str, float] = {}
    # The controller's own view when operators asked for it: a device stuck in its connect sequence
    # has had commands, but is not online.
    mark = "listed" if any(o["event"] == "listed" for o in obs) else "online"
    for o in obs:
        d = o.get("device", "")
        if o["event"] == "connecting":
            first.setdefault(d, o["t"])
        elif o["event"] == mark:
            online.setdefault(d, o["t"])
    late = []
    for d, t in first.items():
        took = online.get(d, float("inf")) - t
        if took > rules.online_within_s and _judged(t, rules):
            late.append(
                {"device": d, "t": t, "online_after_s": None if took == float("inf") else round(took, 3)}
            )
    return _finding(
        "online-within", late, f"devices not online within {rules.online_within_s:g}s of connecting"
    )


def call_ends(obs: Sequence[Mapping[str, Any]], rules: Rules) -> Finding | None:
    cases = [
        {k: o.get(k) for k in ("device", "t", "call", "ms", "deadline_s", "detail")}
        for o in obs
        if o["event"] == "call" and o.get("outcome") == "unanswered"
    ]
    return _finding("call-ends", cases, "operator calls the controller never ended (only their deadline did)")


def reconnect_accepted(obs: Sequence[Mapping[str, Any]], rules: Rules) -> Finding | None:
    waiting: dict[str, dict[str, Any]] = {}  # device -> its open case since its stream went
    cases: list[dict[str, Any]] = []
    for o in sorted(obs, key=lambda o: o["t"]):
        d, event = o.get("device", ""), o["event"]
        if event == "gone":
            waiting[d] = {"device": d, "gone_at": o["t"], "turned_away": []}
        elif event == "online":
            case = waiting.pop(d, None)
            if case is not None and o["t"] - case["gone_at"] > rules.online_within_s:
                cases.append({**case, "back_after_s": round(o["t"] - case["gone_at"], 3)})
        elif event in ("reject", "closed") and d in waiting:
            turned = waiting[d]["turned_away"]
            if len(turned) < 5:
                turned.append({"t": o["t"], "how": o.get("reason") or o.get("detail") or event})
    cases += [c for c in waiting.values() if _judged(c["gone_at"], rules)]
    cases.sort(key=lambda c: c["gone_at"])
    for c in cases:
        c["t"] = c.pop("gone_at")
    return _finding(
        "reconnect-accepted",
        cases,
        f"devices not let back in within {rules.online_within_s:g}s of losing their stream",
    )


def sids_unique(obs: Sequence[Mapping[str, Any]], rules: Rules) -> Finding | None:
    cases = [
        {"device": o.get("device"), "t": o["t"], "sid": o.get("sid")}
        for o in obs
        if o["event"] == "sid_reused"
    ]
    return _finding("sids-unique", cases, "sessions opened with a sid already used on the stream")


def no_command_after_close(obs: Sequence[Mapping[str, Any]], rules: Rules) -> Finding | None:
    cases = [
        {"device": o.get("device"), "t": o["t"], "sid": o.get("sid")}
        for o in obs
        if o["event"] == "cmd_after_close"
    ]
    return _finding("no-command-after-close", cases, "frames for sessions the controller had closed")


def rejects_name_reason(obs: Sequence[Mapping[str, Any]], rules: Rules) -> Finding | None:
    cases = []
    for o in obs:
        if o["event"] == "closed":
            cases.append({"device": o.get("device"), "t": o["t"], "detail": o.get("detail", "")})
        elif o["event"] == "reject" and (
            not o.get("message") or "UNSPECIFIED" in str(o.get("reason", "")).upper()
        ):
            cases.append(
                {
                    "device": o.get("device"),
                    "t": o["t"],
                    "reason": o.get("reason"),
                    "message": o.get("message"),
                }
            )
    return _finding("rejects-name-reason", cases, "streams turned away without a reject naming a reason")


CHECKS = (
    online_within,
    call_ends,
    reconnect_accepted,
    sids_unique,
    no_command_after_close,
    rejects_name_reason,
)


def check(observations: Iterable[Mapping[str, Any]], rules: Rules) -> tuple[Finding, ...]:
    """Every invariant over the run's observations, at the profile's severity (``off``: dropped)."""
    end = rules.window_end
    # What happened once the window closed is the run tearing down (devices stopped, the target
    # stopping), not the controller at work; a call is stamped with its start.
    obs = [o for o in observations if end is None or o["t"] <= end]
    out = []
    for chk in CHECKS:
        finding = chk(obs, rules)
        if finding is None:
            continue
        severity = rules.severity.get(finding.name, "fail")
        if severity != "off":
            out.append(Finding(finding.name, finding.summary, finding.count, finding.evidence, severity))
    return tuple(out)


def failing(findings: Iterable[Finding]) -> list[str]:
    """The lines of the findings that fail the run."""
    return [f.line() for f in findings if f.severity == "fail"]


def findings_json(
    findings: Sequence[Finding], rules: Rules, checked: Sequence[str] = INVARIANTS
) -> dict[str, Any]:
    """``findings.json``: what was checked (the invariants, and the drift when judged) and what broke."""
    return {
        "invariants": list(checked),
        "online_within_s": rules.online_within_s,
        "window_end": rules.window_end,
        "findings": [f.to_json() for f in findings],
    }


def junit_xml(findings: Sequence[Finding], checked: Sequence[str], run_id: str) -> str:
    """``findings.xml``: one testcase per invariant checked, a ``<failure>`` with the finding's line and
    evidence when it fired at severity ``fail``; a ``warn`` one passes with its line as ``system-out``."""
    by_name = {f.name: f for f in findings}
    failed = sum(1 for f in findings if f.severity == "fail")
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuite name={quoteattr("aranya-perf findings " + run_id)} tests="{len(checked)}" '
        f'failures="{failed}" errors="0" skipped="0">',
    ]
    for name in checked:
        lines.append(f'  <testcase classname="findings" name={quoteattr(name)}>')
        f = by_name.get(name)
        if f is not None:
            evidence = "\n".join(json.dumps(dict(e), sort_keys=True) for e in f.evidence)
            if f.severity == "fail":
                failure = f'<failure message={quoteattr(f.line())} type="finding">'
                lines.append(f"    {failure}{escape(f.summary + chr(10) + evidence)}</failure>")
            else:
                lines.append(f"    <system-out>{escape(f.line())}</system-out>")
        lines.append("  </testcase>")
    lines.append("</testsuite>")
    return "\n".join(lines) + "\n"
