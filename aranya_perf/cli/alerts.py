"""``aranya-perf alerts``: regression alerts over the asv history (results/asv), per machine.

Prints a Markdown summary (or GitHub annotation lines with ``--github``) and can write JSON,
Markdown and JUnit XML files. Exit code 1 when there is a new, unrecovered regression, 0
otherwise, 2 for bad input. Unreadable result files are skipped with a warning on stderr.
"""

from __future__ import annotations

import argparse
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


def run(args: argparse.Namespace) -> int:
    from analysis import alert_report
    from analysis.alert_config import ConfigError, load_config
    from analysis.alerts import asv_history, find_alerts
    from analysis.asv_results import read_asv_results
    from aranya_perf.results import atomic_write_json, atomic_write_text

    if not args.results.is_dir():
        raise UsageError(f"{args.results}: no such directory")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    frame = read_asv_results(
        args.results, warn=lambda m: print(f"aranya-perf alerts: warning: {m}", file=sys.stderr)
    )
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
    if args.since is not None:
        matches = sorted({c for c in frame["commit"] if c.startswith(args.since)})
        if len(matches) != 1:
            raise UsageError(f"--since {args.since!r} matches {len(matches)} commits of the history")
        args.since = matches[0]
    report = find_alerts(asv_history(frame), config, since=args.since, seed=args.seed)
    if args.json:
        atomic_write_json(args.json, alert_report.to_json(report))
    if args.markdown:
        atomic_write_text(args.markdown, alert_report.to_markdown(report))
    if args.junit:
        atomic_write_text(args.junit, alert_report.to_junit(report))
    sys.stdout.write(alert_report.to_github(report) if args.github else alert_report.to_markdown(report))
    failing = report.failing
    print(
        f"aranya-perf alerts: {len(failing)} new regression(s) in {report.series_checked} series",
        file=sys.stderr,
    )
    return 1 if failing else 0
