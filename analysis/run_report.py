"""Renders one run directory into ``report.md``, a self-contained ``report.html`` and ``plots/*.png``.

Owns the report's layout: the sections and their order, a tiny document model rendered
both to Markdown and to HTML (the page's markup and CSS are ``templates/report.html.j2``) and
which plot goes where. Reads only through ``aranya_perf.analysis.run_frames``, so a partial run
(crashed, interrupted, still running, files missing) still gets a report: each section shows what exists and
names what is missing. The numbers and warnings come from ``aranya_perf.analysis.run_summary``, the
plots from ``aranya_perf.analysis.run_plots``. ``summary_rows`` / ``format_summary_table`` are
re-exported here for the callers that print the summary next to writing the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from aranya_perf.analysis import etcd_report, findings_report, pages
from aranya_perf.analysis import run_frames as rf
from aranya_perf.analysis.outages import outages
from aranya_perf.analysis.run_data import RunData, load_run
from aranya_perf.analysis.run_inputs import files_line
from aranya_perf.analysis.run_summary import (
    SUMMARY_HEADERS,
    TOP_FAILURES,
    both_sides_rows,
    device_costs,
    fmt_duration,
    fmt_float,
    fmt_int,
    fmt_mib,
    fmt_value,
    format_summary_table,
    gateway_metric_rows,
    resource_summary,
    run_warnings,
    shorten,
    summary_cells,
    summary_rows,
)

from aranya_perf.measure.latency import intervals_frame
from aranya_perf.profiles.plan import phases
from aranya_perf.results import RunFiles, atomic_write_text

__all__ = [
    "PLOTS_DIR",
    "REPORT_HTML",
    "REPORT_MD",
    "format_summary_table",
    "summary_rows",
    "write_run_report",
]

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
PLOTS_DIR = "plots"


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
        """The page (``templates/report.html.j2``), images inlined so the one file can be mailed."""
        return pages.render("report.html.j2", title=title, blocks=self.blocks, images=images)


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(t: _Table) -> str:
    aligns = t.aligns or ["l"] * len(t.headers)
    sep = ["---:" if a == "r" else "---" for a in aligns]
    lines = ["| " + " | ".join(_md_cell(h) for h in t.headers) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


# --- report sections ----------------------------------------------------------------------------


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for k in sorted(value):
            yield from _flatten(f"{prefix}.{k}" if prefix else str(k), value[k])
    elif isinstance(value, list | tuple):
        yield prefix, json.dumps(value)
    else:
        yield prefix, "-" if value is None else str(value)


def _what_text(meta: dict[str, Any] | None) -> str:
    """What the run loaded: aranya's protocol version, or a service scenario."""
    scenario = ((meta or {}).get("config") or {}).get("scenario", "aranya")
    if scenario != "aranya":
        return f"Scenario: {scenario}"
    proto = ((meta or {}).get("protocol") or {}).get("name", "not recorded")
    return f"Protocol: {proto} · transport: {((meta or {}).get('transport') or {}).get('name', 'grpc')}"


def _protocol_text(meta: dict[str, Any] | None) -> str:
    """The protocol version spoken, e.g. ``aranya-v0.3 (aranya-proto v0.3.5 ...)``; runs before it was
    recorded say so."""
    proto = (meta or {}).get("protocol") or {}
    if not proto.get("name"):
        return "not recorded"
    return f"{proto['name']} ({proto['source']})" if proto.get("source") else str(proto["name"])


def _operators_text(target: dict[str, Any]) -> str:
    """The operators' route (control, kubernetes api, kubernetes kubelet), with the face's address."""
    route = str(target.get("operators") or "control")  # runs before the Kubernetes face went through control
    return f"{route} ({target['kube']})" if target.get("kube") else route


