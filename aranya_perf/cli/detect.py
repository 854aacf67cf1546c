"""``aranya-perf detect``: change points in your own history (CSV ``series,index,value``).

Several rows with the same series and index are raw samples of that point. Writes a JSON list of
change points (series, index of the first point at the new level, direction, magnitude_pct,
confidence) to ``--json`` or, without it, to stdout. The threshold comes from the false-alarm
budget (``--max-false-alarms`` per 1,000 points on step-free series, default 1), through the
detector's own calibration (``analysis/detect_calibration.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import positive


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "detect",
        help="change points in a CSV history (series,index,value)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("csv", type=Path, metavar="SERIES.csv", help="columns series,index,value")
    p.add_argument(
        "--max-false-alarms",
        type=positive,
        default=1.0,
        metavar="K",
        help="false alarms per 1,000 points allowed on step-free series (default 1)",
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="write the change points here (default: stdout)")
    p.add_argument("--higher-is-better", action="store_true", help="a rise is an improvement (throughput)")


def run(args: argparse.Namespace) -> int:
    from aranya_perf.analysis import detect
    from aranya_perf.analysis.history_csv import HistoryCsvError, read_history_csv, records
    from aranya_perf.results import atomic_write_json

    better = detect.HIGHER_IS_BETTER if args.higher_is_better else detect.LOWER_IS_BETTER
    try:
        series = read_history_csv(args.csv, better)
    except HistoryCsvError as exc:
        raise UsageError(str(exc)) from None
    cfg = detect.DetectConfig.for_budget(args.max_false_alarms)
    analyzed = [detect.analyze(s, cfg) for s in series]
    out = records(analyzed)
    if args.json:
        atomic_write_json(args.json, out)
        points = sum(len(s.values) for s in series)
        print(f"{len(out)} change point(s) in {len(series)} series ({points} points); written to {args.json}")
    else:
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0
