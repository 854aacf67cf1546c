"""The tuning guide's knobs and the choice of a setting for each, from runs measured at each value.

``KNOBS`` is the registry: a knob names its values and the ``aranya-perf run`` flags that set
each one. Knobs whose run flag does not exist yet are listed with the flag they need
(``needs_flag``) and are never faked. A remote aranya cannot be restarted by the suite, so its
runs are labelled by hand (``knob=value:RUN_DIR``) and go through the same analysis.

For each knob, ``choose`` compares every value's runs with the knob's default
(``aranya_perf.analysis.compare``
bootstrap intervals): the p99 of all operator calls merged from the HDR histograms and their
throughput, next to gateway CPU and peak RSS. A value is recommended over the default only when
it is significantly better; short, single runs on a busy machine mostly say "keep the default".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from aranya_perf.analysis.compare import CompareConfig, RunData, compare_runs

from aranya_perf.measure.kinds import ANY_CALL, NEUTRAL_TYPE, matches
from aranya_perf.measure.latency import histogram_key, merge

ALL_CALLS = histogram_key(NEUTRAL_TYPE, "all calls")
"""The one kind a tuned run is reduced to: its operator calls, whichever route they took."""


@dataclass(frozen=True)
class Knob:
    name: str
    what: str  # what it does, one sentence
    values: Mapping[str, tuple[str, ...]]  # value -> run flags
    default: str
    needs_flag: str | None = None  # set when the run cannot set it yet


KNOBS: dict[str, Knob] = {
    k.name: k
    for k in (
        Knob(
            "gc_freeze",
            "collect once and freeze the fleet's objects out of the garbage collector after the ramp, "
            "in the generator and the embedded gateway",
            {"on": ("--gc-freeze",), "off": ("--no-gc-freeze",)},
            "on",
        ),
        Knob(
            "command_schedule",
            "how often the embedded gateway sends every device NODE_INFO_GET and METRICS_COLLECT",
            {f"{s}s": ("--node-info-interval", f"{s}s", "--metrics-interval", f"{s}s") for s in (2, 10, 30)},
            "10s",
        ),
        Knob(
            "listener_per_device",
            "one gRPC listener per device in the embedded gateway (as aranya runs one per EdgeDevice) "
            "instead of one shared port",
            {"shared": (), "per-device": ("--listener-per-device",)},
            "shared",
        ),
        Knob(
            "chunk_size",
            "the largest data frame the gateway and devices cut streams into",
            {},
            "32KiB",
            needs_flag="--chunk-size",
        ),
        Knob(
            "workers",
            "generator processes and devices per worker (Locust master/workers)",
            {},
            "1",
            needs_flag="--workers",
        ),
    )
}


@dataclass(frozen=True)
class ValueResult:
    value: str
    runs: int
    throughput_rps: float
    p99_ms: float
    gateway_cpu_pct: float
    gateway_rss_mib: float
    p99_delta_pct: float  # vs the baseline (the knob's default), with its bootstrap interval
    p99_ci: tuple[float, float]
    p99_verdict: str
    throughput_delta_pct: float
    throughput_verdict: str


@dataclass(frozen=True)
class KnobResult:
    knob: str
    what: str
    baseline: str | None
    recommended: str | None
    reason: str
    values: tuple[ValueResult, ...]


def merged_operator_histograms(run: RunData) -> RunData:
    """The run with one histogram: every operator call merged (the kinds ``ANY_CALL`` covers)."""
    hists = [h for k, h in run.histograms.items() if matches(k, ANY_CALL)]
    return RunData(run.run_id, {ALL_CALLS: merge(hists)}, run.window_s)


def choose(
    knob: str,
    what: str,
    default: str | None,
    steps: pd.DataFrame,
    runs: Mapping[str, Sequence[RunData]],
    cfg: CompareConfig,
) -> KnobResult:
    """``steps``: sweep_frames rows with a ``value`` column; ``runs``: value -> its runs.

    The baseline is the knob's default (else the first value measured). Another value is
    recommended only when its merged p99 is significantly better and its throughput not
    significantly worse; of several, the lowest p99. Otherwise the baseline stays.
    """
    values_measured = [v for v, rs in runs.items() if rs]
    if steps.empty or not values_measured:
        return KnobResult(knob, what, None, None, "no runs", ())
    baseline = default if default in values_measured else values_measured[0]
    merged = {v: [merged_operator_histograms(r) for r in runs[v]] for v in values_measured}
    per = steps.groupby("value", sort=False).agg(
        runs=("run_id", "count"),
        gateway_cpu_pct=("gateway_cpu_pct", "mean"),
        gateway_rss_mib=("gateway_rss_bytes", lambda s: s.mean() / 2**20),
    )
    results = []
    for value in values_measured:
        res = compare_runs(merged[baseline], merged[value], cfg).set_index("metric")
        p99, thr = res.loc["p99_ms"], res.loc["throughput_rps"]
        row = per.loc[value] if value in per.index else None
        results.append(
            ValueResult(
                value,
                len(runs[value]),
                float(thr["b"]),
                float(p99["b"]),
                float(row["gateway_cpu_pct"]) if row is not None else math.nan,
                float(row["gateway_rss_mib"]) if row is not None else math.nan,
                float(p99["delta_pct"]),
                (math.nan, math.nan)
                if value == baseline
                else (float(p99["ci_low_pct"]), float(p99["ci_high_pct"])),
                "baseline" if value == baseline else str(p99["verdict"]),
                float(thr["delta_pct"]),
                "baseline" if value == baseline else str(thr["verdict"]),
            )
        )
    better = [r for r in results if r.p99_verdict == "better" and r.throughput_verdict != "worse"]
    if better:
        pick = min(better, key=lambda r: r.p99_ms)
        reason = (
            f"p99 of all operator calls {pick.p99_delta_pct:+.1f} % vs {baseline} "
            f"(95 % CI {pick.p99_ci[0]:+.1f} .. {pick.p99_ci[1]:+.1f} %), throughput not worse"
        )
        return KnobResult(knob, what, baseline, pick.value, reason, tuple(results))
    reason = (
        f"no value was significantly better than the default ({baseline}) on the p99 of all operator "
        "calls without costing throughput (95 % bootstrap intervals): keep it"
    )
    return KnobResult(knob, what, baseline, baseline, reason, tuple(results))
