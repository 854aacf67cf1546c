"""The numbers of one run directory's report, and how they are formatted as text.

Owns the per-request-kind summary (``summary_rows``, also printed by the CLI through
``format_summary_table``), the per-process resource summary, the selection of gateway
metrics, the stability warnings in the spirit of pyperf, the run-duration and meta.json
helpers, and the ``fmt_*`` helpers that turn numbers into table cells. Nothing here
renders documents or plots; ``aranya_perf.analysis.run_report`` and ``aranya_perf.analysis.run_plots`` do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from aranya_perf.analysis import run_frames as rf
from aranya_perf.analysis import samples

from aranya_perf.judge.saturation import BUSY_CPU_PERCENT, saturation
from aranya_perf.measure.latency import LATENCY_CSV, LATENCY_HDR, SERVICE_SUFFIX, mean_us, merge
from aranya_perf.results import META_FILE, ResultsError, read_meta

if TYPE_CHECKING:
    from aranya_perf.analysis.run_data import RunData

SUMMARY_COLUMNS = (
    "type",
    "name",
    "count",
    "failures",
    "fail_pct",
    "rps",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
)
# (summary column, table header, alignment "l"/"r") for the text, Markdown and HTML tables.
SUMMARY_HEADERS = (
    ("type", "Type", "l"),
    ("name", "Name", "l"),
    ("count", "Count", "r"),
    ("failures", "Fail", "r"),
    ("fail_pct", "Fail%", "r"),
    ("rps", "Req/s", "r"),
    ("mean_ms", "Mean", "r"),
    ("p50_ms", "p50", "r"),
    ("p90_ms", "p90", "r"),
    ("p99_ms", "p99", "r"),
    ("max_ms", "Max", "r"),
)

GENERATOR_CPU_LIMIT = BUSY_CPU_PERCENT  # % of one core; Locust under gevent uses a single core
EARLY_END_FRACTION = 0.9
TOP_FAILURES = 10  # failure kinds listed in the report and plotted

# Gateway metrics shown in the report: (row label, regex on the sample name, label to break down by).
# Samples of every matching counter/gauge are summed over all other labels. The names are the
# reference gateway's (aranya_perf.gateway.metrics, prefix aranya_gateway_); any prefix matches.
GATEWAY_METRIC_PATTERNS: tuple[tuple[str, str, str | None], ...] = (
    ("Devices online", r"devices_online$", None),
    ("Sessions open", r"sessions_open$", None),
    ("Commands sent", r"commands_sent_total$", "kind"),
    ("Rejects", r"rejects_total$", None),
    ("Timeouts", r"session_timeouts_total$", None),
)


# --- formatting ---------------------------------------------------------------------------------


def isnan(x: Any) -> bool:
    """True for None, NaN and anything that is not a number."""
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def fmt_ms(x: Any) -> str:
    """Milliseconds for humans: 3 significant digits (``0.250``, ``12.5``), whole ms from 1000 up."""
    if isnan(x):
        return "-"
    x = float(x)
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:#.3g}".rstrip(".")


def fmt_int(x: Any) -> str:
    return "-" if isnan(x) else f"{round(float(x)):d}"


def fmt_float(x: Any, decimals: int = 1) -> str:
    return "-" if isnan(x) else f"{float(x):,.{decimals}f}"


def fmt_pct(x: Any) -> str:
    if isnan(x):
        return "-"
    return f"{float(x):.2f}%" if x < 10 else f"{float(x):.1f}%"


def fmt_mib(x: Any) -> str:
    """Bytes as MiB with one decimal."""
    return "-" if isnan(x) else f"{float(x) / 2**20:,.1f}"


def fmt_value(x: Any) -> str:
    """A metric value: integers as such, anything else with 4 significant digits."""
    if isnan(x):
        return "-"
    x = float(x)
    return f"{int(x):d}" if x.is_integer() else f"{x:.4g}"


def fmt_duration(seconds: float | None) -> str:
    if isnan(seconds):
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def shorten(text: str, limit: int) -> str:
    """Whitespace collapsed to single spaces, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind_label(request_type: str, name: str) -> str:
    """How a request kind is named in warnings, plots and legends: ``"control Exec"``."""
    return f"{request_type} {name}".strip()


