"""Writes the capacity report of a sweep: capacity.md/.html/.json, steps.csv, step_latency.csv, plots."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from aranya_perf.analysis import samples
from aranya_perf.analysis.capacity import SLO, CapacityModel
from aranya_perf.analysis.report_io import json_safe, save_png, write_markdown_page

from aranya_perf.results import atomic_write_json, atomic_write_text

matplotlib.use("Agg")  # rendered headless, also from inside a Locust process
import matplotlib.pyplot as plt  # after use(): pyplot picks its backend on import

CAPACITY_SCHEMA_VERSION = 1


def _num(x: Any, fmt: str = "{:.3g}") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def plot_throughput(steps: pd.DataFrame, model: CapacityModel, path: Path) -> bytes:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(steps["load"], steps["throughput_rps"], "o", color="tab:blue", label="measured")
    if model.fit is not None:
        grid = np.linspace(0, max(float(steps["load"].max()) * 1.5, 1), 200)[1:]
        ax.plot(
            grid,
            model.fit.predict(grid),
            "-",
            color="tab:orange",
            label=f"USL fit (alpha {model.fit.alpha:.3g}, beta {model.fit.beta:.3g})",
        )
    if model.holdout is not None:
        ax.plot(
            [model.holdout.load],
            [model.holdout.predicted],
            "x",
            color="tab:red",
            markersize=10,
            label=f"last step predicted without it ({model.holdout.error_pct:+.1f} %)",
        )
    if model.generator_limited_from is not None:
        ax.axvline(model.generator_limited_from, color="grey", linestyle=":", label="generator saturated")
    ax.set_xlabel(model.load_name)
    ax.set_ylabel("throughput (requests/s)")
    ax.set_title("Throughput against load")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return save_png(fig, path)


def plot_latency(step_latency: pd.DataFrame, slos: list[SLO], path: Path, load_name: str) -> bytes:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    lat = step_latency.assign(kind=step_latency["request_type"] + " " + step_latency["name"])
    for column in sorted({s.percentile for s in slos} or {"p99_ms"}):
        for kind, rows in lat.groupby("kind", sort=True):
            if any(s.percentile == column and pd.Series([kind]).str.contains(s.kinds).iloc[0] for s in slos):
                (line,) = ax.plot(
                    rows["load"], rows[column], "o-", linewidth=1.2, label=f"{kind} {column[:-3]}"
                )
                for x, y, n in zip(rows["load"], rows[column], rows["count"], strict=True):
                    few = not samples.enough(column, n)  # below the sample rule: hollow, and says n
                    if few:
                        ax.plot([x], [y], "o", mfc="white", color=line.get_color())
                    ax.annotate(
                        f"n={n}", (x, y), xytext=(3, 3), textcoords="offset points", fontsize="xx-small"
                    )
    for slo in slos:
        ax.axhline(slo.threshold_ms, color="tab:red", linestyle="--", linewidth=1, label=f"SLO {slo.label()}")
    ax.set_yscale("log")
    ax.set_xlabel(load_name)
    ax.set_ylabel("latency (ms, log)")
    ax.set_title("Latency percentiles against load (n: requests; hollow: too few for the percentile)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_png(fig, path)


def plot_resources(steps: pd.DataFrame, path: Path) -> bytes:
    fig, (ax_cpu, ax_mem) = plt.subplots(1, 2, figsize=(10, 4))
    for role, color in (("gateway", "tab:blue"), ("generator", "tab:green")):
        ax_cpu.plot(steps["devices"], steps[f"{role}_cpu_pct"], "o-", color=color, label=role)
        ax_mem.plot(steps["devices"], steps[f"{role}_rss_bytes"] / 2**20, "o-", color=color, label=role)
    ax_cpu.set_ylabel("CPU (% of one core, mean)")
    ax_mem.set_ylabel("RSS (MiB, max)")
    for ax in (ax_cpu, ax_mem):
        ax.set_xlabel("devices")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("Resources against devices")
    return save_png(fig, path)


def to_markdown(model: CapacityModel, steps: pd.DataFrame, slos: list[SLO]) -> str:
    fit = model.fit
    lines = ["# Capacity report", ""]
    lines.append(
        f"{len(steps)} steps of {model.load_name} from {_num(steps['load'].min(), '{:g}')} to "
        f"{_num(steps['load'].max(), '{:g}')}; SLOs: {', '.join(s.label() for s in slos) or 'none'}."
    )
    lines += ["", "## Universal Scalability Law", ""]
    if fit is None:
        lines.append(f"No fit: {model.fit_error}")
    else:
        lines += [
            "| Parameter | Estimate | 95 % CI |",
            "| --- | ---: | --- |",
            f"| lambda (requests/s per unit of load) | {fit.lam:.4g} | "
            f"{_num(fit.lam_ci[0], '{:.4g}')} .. {_num(fit.lam_ci[1], '{:.4g}')} |",
            f"| alpha (contention) | {fit.alpha:.3g} | {_num(fit.alpha_ci[0])} .. {_num(fit.alpha_ci[1])} |",
            f"| beta (coherency) | {fit.beta:.3g} | {_num(fit.beta_ci[0])} .. {_num(fit.beta_ci[1])} |",
            "",
            f"Residual standard deviation: {_num(fit.residual_sd)} requests/s over {fit.points} points "
            f"({fit.points - 3} degrees of freedom). {_peak(model, steps)}",
        ]
    if model.holdout is not None:
        h = model.holdout
        lines += [
            "",
            f"Held-out check: fitted without the last step, the model predicts {h.predicted:.1f} "
            f"requests/s at {h.load:g} {model.load_name}; measured {h.measured:.1f}: "
            f"error {h.error_pct:+.1f} %.",
        ]
    else:
        lines += ["", "Held-out check: needs at least 4 steps."]
    lines += ["", "## SLO knees", ""]
    if model.knees:
        lines += [
            "| SLO | Request kind | Knee | Between | Requests there | Unusable steps (too few samples) |",
            "| --- | --- | ---: | --- | --- | --- |",
        ]
        for k in model.knees:
            knee = f"{k.load:.0f}" if k.load is not None else f"not crossed up to {steps['load'].max():g}"
            between = f"{k.crossed_between[0]:g} .. {k.crossed_between[1]:g}" if k.crossed_between else "-"
            counts = f"{k.counts[0]} / {k.counts[1]}" if k.counts else "-"
            unusable = ", ".join(f"{x:g}" for x in k.unusable) or "-"
            lines.append(f"| {k.slo} | {k.kind} | {knee} | {between} | {counts} | {unusable} |")
        lines += [
            "",
            "A knee lies somewhere between its two steps (the interpolation is a guess inside that "
            "interval); a step whose kind has too few requests for the percentile (p99: 100) is not used.",
        ]
    else:
        lines.append("No SLO matched a request kind.")
    lines += [
        "",
        "## Resources per 1,000 devices",
        "",
        "| Process | CPU (% of a core) | RSS (MiB) |",
        "| --- | ---: | ---: |",
    ]
    for role in ("gateway", "generator"):
        cpu, rss = model.per_1000[f"{role}_cpu_pct"], model.per_1000[f"{role}_rss_mib"]
        lines.append(f"| {role} | {_num(cpu)} | {_num(rss)} |")
    if model.generator_limited_from is not None:
        lines += [
            "",
            f"**The generator was the limit** from {model.generator_limited_from:g} {model.load_name} "
            "(its CPU reached the saturation mark): figures from there on describe the generator.",
        ]
    else:
        lines += ["", "The generator stayed below its saturation mark at every step."]
    lines += ["", "## Recommendation", ""]
    if model.replicas is not None:
        span = ""
        if model.replicas_range is not None:
            low, high = model.replicas_range
            most = high if high is not None else "an unknown number of"
            span = f" (between {low} and {most} replicas: the knee's interval)"
        lines.append(
            f"Capacity per replica: {model.capacity:.0f} {model.load_name} ({model.capacity_basis}). "
            f"For {model.fleet:,} devices with {model.headroom:.0%} headroom: **{model.replicas} replica(s)**"
            + span
            + (" (an upper bound)" if model.replicas_bound == "upper bound" else "")
            + "."
        )
    else:
        lines.append(f"No replica count: capacity basis is {model.capacity_basis}.")
    lines += [
        "",
        "## Steps",
        "",
        "| Step | Run | Devices | Operators | Throughput (req/s) | Failures | Gateway CPU % | "
        "Gateway RSS MiB | Generator CPU % | Generator RSS MiB | Status |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for _, r in steps.iterrows():
        cells = [
            str(r["step"]),
            str(r["run_id"]),
            str(r["devices"]),
            str(r["operators"]),
            _num(r["throughput_rps"], "{:.1f}"),
            str(r["failures"]),
            _num(r["gateway_cpu_pct"], "{:.1f}"),
            _num(r["gateway_rss_bytes"] / 2**20, "{:.1f}"),
            _num(r["generator_cpu_pct"], "{:.1f}"),
            _num(r["generator_rss_bytes"] / 2**20, "{:.1f}"),
            str(r["status"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _peak(model: CapacityModel, steps: pd.DataFrame) -> str:
    assert model.fit is not None
    top, peak, load_name = float(steps["load"].max()), model.fit.peak_load, model.load_name
    if not model.peak_claimed:
        return "No throughput peak can be claimed: beta's interval includes 0."
    if not math.isfinite(peak) or peak > 10 * top:
        return f"No throughput peak within 10x the largest step ({top:g} {load_name})."
    return f"Throughput peaks at {peak:.0f} {load_name}."


def to_json(model: CapacityModel, slos: list[SLO]) -> dict[str, Any]:
    doc = asdict(model)
    doc["holdout_error_pct"] = model.holdout.error_pct if model.holdout else None
    doc["peak_load"] = model.fit.peak_load if model.fit and model.peak_claimed else None
    return json_safe({"schema_version": CAPACITY_SCHEMA_VERSION, "slos": [asdict(s) for s in slos], **doc})


def write(
    out: Path, model: CapacityModel, steps: pd.DataFrame, step_latency: pd.DataFrame, slos: list[SLO]
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    images = {
        "throughput": plot_throughput(steps, model, plots / "throughput.png"),
        "latency": plot_latency(step_latency, slos, plots / "latency.png", model.load_name),
        "resources": plot_resources(steps, plots / "resources.png"),
    }
    md = to_markdown(model, steps, slos)
    atomic_write_text(out / "capacity.md", md + "".join(f"\n![{n}](plots/{n}.png)\n" for n in images))
    write_markdown_page(out / "capacity.html", "Capacity report", md, images)
    atomic_write_json(out / "capacity.json", to_json(model, slos))
    atomic_write_text(out / "steps.csv", steps.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out / "step_latency.csv", step_latency.to_csv(index=False, lineterminator="\n"))
    return out / "capacity.md"
