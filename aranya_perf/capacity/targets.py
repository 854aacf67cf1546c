"""The capacity targets of the generator, and judging a capacity result against them.

Pure functions over the result document that ``bench`` writes (``capacity.json``): each
target names the figure it reads, the threshold from the issue that set it, and says
``met``, ``short``, ``not tried`` (the run was sized below the target, e.g. ``--quick``) or
``no data`` (the mode was skipped or failed). Nothing here measures anything.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Doc = Mapping[str, Any]


@dataclass(frozen=True)
class Target:
    key: str
    text: str
    """The target as the issue states it."""
    op: str
    """``>=`` (higher is better) or ``<=``."""
    threshold: float
    unit: str


SINGLE_DEVICES = 15_000
WORKERS = 2
WORKER_DEVICES = 30_000

TARGETS: tuple[Target, ...] = (
    Target(
        "single_devices", "one generator process holds >= 15,000 devices", ">=", SINGLE_DEVICES, "devices"
    ),
    Target("single_rss_per_device", "  ... at <= 48 KiB RSS per device", "<=", 48.0, "KiB"),
    Target("single_status_p99", "  ... with status p99 <= 20 ms (status every 10 s)", "<=", 20.0, "ms"),
    Target("workers_devices", "a 2-worker run holds >= 30,000 devices", ">=", WORKER_DEVICES, "devices"),
    Target("operator_ratio", "operator requests per generator CPU-s >= 0.95x bare grpc.aio", ">=", 0.95, "x"),
    Target("device_ratio", "device work per generator CPU-s >= 0.8x bare grpc.aio fleet", ">=", 0.8, "x"),
    Target("device_rss_ratio", "  ... RSS per device <= 1.15x a bare grpc.aio device's", "<=", 1.15, "x"),
    Target("instrumentation_p50", "instrumentation (HDR + events) adds <= 5 % to p50", "<=", 5.0, "%"),
    Target("etcd_ratio", "etcd Puts/s at 50 closed-loop clients >= 0.9x bare grpc.aio", ">=", 0.9, "x"),
    Target(
        "gateway_ms_per_command",
        "gateway CPU per answered command, 1,000 devices, aranya's schedule <= 0.3 ms",
        "<=",
        0.3,
        "ms",
    ),
    Target("gateway_ratio", "  ... <= 1.2x a bare grpc.aio server's", "<=", 1.2, "x"),
)
ETCD_CLIENTS = 50
RSS_DEVICES = 500
GATEWAY_DEVICES = 1_000


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that are numbers; None when there are none."""
    numbers = [v for v in values if v is not None]
    return statistics.median(numbers) if numbers else None


def counterbalanced(round_: int, variants: Sequence[str]) -> Sequence[str]:
    """The variants in the order of round ``round_``: as given in even rounds, reversed in odd ones, so that
    in a warming or cooling sitting (etcd speeds up after its first seconds, and slows as its history
    grows) no variant always runs first."""
    return variants if round_ % 2 == 0 else variants[::-1]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _verdict(target: Target, value: float | None) -> str:
    if value is None:
        return "no data"
    ok = value >= target.threshold if target.op == ">=" else value <= target.threshold
    return "met" if ok else "short"


def _hold(doc: Doc, which: str) -> Mapping[str, Any] | None:
    hold = doc.get("modes", {}).get("hold") or {}
    run = hold.get(which)
    return run if run and "error" not in run else None


def _single(doc: Doc, key: str) -> tuple[float | None, str, str | None]:
    """A figure of the single-process hold; not tried when it held fewer devices than the target."""
    run = _hold(doc, "single")
    if run is None:
        return None, "", None
    asked = run["devices"]
    note = f"at {asked:,} devices"
    if key == "single_devices":
        held = run["held_online"]
        verdict = "not tried" if asked < SINGLE_DEVICES else None
        return float(held), f"{held:,} of {asked:,} online", verdict
    value = run["rss_kib_per_device"] if key == "single_rss_per_device" else run["status_p99_ms"]
    verdict = "not tried" if asked < SINGLE_DEVICES else None
    unit = "KiB" if key == "single_rss_per_device" else "ms"
    shown = "-" if value is None else f"{value:.1f} {unit} {note}"
    return value, shown, verdict


def _workers(doc: Doc) -> tuple[float | None, str, str | None]:
    run = _hold(doc, "workers")
    if run is None:
        return None, "", None
    held, asked, workers = run["held_online"], run["devices"], run["workers"]
    verdict = "not tried" if asked < WORKER_DEVICES or workers != WORKERS else None
    shown = f"{held:,} of {asked:,} online, {workers} workers"
    if run.get("status_p99_ms") is not None:
        shown += f", status p99 {run['status_p99_ms']:.1f} ms"
    return float(held), shown, verdict


def _efficiency(doc: Doc, mode: str, unit: str) -> tuple[float | None, str, str | None]:
    m = doc.get("modes", {}).get(mode) or {}
    r = m.get("ratio")
    if r is None:
        return None, "", None
    med, pairs = m["median"], len(m.get("pair_ratios") or [])
    of = f", median of {pairs} pairs" if pairs > 1 else ""
    return r, f"{r:.2f}x{of} ({med['ours']:,.0f} vs {med['bare']:,.0f} {unit})", None