# --- meta and timing ----------------------------------------------------------------------------


def load_meta(run_dir: Path, *, strict: bool = True) -> dict[str, Any] | None:
    """meta.json, or None when it does not exist.

    A corrupt or too-new meta.json raises ResultsError when ``strict``, else gives None too.
    """
    if not (Path(run_dir) / META_FILE).exists():
        return None
    try:
        return read_meta(run_dir)
    except ResultsError:
        if strict:
            raise
        return None


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def run_duration(meta: dict[str, Any] | None, *series: pd.Series) -> float | None:
    """finished_at - started_at, or for an unfinished run the span up to the last sample of ``series``."""
    meta = meta or {}
    start, end = _parse_time(meta.get("started_at")), _parse_time(meta.get("finished_at"))
    if start is not None and end is not None:
        return max(0.0, end - start)
    stamps = [s.dropna() for s in series if len(s.dropna())]
    if not stamps:
        return None
    first = start if start is not None else min(float(s.min()) for s in stamps)
    return max(0.0, max(float(s.max()) for s in stamps) - first)


def _planned_duration(meta: dict[str, Any] | None) -> float | None:
    value = ((meta or {}).get("config") or {}).get("duration_s")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


# --- the per-kind summary -----------------------------------------------------------------------


def is_aggregated(frame: pd.DataFrame) -> pd.Series:
    """Which rows of a Locust stats/history frame are its all-requests ``Aggregated`` rows."""
    return (frame["Name"] == rf.AGGREGATED) & (frame["Type"] == "")


def summary_rows(data: RunData) -> pd.DataFrame:
    """One row per request kind plus a final ``Aggregated`` row, in ``SUMMARY_COLUMNS``.

    Latencies (ms) come from latency.csv when present (exact, HDR), else from Locust's
    locust_stats.csv (whole ms); ``attrs["source"]`` names the file used (None: no data).
    Requests/s is Locust's (requests over the time requests were made), else count / run duration.
    Service-time rows (open model) are shown but left out of ``Aggregated``: they time the same
    requests a second way.
    """
    lat = data.latency
    stats = data.stats
    stats_kinds = stats[~is_aggregated(stats)]
    stats_total = stats[is_aggregated(stats)]

    if not lat.empty:
        source = LATENCY_CSV if data.file_states.get(LATENCY_CSV) == "ok" else LATENCY_HDR
        rows = pd.DataFrame(
            {
                "type": lat["request_type"],
                "name": lat["name"],
                "count": lat["count"],
                "failures": lat["failures"],
                "mean_ms": lat["mean_ms"],
                "p50_ms": lat["p50_ms"],
                "p90_ms": lat["p90_ms"],
                "p99_ms": lat["p99_ms"],
                "max_ms": lat["max_ms"],
            }
        )
        rps = stats_kinds.set_index(["Type", "Name"])["Requests/s"]
        rows["rps"] = [rps.get((t, n), math.nan) for t, n in zip(rows["type"], rows["name"], strict=True)]
    elif not stats_kinds.empty:
        source = rf.STATS_CSV
        rows = pd.DataFrame(
            {
                "type": stats_kinds["Type"],
                "name": stats_kinds["Name"],
                "count": stats_kinds["Request Count"],
                "failures": stats_kinds["Failure Count"],
                "mean_ms": stats_kinds["Average Response Time"],
                "p50_ms": stats_kinds["50%"],
                "p90_ms": stats_kinds["90%"],
                "p99_ms": stats_kinds["99%"],
                "max_ms": stats_kinds["Max Response Time"],
                "rps": stats_kinds["Requests/s"],
            }
        )
    else:
        empty = pd.DataFrame(
            {c: pd.Series(dtype=str if c in ("type", "name") else float) for c in SUMMARY_COLUMNS}
        )
        empty.attrs["source"] = None
        return empty

    rows = rows.reset_index(drop=True)
    duration = run_duration(data.meta, data.history["Timestamp"])
    if rows["rps"].isna().any() and duration:
        rows["rps"] = rows["rps"].fillna(rows["count"] / duration)

    total = _total_row(data, rows, stats_total, source)
    out = pd.concat([rows, pd.DataFrame([total])], ignore_index=True)
    out["fail_pct"] = (out["failures"] / out["count"].where(out["count"] > 0)) * 100.0
    out = out[list(SUMMARY_COLUMNS)]
    out.attrs["source"] = source
    return out


