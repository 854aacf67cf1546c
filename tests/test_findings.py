"""The invariants over hand-made observations: each one breaks, with its evidence, and holds when kept."""

from __future__ import annotations

from typing import Any

import pytest

from aranya_perf import findings, profiles
from aranya_perf.findings import Rules, check
from aranya_perf.judge.verdict import decide


def o(t: float, event: str, device: str = "dev-1", **details: Any) -> dict[str, Any]:
    return {"t": t, "event": event, "device": device, **details}


CLEAN = [
    o(0.0, "connecting"),
    o(0.1, "online"),
    o(1.0, "call", call="exec", ms=5.0, deadline_s=10.0, outcome="ok", detail=""),
    o(
        2.0,
        "call",
        call="exec",
        ms=1000.0,
        deadline_s=10.0,
        outcome="error",
        detail="DEADLINE_EXCEEDED: ERR_TIMEOUT",
    ),
    o(3.0, "gone", detail="dropped by the device (clean)"),
    o(3.2, "connecting"),
    o(3.3, "reject", reason="REJECTION_ALREADY_CONNECTED", message="device dev-1 is already connected"),
    o(3.8, "connecting"),
    o(3.9, "online"),
]
RULES = Rules(online_within_s=5.0, window_end=100.0)


def names(obs: list[dict[str, Any]], rules: Rules = RULES) -> list[str]:
    return [f.name for f in check(obs, rules)]


def test_a_clean_run_breaks_nothing() -> None:
    assert check(CLEAN, RULES) == ()


def test_online_within_names_the_devices_and_when_they_connected() -> None:
    obs = [*CLEAN, o(10.0, "connecting", "dev-2"), o(20.0, "online", "dev-2"), o(11.0, "connecting", "dev-3")]
    (f,) = check(obs, RULES)
    assert f.name == "online-within" and f.count == 2 and f.severity == "fail"
    assert [(e["device"], e["online_after_s"]) for e in f.evidence] == [("dev-2", 10.0), ("dev-3", None)]
    assert "2 devices not online within 5s of connecting" in f.line()
    # Connecting too close to the window's end to be judged.
    assert check([o(97.0, "connecting", "dev-4")], RULES) == ()


def test_call_ends_flags_calls_only_the_operator_deadline_ended() -> None:
    obs = [
        *CLEAN,
        o(5.0, "call", call="exec", ms=10_000.0, deadline_s=10.0, outcome="unanswered", detail="x"),
    ]
    (f,) = check(obs, RULES)
    assert f.name == "call-ends" and f.evidence[0]["device"] == "dev-1" and f.evidence[0]["call"] == "exec"
    # Stamped with its start: a call started just before the window closed is judged too.
    late = [
        *CLEAN,
        o(99.0, "call", call="logs", ms=10_000.0, deadline_s=10.0, outcome="unanswered", detail="x"),
    ]
    assert names(late) == ["call-ends"]


def test_reconnect_accepted_lists_what_turned_the_device_away() -> None:
    obs = [
        o(0.0, "connecting"),
        o(0.1, "online"),
        o(1.0, "gone", detail="DeviceRejected"),
        o(1.5, "connecting"),
        o(1.6, "closed", detail="stream ended before online, no reject"),
    ]
    found = {f.name: f for f in check(obs, RULES)}
    assert set(found) == {"reconnect-accepted", "rejects-name-reason"}
    (case,) = found["reconnect-accepted"].evidence
    assert case["device"] == "dev-1" and case["t"] == 1.0
    assert case["turned_away"] == [{"t": 1.6, "how": "stream ended before online, no reject"}]
    # Back, but late.
    late = [*obs[:3], o(9.0, "online")]
    assert names(late) == ["reconnect-accepted"]


def test_sids_commands_after_close_and_rejects_without_a_reason() -> None:
    obs = [
        *CLEAN,
        o(5.0, "sid_reused", sid=7),
        o(6.0, "cmd_after_close", sid=8),
        o(7.0, "reject", "dev-2", reason="REJECTION_UNSPECIFIED", message="x"),
        o(8.0, "reject", "dev-3", reason="REJECTION_INVALID_PROTO", message=""),
    ]
    found = {f.name: f for f in check(obs, RULES)}
    assert set(found) == {"sids-unique", "no-command-after-close", "rejects-name-reason"}
    assert found["sids-unique"].evidence[0]["sid"] == 7
    assert found["no-command-after-close"].evidence[0]["sid"] == 8
    assert [e["device"] for e in found["rejects-name-reason"].evidence] == ["dev-2", "dev-3"]


def test_evidence_is_bounded_but_counted() -> None:
    obs = [o(float(i), "sid_reused", f"dev-{i}", sid=i) for i in range(50)]
    (f,) = check(obs, RULES)
    assert f.count == 50 and len(f.evidence) == findings.EVIDENCE_MAX


