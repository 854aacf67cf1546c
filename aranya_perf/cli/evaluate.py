"""``aranya-perf evaluate``: our change detector beside Apache Otava's and asv's on a labelled corpus.

Generates the synthetic corpus (``analysis.corpus``), calibrates each detector to the false-alarm
budget on a separate corpus, scores all three on the same series and times them on long series;
prints the table, and writes it as JSON with ``--out``. A few minutes with the defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import count, positive
from aranya_perf.extras import require


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score change detectors on a labelled synthetic corpus",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--per-cell", type=count, default=50, help="series per noise x sigma cell (default 50)")
    p.add_argument(
        "--calibration-per-cell",
        type=count,
        default=25,
        help="calibration series per noise kind (default 25)",
    )
    p.add_argument(
        "--budget", type=positive, default=1.0, help="false alarms per 1,000 points allowed (default 1)"
    )
    p.add_argument("--cpu-series", type=count, default=1000, help="long series timed (default 1000; 0 skips)")
    p.add_argument("--cpu-points", type=count, default=1000, help="points per timed series (default 1000)")
    p.add_argument("--detectors", default="ours,otava,asv", help="comma-separated (default ours,otava,asv)")
    p.add_argument("--seed", type=int, default=20261201, help="corpus seed (default 20261201)")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")


def run(args: argparse.Namespace) -> int:
    from analysis import evaluate as ev
    from analysis.evaluate_report import render_text, to_json
    from aranya_perf.results import atomic_write_json

    detectors = tuple(d.strip() for d in args.detectors.split(",") if d.strip())
    unknown = [d for d in detectors if d not in ev.DETECTORS]
    if unknown or not detectors:
        raise UsageError(
            f"unknown detector(s) {', '.join(unknown) or '(none)'}; known: {', '.join(ev.DETECTORS)}"
        )
    # Both come with the evaluate extra; without it, --detectors ours still runs.
    if "otava" in detectors:
        require("otava.analysis", "evaluate", "--detectors otava")
    if "asv" in detectors:
        require("asv.step_detect", "evaluate", "--detectors asv")
    if args.per_cell < 1 or args.calibration_per_cell < 1:
        raise UsageError("--per-cell and --calibration-per-cell must be at least 1")
    if args.cpu_series and args.cpu_points < 200:
        raise UsageError("--cpu-points must be at least 200 (the corpus puts 4 steps 30 commits apart)")
    spec = ev.EvaluationSpec(
        per_cell=args.per_cell,
        calibration_per_cell=args.calibration_per_cell,
        budget=args.budget,
        cpu_series=args.cpu_series,
        cpu_points=args.cpu_points,
        detectors=detectors,
        seed=args.seed,
    )
    result = ev.evaluate(spec)
    sys.stdout.write(render_text(result))
    if args.out:
        atomic_write_json(args.out, to_json(result))
    return 0