def _total_row(data: RunData, rows: pd.DataFrame, stats_total: pd.DataFrame, source: str) -> dict[str, Any]:
    rows = rows[~rows["name"].str.endswith(SERVICE_SUFFIX)]
    count = float(rows["count"].sum())
    total: dict[str, Any] = {
        "type": "",
        "name": rf.AGGREGATED,
        "count": count,
        "failures": float(rows["failures"].sum()),
        "rps": float(stats_total["Requests/s"].iloc[-1]) if len(stats_total) else float(rows["rps"].sum()),
        "mean_ms": float((rows["mean_ms"] * rows["count"]).sum() / count) if count else math.nan,
        "p50_ms": math.nan,
        "p90_ms": math.nan,
        "p99_ms": math.nan,
        "max_ms": float(rows["max_ms"].max()) if len(rows) else math.nan,
    }
    if source == rf.STATS_CSV and len(stats_total):
        agg = stats_total.iloc[-1]
        total.update(p50_ms=agg["50%"], p90_ms=agg["90%"], p99_ms=agg["99%"], max_ms=agg["Max Response Time"])
    elif data.histograms:
        # Percentiles do not add up across kinds; merging the histograms gives the true overall ones.
        merged = merge(h for k, h in data.histograms.items() if not k.endswith(SERVICE_SUFFIX))
        if merged.get_total_count():
            pct = merged.get_percentile_to_value_dict([50.0, 90.0, 99.0])
            total.update(
                p50_ms=pct[50.0] / 1000.0,
                p90_ms=pct[90.0] / 1000.0,
                p99_ms=pct[99.0] / 1000.0,
                mean_ms=mean_us(merged) / 1000.0,
                max_ms=merged.get_max_value() / 1000.0,
            )
    return total


_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "count": fmt_int,
    "failures": fmt_int,
    "fail_pct": fmt_pct,
    "rps": fmt_float,
}


def summary_cells(df: pd.DataFrame) -> list[list[str]]:
    """The rows of ``summary_rows`` as text cells, one per ``SUMMARY_HEADERS`` column."""
    return [
        [
            str(row[col]) if col in ("type", "name") else _FORMATTERS.get(col, fmt_ms)(row[col])
            for col, _, _ in SUMMARY_HEADERS
        ]
        for _, row in df.iterrows()
    ]


