"""``aranya-perf alerts``: regression alerts over the asv history (results/asv), per machine,
and with ``--runs`` over load-test runs (p50/p99 per request kind, per group of comparable runs,
in start order or, with ``--order-by LABEL``, by a run label such as the target's commit).
Series too short to judge are named as "insufficient history", never passed as healthy.

Prints a Markdown summary (or GitHub annotation lines with ``--github``) and can write JSON,
Markdown and JUnit XML files. Exit code 1 when there is a new, unrecovered regression, 0
otherwise, 2 for bad input. Unreadable result files are skipped with a warning on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aranya_perf.cli import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "alerts", help="regression alerts over the asv history", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--results", type=Path, default=Path("results/asv"), help="asv results dir (default results/asv)"
    )
    p.add_argument(
        "--runs",
        type=Path,
        action="append",
        help="also check load-test runs: a run directory or a directory of runs, repeatable",
    )
    p.add_argument("--no-asv", action="store_true", help="only the runs of --runs, no asv history")
    p.add_argument(
        "--order-by",
        metavar="LABEL",
        help="order the runs of --runs by this run label (run --label LABEL=VALUE), not by start time",
    )
    p.add_argument("--config", type=Path, help="thresholds TOML (default: analysis/alerts.toml)")
    p.add_argument("--machine", help="only this asv machine (default: every machine, each on its own)")
    p.add_argument(
        "--since",
        metavar="COMMIT",
        help="regressions starting after this commit are new (default: the last new_within commits)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the alerts as JSON")
    p.add_argument("--markdown", type=Path, metavar="PATH", help="write the Markdown summary")
    p.add_argument("--junit", type=Path, metavar="PATH", help="write JUnit XML (new regressions fail)")
    p.add_argument(
        "--github", action="store_true", help="print GitHub workflow annotations instead of Markdown"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the permutation checks (default 0)")


def _asv_frame(args: argparse.Namespace, warn):
    from aranya_perf.analysis.asv_results import read_asv_results

    if not args.results.is_dir():
        raise UsageError(f"{args.results}: no such directory")
    frame = read_asv_results(args.results, warn=warn)
    if args.machine is not None:
        known = sorted(set(frame["machine"]))
        if args.machine not in known:
            raise UsageError(
                f"no results for machine {args.machine!r} in {args.results} "
                f"(have: {', '.join(known) or 'none'})"
            )
        frame = frame[frame["machine"] == args.machine]
    if frame.empty:
        raise UsageError(f"{args.results}: no asv results found")
    return frame


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from aranya_perf.analysis import alert_report
    from aranya_perf.analysis.alert_config import ConfigError, load_config
    from aranya_perf.analysis.alerts import asv_history, find_alerts, runs_history
    from aranya_perf.analysis.run_catalogue import catalogue, run_latency
    from aranya_perf.results import atomic_write_json, atomic_write_text

    def warn(message: str) -> None:
        print(f"aranya-perf alerts: warning: {message}", file=sys.stderr)

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.no_asv and not args.runs:
        raise UsageError("--no-asv needs --runs")
    if args.order_by is not None and not args.runs:
        raise UsageError("--order-by needs --runs")
    histories = [] if args.no_asv else [asv_history(_asv_frame(args, warn))]
    for path in args.runs or []:
        if not path.is_dir():
            raise UsageError(f"--runs {path}: no such directory")
    if args.runs:
        cat = catalogue(args.runs, warn)
        if cat.empty:
            raise UsageError(f"no run directories under {', '.join(map(str, args.runs))}")
        if args.order_by is not None:
            has = cat["labels"].map(lambda t: args.order_by in json.loads(t))
            if not has.any():
                raise UsageError(f"--order-by {args.order_by}: no run has that label")
            if not has.all():
                warn(f"{int((~has).sum())} run(s) without the label {args.order_by} left out")
        histories.append(runs_history(cat, run_latency(cat), order_by=args.order_by))
    history = pd.concat(histories, ignore_index=True)
    if args.since is not None:
        matches = sorted({c for c in history["commit"] if c.startswith(args.since)})
        if len(matches) != 1:
            raise UsageError(f"--since {args.since!r} matches {len(matches)} commits or runs of the history")
        args.since = matches[0]
    report = find_alerts(history, config, since=args.since, seed=args.seed)
    if args.json:
        atomic_write_json(args.json, alert_report.to_json(report))
    if args.markdown:
        atomic_write_text(args.markdown, alert_report.to_markdown(report))
    if args.junit:
        atomic_write_text(args.junit, alert_report.to_junit(report))
    sys.stdout.write(alert_report.to_github(report) if args.github else alert_report.to_markdown(report))
    failing = report.failing
    short = f", {len(report.short)} with too short a history to judge" if report.short else ""
    print(
        f"aranya-perf alerts: {len(failing)} new regression(s) in {report.series_checked} series{short}",
        file=sys.stderr,
    )
    return 1 if failing else 0
