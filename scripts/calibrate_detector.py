"""Regenerates ``analysis/detect_calibration.json``: the detector's false-alarm budget -> ``z_min`` table.

``python scripts/calibrate_detector.py [--per-kind 300] [--seed 20260001]`` runs the detector at
each ``z_min`` of a grid over step-free series of every noise kind at sigma 3 %
(``aranya_perf.analysis.corpus``,
a seed of its own, not the evaluation's), and stores, for each budget, the smallest ``z_min`` whose
false alarms per 1,000 points stay within it on the worst noise kind at that ``z_min`` and every
larger one. Other detector settings are ``DetectConfig``'s defaults. A few minutes.
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

# Budgets above the last are held at its z_min (near_z, not z_min, then bounds the false alarms).
BUDGETS = (0.1, 0.2, 0.5, 1.0, 2.0)
Z_GRID = tuple(float(z) for z in np.arange(3.5, 12.01, 0.25))


def worst_kind_rates(per_kind: int, seed: int) -> dict[float, float]:
    """For each z of ``Z_GRID``: the highest false alarms per 1,000 points over the noise kinds
    (every change point on a step-free series is a false alarm)."""
    series = list(corpus(CorpusSpec(per_cell=0, step_free_per_cell=per_kind, sigmas=(0.03,), seed=seed)))
    rates = {}
    for z in Z_GRID:
        cfg = detect.DetectConfig(z_min=z)
        alarms: dict[str, int] = {}
        points: dict[str, int] = {}
        for s in series:
            found = detect.analyze(detect.Series(s.noise, s.values, samples=s.samples), cfg).change_points
            alarms[s.noise] = alarms.get(s.noise, 0) + len(found)
            points[s.noise] = points.get(s.noise, 0) + len(s.values)
        rates[z] = max(1000.0 * alarms[k] / points[k] for k in alarms)
        print(f"z_min {z:5.2f}: worst noise kind {rates[z]:.2f} false alarms / 1,000 points", file=sys.stderr)
    return rates


def table(rates: dict[float, float]) -> list[dict[str, float]]:
    zs = sorted(rates)
    # The envelope from above: a budget is kept at z only when it is kept at every larger z too.
    envelope = {z: max(rates[w] for w in zs if w >= z) for z in zs}
    return [{"budget": b, "z_min": next((z for z in zs if envelope[z] <= b), zs[-1])} for b in BUDGETS]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-kind", type=int, default=300, help="step-free series of 300 points per noise kind")
    p.add_argument("--seed", type=int, default=20260001)
    p.add_argument("--out", type=Path, default=detect.CALIBRATION_FILE)
    args = p.parse_args()
    rates = worst_kind_rates(args.per_kind, args.seed)
    doc = {
        "note": "written by scripts/calibrate_detector.py; budget is false alarms per 1,000 points",
        "per_kind": args.per_kind,
        "seed": args.seed,
        "sigma": 0.03,
        "table": table(rates),
        "worst_kind_rate": {f"{z:g}": round(r, 3) for z, r in rates.items()},
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