def format_summary_table(df: pd.DataFrame, max_name: int = 40) -> str:
    """A compact fixed-width table of ``summary_rows`` for the terminal (latencies in ms)."""
    if df.empty:
        return "no requests recorded"
    cells = summary_cells(df)
    for row in cells:
        if len(row[1]) > max_name:
            row[1] = row[1][: max_name - 1] + "…"
    headers = [h for _, h, _ in SUMMARY_HEADERS]
    aligns = [a for _, _, a in SUMMARY_HEADERS]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.ljust(w) if a == "l" else v.rjust(w) for v, w, a in zip(values, widths, aligns, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    for i, row in enumerate(cells):
        if i == len(cells) - 1 and row[1] == rf.AGGREGATED and len(cells) > 1:
            out.append("  ".join("-" * w for w in widths))
        out.append(line(row))
    source = df.attrs.get("source")
    out.append(f"latencies in ms{f' (from {source})' if source else ''}")
    return "\n".join(out)


# --- resources and gateway metrics --------------------------------------------------------------


def resource_summary(resources: pd.DataFrame) -> pd.DataFrame:
    """Per process role: samples, mean/max CPU % (of one core), max RSS bytes, max threads and fds."""
    columns = [
        "process",
        "samples",
        "cpu_percent_mean",
        "cpu_percent_max",
        "rss_max_bytes",
        "threads_max",
        "fds_max",
    ]
    if resources.empty:
        return pd.DataFrame({c: pd.Series(dtype=str if c == "process" else float) for c in columns})
    grouped = resources.groupby("process", sort=True)
    out = pd.DataFrame(
        {
            "samples": grouped.size(),
            "cpu_percent_mean": grouped["cpu_percent"].mean(),
            "cpu_percent_max": grouped["cpu_percent"].max(),
            "rss_max_bytes": grouped["rss_bytes"].max(),
            "threads_max": grouped["threads"].max(),
            "fds_max": grouped["fds"].max(),
        }
    )
    return out.reset_index()[columns]


def generator_roles(processes: Sequence[str]) -> list[str]:
    """The load generator's processes of a run: the Locust process and its local workers."""
    return [p for p in processes if p == "generator" or p.startswith("worker-")]


def device_costs(
    resources: pd.DataFrame, timeline: pd.DataFrame, meta: dict[str, Any] | None
) -> dict[str, float | None]:
    """What each simulated device cost the generator, from ``resources.csv``, the timeline and the counts.

    * ``cpu_s``: generator CPU-seconds over the measured window (each sample's % of a core times the
      time since the previous sample of that process, samples with 0 < elapsed <= the window's end);
    * ``device_msgs``: Msgs the fleet sent (MSG_STATE aside), counted at the window's close
      (``meta.window.fleet.msgs_sent``; the ramp is inside the window);
    * ``cpu_us_per_device_msg``: ``cpu_s`` per device Msg, in microseconds (every device request the
      generator handled is behind some Msg; operator calls are a small part of the figure);
    * ``rss_per_device_kib``: growth of the generator's RSS (summed over its processes) from its first
      sample to its largest, per device added in between (devices from the timeline), in KiB.

    A figure is None where a run lacks what it needs (no samples, no counts, no devices added).
    """
    out: dict[str, float | None] = dict.fromkeys(
        ("cpu_s", "device_msgs", "cpu_us_per_device_msg", "rss_per_device_kib", "devices")
    )
    window = (meta or {}).get("window") or {}
    msgs = (window.get("fleet") or {}).get("msgs_sent")
    out["device_msgs"] = float(msgs) if msgs is not None else None
    if resources.empty:
        return out
    gen = resources[resources["process"].isin(generator_roles(list(resources["process"].unique())))]
    if gen.empty:
        return out
    started, ended = window.get("started_at"), window.get("ended_at")
    end_s = (ended - started) if started and ended else None
    cpu = 0.0
    for _, rows in gen.sort_values("timestamp").groupby("process"):
        dt = rows["timestamp"].diff()
        keep = rows["elapsed_s"] > 0
        if end_s is not None:
            keep &= rows["elapsed_s"] <= end_s + 1.0  # the sample that covers the window's last second
        cpu += float((rows["cpu_percent"] / 100.0 * dt)[keep].sum())
    out["cpu_s"] = cpu
    if msgs:
        out["cpu_us_per_device_msg"] = cpu / float(msgs) * 1e6
    rss = gen.groupby("timestamp")["rss_bytes"].sum().sort_index()
    if not timeline.empty and len(rss) >= 2:
        devices = timeline.sort_values("timestamp")[["timestamp", "devices"]]
        first_t, peak_t = float(rss.index[0]), float(rss.idxmax())
        before = devices[devices["timestamp"] <= first_t]["devices"]
        at_first = float(before.iloc[-1]) if len(before) else 0.0
        upto = devices[devices["timestamp"] <= peak_t]["devices"]
        at_peak = float(upto.max()) if len(upto) else 0.0
        out["devices"] = float(devices["devices"].max())
        if at_peak > at_first:
            out["rss_per_device_kib"] = (float(rss.max()) - float(rss.iloc[0])) / (at_peak - at_first) / 1024
    return out


RUN_HARNESS_METHODS = frozenset({"Drain"})
"""Control calls the run itself makes (not operator load), left out of ``both_sides_rows``."""


def both_sides_rows(summary: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """Counts seen by the generator next to the gateway's own, per command and control method.

    Rows: ``side`` ("device": commands the gateway opened a session with vs answers the devices
    reported; "control": the gateway's OK control calls vs the operators' successful calls; "kube": the
    same for the Kubernetes face's requests by route, named as the Kubernetes operators name them),
    ``name``, ``gateway``, ``generator``, ``difference`` (generator minus gateway). Names match
    because both sides label commands the protocol version's way. The embedded gateway is drained
    before its metrics are read, so the two agree; against another target, commands on a schedule
    can differ by those in flight at that moment.
    """
    columns = ["side", "name", "gateway", "generator", "difference"]
    if metrics.empty or summary.empty:
        return pd.DataFrame(columns=columns)
    done = summary[summary["name"] != rf.AGGREGATED]
    ok = {
        (t, n): c - f
        for t, n, c, f in zip(done["type"], done["name"], done["count"], done["failures"], strict=True)
    }
    gateway: dict[tuple[str, str], float] = {}  # summed over other labels (e.g. several gateway processes)
    for side, family, key, extra in (
        ("device", "commands_sent_total", "kind", {}),
        ("control", "control_requests_total", "method", {"code": "OK"}),
        ("kube", "kube_requests_total", "route", {"code": "OK"}),
    ):
        hit = metrics[metrics["name"].str.endswith(family)]
        for labels, value in zip(hit["labels"], hit["value"], strict=True):
            if not isinstance(labels, dict) or any(labels.get(k) != v for k, v in extra.items()):
                continue
            name = labels.get(key, "")
            if side == "control" and name in RUN_HARNESS_METHODS:
                continue
            gateway[(side, name)] = gateway.get((side, name), 0.0) + value
    rows = [
        (side, name, value, float(ok.get((side, name), 0)), float(ok.get((side, name), 0)) - value)
        for (side, name), value in gateway.items()
    ]
    return pd.DataFrame(sorted(rows), columns=columns)


def gateway_metric_rows(metrics: pd.DataFrame) -> list[tuple[str, str, float, list[str]]]:
    """(label, breakdown, value, matched sample names) for each of ``GATEWAY_METRIC_PATTERNS`` found."""
    if metrics.empty:
        return []
    plain = metrics[metrics["type"].isin(["counter", "gauge", "untyped", "unknown"])]
    plain = plain[~plain["name"].str.endswith("_created")]
    out: list[tuple[str, str, float, list[str]]] = []
    for label, pattern, by in GATEWAY_METRIC_PATTERNS:
        regex = re.compile(pattern)
        hit = plain[plain["name"].map(lambda n, r=regex: bool(r.search(n)))]
        if hit.empty:
            continue
        names = sorted(set(hit["name"]))
        if by is not None:
            keys = hit["labels"].map(
                lambda labels, b=by: str(labels.get(b, "")) if isinstance(labels, dict) else ""
            )
            if keys.ne("").any():
                for key, grp in hit.groupby(keys, sort=True):
                    out.append(
                        (label, f"{by}={key}" if key else f"(no {by})", float(grp["value"].sum()), names)
                    )
                continue
        out.append((label, "", float(hit["value"].sum()), names))
    return out


# --- warnings -----------------------------------------------------------------------------------


def _saturation_notes(meta: dict[str, Any] | None, resources: pd.DataFrame) -> tuple[str, ...]:
    """The judge's saturation notes over the window (the rule the run noted its verdict with); over every
    sample when the window's bounds are not on record."""
    meta = meta or {}
    window = meta.get("window") or {}
    start, end = window.get("started_at"), window.get("ended_at")
    seconds = None
    if start and end and not resources.empty:
        resources = resources.assign(elapsed_s=resources["timestamp"] - float(start))
        seconds = float(end) - float(start)
    cores = int((meta.get("host") or {}).get("cpu_count") or 1)
    workers = int((meta.get("config") or {}).get("workers") or 0)
    return saturation(resources, seconds, cores=cores, workers=workers).notes


def run_warnings(
    meta: dict[str, Any] | None,
    duration: float | None,
    summary: pd.DataFrame,
    resources: pd.DataFrame,
    res_summary: pd.DataFrame,
    exceptions: pd.DataFrame,
    missing: dict[str, str],
) -> list[str]:
    """Why the numbers of a run should not be trusted, one sentence each; empty when nothing is wrong.

    ``summary`` is ``summary_rows``, ``res_summary`` is ``resource_summary(resources)`` and
    ``missing`` is ``run_frames.missing_files``.
    """
    out: list[str] = []
    status = (meta or {}).get("status")
    if meta is None:
        out.append("meta.json is missing: run status, configuration and provenance are unknown.")
    elif status == "running":
        out.append(
            "Run status is 'running': the run has not finished, or its process died before recording "
            "an outcome. All results are partial."
        )
    elif status == "interrupted":
        out.append("Run was interrupted: it ended early and the results cover only part of the planned run.")
    elif status == "failed":
        out.append("Run failed (status 'failed'): results may be incomplete or meaningless.")
    planned = _planned_duration(meta)
    if planned and duration is not None and duration < EARLY_END_FRACTION * planned:
        out.append(f"Run ended early: {fmt_duration(duration)} of a planned {fmt_duration(planned)}.")

    out += [n[0].upper() + n[1:] for n in _saturation_notes(meta, resources)]
    if not resources.empty:
        last = resources.groupby("process")["elapsed_s"].max()
        end = float(last.max())
        for role, t in last.items():
            if end - float(t) > 5.0:
                out.append(
                    f"Process '{role}' stopped being sampled at {float(t):.0f} s while sampling went on to "
                    f"{end:.0f} s: it probably exited (crashed?) during the run."
                )

    kinds = summary[summary["name"] != rf.AGGREGATED]
    if float(kinds["count"].sum()) == 0:
        out.append("No requests were recorded.")
    for _, row in kinds.iterrows():
        if not samples.enough("p99", row["count"]):
            out.append(
                f"{kind_label(row['type'], row['name'])}: {samples.too_few(row['count'])} for a p99 "
                f"(needs {samples.min_samples(99)}): its p99 is not meaningful."
            )
    if not summary.empty:
        total = summary.iloc[-1]
        if total["failures"] > 0:
            out.append(
                f"{fmt_int(total['failures'])} of {fmt_int(total['count'])} requests failed "
                f"({fmt_pct(total['fail_pct'])}); failed requests are included in the latencies."
            )
    if not exceptions.empty:
        n = int(exceptions["Count"].fillna(1).sum())
        out.append(f"{n} exception(s) were raised inside Locust users (see {rf.EXCEPTIONS_CSV}).")
    if missing:
        listed = ", ".join(f"{name} ({state})" for name, state in missing.items())
        out.append(f"Missing, empty or unreadable result files: {listed}.")
    return out