def _device_rss(doc: Doc) -> tuple[float | None, str, str | None]:
    """RSS growth per connected device of our fleet over the bare fleet's, medians of the same sitting; not
    tried below ``RSS_DEVICES`` devices, where the growth is mostly the allocator's noise."""
    m = doc.get("modes", {}).get("device_work") or {}
    runs = m.get("runs") or {}
    med = {who: median(r.get("rss_kib_per_device") for r in runs.get(who, [])) for who in ("ours", "bare")}
    if med["ours"] is None or med["bare"] is None:
        return None, "", None
    value = ratio(med["ours"], med["bare"])
    shown = f"{_f(value, '.2f')}x ({med['ours']:.1f} vs {med['bare']:.1f} KiB per device)"
    return value, shown, "not tried" if (m.get("devices") or 0) < RSS_DEVICES else None


def _f(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _instrumentation(doc: Doc) -> tuple[float | None, str, str | None]:
    m = doc.get("modes", {}).get("instrumentation") or {}
    pct = m.get("overhead_pct")
    if pct is None:
        return None, "", None
    med = m["median_p50_ms"]
    shown = f"{pct:+.1f} % (p50 {med['full']:.3f} vs {med['off']:.3f} ms"
    # Beside the number, as pyperf does: how far apart the runs of one variant were.
    p50s = [r.get("p50_ms") for r in m.get("runs", {}).get("off", []) if r.get("p50_ms") is not None]
    if len(p50s) > 1 and med["off"]:
        shown += f"; 'off' runs spread {(max(p50s) - min(p50s)) / med['off'] * 100:.0f} %"
    return pct, shown + ")", None


def _etcd(doc: Doc) -> tuple[float | None, str, str | None]:
    """The service mode's ratio; not tried below the 50 clients the target names."""
    etcd = (doc.get("modes", {}).get("service") or {}).get("etcd") or {}
    value, shown, _ = _efficiency({"modes": {"etcd": etcd}}, "etcd", "Put/s")
    clients = etcd.get("clients") or 0
    return value, shown, "not tried" if value is not None and clients < ETCD_CLIENTS else None


def _gateway(doc: Doc, key: str) -> tuple[float | None, str, str | None]:
    """The gateway mode's case without Execs at the size the targets name; not tried when the run had none."""
    m = doc.get("modes", {}).get("gateway") or {}
    cases = [c for c in m.get("cases", []) if not c.get("exec_rate") and c.get("median", {}).get("ours")]
    if not cases:
        return None, "", None
    at = [c for c in cases if c["devices"] == GATEWAY_DEVICES]
    case = (at or cases)[-1]
    med = case["median"]
    note = f"at {case['devices']:,} devices"
    if key == "gateway_ms_per_command":
        value, shown = med["ours"], f"{med['ours']:.3f} ms {note}"
    else:
        value = case.get("ratio")
        shown = "-" if value is None else f"{value:.2f}x ({med['ours']:.3f} vs {med['bare']:.3f} ms) {note}"
    return value, shown, None if at else "not tried"


_READERS: dict[str, Callable[[Doc], tuple[float | None, str, str | None]]] = {
    "single_devices": lambda d: _single(d, "single_devices"),
    "single_rss_per_device": lambda d: _single(d, "single_rss_per_device"),
    "single_status_p99": lambda d: _single(d, "single_status_p99"),
    "workers_devices": _workers,
    "operator_ratio": lambda d: _efficiency(d, "operators", "req/CPU-s"),
    "device_ratio": lambda d: _efficiency(d, "device_work", "work/CPU-s"),
    "device_rss_ratio": _device_rss,
    "instrumentation_p50": _instrumentation,
    "etcd_ratio": _etcd,
    "gateway_ms_per_command": lambda d: _gateway(d, "gateway_ms_per_command"),
    "gateway_ratio": lambda d: _gateway(d, "gateway_ratio"),
}


def evaluate(doc: Doc) -> list[dict[str, Any]]:
    """One row per target: the measured value (as a number and as shown) and the verdict."""
    rows = []
    for t in TARGETS:
        value, shown, forced = _READERS[t.key](doc)
        verdict = forced or _verdict(t, value)
        rows.append(
            {
                "key": t.key,
                "target": t.text.strip(" ."),
                "op": t.op,
                "threshold": t.threshold,
                "unit": t.unit,
                "measured": value,
                "shown": shown or "-",
                "verdict": verdict,
            }
        )
    return rows


def format_targets(rows: Iterable[Mapping[str, Any]]) -> str:
    """The targets table: target, measured figure, verdict."""
    rows = list(rows)
    width = max(len(t.text) for t in TARGETS)
    shown_width = max([len("measured")] + [len(r["shown"]) for r in rows])
    text = {t.key: t.text for t in TARGETS}
    lines = [f"{'target':<{width}}  {'measured':<{shown_width}}  verdict"]
    for r in rows:
        lines.append(
            f"{text.get(r['key'], r['target']):<{width}}  {r['shown']:<{shown_width}}  {r['verdict']}"
        )
    return "\n".join(lines)
