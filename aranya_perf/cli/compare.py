"""``aranya-perf compare A B``: per request kind, is B better, worse or the same as A?

A and B are each a run directory or a directory of run directories (a group). Prints the
Markdown table; ``--out DIR`` also writes compare.md/html/json/png. Runs from different hosts,
profiles or protocol versions are refused unless ``--allow-mixed`` (then the report says so).
Exit code 0 (also when something got worse: the table is the answer), 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import count, positive
from aranya_perf.cli.preflight import check_out


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="A/B comparison of two runs or groups of runs", description=__doc__.splitlines()[0]
    )
    p.add_argument("a", type=Path, metavar="A", help="run directory, or a directory of runs")
    p.add_argument("b", type=Path, metavar="B", help="run directory, or a directory of runs")
    p.add_argument("--out", type=Path, help="write compare.md/html/json/png here")
    p.add_argument("--bootstrap", type=count, default=1000, help="bootstrap replicates (default 1000)")
    p.add_argument(
        "--min-effect", type=positive, default=2.0, help="smallest change in %% that counts (default 2)"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--allow-mixed", action="store_true", help="compare runs of different hosts/profiles/protocols"
    )


def run(args: argparse.Namespace) -> int:
    from analysis import compare_report
    from analysis.compare import CompareConfig, compare_runs
    from analysis.run_catalogue import catalogue, comparability_problems, run_dirs

    if args.out is not None:
        check_out(args.out)

    def warn(message: str) -> None:
        print(f"aranya-perf compare: warning: {message}", file=sys.stderr)

    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a directory")
    if args.bootstrap < 100:
        raise UsageError("--bootstrap must be at least 100")
    sides = []
    for label, path in (("A", args.a), ("B", args.b)):
        if not path.is_dir():
            raise UsageError(f"{label}: {path}: no such directory")
        dirs = run_dirs([path])
        runs = [r for r in (compare_report.load_run(d, warn) for d in dirs) if r is not None]
        if not runs:
            raise UsageError(f"{label}: {path}: no run with a readable latency_hdr.json")
        sides.append((dirs, runs))
    cat = catalogue([*sides[0][0], *sides[1][0]], warn)
    problems = comparability_problems(cat) if len(cat) else []
    if problems and not args.allow_mixed:
        raise UsageError(f"not comparable: {'; '.join(problems)} (--allow-mixed to compare anyway)")
    cfg = CompareConfig(bootstrap=args.bootstrap, min_effect_pct=args.min_effect, seed=args.seed)
    result = compare_runs(sides[0][1], sides[1][1], cfg)
    a_ids = [r.run_id for r in sides[0][1]]
    b_ids = [r.run_id for r in sides[1][1]]
    if args.out:
        compare_report.write(args.out, result, a_ids, b_ids, cfg, problems)
    sys.stdout.write(compare_report.to_markdown(result, a_ids, b_ids, cfg, problems))
    return 0
