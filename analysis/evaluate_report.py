"""Text and JSON renderings of a detector evaluation (``aranya_perf.analysis.evaluate.Evaluation``)."""

from __future__ import annotations

import math
import platform
from typing import Any

import pandas as pd
from aranya_perf.analysis.evaluate import Evaluation

_COLUMNS = (
    ("detector", "detector", "{}"),
    ("sigma", "sigma", "{:.0%}"),
    ("noise", "noise", "{}"),
    ("setting", "setting", "{:g}"),
    ("precision", "precision", "{:.3f}"),
    ("recall", "recall", "{:.3f}"),
    ("f1", "F1", "{:.3f}"),
    ("fa_per_1000", "FA/1000 pts", "{:.2f}"),
    ("recall_2pct", "2% rec", "{:.2f}"),
    ("recall_5pct", "5% rec", "{:.2f}"),
    ("recall_10pct", "10% rec", "{:.2f}"),
    ("recall_20pct", "20% rec", "{:.2f}"),
    ("cpu_s", "CPU s", "{:.2f}"),
)
SETTING_NAMES = {"ours": "budget", "otava": "max_pvalue", "asv": "min step", "ruptures": "penalty"}


def _cell(fmt: str, value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return fmt.format(value)


def text_table(frame: pd.DataFrame, columns: tuple[tuple[str, str, str], ...] = _COLUMNS) -> str:
    cols = [c for c in columns if c[0] in frame.columns]
    rows = [[h for _, h, _ in cols]] + [[_cell(f, r[c]) for c, _, f in cols] for _, r in frame.iterrows()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
    lines = [
        "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)


def render_text(ev: Evaluation) -> str:
    spec = ev.spec
    sigma = spec.calibration_sigma
    main = ev.by_sigma[ev.by_sigma["sigma"].round(6) == round(sigma, 6)].copy()
    main = main.drop(columns="sigma")
    main.insert(1, "setting", [ev.settings[d] for d in main["detector"]])
    out = [
        f"Change detectors on the synthetic corpus (seed {spec.seed}; per noise x sigma cell {spec.per_cell} "
        f"series of 300 commits with 4 steps of 2/5/10/20 % and {spec.step_free_per_cell} step-free ones; "
        f"5 samples per commit; sigma is the noise of a commit's median; a hit is within "
        f"{spec.tolerance} commits)",
        f"Settings: ours is given the budget ({spec.budget:g} false alarms per 1,000 points) and maps it "
        f"itself; the others are calibrated on {spec.calibration_per_cell} step-free series per noise kind "
        f"(seed {spec.seed + 1}, sigma {sigma:.0%}) to the most sensitive setting within it: "
        + ", ".join(f"{d} {SETTING_NAMES.get(d, 'setting')}={ev.settings[d]:g}" for d in ev.settings),
        f"Python {platform.python_version()} on {platform.machine()}; "
        "CPU is process time spent inside the detector.",
        "",
        f"sigma {sigma:.0%} (the target cell), all noise kinds:",
        text_table(main),
        "",
        "by sigma:",
        text_table(ev.by_sigma),
    ]
    by_noise = ev.by_noise[ev.by_noise["sigma"].round(6) == round(sigma, 6)]
    out += ["", f"sigma {sigma:.0%} by noise kind:"]
    out.append(text_table(by_noise.drop(columns="sigma")))
    if not ev.cpu.empty:
        base = ev.cpu.set_index("detector")["cpu_s"]
        ref = base.get("otava")
        out += [
            "",
            f"CPU over {spec.cpu_series} series of {spec.cpu_points} points with {spec.cpu_steps} steps each "
            "(calibrated settings, one process, side by side):",
        ]
        for det, cpu in base.items():
            ratio = f"  ({cpu / ref:.2f}x otava)" if ref and det != "otava" else ""
            out.append(f"  {det:<8} {cpu:8.2f} s{ratio}")
    return "\n".join(out) + "\n"


def to_json(ev: Evaluation) -> dict[str, Any]:
    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")
        ]

    return {
        "schema_version": 1,
        "spec": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(ev.spec).items()},
        "settings": ev.settings,
        "by_sigma": records(ev.by_sigma),
        "by_noise": records(ev.by_noise),
        "calibration": records(ev.calibration),
        "cpu": records(ev.cpu),
        "python": platform.python_version(),
    }
