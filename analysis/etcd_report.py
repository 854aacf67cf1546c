"""Scenario etcd: our Put and Range figures beside etcdctl check perf's, from one run directory.

check perf prints throughput (whole writes/s, from a load capped at a fixed rate), its slowest
request and the standard deviation; no percentiles. Our rows carry the same three figures (Req/s,
Max, stddev from the HDR histograms) plus p50/p99, at the concurrency of ``[service] users``
(check perf's is fixed by its load: 50 clients for ``s``). The ratio column is ours over check
perf's: throughput, max over slowest, stddev over stddev.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from aranya_perf.analysis.run_data import RunData

from aranya_perf.results import RunFiles

OUR_KINDS = ("Put", "Range", "Range serializable")
REQUEST_TYPE = "etcd"


@dataclass(frozen=True)
class Row:
    what: str
    clients: int | None
    per_s: float | None
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    stddev_ms: float | None


def check_perf_result(data: RunData) -> dict[str, Any] | None:
    path = data.run_dir / RunFiles.ETCD_CHECK_PERF
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def rows(data: RunData, summary: pd.DataFrame) -> tuple[Row | None, list[Row]]:
    """check perf's row (None without its file) and ours, one per KV call kind that ran."""
    cp = check_perf_result(data)
    theirs = None
    if cp is not None:
        slowest, stddev = cp.get("slowest_s"), cp.get("stddev_s")
        theirs = Row(
            f"etcdctl check perf --load {cp.get('load')} (Put)",
            cp.get("clients"),
            cp.get("throughput_wps"),
            None,
            None,
            None if slowest is None else slowest * 1000,
            None if stddev is None else stddev * 1000,
        )
    users = data.profile.service.users if data.profile is not None else None
    ours = []
    for name in OUR_KINDS:
        match = summary[(summary["type"] == REQUEST_TYPE) & (summary["name"] == name)]
        if match.empty:
            continue
        r = match.iloc[0]
        hist = data.histograms.get(f"{REQUEST_TYPE} {name}")
        stddev = hist.get_stddev() / 1000 if hist is not None and hist.get_total_count() else None
        ours.append(
            Row(
                f"ours: {name}",
                users,
                _num(r.get("rps")),
                _num(r["p50_ms"]),
                _num(r["p99_ms"]),
                _num(r["max_ms"]),
                stddev,
            )
        )
    return theirs, ours


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def _fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}g}"


HEADERS = ["", "Clients", "Req/s", "p50", "p99", "Max", "Stddev", "Req/s ratio", "Max ratio", "Stddev ratio"]


def table_cells(theirs: Row | None, ours: list[Row]) -> list[list[str]]:
    """Rows of ``HEADERS``: check perf first, then ours with their ratios to it (latencies in ms)."""
    out = []
    for r in ([theirs] if theirs else []) + ours:
        ratios = ["", "", ""]
        if theirs is not None and r is not theirs:
            ratios = [
                _ratio(r.per_s, theirs.per_s),
                _ratio(r.max_ms, theirs.max_ms),
                _ratio(r.stddev_ms, theirs.stddev_ms),
            ]
        out.append(
            [
                r.what,
                "-" if r.clients is None else str(r.clients),
                _fmt(r.per_s, 4),
                _fmt(r.p50_ms),
                _fmt(r.p99_ms),
                _fmt(r.max_ms),
                _fmt(r.stddev_ms),
                *ratios,
            ]
        )
    return out


def notes(data: RunData) -> list[str]:
    """What the comparison needs said next to it."""
    cp = check_perf_result(data)
    out = []
    if cp is not None:
        out.append(
            f"check perf: {cp.get('clients')} clients for {cp.get('run_time_s')} s, Puts of "
            f"{cp.get('key_size')}-byte keys and {cp.get('value_size')}-byte values at most "
            f"{cp.get('writes_per_s_limit')} writes/s (its rate limit: its throughput is that cap unless the "
            f"cluster is slower); verdict {'PASS' if cp.get('passed') else 'FAIL'}; it prints no percentiles."
        )
        if cp.get("leftover_keys"):
            out.append(f"check perf left {cp['leftover_keys']} keys under its prefix; the run deleted them.")
    if data.profile is not None:
        e = data.profile.etcd
        mix = ", ".join(f"{k} {v:g}" for k, v in e.mix.items() if v)
        pace = f"paced to {e.rate:g} calls/s together" if e.rate else "closed loop (no rate limit)"
        out.append(
            f"ours: {data.profile.service.users} clients, {pace}, mix {mix}, "
            f"{e.key_size}-byte keys (+ prefix) and {e.value_size}-byte values over {e.keys} keys."
        )
        if cp is not None:
            out.append(_GENERATOR_LIMIT_PACED if e.rate else _GENERATOR_LIMIT_CLOSED)
    return out


_YARDSTICK = (
    "`aranya-perf capacity --modes service` (ours beside a bare grpc.aio client, both closed-loop at the "
    "same concurrency against one cluster) or `python -m aranya_perf.etcd.bare --rate 0` beside a run with "
    "`[etcd] rate = 0` shows it."
)
_GENERATOR_LIMIT_PACED = (
    "Both sides are paced to their rate, so the throughput ratio holds by construction and cannot show "
    "what the generator costs: only an unpaced, closed-loop comparison turns a dearer client into fewer "
    "calls per second. " + _YARDSTICK
)
_GENERATOR_LIMIT_CLOSED = (
    "Ours ran closed-loop while check perf is paced to its cap, so their throughputs differ by design; what "
    "the generator costs per call is not in this table. " + _YARDSTICK
)


def summary_lines(data: RunData, summary: pd.DataFrame) -> list[str]:
    """The comparison as text lines for the end of ``aranya-perf run``'s output."""
    theirs, ours = rows(data, summary)
    if theirs is None:
        return []
    cells = [HEADERS, *table_cells(theirs, ours)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]
    lines = ["etcd beside etcdctl check perf (ms; ratios ours / check perf):"]
    for row in cells:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(padded))
    return lines