def test_severity_lowers_or_drops_a_finding_and_the_verdict_follows() -> None:
    obs = [*CLEAN, o(5.0, "sid_reused", sid=7), o(6.0, "cmd_after_close", sid=8)]
    found = check(obs, Rules(5.0, 100.0, {"sids-unique": "warn", "no-command-after-close": "off"}))
    assert [(f.name, f.severity) for f in found] == [("sids-unique", "warn")]
    assert findings.failing(found) == []
    p = profiles.Profile()
    kw: dict[str, Any] = dict(
        interrupted="",
        start_error=None,
        target_lost=[],
        workers_lost=[],
        requests=10,
        failures=0,
        slo_failures=[],
    )
    assert decide(p, **kw, findings=findings.failing(found)).status == "ok"
    failed = decide(p, **kw, findings=findings.failing(check(obs, RULES)))
    assert failed.status == "failed" and "2 invariant(s) broken: FAIL sids-unique" in failed.reason


def test_findings_json_and_profile_severity(tmp_path: Any) -> None:
    doc = findings.findings_json(check([o(5.0, "sid_reused", sid=7)], RULES), RULES)
    assert doc["invariants"] == list(findings.INVARIANTS) and doc["findings"][0]["evidence"][0]["sid"] == 7
    path = tmp_path / "p.toml"
    path.write_text('[findings]\nonline_within = "20s"\nseverity = { call-ends = "warn" }\n')
    p = profiles.resolve(str(path))
    assert p.findings.online_within_s == 20.0 and p.findings.severity == {"call-ends": "warn"}
    for body, expect in (
        ('[findings]\nseverity = { nope = "warn" }\n', "unknown invariant 'nope'"),
        ('[findings]\nseverity = { call-ends = "loud" }\n', "expected one of fail, warn, off"),
    ):
        path.write_text(body)
        with pytest.raises(profiles.ProfileError, match=expect):
            profiles.resolve(str(path))


def test_every_behaviour_names_the_invariant_that_checks_it() -> None:
    from aranya_perf.profiles.schema import BEHAVIOURS

    assert set(findings.EXPECTATIONS) == set(BEHAVIOURS)
    assert {inv for inv, _ in findings.EXPECTATIONS.values()} <= set(findings.INVARIANTS)


def test_online_means_listed_for_operators_when_they_listed_devices() -> None:
    # dev-2 had its first command but never finished its connect sequence: never listed.
    obs = [
        o(0.0, "connecting"),
        o(0.1, "online"),
        o(0.5, "listed"),
        o(0.0, "connecting", "dev-2"),
        o(0.1, "online", "dev-2"),
    ]
    (f,) = check(obs, RULES)
    assert f.name == "online-within" and [e["device"] for e in f.evidence] == ["dev-2"]
    assert check(obs[:2] + obs[3:], RULES) == ()  # no list ever asked for: the first command counts


def test_what_happens_after_the_window_is_not_judged() -> None:
    # The target stopping after the window closes streams without a reject: the run tearing down.
    obs = [*CLEAN, o(101.0, "connecting", "dev-2"), o(101.5, "closed", "dev-2", detail="stream ended")]
    assert check(obs, RULES) == ()
    assert names(obs, Rules(online_within_s=5.0)) == ["online-within", "rejects-name-reason"]


def test_junit_has_one_testcase_per_invariant_failed_with_the_finding() -> None:
    import xml.etree.ElementTree as ET

    found = check([*CLEAN, o(5.0, "sid_reused", sid=7), o(6.0, "cmd_after_close", sid=8)], RULES)
    found = (found[0], findings.Finding("cost-slope", "target CPU per exec +900 % per hour", 1, (), "warn"))
    checked = findings.INVARIANTS + findings.DRIFT
    suite = ET.fromstring(findings.junit_xml(found, checked, "run-1"))
    assert suite.get("tests") == str(len(checked)) and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == list(checked)
    failure = cases["sids-unique"].find("failure")
    assert failure is not None and failure.get("message") == "FAIL sids-unique: " + found[0].summary
    assert '"sid": 7' in (failure.text or "")
    # A lowered finding passes, its line kept beside it; the rest held.
    assert cases["cost-slope"].find("failure") is None
    assert "WARN cost-slope" in (cases["cost-slope"].findtext("system-out") or "")
    assert all(len(cases[n]) == 0 for n in checked if n not in ("sids-unique", "cost-slope"))


def test_slope_thresholds_and_target_pid_in_a_profile(tmp_path: Any) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[findings]\ncost_slope_pct_per_hour = 20\nrss_slope_mib_per_hour = 64\nslope_min_window = "1h"\n'
        'severity = { cost-slope = "warn", memory-slope = "off" }\n'
    )
    f = profiles.resolve(str(path)).findings
    assert (f.cost_slope_pct_per_hour, f.rss_slope_mib_per_hour, f.slope_min_window_s) == (20.0, 64.0, 3600.0)
    assert f.severity == {"cost-slope": "warn", "memory-slope": "off"}
    path.write_text("[target]\npid = 1\n")
    with pytest.raises(profiles.ProfileError, match=r"target\.pid applies to a given target"):
        profiles.resolve(str(path))
