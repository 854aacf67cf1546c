"""Outage windows of a run: spans where a request kind had only failures, where devices online dropped,
or where the target did not answer. Pure functions over a ``Measured``.

- a request kind is out from the first to the last of its seconds (intervals) with requests
  in which every one failed, as long as no second with a success comes between;
- the fleet is out where devices online fell below ``ONLINE_DROP`` of the shape's target, once
  it had first reached it (the ramp is not an outage);
- the target is out where the run's probe found it gone (``target_up`` 0 in the timeline);
- the target is out where it stalled: requests were outstanding and none was answered for longer
  than the profile's ``stall_threshold`` (``stalls``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd

from aranya_perf.judge.measured import Measured
from aranya_perf.measure.latency import SERVICE_SUFFIX, split_key

ONLINE_DROP = 0.95
TALLY_NAMES = ("offline_at_end",)
"""Request names that count something once at the end, not a series in time."""
UNANSWERED_TYPES = ("device",)
"""Request types that are no answer of the target: a device's status push completes on its write, and its
command replies answer the target, so a frozen target leaves them complete or absent, not outstanding."""
STALLED = "no answer for {seconds:.1f}s with requests outstanding"


@dataclass(frozen=True)
class Outage:
    what: str  # "control Exec", "devices online", "target"
    start_s: float
    end_s: float
    detail: str

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s


def _spans(times: list[float], step: float) -> list[tuple[float, float]]:
    """Join sorted sample times into [start, end) windows (each sample covers ``step`` seconds; samples
    less than half a step further apart than that still join)."""
    out: list[tuple[float, float]] = []
    for t in times:
        if out and t - out[-1][1] <= step / 2:
            out[-1] = (out[-1][0], t + step)
        else:
            out.append((t, t + step))
    return out


def request_outages(m: Measured) -> list[Outage]:
    """Per kind, maximal runs of its seconds with requests in which every request failed (seconds without
    any request of the kind neither break nor extend a run)."""
    t0 = m.t0 or 0.0
    seen: dict[str, list[tuple[float, bool]]] = {}
    for start, hists, failures in m.intervals:
        for key, hist in hists.items():
            if key.endswith(SERVICE_SUFFIX) or split_key(key)[1] in TALLY_NAMES:
                continue
            if count := hist.get_total_count():
                seen.setdefault(key, []).append((start - t0, failures.get(key, 0) >= count))
    out = []
    for key, points in sorted(seen.items()):
        run: list[float] = []
        for t, all_failed in [*sorted(points), (float("inf"), False)]:
            if all_failed:
                run.append(t)
            elif run:
                out.append(Outage(" ".join(split_key(key)), run[0], run[-1] + 1.0, "every request failed"))
                run = []
    return out


def fleet_outages(timeline: pd.DataFrame) -> list[Outage]:
    if timeline.empty:
        return []
    rows = timeline.sort_values("elapsed_s")
    reached = rows["online"] >= rows["devices_target"]
    if not reached.any():
        return []
    after = rows.loc[reached.idxmax() :]
    low = after[after["online"] < after["devices_target"] * ONLINE_DROP]
    step = float(rows["elapsed_s"].diff().median()) if len(rows) > 1 else 1.0
    out = []
    for a, b in _spans(sorted(low["elapsed_s"].tolist()), step):
        span = low[(low["elapsed_s"] >= a) & (low["elapsed_s"] < b)]
        worst = span.loc[(span["online"] / span["devices_target"]).idxmin()]
        detail = f"down to {int(worst['online'])} of {int(worst['devices_target'])} devices online"
        out.append(Outage("devices online", a, b, detail))
    down = rows[rows["target_up"] == 0]
    for a, b in _spans(sorted(down["elapsed_s"].tolist()), step):
        out.append(Outage("target", a, b, "the target did not answer"))
    return out


def stalls(m: Measured, threshold_s: float) -> list[Outage]:
    """Spans longer than ``threshold_s`` in which requests were outstanding and none was answered.

    Answers are the completed requests (success or failure) of every kind but ``UNANSWERED_TYPES``, per
    interval of the latency record (a whole second). Between two intervals with answers, ``gap`` seconds had
    none; the span lasted from the gap to two seconds more, and the slowest answer that ended it tells how
    long its request waited: the stall is that, within those bounds, ending mid-interval. Requests were
    outstanding when the ending answers waited through the gap, or when every timeline sample in it saw
    calls in flight (one call caught in flight in a quiet gap is no stall). A gap from the last answer
    to the window's end counts the same way.
    """
    t0 = m.t0 or 0.0
    answered: dict[float, float] = {}  # interval start (s into the window) -> slowest answer in it (s)
    for start, hists, _failures in m.intervals:
        for key, hist in hists.items():
            kind, name = split_key(key)
            if kind in UNANSWERED_TYPES or name in TALLY_NAMES or key.endswith(SERVICE_SUFFIX):
                continue
            if hist.get_total_count():
                at = start - t0
                answered[at] = max(answered.get(at, 0.0), hist.get_max_value() / 1e6)
    flying = pd.to_numeric(m.timeline["calls_in_flight"], errors="coerce") > 0
    samples = list(zip(m.timeline["elapsed_s"], flying, strict=True))

    def busy(a: float, b: float) -> bool:
        inside = [flying for t, flying in samples if a <= t < b]
        return bool(inside) and all(inside)

    starts = sorted(answered)
    # (start of an interval with answers, of the next one with answers, when that one's answers came, slowest)
    ends = [(a, b, b + 0.5, answered[b]) for a, b in itertools.pairwise(starts)]
    if starts and m.seconds and m.seconds > starts[-1] + 1:
        ends.append((starts[-1], m.seconds, m.seconds, 0.0))  # outstanding at the close, never answered
    out = []
    for a, b, end, slowest in ends:
        gap = b - a - 1.0
        waited = slowest >= gap or busy(a + 1, b)
        stalled = min(max(gap, slowest), gap + 2.0)
        if gap > 0 and waited and stalled > threshold_s:
            out.append(Outage("target", end - stalled, end, STALLED.format(seconds=stalled)))
    return out


def max_stall(m: Measured) -> float:
    """Seconds of the longest stall of the run (0 when every request found its answer in time)."""
    return max((o.seconds for o in stalls(m, 0.0)), default=0.0)


def outages(m: Measured, stall_threshold_s: float) -> list[Outage]:
    """Every outage window of the run, by start time."""
    found = [*request_outages(m), *fleet_outages(m.timeline), *stalls(m, stall_threshold_s)]
    return sorted(found, key=lambda o: (o.start_s, o.what))
