"""``aranya-perf report RUN_DIR``: re-render report.md/html and plots of an existing run directory.

The report is a function of the run's files alone: rendered again from the same files it is the
same, byte for byte. Each input file that is missing, empty or damaged gives one warning line
naming it on stderr. A report already in place is never replaced by one that lost an input it
had (the report's Files section records what it read): the old report stays, and the verb exits
2, as for any other input it cannot use. Prints the report.md path on stdout and the per-request
summary table on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aranya_perf.cli import UsageError
from aranya_perf.results import META_FILE, ResultsError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report",
        help="re-render the report of a run directory",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", type=Path, help="a results/<timestamp>-<profile> directory"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="do not print the summary table")
    return parser


def run(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if not run_dir.exists():
        raise UsageError(f"{run_dir}: no such directory")
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: not a directory")
    if not (run_dir / META_FILE).is_file():
        raise UsageError(f"{run_dir}: not a run directory (no {META_FILE})")

    # Imported here: pandas and matplotlib cost a second and every CLI verb imports this module.
    from aranya_perf.analysis.run_data import load_run
    from aranya_perf.analysis.run_inputs import recorded_states, rerender
    from aranya_perf.analysis.run_report import (
        REPORT_MD,
        format_summary_table,
        summary_rows,
        write_run_report,
    )

    try:
        data = load_run(run_dir)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    for name, state in data.missing.items():
        detail = f"{state}: {data.problems[name]}" if name in data.problems else state
        print(f"aranya-perf report: warning: {run_dir / name}: {detail}", file=sys.stderr)
    decision = rerender(recorded_states(run_dir / REPORT_MD), data.file_states)
    if not decision.write:
        lost = ", ".join(decision.lost)
        raise UsageError(f"kept the existing {run_dir / REPORT_MD}: rendering it again would lose {lost}")
    try:
        md_path = write_run_report(data)
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc}") from None
    # stdout carries only the path (scriptable); the human summary goes to stderr.
    if not args.quiet:
        print(format_summary_table(summary_rows(data)), file=sys.stderr)
    print(md_path)
    return 0