def _transport_text(meta: dict[str, Any] | None) -> str:
    """``grpc``, or ``mqtt (namespace T, broker HOST:PORT)``; runs from before transports were recorded are
    gRPC ones."""
    transport = (meta or {}).get("transport") or {}
    name = transport.get("name", "grpc")
    if name != "mqtt":
        return str(name)
    broker = ((meta or {}).get("target") or {}).get("broker", "-")
    return f"mqtt (namespace {transport.get('namespace', '-')}, broker {broker})"


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
        ["Duration", fmt_duration(duration)],
        ["Protocol", _protocol_text(meta)],
        ["Transport", _transport_text(meta)],
        ["Target", str(target.get("address", "-"))],
        ["Embedded gateway", str(target.get("embedded", "-"))],
        ["Listener per device", str(target.get("listener_per_device", "-"))],
        ["Operators through", _operators_text(target)],
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


def _plots() -> Any:
    """``run_plots``, imported when the first plot is drawn: matplotlib's import is most of the CPU a stopped
    run's report takes without its plots (0.7 of 1.6 s)."""
    from aranya_perf.analysis import run_plots

    return run_plots


NOT_DRAWN = b""
"""A plot left out because the run was stopped (``stopped``); its place says so."""


def write_run_report(run: RunData | Path, stopped: Callable[[], bool] | None = None) -> Path:
    """Render report.md, report.html and plots/*.png for a run (read from its directory when given a path);
    returns the report.md path. Once ``stopped()`` is true (a stop signal came to the run that writes it),
    the plots not yet drawn are left out, each place saying so: they take most of the CPU, and a stopped
    run must end within its grace period (``aranya-perf report DIR`` draws them later).

    ResultsError if a path is not a directory or its meta.json is corrupt or too new; a missing
    meta.json or missing data files are reported, not fatal.
    """
    data = run if isinstance(run, RunData) else load_run(Path(run))
    run_dir, meta = data.run_dir, data.meta
    history, resources, failures = data.history, data.resources, data.failures
    exceptions, metrics = data.exceptions, data.gateway_metrics
    summary = summary_rows(data)
    res_summary = resource_summary(resources)
    missing = data.missing
    duration = data.duration
    plan = phases(data.profile) if data.profile is not None else []
    outage_list = outages(data)
    storms = [float(e["at_s"]) for e in data.events if e["event"] == "storm" and "at_s" in e]
    intervals = intervals_frame(data.intervals)

    plots_dir = run_dir / PLOTS_DIR
    plots_dir.mkdir(exist_ok=True)
    renderers: dict[str, Callable[[Path], bytes | None]] = {
        "shape": lambda p: _plots().plot_shape(data.timeline, plan, outage_list, storms, p),
        "latency_over_time": lambda p: _plots().plot_latency_over_time(
            intervals, data.t0, plan, outage_list, storms, p
        ),
        "throughput": lambda p: _plots().plot_throughput(history, p),
        "latency": lambda p: _plots().plot_latency(summary, p),
        "errors": lambda p: _plots().plot_errors(history, failures, p),
        "resources": lambda p: _plots().plot_resources(resources, p),
    }
    images: dict[str, bytes] = {}
    for name, render in renderers.items():
        path = plots_dir / f"{name}.png"
        if stopped is not None and stopped():
            images[f"{PLOTS_DIR}/{name}.png"] = NOT_DRAWN
            path.unlink(missing_ok=True)
            continue
        png = render(path)
        if png is None:
            path.unlink(missing_ok=True)  # a plot from an earlier rendering would no longer match the data
        else:
            images[f"{PLOTS_DIR}/{name}.png"] = png

    run_id = (meta or {}).get("run_id") or run_dir.name
    doc = _Doc()
    doc.h1(f"Load-test run {run_id}")
    status = (meta or {}).get("status", "unknown")
    address = ((meta or {}).get("target") or {}).get("address", "-")
    doc.p(
        f"Status: {status} · profile: {(meta or {}).get('profile', '-')} · "
        f"{_what_text(meta)} · "
        f"duration: {fmt_duration(duration)} · target: {address}"
    )

    doc.p(throughput_text(summary, data.window_span(), duration))
    if meta and meta.get("reason"):
        doc.p(f"Why: {meta['reason']}")
    if meta and meta.get("link"):
        doc.p(f"Devices reached the target through an edge network link: {_link_text(meta['link'])}.")
    warnings = run_warnings(meta, duration, summary, resources, res_summary, exceptions, missing)
    doc.h2("Warnings")
    if warnings:
        doc.ul(warnings, css="warnings")
    else:
        doc.p("None: the run finished and nothing suggests the numbers are unreliable.")

    _slo_section(doc, data)
    _findings_section(doc, data)
    _shape_section(doc, data, plan, outage_list, images)

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
                [h for _, h, _ in SUMMARY_HEADERS],
                summary_cells(summary),
                [a for _, _, a in SUMMARY_HEADERS],
            )
        )
    _add_image(
        doc, images, "latency_over_time", "Latency over time",
        f"no latency-over-time plot: {RunFiles.LATENCY_INTERVALS} missing or empty",
    )  # fmt: skip
    _add_image(
        doc, images, "throughput", "Throughput", f"no throughput plot: {rf.HISTORY_CSV} missing or empty"
    )
    _add_image(doc, images, "latency", "Latency", "no latency plot: no latency data")
    _etcd_section(doc, data, summary)

    doc.h2("Failures")
    if failures.empty:
        doc.p(
            "No failures recorded."
            if data.file_states.get(rf.FAILURES_CSV) == "ok"
            else f"{rf.FAILURES_CSV} is missing."
        )
    else:
        top = failures.head(TOP_FAILURES)
        doc.table(
            _Table(
                ["Method", "Name", "Error", "Occurrences"],
                [
                    [m, n, shorten(e, 200), fmt_int(o)]
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
                    [fmt_int(c), shorten(m, 200)]
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
                        fmt_int(r["samples"]),
                        fmt_float(r["cpu_percent_mean"]),
                        fmt_float(r["cpu_percent_max"]),
                        fmt_mib(r["rss_max_bytes"]),
                        fmt_int(r["threads_max"]),
                        fmt_int(r["fds_max"]),
                    ]
                    for _, r in res_summary.iterrows()
                ],
                ["l", "r", "r", "r", "r", "r", "r"],
            )
        )
        doc.p("CPU is in % of one core, so a multi-threaded process can exceed 100%.")
        costs = device_costs(resources, data.timeline, meta)
        doc.table(
            _Table(
                ["Generator cost per device", "Value", "From"],
                [
                    [
                        "CPU per device Msg (µs)",
                        fmt_float(costs["cpu_us_per_device_msg"]),
                        f"{fmt_float(costs['cpu_s'], 2)} CPU-s, {fmt_int(costs['device_msgs'])} Msgs sent",
                    ],
                    [
                        "RSS per device (KiB)",
                        fmt_float(costs["rss_per_device_kib"]),
                        f"RSS growth, first sample to largest; {fmt_int(costs['devices'])} devices",
                    ],
                ],
                ["l", "r", "l"],
            )
        )
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
                [[label, by or "-", fmt_value(v), ", ".join(names)] for label, by, v, names in gw_rows],
                ["l", "l", "r", "l"],
            )
        )
        doc.p(f"Summed over all labels except the breakdown; snapshot from {rf.GATEWAY_METRICS}.")

    both = both_sides_rows(summary, metrics)
    if not both.empty:
        doc.h2("Both sides")
        doc.table(
            _Table(
                ["Side", "Name", "Gateway", "Generator", "Difference"],
                [
                    [s, n, fmt_value(g), fmt_value(c), fmt_value(d)]
                    for s, n, g, c, d in both.itertuples(index=False)
                ],
                ["l", "l", "r", "r", "r"],
            )
        )
        doc.p(
            "Commands the gateway opened against answers the devices reported, and control calls (or "
            "Kubernetes face requests) the gateway answered OK against the operators' successful calls. "
            "The embedded gateway stops "
            "its schedule and lets open sessions end before its metrics are read; against another "
            "target, scheduled commands can differ by those in flight at that moment."
        )

    doc.h2("Run")
    if meta is None:
        doc.p("meta.json is missing: no configuration or provenance recorded.")
    else:
        doc.table(_run_table(meta, duration))

    doc.h2("Files")
    doc.ul(
        files_line(name, data.file_states.get(name, "missing"), what, data.problems.get(name))
        for name, what in rf.RUN_FILES.items()
    )

    md_path = run_dir / REPORT_MD
    atomic_write_text(md_path, doc.to_markdown())
    atomic_write_text(run_dir / REPORT_HTML, doc.to_html(f"Load-test run {run_id}", images))
    return md_path


