"""Regenerates ``analysis/detect_calibration.json``: the detector's false-alarm budget -> ``near_z`` table.

``python scripts/calibrate_detector.py [--per-kind 300] [--seed 20260001]`` runs the detector at
each ``near_z`` of a grid over step-free series of every noise kind at sigma 3 %
(``aranya_perf.analysis.corpus``,
a seed of its own, not the evaluation's), and stores, for each budget, the smallest ``near_z`` whose
false alarms per 1,000 points stay within it on the worst noise kind at that ``near_z`` and every
larger one, with every kind's rate. Other detector settings (``z_min`` included) are
``DetectConfig``'s defaults. A few minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from aranya_perf.analysis import detect
from aranya_perf.analysis.corpus import CorpusSpec, corpus

BUDGETS = (0.1, 0.2, 0.5, 1.0, 2.0)
Z_GRID = tuple(float(z) for z in np.arange(2.5, 6.01, 0.125))


def kind_rates(per_kind: int, seed: int) -> dict[float, dict[str, float]]:
    """For each z of ``Z_GRID``: false alarms per 1,000 points per noise kind (every change point on
    a step-free series is a false alarm)."""
    series = list(corpus(CorpusSpec(per_cell=0, step_free_per_cell=per_kind, sigmas=(0.03,), seed=seed)))
    rates = {}
    for z in Z_GRID:
        cfg = detect.DetectConfig(near_z=z)
        alarms: dict[str, int] = {}
        points: dict[str, int] = {}
        for s in series:
            found = detect.analyze(detect.Series(s.noise, s.values, samples=s.samples), cfg).change_points
            alarms[s.noise] = alarms.get(s.noise, 0) + len(found)
            points[s.noise] = points.get(s.noise, 0) + len(s.values)
        rates[z] = {k: 1000.0 * alarms[k] / points[k] for k in alarms}
        worst = max(rates[z], key=rates[z].get)
        print(f"near_z {z:5.3f}: worst {worst} {rates[z][worst]:.2f} per 1,000 points", file=sys.stderr)
    return rates


def table(worst: dict[float, float]) -> list[dict[str, float]]:
    """Per budget, the smallest z whose worst-kind rate, and that of every larger z, is within it."""
    zs = sorted(worst)
    envelope = {z: max(worst[w] for w in zs if w >= z) for z in zs}
    return [{"budget": b, "near_z": next((z for z in zs if envelope[z] <= b), zs[-1])} for b in BUDGETS]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-kind", type=int, default=300, help="step-free series of 300 points per noise kind")
    p.add_argument("--seed", type=int, default=20260001)
    p.add_argument("--out", type=Path, default=detect.CALIBRATION_FILE)
    args = p.parse_args()
    rates = kind_rates(args.per_kind, args.seed)
    worst = {z: max(r.values()) for z, r in rates.items()}
    doc = {
        "note": "written by scripts/calibrate_detector.py; budget is false alarms per 1,000 points",
        "per_kind": args.per_kind,
        "seed": args.seed,
        "sigma": 0.03,
        "z_min": detect.DetectConfig().z_min,
        "table": table(worst),
        "rate_by_kind": {f"{z:g}": {k: round(v, 3) for k, v in r.items()} for z, r in rates.items()},
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
