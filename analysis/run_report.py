"""Renders one run directory into ``report.md``, a self-contained ``report.html`` and ``plots/*.png``.

Reads only through ``analysis.run_frames``, so a partial run (crashed, interrupted,
still running, files missing) still gets a report: each section shows what exists
and names what is missing, and stability warnings in the spirit of pyperf say when
the numbers should not be trusted. ``summary_rows`` / ``format_summary_table`` are
the per-request-kind summary shared with the CLI's terminal output.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd

from analysis import run_frames as rf
from aranya_perf.measure.latency import LATENCY_CSV, LATENCY_HDR, load_histograms, merge
from aranya_perf.results import META_FILE, ResultsError, atomic_write_bytes, atomic_write_text, read_meta

matplotlib.use("Agg")  # reports are rendered headless, also from inside a Locust process
import matplotlib.pyplot as plt  # after use(): pyplot picks its backend on import

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
PLOTS_DIR = "plots"

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

MIN_SAMPLES = 100  # below this a p99 is little more than the maximum
GENERATOR_CPU_LIMIT = 90.0  # % of one core; Locust under gevent uses a single core
EARLY_END_FRACTION = 0.9
GENERATOR_ROLE = "generator"
TOP_FAILURES = 10

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
_DURATION_KEYS = ("duration_s", "duration", "run_time_s", "run_time")


# --- formatting ---------------------------------------------------------------------------------


def _isnan(x: Any) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def fmt_ms(x: Any) -> str:
    """Milliseconds for humans: 3 significant digits (``0.250``, ``12.5``), whole ms from 1000 up."""
    if _isnan(x):
        return "-"
    x = float(x)
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:#.3g}".rstrip(".")


def _fmt_int(x: Any) -> str:
    return "-" if _isnan(x) else f"{round(float(x)):d}"


def _fmt_float(x: Any, decimals: int = 1) -> str:
    return "-" if _isnan(x) else f"{float(x):,.{decimals}f}"


def _fmt_pct(x: Any) -> str:
    if _isnan(x):
        return "-"
    return f"{float(x):.2f}%" if x < 10 else f"{float(x):.1f}%"


def _fmt_mib(x: Any) -> str:
    return "-" if _isnan(x) else f"{float(x) / 2**20:,.1f}"


def _fmt_value(x: Any) -> str:
    if _isnan(x):
        return "-"
    x = float(x)
    return f"{int(x):d}" if x.is_integer() else f"{x:.4g}"


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None or _isnan(seconds):
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


# --- meta and timing ----------------------------------------------------------------------------


def _load_meta(run_dir: Path) -> dict[str, Any] | None:
    """meta.json, or None when it does not exist; corrupt or too-new files still raise ResultsError."""
    if not (run_dir / META_FILE).exists():
        return None
    return read_meta(run_dir)


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _run_duration(meta: dict[str, Any] | None, *series: pd.Series) -> float | None:
    """finished_at - started_at, or for an unfinished run the span up to the last sample."""
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
    config = (meta or {}).get("config") or {}
    for key in _DURATION_KEYS:
        value = config.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


# --- the per-kind summary -----------------------------------------------------------------------


def _is_aggregated(frame: pd.DataFrame) -> pd.Series:
    return (frame["Name"] == rf.AGGREGATED) & (frame["Type"] == "")


def summary_rows(run_dir: Path) -> pd.DataFrame:
    """One row per request kind plus a final ``Aggregated`` row, in ``SUMMARY_COLUMNS``.

    Latencies (ms) come from latency.csv when present (exact, HDR), else from Locust's
    locust_stats.csv (whole ms); ``attrs["source"]`` names the file used (None: no data).
    Requests/s is Locust's (requests over the time requests were made), else count / run duration.
    """
    run_dir = Path(run_dir)
    lat = rf.read_latency(run_dir)
    stats = rf.read_stats(run_dir)
    stats_kinds = stats[~_is_aggregated(stats)]
    stats_total = stats[_is_aggregated(stats)]
    meta = _safe_meta(run_dir)

    if not lat.empty:
        source = LATENCY_CSV if rf.file_state(run_dir, LATENCY_CSV) == "ok" else LATENCY_HDR
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
    duration = _run_duration(meta, rf.read_history(run_dir)["Timestamp"])
    if rows["rps"].isna().any() and duration:
        rows["rps"] = rows["rps"].fillna(rows["count"] / duration)

    total = _total_row(run_dir, rows, stats_total, source)
    out = pd.concat([rows, pd.DataFrame([total])], ignore_index=True)
    out["fail_pct"] = (out["failures"] / out["count"].where(out["count"] > 0)) * 100.0
    out = out[list(SUMMARY_COLUMNS)]
    out.attrs["source"] = source
    return out


def _total_row(run_dir: Path, rows: pd.DataFrame, stats_total: pd.DataFrame, source: str) -> dict[str, Any]:
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
    elif rf.file_state(run_dir, LATENCY_HDR) == "ok":
        # Percentiles do not add up across kinds; merging the histograms gives the true overall ones.
        try:
            merged = merge(load_histograms(run_dir / LATENCY_HDR).values())
        except ResultsError:
            merged = None
        if merged is not None and merged.get_total_count():
            pct = merged.get_percentile_to_value_dict([50.0, 90.0, 99.0])
            total.update(
                p50_ms=pct[50.0] / 1000.0,
                p90_ms=pct[90.0] / 1000.0,
                p99_ms=pct[99.0] / 1000.0,
                mean_ms=merged.get_mean_value() / 1000.0,
                max_ms=merged.get_max_value() / 1000.0,
            )
    return total


def _safe_meta(run_dir: Path) -> dict[str, Any] | None:
    try:
        return _load_meta(run_dir)
    except ResultsError:
        return None


_TEXT_HEADERS = (
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
_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "count": _fmt_int,
    "failures": _fmt_int,
    "fail_pct": _fmt_pct,
    "rps": _fmt_float,
}


def _summary_cells(df: pd.DataFrame) -> list[list[str]]:
    cells = []
    for _, row in df.iterrows():
        cells.append(
            [
                str(row[col]) if col in ("type", "name") else _FORMATTERS.get(col, fmt_ms)(row[col])
                for col, _, _ in _TEXT_HEADERS
            ]
        )
    return cells


def format_summary_table(df: pd.DataFrame, max_name: int = 40) -> str:
    """A compact fixed-width table of ``summary_rows`` for the terminal (latencies in ms)."""
    if df.empty:
        return "no requests recorded"
    cells = _summary_cells(df)
    for row in cells:
        if len(row[1]) > max_name:
            row[1] = row[1][: max_name - 1] + "…"
    headers = [h for _, h, _ in _TEXT_HEADERS]
    aligns = [a for _, _, a in _TEXT_HEADERS]
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


# --- a tiny document model rendered both to Markdown and to HTML --------------------------------


@dataclass
class _Table:
    headers: list[str]
    rows: list[list[str]]
    aligns: list[str] | None = None  # "l" / "r" per column


@dataclass
class _Doc:
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def h1(self, text: str) -> None:
        self.blocks.append(("h1", text))

    def h2(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def ul(self, items: Iterable[str], css: str = "") -> None:
        self.blocks.append(("ul", (list(items), css)))

    def table(self, table: _Table) -> None:
        self.blocks.append(("table", table))

    def img(self, rel_path: str, alt: str) -> None:
        self.blocks.append(("img", (rel_path, alt)))

    def to_markdown(self) -> str:
        out: list[str] = []
        for kind, value in self.blocks:
            if kind == "h1":
                out.append(f"# {value}")
            elif kind == "h2":
                out.append(f"## {value}")
            elif kind == "p":
                out.append(value)
            elif kind == "ul":
                out.append("\n".join(f"- {item}" for item in value[0]))
            elif kind == "table":
                out.append(_md_table(value))
            elif kind == "img":
                out.append(f"![{value[1]}]({value[0]})")
        return "\n\n".join(out) + "\n"

    def to_html(self, title: str, images: dict[str, bytes]) -> str:
        body: list[str] = []
        for kind, value in self.blocks:
            if kind in ("h1", "h2"):
                body.append(f"<{kind}>{html.escape(value)}</{kind}>")
            elif kind == "p":
                body.append(f"<p>{html.escape(value)}</p>")
            elif kind == "ul":
                items, css = value
                cls = f' class="{css}"' if css else ""
                body.append(f"<ul{cls}>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
            elif kind == "table":
                body.append(_html_table(value))
            elif kind == "img":
                rel, alt = value
                data = images.get(rel)
                if data is None:
                    body.append(f"<p>{html.escape(alt)}: image missing</p>")
                else:
                    b64 = base64.b64encode(data).decode("ascii")
                    body.append(
                        f'<figure><img src="data:image/png;base64,{b64}" alt="{html.escape(alt)}"></figure>'
                    )
        return _HTML_PAGE.format(title=html.escape(title), css=_CSS, body="\n".join(body))


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(t: _Table) -> str:
    aligns = t.aligns or ["l"] * len(t.headers)
    sep = ["---:" if a == "r" else "---" for a in aligns]
    lines = ["| " + " | ".join(_md_cell(h) for h in t.headers) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def _html_table(t: _Table) -> str:
    aligns = t.aligns or ["l"] * len(t.headers)

    def cell(tag: str, text: str, align: str) -> str:
        cls = ' class="num"' if align == "r" else ""
        return f"<{tag}{cls}>{html.escape(text)}</{tag}>"

    head = "".join(cell("th", h, a) for h, a in zip(t.headers, aligns, strict=True))
    rows = "".join(
        "<tr>" + "".join(cell("td", c, a) for c, a in zip(row, aligns, strict=True)) + "</tr>"
        for row in t.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafafa; }
ul.warnings { background: #fff8e1; border: 1px solid #f0c36d; padding: .6em 1em .6em 2em; }
figure { margin: 1em 0; }
img { max-width: 100%; border: 1px solid #eee; }
""".strip()

