"""Loads the runs of an A/B comparison and renders its result (Markdown, HTML, JSON, one plot)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd

from analysis.compare import BETTER, WORSE, CompareConfig, RunData
from analysis.report_io import json_safe, save_png, write_markdown_page
from analysis.sweep_frames import measured_window
from aranya_perf.measure.latency import LATENCY_HDR, load_histograms
from aranya_perf.results import (
    ResultsError,
    atomic_write_json,
    atomic_write_text,
    read_meta,
)

matplotlib.use("Agg")  # rendered headless, also from inside a Locust process
import matplotlib.pyplot as plt  # after use(): pyplot picks its backend on import

COMPARE_SCHEMA_VERSION = 1


def load_run(run_dir: Path, warn: Callable[[str], None]) -> RunData | None:
    """The histograms and measured window of one run, or None (with a warning) when unusable."""
    try:
        hists = load_histograms(run_dir / LATENCY_HDR)
    except ResultsError as exc:
        warn(f"{run_dir / LATENCY_HDR}: skipped, {exc}")
        return None
    configured = math.nan
    try:
        meta = read_meta(run_dir)
        configured = float((meta.get("config") or {}).get("duration_s") or math.nan)
        run_id = str(meta.get("run_id") or run_dir.name)
    except (ResultsError, TypeError, ValueError):
        run_id = run_dir.name
    window = measured_window(run_dir, configured)
    return RunData(run_id, hists, window if math.isfinite(window) and window > 0 else 1.0)


def _fmt(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.3g}"


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:+.1f}"


def _mark(verdict: str) -> str:
    return {WORSE: "**worse**", BETTER: "better"}.get(verdict, verdict)


def to_markdown(
    result: pd.DataFrame, a: Sequence[str], b: Sequence[str], cfg: CompareConfig, warnings: Sequence[str]
) -> str:
    lines = [
        "# A/B comparison",
        "",
        f"A: {', '.join(a)}  ",
        f"B: {', '.join(b)}",
        "",
        f"Deltas are B vs A with {cfg.confidence:.0%} bootstrap intervals ({cfg.bootstrap} replicates from "
        f"the HDR histograms, seed {cfg.seed}); a change needs its interval clear of zero and at least "
        f"{cfg.min_effect_pct:g} %. Latency in ms (lower is better), throughput in requests/s.",
        "",
    ]
    lines += [f"> warning: {w}" for w in warnings]
    if warnings:
        lines.append("")
    lines += [
        "| Type | Name | Metric | A | B | Delta | 95 % CI | Verdict | n A | n B |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- | ---: | ---: |",
    ]
    for _, r in result.iterrows():
        note = f" ({r['note']})" if r["note"] else ""
        lines.append(
            f"| {r['request_type']} | {r['name']} | {r['metric']} | {_fmt(r['a'])} | {_fmt(r['b'])} | "
            f"{_pct(r['delta_pct'])} % | {_pct(r['ci_low_pct'])} .. {_pct(r['ci_high_pct'])} % | "
            f"{_mark(r['verdict'])}{note} | {r['count_a']} | {r['count_b']} |"
        )
    counts = result["verdict"].value_counts()
    lines += [
        "",
        "Summary: " + ", ".join(f"{v}: {counts.get(v, 0)}" for v in (WORSE, BETTER, "no significant change")),
    ]
    return "\n".join(lines) + "\n"


def plot(result: pd.DataFrame, path: Path) -> bytes | None:
    """Delta (%) with its interval per kind, one panel per metric."""
    if result.empty:
        return None
    metrics = list(dict.fromkeys(result["metric"]))
    kinds = list(dict.fromkeys(result["request_type"] + " " + result["name"]))
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(3.2 * len(metrics) + 2, 0.45 * len(kinds) + 1.6), sharey=True, squeeze=False
    )
    colors = {WORSE: "tab:red", BETTER: "tab:green"}
    for ax, metric in zip(axes[0], metrics, strict=True):
        rows = result[result["metric"] == metric]
        for y, (_, r) in enumerate(rows.iterrows()):
            d, lo, hi = r["delta_pct"], r["ci_low_pct"], r["ci_high_pct"]
            if math.isfinite(d):
                err = [[max(d - lo, 0)], [max(hi - d, 0)]] if math.isfinite(lo) else None
                ax.errorbar(d, y, xerr=err, fmt="o", color=colors.get(r["verdict"], "grey"), capsize=3)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(metric, fontsize="medium")
        ax.set_xlabel("B vs A (%)")
        ax.grid(True, axis="x", alpha=0.3)
    axes[0, 0].set_yticks(range(len(kinds)), kinds, fontsize="small")
    axes[0, 0].invert_yaxis()
    fig.suptitle("A/B deltas with bootstrap intervals (red: worse, green: better)")
    return save_png(fig, path)


def write(
    out: Path,
    result: pd.DataFrame,
    a: Sequence[str],
    b: Sequence[str],
    cfg: CompareConfig,
    warnings: Sequence[str],
) -> Path:
    """compare.md, compare.html (plot inlined), compare.json and compare.png into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    md = to_markdown(result, a, b, cfg, warnings)
    atomic_write_text(out / "compare.md", md + "\n![deltas](compare.png)\n")
    png = plot(result, out / "compare.png")
    write_markdown_page(out / "compare.html", "A/B comparison", md, {"deltas": png} if png else {})
    atomic_write_json(out / "compare.json", to_json(result, a, b, cfg, warnings))
    return out / "compare.md"


def to_json(
    result: pd.DataFrame, a: Sequence[str], b: Sequence[str], cfg: CompareConfig, warnings: Sequence[str]
) -> dict[str, Any]:
    return {
        "schema_version": COMPARE_SCHEMA_VERSION,
        "a": list(a),
        "b": list(b),
        "config": vars(cfg),
        "warnings": list(warnings),
        "rows": json_safe(result.to_dict("records")),
    }