def throughput_text(summary: pd.DataFrame, window: tuple[float, float] | None, duration: float | None) -> str:
    """The run's total throughput in one line: requests, answered (not failed) per second over the
    measured window (over the whole run, said so, when the window was not recorded), failures."""
    total = summary[summary["name"] == rf.AGGREGATED]
    if total.empty or not float(total["count"].iloc[0]):
        return "Throughput: no requests recorded."
    count, failed = int(total["count"].iloc[0]), int(total["failures"].iloc[0])
    seconds, over = (window[1] - window[0], "window") if window else (duration, "run (no window recorded)")
    rate = "no time span recorded"
    if seconds:
        answered = fmt_float((count - failed) / seconds)
        rate = f"{answered} answered per second over the {fmt_float(seconds)} s {over}"
    return f"Throughput: {fmt_int(count)} requests, {rate}, {fmt_int(failed)} failed ({failed / count:.2%})."


def _link_text(link: dict[str, Any]) -> str:
    """A link profile (meta.json ``link``) in one phrase: its name and what it is not 0 in."""
    units = {"rtt_ms": "ms RTT", "jitter_ms": "ms jitter", "down_kbit": "kbit/s down", "up_kbit": "kbit/s up"}
    parts = [f"{link[k]:g} {u}" for k, u in units.items() if link.get(k)]
    if link.get("loss"):
        parts.append(f"{link['loss']:.2%} loss")
    if link.get("resets_per_hour"):
        parts.append(f"{link['resets_per_hour']:g} resets per connection-hour")
    if link.get("partition_every_s"):
        parts.append(f"a {link.get('partition_s', 0):g} s partition every {link['partition_every_s']:g} s")
    return f"{link.get('name', '?')} ({', '.join(parts) or 'no impairment'})"


