"""The report's PNG plots of one run: workload shape, throughput, latency (overall and over time), errors
and process resources.

Each ``plot_*`` function draws from frames already read by ``aranya_perf.analysis.run_frames`` (and
``aranya_perf.analysis.run_summary``), writes the PNG atomically to ``path`` and returns its bytes, or
returns None without writing when there is nothing to draw. matplotlib runs headless
(Agg), also inside a Locust process.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
from aranya_perf.analysis import run_frames as rf
from aranya_perf.analysis.run_summary import TOP_FAILURES, fmt_ms, is_aggregated, isnan, kind_label, shorten

from aranya_perf.measure.latency import LATENCY_CSV, LATENCY_HDR
from aranya_perf.results import atomic_write_bytes

matplotlib.use("Agg")  # reports are rendered headless, also from inside a Locust process
import matplotlib.pyplot as plt  # after use(): pyplot picks its backend on import

DEVICE_TYPE = "device"  # request type of the device side; every other type is an operator call
RAMP_NAMES = ("connect", "first_cmd")  # one per device at its start: a spike while devices spawn
CONNECT_NAME = "connect"
RAMP_CLIP = 2.0  # clip a panel's ramp peaks above this multiple of its steady-state maximum
LEGEND_MAX = 6  # entries per legend; beyond, the least busy lines are drawn as one grey "other" group
OTHER_COLOR = "silver"
GROUPED_LISTED = 10  # names of an "other" group listed beside its panel
CLIPPED_LISTED = 4  # clipped peaks named in a panel; the rest are counted


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


def _legend_outside(ax: Any) -> None:
    """The legend right of the axes, so that it never covers data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")


def _busiest(weights: dict[Any, float], room: int = LEGEND_MAX) -> tuple[list[Any], list[Any]]:
    """Keys to draw on their own (all when they fit ``room`` legend entries, else the ``room - 1``
    heaviest) and the rest, grouped into one entry; both in the keys' order."""
    if len(weights) <= room:
        return list(weights), []
    top = set(sorted(weights, key=lambda k: -weights[k])[: room - 1])
    return [k for k in weights if k in top], [k for k in weights if k not in top]


def _grouped_note(ax: Any, what: str, names: list[str]) -> None:
    """Right of the panel, under its legend: which names its "other" entry groups (a legend of 16
    entries fits nowhere), one a line."""
    if names:
        listed = [shorten(n, 42) for n in names[:GROUPED_LISTED]]
        if len(names) > GROUPED_LISTED:
            listed.append(f"and {len(names) - GROUPED_LISTED} more")
        ax.annotate("\n".join([f"other {what}:", *listed]), (1.01, 0.0), xycoords="axes fraction",
                    fontsize="x-small", color="dimgrey", va="bottom", ha="left")  # fmt: skip


def _rate_panel(ax: Any, kinds: pd.DataFrame, title: str, ramp: pd.Series) -> None:
    """Requests/s per kind of ``kinds`` (rows of ``history_rates``), plus their failures/s if any.

    The busiest kinds get their own line; beyond ``LEGEND_MAX`` entries the rest are summed into one
    grey "other" line, named beside the panel. Peaks in the intervals at ``ramp`` (elapsed_s of the
    intervals devices connected in) that would flatten the rest of the panel are clipped: a marker at
    the top, and their values in one line in the panel's free top band.
    """
    types = sorted(set(kinds["Type"]))
    groups = {key: grp.set_index("elapsed_s")["req_per_s"] for key, grp in kinds.groupby(["Type", "Name"])}
    failures = kinds.groupby("elapsed_s", sort=True)["fail_per_s"].sum(min_count=1)
    has_failures = bool(failures.fillna(0).gt(0).any())
    weights = {k: float(g.fillna(0).sum()) for k, g in groups.items()}
    own, rest = _busiest(weights, LEGEND_MAX - has_failures)  # failures/s takes an entry too

    def label(rtype: str, name: str) -> str:
        return name if len(types) == 1 else kind_label(rtype, name)

    lines: list[tuple[pd.Series, dict[str, Any]]] = [(groups[k], {"label": label(*k)}) for k in own]
    if rest:
        other = pd.concat([groups[k] for k in rest]).groupby(level=0, sort=True).sum()
        lines.append((other, {"label": f"other {len(rest)} kinds (sum)", "color": OTHER_COLOR}))
        _grouped_note(ax, "kinds", [label(*k) for k in rest])
    if has_failures:
        lines.append((failures, {"label": "failures/s", "color": "black", "linestyle": "--"}))
    peaks: dict[float, tuple[float, str]] = {}  # elapsed_s -> highest value there and its line's color
    for series, style in lines:
        (line,) = ax.plot(series.index, series.to_numpy(), linewidth=1.4, drawstyle="steps-pre", **style)
        _note_peaks(peaks, series.index, series, line.get_color())
    ramp_ticks = set(ramp)
    steady = max((float(y) for x, (y, _) in peaks.items() if x not in ramp_ticks), default=math.nan)
    clipped = ""
    if not isnan(steady) and steady > 0 and max(y for y, _ in peaks.values()) > RAMP_CLIP * steady:
        top = 1.2 * steady
        ax.set_ylim(0, top)
        step = float(pd.Series(sorted(peaks)).diff().median())  # the history's sampling interval
        _mark_clipped(ax, top, {x: yc for x, yc in peaks.items() if yc[0] > top}, step if step > 0 else 1.0)
        clipped = ", connect-ramp peaks clipped"
    ax.set_title(f"{title} ({', '.join(types)}{clipped})", loc="left", fontsize="medium")
    ax.set_ylabel("requests/s")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)


