"""Writes the tuning guide: tuning.md, tuning.html (plots inlined), tuning.json and plots/*.png."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import matplotlib
from aranya_perf.analysis.report_io import json_safe, save_png, write_markdown_page
from aranya_perf.analysis.tuning import KNOBS, KnobResult

from aranya_perf.results import atomic_write_json, atomic_write_text

matplotlib.use("Agg")  # rendered headless, also from inside a Locust process
import matplotlib.pyplot as plt  # after use(): pyplot picks its backend on import


def _f(x: float, fmt: str = "{:.3g}") -> str:
    return "-" if not math.isfinite(x) else fmt.format(x)


def plot_knob(result: KnobResult, path: Path) -> bytes:
    labels = [v.value for v in result.values]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, (attr, title) in zip(
        axes,
        (
            ("throughput_rps", "operator calls/s"),
            ("p99_ms", "p99, operator calls (ms)"),
            ("gateway_rss_mib", "gateway RSS (MiB)"),
        ),
        strict=True,
    ):
        values = [getattr(v, attr) for v in result.values]
        colors = ["tab:green" if v.value == result.recommended else "tab:grey" for v in result.values]
        ax.bar(labels, values, color=colors)
        ax.set_title(title, fontsize="medium")
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"{result.knob} (green: recommended)")
    return save_png(fig, path)


def to_markdown(results: Sequence[KnobResult], setup: str, needs_flag: Sequence[str]) -> str:
    lines = ["# Tuning guide", "", setup, ""]
    for r in results:
        lines += [f"## {r.knob}", "", f"What it does: {r.what}.", ""]
        if r.recommended is None:
            lines += [f"No recommendation: {r.reason}.", ""]
            continue
        lines += [f"**Recommended: {r.recommended}**: {r.reason}.", ""]
        lines += [
            f"| Value | Runs | Operator calls/s | vs {r.baseline} | p99 (ms) | vs {r.baseline} | 95 % CI | "
            "Gateway CPU % | Gateway RSS (MiB) |",
            "| --- | ---: | ---: | --- | ---: | --- | --- | ---: | ---: |",
        ]
        for v in r.values:
            ci = f"{_f(v.p99_ci[0], '{:+.1f}')} .. {_f(v.p99_ci[1], '{:+.1f}')} %"
            cells = [
                v.value,
                str(v.runs),
                _f(v.throughput_rps, "{:.1f}"),
                f"{_f(v.throughput_delta_pct, '{:+.1f}')} % ({v.throughput_verdict})",
                _f(v.p99_ms),
                f"{_f(v.p99_delta_pct, '{:+.1f}')} % ({v.p99_verdict})",
                ci,
                _f(v.gateway_cpu_pct, "{:.1f}"),
                _f(v.gateway_rss_mib, "{:.1f}"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"![{r.knob}](plots/{r.knob}.png)", ""]
    if needs_flag:
        lines += ["## Not measured yet", ""]
        for name in needs_flag:
            k = KNOBS[name]
            lines.append(
                f"- {k.name}: {k.what}; needs the run flag `{k.needs_flag}` (not in `aranya-perf run` yet)."
            )
    return "\n".join(lines) + "\n"


def write(out: Path, results: Sequence[KnobResult], setup: str, needs_flag: Sequence[str]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    images = {r.knob: plot_knob(r, out / "plots" / f"{r.knob}.png") for r in results if r.values}
    md = to_markdown(results, setup, needs_flag)
    atomic_write_text(out / "tuning.md", md)
    write_markdown_page(out / "tuning.html", "Tuning guide", md, images)
    atomic_write_json(
        out / "tuning.json",
        json_safe(
            {
                "schema_version": 1,
                "setup": setup,
                "knobs": [asdict(r) for r in results],
                "needs_flag": list(needs_flag),
            }
        ),
    )
    return out / "tuning.md"
