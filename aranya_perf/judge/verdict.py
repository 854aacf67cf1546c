"""How a run ended: ``ok``, ``failed`` or ``interrupted``, with every reason, from what it measured.

Rules, all checked (the first reason leads):

- a stop signal (Ctrl-C, SIGTERM, SIGHUP): ``interrupted``, the reason naming it;
- the run could not start its target or its workers: ``failed``;
- the target went away during the window, or a worker was lost: ``failed`` (a pre-release
  stress test must never pass against a dead target);
- the target stalled (``outages.stalls``) and the profile declares no SLOs: ``failed`` (a profile
  with SLOs decides with its own ``max_stall``, if any);
- no request succeeded: ``failed``;
- more than ``DEFAULT_MAX_FAILURE_RATE`` of all requests failed, unless the profile declares its
  own ``error_rate`` SLO over every kind: ``failed``;
- any SLO failed: ``failed``;
- any invariant broken at severity ``fail`` (``aranya_perf.findings``): ``failed``.

Notes (``saturation``: a side of the run out of CPU) travel with the verdict and never change its status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aranya_perf.profiles import Profile
from aranya_perf.profiles.schema import DEFAULT_MAX_FAILURE_RATE


@dataclass(frozen=True)
class Verdict:
    status: str
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def decide(
    p: Profile,
    *,
    interrupted: str,
    start_error: str | None,
    target_lost: Sequence[str],
    workers_lost: Sequence[str],
    stalls: Sequence[str] = (),
    requests: int,
    failures: int,
    slo_failures: Sequence[str],
    notes: Sequence[str] = (),
    findings: Sequence[str] = (),
) -> Verdict:
    if interrupted:  # why, e.g. "interrupted by SIGTERM"; empty when the run was not
        return Verdict("interrupted", (interrupted,), tuple(notes))
    reasons: list[str] = []
    if start_error:
        reasons.append(start_error)
    reasons += [f"target went away: {r}" for r in target_lost]
    reasons += [f"worker lost: {w}" for w in workers_lost]
    if not p.slo:
        reasons += [f"target stalled: {s}" for s in stalls]
    if not start_error:
        if requests - failures <= 0:
            reasons.append("no successful request")
        own_rate = any(s.metric == "error_rate" and s.kind == "*" for s in p.slo)
        if requests and not own_rate and failures / requests > DEFAULT_MAX_FAILURE_RATE:
            reasons.append(
                f"{failures} of {requests} requests failed ({failures / requests:.1%}), "
                f"above the default {DEFAULT_MAX_FAILURE_RATE:.0%}"
            )
        if slo_failures:
            reasons.append(f"{len(slo_failures)} SLO(s) failed: {slo_failures[0]}")
        if findings:
            reasons.append(f"{len(findings)} invariant(s) broken: {findings[0]}")
    return Verdict("failed" if reasons else "ok", tuple(reasons), tuple(notes))