def clipped_runs(peaks: dict[float, float], step: float) -> list[tuple[float, float, float]]:
    """Clipped peaks (elapsed_s -> value) as runs of adjacent intervals: (first s, last s, highest value),
    highest first. Neighbours closer than 1.5 ``step`` are one run, so their labels cannot collide."""
    runs: list[list[float]] = []
    for x in sorted(peaks):
        if runs and x - runs[-1][1] <= 1.5 * step:
            runs[-1][1], runs[-1][2] = x, max(runs[-1][2], peaks[x])
        else:
            runs.append([x, x, peaks[x]])
    return sorted(((a, b, v) for a, b, v in runs), key=lambda r: -r[2])


def _mark_clipped(ax: Any, top: float, clipped: dict[float, tuple[float, str]], step: float) -> None:
    """A marker at the top of each clipped interval, and one line of text naming the highest runs: no
    label per peak, so neighbouring peaks never write over each other."""
    for x, (_, color) in clipped.items():
        ax.plot([x], [top], marker="v", color=color, markersize=5, clip_on=False, linestyle="none")
    runs = clipped_runs({x: y for x, (y, _) in clipped.items()}, step)
    parts = [f"{v:.0f} at {a:.0f} s" if a == b else f"{v:.0f} at {a:.0f}-{b:.0f} s" for a, b, v in runs]
    text = "clipped: " + ", ".join(parts[:CLIPPED_LISTED])
    if len(parts) > CLIPPED_LISTED:
        text += f", {len(parts) - CLIPPED_LISTED} more"
    # The band above 1/1.2 of the axis holds no unclipped data.
    ax.text(0.99, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize="x-small",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1})  # fmt: skip


def _note_peaks(peaks: dict[float, tuple[float, str]], xs: Any, ys: Any, color: str) -> None:
    for x, y in zip(xs, ys, strict=True):
        if not isnan(y) and y > peaks.get(x, (-1.0, ""))[0]:
            peaks[x] = (y, color)


def _connects_panel(ax: Any, connects: pd.DataFrame, agg: pd.DataFrame, ticks: pd.Series) -> None:
    """Cumulative device connects (and failed ones) as thin steps, with the Locust user count."""
    if len(connects):
        totals = connects.set_index("elapsed_s")[["Total Request Count", "Total Failure Count"]]
        # Counts as sampled at each tick, held until the next; from 0 at the run's first tick.
        totals = totals.reindex(sorted(set(ticks) | set(totals.index))).ffill().fillna(0)
        for column, label, color in (
            ("Total Request Count", "connects (cumulative)", "tab:blue"),
            ("Total Failure Count", "failed connects", "tab:red"),
        ):
            if column == "Total Request Count" or totals[column].gt(0).any():
                ax.plot(
                    totals.index,
                    totals[column],
                    label=label,
                    color=color,
                    linewidth=1.0,
                    drawstyle="steps-post",
                )
    if len(agg) and agg["User Count"].fillna(0).gt(0).any():
        ax.plot(agg["elapsed_s"], agg["User Count"], color="grey", alpha=0.7, linewidth=1, label="users")
    ax.set_title("devices connected", loc="left", fontsize="medium")
    ax.set_ylabel("count")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)


