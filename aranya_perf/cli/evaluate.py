"""``aranya-perf evaluate``: our change detector beside Apache Otava, asv and ruptures on a labelled corpus.

Generates the synthetic corpus (``aranya_perf.analysis.corpus``: sigma is the noise of the stored per-commit
value, step-free series included), calibrates each other detector to the false-alarm budget on
step-free series of a separate seed (ours maps the budget itself), scores all on the same series
(a detection within 2 commits of a true step is a hit), per noise kind too, and times them on
long series with 10 steps each; prints the table, and writes it as JSON with ``--out``. The
default is a small evaluation (under a minute); ``--full`` is the published one (several minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import count, positive
from aranya_perf.extras import require

_SIZES = ("per_cell", "step_free_per_cell", "calibration_per_cell", "cpu_series")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score change detectors on a labelled synthetic corpus",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--full", action="store_true", help="the full size (50 + 25 series per cell, 1,000 timed)")
    p.add_argument(
        "--per-cell", type=count, help="series with steps per noise x sigma cell (default 6; full 50)"
    )
    p.add_argument(
        "--step-free-per-cell",
        type=count,
        help="step-free series per noise x sigma cell (default 4; full 25)",
    )
    p.add_argument(
        "--calibration-per-cell",
        type=count,
        help="step-free calibration series per noise kind (default 10; full 50)",
    )
    p.add_argument(
        "--budget", type=positive, default=1.0, help="false alarms per 1,000 points allowed (default 1)"
    )
    p.add_argument("--cpu-series", type=count, help="long series timed (default 20; full 1000; 0 skips)")
    p.add_argument("--cpu-points", type=count, default=1000, help="points per timed series (default 1000)")
    p.add_argument(
        "--detectors",
        default="ours,otava,asv,ruptures",
        help="comma-separated (default ours,otava,asv,ruptures)",
    )
    p.add_argument("--seed", type=int, help="corpus seed (default: the evaluation's own, printed)")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")


def run(args: argparse.Namespace) -> int:
    from aranya_perf.analysis import evaluate as ev
    from aranya_perf.analysis.evaluate_report import render_text, to_json
    from aranya_perf.results import atomic_write_json

    detectors = tuple(d.strip() for d in args.detectors.split(",") if d.strip())
    unknown = [d for d in detectors if d not in ev.DETECTORS]
    if unknown or not detectors:
        raise UsageError(
            f"unknown detector(s) {', '.join(unknown) or '(none)'}; known: {', '.join(ev.DETECTORS)}"
        )
    # They come with the evaluate extra; without it, --detectors ours still runs.
    for name, module in (("otava", "otava.analysis"), ("asv", "asv.step_detect"), ("ruptures", "ruptures")):
        if name in detectors:
            require(module, "evaluate", f"--detectors {name}")
    base = ev.FULL if args.full else ev.EvaluationSpec()
    given = {k: getattr(args, k) for k in (*_SIZES, "seed") if getattr(args, k) is not None}
    spec = dataclasses.replace(
        base, **given, budget=args.budget, cpu_points=args.cpu_points, detectors=detectors
    )
    if spec.per_cell < 1 or spec.calibration_per_cell < 1:
        raise UsageError("--per-cell and --calibration-per-cell must be at least 1")
    if spec.cpu_series and spec.cpu_points < 30 * (spec.cpu_steps + 1):
        raise UsageError(
            f"--cpu-points must be at least {30 * (spec.cpu_steps + 1)} "
            f"(the timed series put {spec.cpu_steps} steps 30 commits apart)"
        )
    result = ev.evaluate(spec)
    sys.stdout.write(render_text(result))
    if args.out:
        atomic_write_json(args.out, to_json(result))
    return 0