_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
{body}
</body>
</html>
"""


# --- plots --------------------------------------------------------------------------------------


def _save_png(fig: Any, path: Path) -> bytes:
    buf = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=100)
    finally:
        plt.close(fig)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return data


def _kind_label(request_type: str, name: str) -> str:
    return f"{request_type} {name}".strip()


def _plot_throughput(history: pd.DataFrame, path: Path) -> bytes | None:
    if history.empty:
        return None
    rates = rf.history_rates(history)
    kinds = rates[~_is_aggregated(rates)]
    agg = rates[_is_aggregated(rates)]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    for (rtype, name), grp in kinds.groupby(["Type", "Name"], sort=True):
        ax.plot(
            grp["elapsed_s"],
            grp["req_per_s"],
            label=_kind_label(rtype, name),
            linewidth=1.4,
            drawstyle="steps-pre",
        )
    if len(agg) and agg["fail_per_s"].fillna(0).gt(0).any():
        ax.plot(
            agg["elapsed_s"],
            agg["fail_per_s"],
            "--",
            color="black",
            label="failures/s (all)",
            linewidth=1.4,
            drawstyle="steps-pre",
        )
    ax.set_xlabel("elapsed (s)")
    ax.set_ylabel("requests/s (per interval)")
    ax.set_ylim(bottom=0)
    ax.set_title("Throughput per request kind")
    ax.grid(True, alpha=0.3)
    if len(agg) and agg["User Count"].fillna(0).gt(0).any():
        users = ax.twinx()
        users.plot(agg["elapsed_s"], agg["User Count"], color="grey", alpha=0.5, linewidth=1, label="users")
        users.set_ylabel("users", color="grey")
        users.set_ylim(bottom=0)
        users.tick_params(axis="y", colors="grey")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", fontsize="small", ncol=2 if len(handles) > 6 else 1)
    return _save_png(fig, path)


def _plot_latency(summary: pd.DataFrame, path: Path) -> bytes | None:
    kinds = summary[summary["name"] != rf.AGGREGATED] if not summary.empty else summary
    if kinds.empty:
        return None
    cols = [("p50_ms", "p50", "tab:green"), ("p90_ms", "p90", "tab:orange"), ("p99_ms", "p99", "tab:red")]
    labels = [_kind_label(t, n) for t, n in zip(kinds["type"], kinds["name"], strict=True)]
    height = 0.8 / len(cols)
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.9 * len(labels) + 1.2)))
    positive = []
    for i, (col, label, color) in enumerate(cols):
        # Locust-sourced values can be 0 (it rounds sub-ms to 0), which a log axis cannot show.
        values = kinds[col].where(kinds[col] > 0)
        positive.extend(values.dropna().tolist())
        ys = [y + (i - 1) * height for y in range(len(labels))]
        bars = ax.barh(ys, values.fillna(0).tolist(), height=height, color=color, label=label)
        for bar, v in zip(bars, values, strict=True):
            if not _isnan(v):
                ax.annotate(
                    fmt_ms(v),
                    (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize="x-small",
                )
    if not positive:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xlim(min(positive) / 2, max(positive) * 3)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    source = summary.attrs.get("source")
    note = "HDR, exact" if source in (LATENCY_CSV, LATENCY_HDR) else "Locust stats, whole ms"
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_title(f"Latency percentiles per request kind ({note})")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return _save_png(fig, path)


def _plot_errors(history: pd.DataFrame, failures: pd.DataFrame, path: Path) -> bytes | None:
    if history.empty and failures.empty:
        return None
    fig, (ax_t, ax_b) = plt.subplots(2, 1, figsize=(10, 7), gridspec_kw={"height_ratios": [1, 1.2]})
    if history.empty:
        ax_t.text(0.5, 0.5, f"{rf.HISTORY_CSV} missing", ha="center", va="center", transform=ax_t.transAxes)
    else:
        rates = rf.history_rates(history)
        for (rtype, name), grp in rates[~_is_aggregated(rates)].groupby(["Type", "Name"], sort=True):
            if grp["fail_per_s"].fillna(0).gt(0).any():
                ax_t.plot(
                    grp["elapsed_s"],
                    grp["fail_per_s"],
                    label=_kind_label(rtype, name),
                    linewidth=1.2,
                    drawstyle="steps-pre",
                )
        agg = rates[_is_aggregated(rates)]
        if len(agg):
            ax_t.plot(
                agg["elapsed_s"],
                agg["fail_per_s"],
                "--",
                color="black",
                label="all",
                linewidth=1.4,
                drawstyle="steps-pre",
            )
        ax_t.legend(loc="upper left", fontsize="small")
    ax_t.set_title("Failures over time")
    ax_t.set_xlabel("elapsed (s)")
    ax_t.set_ylabel("failures/s (per interval)")
    ax_t.set_ylim(bottom=0)
    ax_t.grid(True, alpha=0.3)

    top = failures.head(TOP_FAILURES)
    if top.empty:
        ax_b.text(0.5, 0.5, "no failures recorded", ha="center", va="center", transform=ax_b.transAxes)
        ax_b.set_axis_off()
    else:
        labels = [
            _shorten(f"{_kind_label(m, n)}: {e}", 70)
            for m, n, e in zip(top["Method"], top["Name"], top["Error"], strict=True)
        ]
        ax_b.barh(range(len(top)), top["Occurrences"].fillna(0).tolist(), height=0.6, color="tab:red")
        ax_b.set_yticks(range(len(top)), labels, fontsize="small")
        ax_b.set_ylim(max(len(top), 5) - 0.5, -0.5)  # top-down, and slim bars when there are few
        ax_b.set_xlabel("occurrences")
        ax_b.set_title(f"Failures by request and error (top {TOP_FAILURES})")
        ax_b.grid(True, axis="x", alpha=0.3)
    return _save_png(fig, path)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plot_resources(resources: pd.DataFrame, path: Path) -> bytes | None:
    if resources.empty:
        return None
    fig, (ax_cpu, ax_mem) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    for role, grp in resources.groupby("process", sort=True):
        ax_cpu.plot(grp["elapsed_s"], grp["cpu_percent"], label=role, linewidth=1.3)
        ax_mem.plot(grp["elapsed_s"], grp["rss_bytes"] / 2**20, label=role, linewidth=1.3)
    ax_cpu.axhline(100, color="grey", linestyle=":", linewidth=1)
    ax_cpu.set_ylabel("CPU (% of one core)")
    ax_cpu.set_ylim(bottom=0)
    ax_cpu.set_title("Process resources")
    ax_cpu.legend(loc="upper left", fontsize="small")
    ax_cpu.grid(True, alpha=0.3)
    ax_mem.set_ylabel("RSS (MiB)")
    ax_mem.set_xlabel("elapsed (s)")
    ax_mem.set_ylim(bottom=0)
    ax_mem.grid(True, alpha=0.3)
    return _save_png(fig, path)


# --- report sections ----------------------------------------------------------------------------


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


def _warnings(
    meta: dict[str, Any] | None,
    duration: float | None,
    summary: pd.DataFrame,
    resources: pd.DataFrame,
    res_summary: pd.DataFrame,
    exceptions: pd.DataFrame,
    missing: dict[str, str],
) -> list[str]:
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
        out.append(f"Run ended early: {_fmt_duration(duration)} of a planned {_fmt_duration(planned)}.")

    gen = res_summary[res_summary["process"] == GENERATOR_ROLE]
    if len(gen) and not _isnan(gen["cpu_percent_mean"].iloc[0]):
        mean, peak = float(gen["cpu_percent_mean"].iloc[0]), float(gen["cpu_percent_max"].iloc[0])
        if mean > GENERATOR_CPU_LIMIT:
            out.append(
                f"Load generator CPU averaged {mean:.0f}% of a core (max {peak:.0f}%), above "
                f"{GENERATOR_CPU_LIMIT:.0f}%: results may be limited by the load generator, not the gateway."
            )
    if not resources.empty:
        last = resources.groupby("process")["elapsed_s"].max()
        end = float(last.max())
        for role, t in last.items():
            if end - float(t) > 5.0:
                out.append(
                    f"Process '{role}' stopped being sampled at {float(t):.0f} s while sampling went on to "
                    f"{end:.0f} s: it probably exited (crashed?) during the run."
                )

    kinds = summary[summary["name"] != rf.AGGREGATED] if not summary.empty else summary
    if summary.empty or float(kinds["count"].sum()) == 0:
        out.append("No requests were recorded.")
    for _, row in kinds.iterrows():
        if row["count"] < MIN_SAMPLES:
            out.append(
                f"Only {_fmt_int(row['count'])} samples for {_kind_label(row['type'], row['name'])} "
                f"(fewer than {MIN_SAMPLES}): its p99 is not meaningful."
            )
    if not summary.empty:
        total = summary.iloc[-1]
        if total["failures"] > 0:
            out.append(
                f"{_fmt_int(total['failures'])} of {_fmt_int(total['count'])} requests failed "
                f"({_fmt_pct(total['fail_pct'])}); failed requests are included in the latencies."
            )
    if not exceptions.empty:
        n = int(exceptions["Count"].fillna(1).sum())
        out.append(f"{n} exception(s) were raised inside Locust users (see {rf.EXCEPTIONS_CSV}).")
    if missing:
        listed = ", ".join(f"{name} ({state})" for name, state in missing.items())
        out.append(f"Missing or empty result files: {listed}.")
    return out


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for k in sorted(value):
            yield from _flatten(f"{prefix}.{k}" if prefix else str(k), value[k])
    elif isinstance(value, list | tuple):
        yield prefix, json.dumps(value)
    else:
        yield prefix, "-" if value is None else str(value)


def _run_table(meta: dict[str, Any], duration: float | None) -> _Table:
    target = meta.get("target") or {}
    git = meta.get("git") or {}
    host = meta.get("host") or {}
    sha = git.get("sha")
    git_text = "-" if sha is None else f"{sha[:12]}{' (dirty)' if git.get('dirty') else ''}"
    if sha is None and git.get("dirty") is not None:
        git_text = f"no commit{' (dirty)' if git.get('dirty') else ''}"
    rows = [
        ["Run id", str(meta.get("run_id", "-"))],
        ["Profile", str(meta.get("profile", "-"))],
        ["Status", str(meta.get("status", "-"))],
        ["Started", str(meta.get("started_at") or "-")],
        ["Finished", str(meta.get("finished_at") or "-")],
        ["Duration", _fmt_duration(duration)],
        ["Target", str(target.get("address", "-"))],
        ["Embedded gateway", str(target.get("embedded", "-"))],
        ["Git", git_text],
        [
            "Host",
            f"{host.get('hostname', '-')} ({host.get('cpu_count', '-')} CPUs, {host.get('machine', '-')})",
        ],
        ["Platform", str(host.get("platform", "-"))],
        ["Python", str(host.get("python", "-"))],
        ["Command", " ".join(str(a) for a in meta.get("argv") or []) or "-"],
    ]
    rows += [[f"config.{k}", v] for k, v in _flatten("", meta.get("config") or {})]
    packages = meta.get("packages") or {}
    if packages:
        rows.append(["Packages", ", ".join(f"{k} {v or '-'}" for k, v in sorted(packages.items()))])
    return _Table(["Field", "Value"], rows)


def write_run_report(run_dir: Path) -> Path:
    """Render report.md, report.html and plots/*.png for ``run_dir``; returns the report.md path.

    ResultsError if run_dir is not a directory or its meta.json is corrupt or too new;
    a missing meta.json or missing data files are reported, not fatal.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir} is not a directory")
    meta = _load_meta(run_dir)
    t0 = rf.run_t0(run_dir)
    history = rf.read_history(run_dir, t0)
    resources = rf.read_resources(run_dir, t0)
    failures = rf.read_failures(run_dir)
    exceptions = rf.read_exceptions(run_dir)
    metrics = rf.read_gateway_metrics(run_dir)
    summary = summary_rows(run_dir)
    res_summary = resource_summary(resources)
    missing = rf.missing_files(run_dir)
    duration = _run_duration(meta, history["Timestamp"], resources["timestamp"])

    plots_dir = run_dir / PLOTS_DIR
    plots_dir.mkdir(exist_ok=True)
    renderers: dict[str, Callable[[Path], bytes | None]] = {
        "throughput": lambda p: _plot_throughput(history, p),
        "latency": lambda p: _plot_latency(summary, p),
        "errors": lambda p: _plot_errors(history, failures, p),
        "resources": lambda p: _plot_resources(resources, p),
    }
    images: dict[str, bytes] = {}
    for name, render in renderers.items():
        path = plots_dir / f"{name}.png"
        data = render(path)
        if data is None:
            path.unlink(missing_ok=True)  # a plot from an earlier rendering would no longer match the data
        else:
            images[f"{PLOTS_DIR}/{name}.png"] = data

    run_id = (meta or {}).get("run_id") or run_dir.name
    doc = _Doc()
    doc.h1(f"Load-test run {run_id}")
    status = (meta or {}).get("status", "unknown")
    address = ((meta or {}).get("target") or {}).get("address", "-")
    doc.p(
        f"Status: {status} · profile: {(meta or {}).get('profile', '-')} · "
        f"duration: {_fmt_duration(duration)} · target: {address}"
    )

    warnings = _warnings(meta, duration, summary, resources, res_summary, exceptions, missing)
    doc.h2("Warnings")
    if warnings:
        doc.ul(warnings, css="warnings")
    else:
        doc.p("None: the run finished and nothing suggests the numbers are unreliable.")

    doc.h2("Requests")
    if summary.empty:
        doc.p(f"No request data: {rf.LATENCY_CSV} and {rf.STATS_CSV} are missing or empty.")
    else:
        src = summary.attrs.get("source")
        precision = (
            "exact (HDR histograms, µs resolution)" if src != rf.STATS_CSV else "Locust, rounded to whole ms"
        )
        doc.p(f"Latencies in ms from {src}: {precision}. Req/s from {rf.STATS_CSV} where present.")
        doc.table(
            _Table(
                [h for _, h, _ in _TEXT_HEADERS],
                _summary_cells(summary),
                [a for _, _, a in _TEXT_HEADERS],
            )
        )
    _add_image(
        doc, images, "throughput", "Throughput", f"no throughput plot: {rf.HISTORY_CSV} missing or empty"
    )
    _add_image(doc, images, "latency", "Latency", "no latency plot: no latency data")

    doc.h2("Failures")
    if failures.empty:
        doc.p(
            "No failures recorded."
            if rf.file_state(run_dir, rf.FAILURES_CSV) == "ok"
            else f"{rf.FAILURES_CSV} is missing."
        )
    else:
        top = failures.head(TOP_FAILURES)
        doc.table(
            _Table(
                ["Method", "Name", "Error", "Occurrences"],
                [
                    [m, n, _shorten(e, 200), _fmt_int(o)]
                    for m, n, e, o in zip(
                        top["Method"], top["Name"], top["Error"], top["Occurrences"], strict=True
                    )
                ],
                ["l", "l", "l", "r"],
            )
        )
        if len(failures) > TOP_FAILURES:
            doc.p(f"{len(failures) - TOP_FAILURES} more failure kinds in {rf.FAILURES_CSV}.")
    _add_image(doc, images, "errors", "Errors", None)
    if not exceptions.empty:
        doc.p(f"Exceptions inside Locust users ({rf.EXCEPTIONS_CSV}):")
        doc.table(
            _Table(
                ["Count", "Message"],
                [
                    [_fmt_int(c), _shorten(m, 200)]
                    for c, m in zip(exceptions["Count"], exceptions["Message"], strict=True)
                ],
                ["r", "l"],
            )
        )

    doc.h2("Resources")
    if res_summary.empty:
        doc.p(f"No resource samples: {rf.RESOURCES_CSV} is missing or empty.")
    else:
        doc.table(
            _Table(
                ["Process", "Samples", "CPU mean %", "CPU max %", "RSS max MiB", "Threads max", "FDs max"],
                [
                    [
                        str(r["process"]),
                        _fmt_int(r["samples"]),
                        _fmt_float(r["cpu_percent_mean"]),
                        _fmt_float(r["cpu_percent_max"]),
                        _fmt_mib(r["rss_max_bytes"]),
                        _fmt_int(r["threads_max"]),
                        _fmt_int(r["fds_max"]),
                    ]
                    for _, r in res_summary.iterrows()
                ],
                ["l", "r", "r", "r", "r", "r", "r"],
            )
        )
        doc.p("CPU is in % of one core, so a multi-threaded process can exceed 100%.")
    _add_image(doc, images, "resources", "Resources", None)

    doc.h2("Gateway metrics")
    gw_rows = gateway_metric_rows(metrics)
    if metrics.empty:
        doc.p(f"No gateway metrics: {rf.GATEWAY_METRICS} is missing, empty or unreadable.")
    elif not gw_rows:
        doc.p(
            f"None of the expected metrics found among {metrics['family'].nunique()} metric families "
            f"in {rf.GATEWAY_METRICS}."
        )
    else:
        doc.table(
            _Table(
                ["Metric", "By", "Value", "Source"],
                [[label, by or "-", _fmt_value(v), ", ".join(names)] for label, by, v, names in gw_rows],
                ["l", "l", "r", "l"],
            )
        )
        doc.p(f"Summed over all labels except the breakdown; snapshot from {rf.GATEWAY_METRICS}.")

    doc.h2("Run")
    if meta is None:
        doc.p("meta.json is missing: no configuration or provenance recorded.")
    else:
        doc.table(_run_table(meta, duration))

    doc.h2("Files")
    doc.ul(f"{name}: {rf.file_state(run_dir, name)} ({what})" for name, what in rf.RUN_FILES.items())

    md_path = run_dir / REPORT_MD
    atomic_write_text(md_path, doc.to_markdown())
    atomic_write_text(run_dir / REPORT_HTML, doc.to_html(f"Load-test run {run_id}", images))
    return md_path


def _add_image(doc: _Doc, images: dict[str, bytes], name: str, alt: str, absent: str | None) -> None:
    rel = f"{PLOTS_DIR}/{name}.png"
    if rel in images:
        doc.img(rel, alt)
    elif absent:
        doc.p(absent.capitalize() + ".")