def _no_data(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def plot_throughput(history: pd.DataFrame, path: Path) -> bytes | None:
    """Requests/s per interval, stacked: operator calls, device side, and device connects/users.

    Operator calls are every request type but ``device``; the device side leaves out the once
    per device ``connect``/``first_cmd``, whose spike while devices spawn would flatten the rest:
    connects are shown cumulatively in a small bottom panel instead, next to the user count.
    Panels without data are left out.
    """
    if history.empty:
        return None
    rates = rf.history_rates(history)
    kinds = rates[~is_aggregated(rates)]
    agg = rates[is_aggregated(rates)]
    device = kinds["Type"] == DEVICE_TYPE
    control = kinds[~device]
    device_calls = kinds[device & ~kinds["Name"].isin(RAMP_NAMES)]
    connects = kinds[device & (kinds["Name"] == CONNECT_NAME)]
    ramp_rows = kinds[device & kinds["Name"].isin(RAMP_NAMES)]
    ramp = ramp_rows.loc[ramp_rows["req_per_s"].fillna(0) > 0, "elapsed_s"]
    has_users = len(agg) and agg["User Count"].fillna(0).gt(0).any()

    panels: list[tuple[float, Any]] = []
    if len(control):
        panels.append((1.0, lambda ax: _rate_panel(ax, control, "operator calls", ramp)))
    if len(device_calls):
        panels.append((1.0, lambda ax: _rate_panel(ax, device_calls, "device side", ramp)))
    if len(connects) or has_users:
        panels.append((0.45, lambda ax: _connects_panel(ax, connects, agg, rates["elapsed_s"])))
    if not panels:
        return None  # no empty plot: the report says there is no throughput to show

    ratios = [r for r, _ in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(10, 1.2 + 3.2 * sum(ratios)),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": ratios},
    )
    for ax, (_, draw) in zip(axes[:, 0], panels, strict=True):
        draw(ax)
    axes[-1, 0].set_xlabel("elapsed (s)")
    fig.suptitle("Throughput per request kind (per interval)")
    return _save_png(fig, path)


def plot_latency(summary: pd.DataFrame, path: Path) -> bytes | None:
    """Horizontal p50/p90/p99 bars per request kind of ``summary_rows``, on a log axis."""
    kinds = summary[summary["name"] != rf.AGGREGATED]
    if kinds.empty:
        return None
    cols = [("p50_ms", "p50", "tab:green"), ("p90_ms", "p90", "tab:orange"), ("p99_ms", "p99", "tab:red")]
    labels = [kind_label(t, n) for t, n in zip(kinds["type"], kinds["name"], strict=True)]
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
            if not isnan(v):
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


def has_failures(history: pd.DataFrame, failures: pd.DataFrame) -> bool:
    """Whether the run recorded any failure: the errors plot is drawn only then."""
    if not failures.empty and failures["Occurrences"].fillna(0).gt(0).any():
        return True
    return not history.empty and bool(history["Total Failure Count"].fillna(0).gt(0).any())


def plot_errors(history: pd.DataFrame, failures: pd.DataFrame, path: Path) -> bytes | None:
    """Failures/s over time per request kind, and the most frequent failures by request and error; None
    when nothing failed (the report says so in a line instead of an empty plot)."""
    if not has_failures(history, failures):
        return None
    fig, (ax_t, ax_b) = plt.subplots(2, 1, figsize=(10, 7), gridspec_kw={"height_ratios": [1, 1.2]})
    if history.empty:
        _no_data(ax_t, f"{rf.HISTORY_CSV} missing")
    else:
        rates = rf.history_rates(history)
        failing = {
            key: grp
            for key, grp in rates[~is_aggregated(rates)].groupby(["Type", "Name"], sort=True)
            if grp["fail_per_s"].fillna(0).gt(0).any()
        }
        agg = rates[is_aggregated(rates)]
        own, rest = _busiest({k: float(g["fail_per_s"].fillna(0).sum()) for k, g in failing.items()},
                             LEGEND_MAX - bool(len(agg)))  # fmt: skip
        for key in own:
            grp = failing[key]
            ax_t.plot(grp["elapsed_s"], grp["fail_per_s"], label=kind_label(*key), linewidth=1.2,
                      drawstyle="steps-pre")  # fmt: skip
        if rest:
            other = pd.concat([failing[k] for k in rest]).groupby("elapsed_s", sort=True)["fail_per_s"].sum()
            ax_t.plot(other.index, other.to_numpy(), color=OTHER_COLOR, linewidth=1.2, drawstyle="steps-pre",
                      label=f"other {len(rest)} kinds (sum)")  # fmt: skip
            _grouped_note(ax_t, "kinds", [kind_label(*k) for k in rest])
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
        _legend_outside(ax_t)
    ax_t.set_title("Failures over time")
    ax_t.set_xlabel("elapsed (s)")
    ax_t.set_ylabel("failures/s (per interval)")
    ax_t.set_ylim(bottom=0)
    ax_t.grid(True, alpha=0.3)

    top = failures.head(TOP_FAILURES)
    if top.empty:
        _no_data(ax_b, f"{rf.FAILURES_CSV} missing or empty")
        ax_b.set_axis_off()
    else:
        labels = [
            shorten(f"{kind_label(m, n)}: {e}", 70)
            for m, n, e in zip(top["Method"], top["Name"], top["Error"], strict=True)
        ]
        ax_b.barh(range(len(top)), top["Occurrences"].fillna(0).tolist(), height=0.6, color="tab:red")
        ax_b.set_yticks(range(len(top)), labels, fontsize="small")
        ax_b.set_ylim(max(len(top), 5) - 0.5, -0.5)  # top-down, and slim bars when there are few
        ax_b.set_xlabel("occurrences")
        ax_b.set_title(f"Failures by request and error (top {TOP_FAILURES})")
        ax_b.grid(True, axis="x", alpha=0.3)
    return _save_png(fig, path)


def plot_resources(resources: pd.DataFrame, path: Path) -> bytes | None:
    """CPU (% of one core) and RSS over time per process role of ``read_resources``; beyond
    ``LEGEND_MAX`` roles the least busy are grey, one legend entry, named under the CPU panel."""
    if resources.empty:
        return None
    fig, (ax_cpu, ax_mem) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    roles = {role: grp for role, grp in resources.groupby("process", sort=True)}
    _, rest = _busiest({r: float(g["cpu_percent"].fillna(0).sum()) for r, g in roles.items()})
    for role in [*(r for r in roles if r not in rest), *rest]:
        grp, grouped = roles[role], role in rest
        style: dict[str, Any] = {"linewidth": 1.3, "label": role}
        if grouped:
            style = {"linewidth": 1.0, "color": OTHER_COLOR, "zorder": 1}
            if role == rest[0]:
                style["label"] = f"other {len(rest)} processes"
        ax_cpu.plot(grp["elapsed_s"], grp["cpu_percent"], **style)
        ax_mem.plot(grp["elapsed_s"], grp["rss_bytes"] / 2**20, **{**style, "label": None})
    _grouped_note(ax_cpu, "processes", [str(r) for r in rest])
    ax_cpu.axhline(100, color="grey", linestyle=":", linewidth=1)
    ax_cpu.set_ylabel("CPU (% of one core)")
    ax_cpu.set_ylim(bottom=0)
    ax_cpu.set_title("Process resources")
    _legend_outside(ax_cpu)
    ax_cpu.grid(True, alpha=0.3)
    ax_mem.set_ylabel("RSS (MiB)")
    ax_mem.set_xlabel("elapsed (s)")
    ax_mem.set_ylim(bottom=0)
    ax_mem.grid(True, alpha=0.3)
    return _save_png(fig, path)


def _mark_phases(ax: Any, phases: Sequence[Any], outages: Sequence[Any], storms: Sequence[float]) -> None:
    """Phase boundaries as dotted lines (named at the top), outage windows shaded red, storms as arrows."""
    for ph in phases[1:]:
        ax.axvline(ph.start_s, color="grey", linestyle=":", linewidth=1)
    for ph in phases:
        ax.annotate(
            shorten(ph.name, 24), (ph.start_s, 1.0), xycoords=("data", "axes fraction"),
            xytext=(2, -10), textcoords="offset points", fontsize="x-small", color="dimgrey",
        )  # fmt: skip
    for i, o in enumerate(outages):
        ax.axvspan(o.start_s, o.end_s, color="tab:red", alpha=0.15, label="outage" if i == 0 else None)
    for i, t in enumerate(storms):
        ax.axvline(t, color="tab:purple", linewidth=1.5, label="storm" if i == 0 else None)


def plot_shape(
    timeline: pd.DataFrame,
    phases: Sequence[Any],
    outages: Sequence[Any],
    storms: Sequence[float],
    path: Path,
) -> bytes | None:
    """The workload shape as run: devices the shape wanted against devices online, with its phases,
    storms and outage windows marked; below, open-model starts that were late or queued, if any."""
    if timeline.empty:
        return None
    tl = timeline.sort_values("elapsed_s")
    late = tl[["missed_starts", "queued_starts"]].diff().clip(lower=0)
    has_late = bool(late.fillna(0).to_numpy().sum())
    fig, axes = plt.subplots(
        2 if has_late else 1, 1, figsize=(10, 5.5 if has_late else 4), sharex=True, squeeze=False,
        gridspec_kw={"height_ratios": [1.0, 0.45] if has_late else [1.0]},
    )  # fmt: skip
    ax = axes[0, 0]
    ax.step(tl["elapsed_s"], tl["devices_target"], where="post", color="grey", label="shape (devices wanted)")
    ax.plot(tl["elapsed_s"], tl["online"], color="tab:blue", label="devices online")
    if tl["reconnects"].max() > 0:
        ax.plot(
            tl["elapsed_s"], tl["reconnects"], color="tab:orange", linewidth=1, label="reconnects (total)"
        )
    _mark_phases(ax, phases, outages, storms)
    ax.set_ylabel("devices")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    if has_late:
        ax2 = axes[1, 0]
        ax2.bar(
            tl["elapsed_s"],
            late["queued_starts"].fillna(0),
            width=0.9,
            color="tab:olive",
            label="queued starts",
        )
        ax2.bar(
            tl["elapsed_s"], late["missed_starts"].fillna(0), width=0.9, color="tab:red",
            bottom=late["queued_starts"].fillna(0), label="missed starts",
        )  # fmt: skip
        ax2.set_ylabel("arrivals / s")
        ax2.grid(True, alpha=0.3)
        _legend_outside(ax2)
    axes[-1, 0].set_xlabel("elapsed (s)")
    fig.suptitle("Workload shape")
    return _save_png(fig, path)


def plot_latency_over_time(
    intervals: pd.DataFrame,
    t0: float | None,
    phases: Sequence[Any],
    outages: Sequence[Any],
    storms: Sequence[float],
    path: Path,
) -> bytes | None:
    """p50 (solid) and p99 (dashed) per second, per request kind, from the per-interval HDR histograms
    (log scale); one panel for operator calls and one for the device side, phases and outages marked."""
    if intervals.empty:
        return None
    frame = intervals.copy()
    frame["elapsed_s"] = frame["t"] - (t0 if t0 is not None else float(frame["t"].min()))
    frame = frame[~frame["name"].isin(RAMP_NAMES)]
    groups = [
        ("operator calls", frame[frame["request_type"] != DEVICE_TYPE]),
        ("device side", frame[frame["request_type"] == DEVICE_TYPE]),
    ]
    groups = [(title, g) for title, g in groups if not g.empty]
    if not groups:
        return None
    fig, axes = plt.subplots(
        len(groups), 1, figsize=(10, 1.2 + 3.4 * len(groups)), sharex=True, squeeze=False
    )
    for ax, (title, g) in zip(axes[:, 0], groups, strict=True):
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        kinds = {key: k.sort_values("elapsed_s") for key, k in sorted(g.groupby(["request_type", "name"]))}
        room = LEGEND_MAX - bool(outages) - bool(storms)  # _mark_phases adds their entries
        own, rest = _busiest({key: float(k["count"].sum()) for key, k in kinds.items()}, room)

        def label(rtype: str, name: str, title: str = title) -> str:
            return kind_label(rtype, name) if title == "device side" else name

        for key in [*own, *rest]:  # the "other" entry last in the legend
            k, grouped = kinds[key], key in rest
            # One legend entry per kind (its p50); the line style says p50 or p99.
            color = OTHER_COLOR if grouped else colors[own.index(key) % len(colors)]
            entry = None if grouped else label(*key)
            if grouped and key == rest[0]:
                entry = f"other {len(rest)} kinds"
            for column, style, width in (("p50_ms", "-", 1.2), ("p99_ms", "--", 1.0)):
                ax.plot(k["elapsed_s"], k[column].where(k[column] > 0), color=color, linewidth=width,
                        linestyle=style, label=entry if column == "p50_ms" else None,
                        zorder=1 if grouped else 2)  # fmt: skip
        _grouped_note(ax, "kinds", [label(*key) for key in rest])
        _mark_phases(ax, phases, outages, storms)
        ax.set_yscale("log")
        ax.set_ylabel("ms (log)")
        ax.set_title(title, fontsize="medium")
        ax.grid(True, which="both", alpha=0.3)
        _legend_outside(ax)
    axes[-1, 0].set_xlabel("elapsed (s)")
    fig.suptitle("Latency over time (p50 solid, p99 dashed; HDR per second)")
    return _save_png(fig, path)