def _etcd_section(doc: _Doc, data: RunData, summary: pd.DataFrame) -> None:
    """Scenario etcd: our Put and Range beside etcdctl check perf against the same cluster."""
    if data.profile is None or data.profile.run.scenario != "etcd":
        return
    doc.h2("etcd beside etcdctl check perf")
    theirs, ours = etcd_report.rows(data, summary)
    if theirs is None:
        doc.p(
            f"No check perf result ({RunFiles.ETCD_CHECK_PERF} missing: etcd.check_perf = off, or it failed)."
        )
        return
    doc.p(
        "Same cluster, same sitting, check perf after our window. Latencies in ms; "
        "ratios are ours over check perf's."
    )
    aligns = ["l"] + ["r"] * (len(etcd_report.HEADERS) - 1)
    doc.table(_Table(list(etcd_report.HEADERS), etcd_report.table_cells(theirs, ours), aligns))
    doc.ul(etcd_report.notes(data))
    etcd = (data.meta or {}).get("etcd") or {}
    if etcd.get("compactions"):
        where = "; ".join(f"{c['where']} (revision {c.get('revision')})" for c in etcd["compactions"])
        doc.p(f"History compacted: {where}.")


def _slo_section(doc: _Doc, data: RunData) -> None:
    doc.h2("SLOs")
    slo = data.slo
    if slo is None:
        doc.p(f"{RunFiles.SLO} is missing: the run did not get as far as judging itself.")
        return
    results = slo.get("results") or []
    if not results:
        doc.p(
            "The profile declares no SLOs: the run failed only if the target went away, no request "
            "succeeded or more than 1% of requests failed."
        )
        return
    rows = []
    for r in results:
        value = "no data" if r.get("value") is None else fmt_value(r["value"])
        op = "<=" if r.get("bound") == "max" else ">="
        rows.append(
            [
                "pass" if r.get("passed") else "FAIL",
                str(r.get("name", "")),
                str(r.get("window", "")),
                f"{value} {r.get('unit', '')}".strip(),
                f"{op} {fmt_value(r.get('threshold'))}",
                str(r.get("detail") or ""),
            ]
        )
    doc.table(
        _Table(
            ["Verdict", "SLO", "Window", "Measured", "Threshold", "Note"],
            rows,
            ["l", "l", "l", "r", "r", "l"],
        )
    )
    doc.p(
        f"{slo.get('failed', 0)} of {len(results)} failed; also in {RunFiles.SLO} "
        f"and {RunFiles.SLO_JUNIT} (JUnit)."
    )


