"""Loads the runs of an A/B comparison and renders its result (Markdown, HTML, JSON, one plot)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
from aranya_perf.analysis.compare import (
    BETTER,
    SAME,
    WITHIN_ONLY,
    WORSE,
    BetweenRuns,
    CompareConfig,
    RunData,
    between_runs,
)
from aranya_perf.analysis.report_io import json_safe, save_png, write_markdown_page
from aranya_perf.analysis.sweep_frames import measured_window

from aranya_perf.measure.latency import LATENCY_HDR, load_histograms
from aranya_perf.results import (
    ResultsError,
    atomic_write_json,
    atomic_write_text,
    read_meta,
)

matplotlib.use("Agg")  # rendered headless, also from inside a Locust process
import matplotlib.pyplot as plt  # after use(): pyplot picks its backend on import

COMPARE_SCHEMA_VERSION = 2


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


def load_history(
    cat: pd.DataFrame, comparable: str, exclude: set[str], warn: Callable[[str], None]
) -> BetweenRuns:
    """The between-run variance of one comparability key: the repeat groups of ``cat`` with that key,
    their runs that ended ok, less the runs in ``exclude`` (those being compared)."""
    same = cat[(cat["comparable"] == comparable) & (cat["group"] != "") & (cat["status"] == "ok")]
    same = same[~same["run_id"].isin(exclude)]
    groups = []
    for _, rows in same.groupby("group", sort=True):
        groups.append([r for r in (load_run(Path(p), warn) for p in rows["path"]) if r is not None])
    return between_runs(groups)


def _basis(result: pd.DataFrame, history: BetweenRuns) -> str:
    runs = (
        f"{_int(result['runs_a'].max())} run(s) in A, {_int(result['runs_b'].max())} in B"
        if len(result)
        else ""
    )
    if len(result) and (result["dof"].fillna(0) > 0).any():
        return (
            f"Intervals include the variance between runs: {runs}, plus {history.groups} repeat group(s) "
            f"({history.runs} runs) of this configuration from the run history."
        )
    return (
        f"**Only within-run noise was measured** ({runs or 'no runs'}, and no repeat group of this "
        "configuration in the run history): the intervals ignore the variance between runs, the larger "
        "part of a load test's noise, so no row gets a worse/better verdict. Measure it with "
        "`aranya-perf run --repeat N` (same profile and flags), or compare groups: `compare A1 A2 -- B1 B2`."
    )


def _fmt(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.3g}"


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:+.1f}"


def _mark(verdict: str) -> str:
    return {WORSE: "**worse**", BETTER: "better"}.get(verdict, verdict)


def to_markdown(
    result: pd.DataFrame,
    a: Sequence[str],
    b: Sequence[str],
    cfg: CompareConfig,
    forced: Sequence[str],
    history: BetweenRuns,
) -> str:
    lines = ["# A/B comparison", ""]
    if forced:
        lines += [
            f"> **Not comparable, compared anyway (--force):** {'; '.join(forced)}. The deltas mix a change "
            "with these differences.",
            "",
        ]
    lines += [
        f"A: {', '.join(a)}  ",
        f"B: {', '.join(b)}",
        "",
        f"Deltas are B vs A of the runs' geometric means with {cfg.confidence:.0%} intervals; a change needs "
        f"its interval clear of zero and at least {cfg.min_effect_pct:g} %. {_basis(result, history)} "
        "Latency in ms (lower is better), throughput in requests/s. Rows below the sample rule (p25 and "
        "p50 5, p90 20, p99 100 requests per run) say so and get no verdict.",
        "",
        f"| Type | Name | Metric | A | B | Delta | {cfg.confidence:.0%} CI | Verdict | n A | n B | dof |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for _, r in result.iterrows():
        lines.append(
            f"| {r['request_type']} | {r['name']} | {r['metric']} | {_fmt(r['a'])} | {_fmt(r['b'])} | "
            f"{_pct(r['delta_pct'])} % | {_pct(r['ci_low_pct'])} .. {_pct(r['ci_high_pct'])} % | "
            f"{_mark(r['verdict'])} | {_int(r['count_a'])} | {_int(r['count_b'])} | {_int(r['dof'])} |"
        )
    counts = result["verdict"].value_counts()
    too_few = int(result["verdict"].str.startswith("too few").sum())
    lines += [
        "",
        "Summary: "
        + ", ".join(f"{v}: {counts.get(v, 0)}" for v in (WORSE, BETTER, SAME, WITHIN_ONLY))
        + f", too few samples: {too_few}",
    ]
    return "\n".join(lines) + "\n"


def _int(x: object) -> str:
    return "-" if not isinstance(x, int | float) or not math.isfinite(x) else f"{int(x)}"


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
    forced: Sequence[str],
    history: BetweenRuns,
) -> Path:
    """compare.md, compare.html (plot inlined), compare.json and compare.png into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    md = to_markdown(result, a, b, cfg, forced, history)
    atomic_write_text(out / "compare.md", md + "\n![deltas](compare.png)\n")
    png = plot(result, out / "compare.png")
    write_markdown_page(out / "compare.html", "A/B comparison", md, {"deltas": png} if png else {})
    atomic_write_json(out / "compare.json", to_json(result, a, b, cfg, forced, history))
    return out / "compare.md"


def to_json(
    result: pd.DataFrame,
    a: Sequence[str],
    b: Sequence[str],
    cfg: CompareConfig,
    forced: Sequence[str],
    history: BetweenRuns,
) -> dict[str, Any]:
    return {
        "schema_version": COMPARE_SCHEMA_VERSION,
        "a": list(a),
        "b": list(b),
        "config": vars(cfg),
        "forced": list(forced),
        "history": {"groups": history.groups, "runs": history.runs},
        "rows": json_safe(result.to_dict("records")),
    }