def _findings_section(doc: _Doc, data: RunData) -> None:
    doc.h2("Findings")
    if data.findings is None:
        doc.p(f"{RunFiles.FINDINGS} is missing or unreadable: the run did not get as far as its invariants.")
    else:
        rows = findings_report.finding_rows(data.findings)
        broken = sum(1 for r in rows if r[3] != "held")
        doc.table(_Table(list(findings_report.FINDING_HEADERS), rows, ["l", "r", "l", "l"]))
        doc.p(
            f"{broken} of {len(rows)} broken; the evidence in {RunFiles.FINDINGS} and "
            f"{RunFiles.FINDINGS_JUNIT} (JUnit); what each checks in docs/findings.md."
        )
    if data.drift is None:
        doc.p(f"Cost over time: not measured ({RunFiles.DRIFT} missing or unreadable).")
        return
    doc.p(findings_report.drift_text(data.drift))
    slopes = findings_report.slope_rows(data.drift)
    if slopes:
        doc.table(_Table(list(findings_report.SLOPE_HEADERS), slopes, ["l", "r", "r", "r", "r", "l"]))
    else:
        doc.p("Too few buckets after the warm-up for a slope.")


def _shape_section(
    doc: _Doc, data: RunData, plan: list[Any], outage_list: list[Any], images: dict[str, bytes]
) -> None:
    doc.h2("Shape and outages")
    p = data.profile
    if p is not None:
        if not p.fleet_run:
            load = f"{p.service.users} clients (scenario {p.run.scenario})"
        elif p.operators.arrival_rate:
            load = (
                f"{p.fleet.devices} devices, operators at {p.operators.arrival_rate:g} calls/s (open model)"
            )
        else:
            load = f"{p.fleet.devices} devices, {p.operators.count} operators (closed model)"
        doc.p(f"Shape: {p.shape.kind}, {load}.")
        doc.table(
            _Table(
                ["Phase", "From s", "To s", "Devices"],
                [[ph.name, fmt_float(ph.start_s), fmt_float(ph.end_s), fmt_int(ph.devices)] for ph in plan],
                ["l", "r", "r", "r"],
            )
        )
    _add_image(doc, images, "shape", "Workload shape", f"no shape plot: {RunFiles.TIMELINE} missing or empty")
    window = data.window
    counts = {**(window.get("fleet") or {}), **(window.get("window") or {})}
    if counts.get("arrivals"):
        doc.p(
            f"Open model: {fmt_int(counts['arrivals'])} arrivals, {fmt_int(counts.get('queued_starts', 0))} "
            "waited for a free in-flight slot (the target was slow), "
            f"{fmt_int(counts.get('missed_starts', 0))} "
            "started late with a slot free (the generator could not keep the schedule: a saturation sign)."
        )
    if counts.get("reconnects"):
        doc.p(f"Device streams reopened: {fmt_int(counts['reconnects'])} (beyond each device's first).")
    if not outage_list:
        doc.p("No outage: no request kind had only failures in any second, devices online never dropped "
              "below 95% of the shape once reached, and the target always answered.")  # fmt: skip
        return
    doc.table(
        _Table(
            ["What", "From s", "To s", "Seconds", "Detail"],
            [
                [o.what, fmt_float(o.start_s), fmt_float(o.end_s), fmt_float(o.seconds), o.detail]
                for o in outage_list
            ],
            ["l", "r", "r", "r", "l"],
        )
    )


def _add_image(doc: _Doc, images: dict[str, bytes], name: str, alt: str, absent: str | None) -> None:
    rel = f"{PLOTS_DIR}/{name}.png"
    if images.get(rel) == NOT_DRAWN:
        doc.p(f"{alt}: not drawn, the run was stopped; `aranya-perf report` on its directory draws it.")
    elif rel in images:
        doc.img(rel, alt)
    elif absent:
        doc.p(absent.capitalize() + ".")
