"""``aranya-perf compare A... -- B...``: per request kind, is B better, worse or the same as A?

Each side is one or more run directories or directories of runs (a group); with one path per side
the ``--`` may be left out. Prints the Markdown table; ``--out DIR`` also writes
compare.md/html/json/png. Runs whose comparability keys differ (scenario, transport, link,
protocol, target kind, machine, load) are refused, naming each difference, unless ``--force``
(then the report says so at the top). The variance between runs comes from the sides' own runs and
from the repeat groups of the same key under ``--history`` (default: the directories holding the
compared runs). Exit code 0 (also when something got worse: the table is the answer), 2 for bad input.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import count, positive
from aranya_perf.cli.preflight import check_out

# argparse drops a "--" from positionals; the verb keeps it as this marker (no path is empty).
_SIDE_BREAK = ""


def _keep_side_break(parse, args: Sequence[str] | None = None, namespace: object = None):
    args = list(sys.argv[1:] if args is None else args)
    if "--" in args:
        args[args.index("--")] = _SIDE_BREAK
    return parse(args, namespace)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="A/B comparison of two runs or groups of runs", description=__doc__.splitlines()[0]
    )
    p.parse_known_args = functools.partial(_keep_side_break, p.parse_known_args)  # type: ignore[method-assign]
    p.add_argument("paths", nargs="+", metavar="A... -- B...", help="run directories or directories of runs")
    p.add_argument("--out", type=Path, help="write compare.md/html/json/png here")
    p.add_argument("--bootstrap", type=count, default=1000, help="bootstrap replicates (default 1000)")
    p.add_argument(
        "--confidence", type=positive, default=0.99, help="confidence of the intervals (default 0.99)"
    )
    p.add_argument(
        "--min-effect", type=positive, default=2.0, help="smallest change in %% that counts (default 2)"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--history",
        type=Path,
        action="append",
        help="results root(s) whose repeat groups give the between-run variance (default: the compared "
        "runs' parent directories)",
    )
    p.add_argument(
        "--force",
        "--allow-mixed",
        dest="force",
        action="store_true",
        help="compare runs whose comparability keys differ (the report says so at the top)",
    )


def _sides(paths: list[str]) -> tuple[list[Path], list[Path]]:
    if _SIDE_BREAK in paths:
        i = paths.index(_SIDE_BREAK)
        a, b = paths[:i], paths[i + 1 :]
    elif len(paths) == 2:
        a, b = paths[:1], paths[1:]
    else:
        raise UsageError("give A and B, or several runs per side as A1 A2 -- B1 B2")
    if not a or not b or _SIDE_BREAK in b:
        raise UsageError("each side needs at least one run directory, with one -- between them")
    return [Path(x) for x in a], [Path(x) for x in b]


def run(args: argparse.Namespace) -> int:
    from aranya_perf.analysis import compare_report
    from aranya_perf.analysis.compare import CompareConfig, compare_runs
    from aranya_perf.analysis.run_catalogue import catalogue, comparability_problems, run_dirs

    if args.out is not None:
        check_out(args.out)

    def warn(message: str) -> None:
        print(f"aranya-perf compare: warning: {message}", file=sys.stderr)

    if args.bootstrap < 100:
        raise UsageError("--bootstrap must be at least 100")
    if not 0.5 <= args.confidence < 1:
        raise UsageError("--confidence must be in [0.5, 1)")
    sides = []
    for label, paths in zip("AB", _sides(args.paths), strict=True):
        for path in paths:
            if not path.is_dir():
                raise UsageError(f"{label}: {path}: no such directory")
        dirs = run_dirs(paths)
        runs = [r for r in (compare_report.load_run(d, warn) for d in dirs) if r is not None]
        if not runs:
            raise UsageError(
                f"{label}: {', '.join(map(str, paths))}: no run with a readable latency_hdr.json"
            )
        sides.append((dirs, runs))
    compared = [*sides[0][0], *sides[1][0]]
    cat = catalogue(compared, warn)
    problems = comparability_problems(cat) if len(cat) else []
    if problems and not args.force:
        raise UsageError(f"not comparable: {'; '.join(problems)} (--force to compare anyway)")
    for path in args.history or []:
        if not path.is_dir():
            raise UsageError(f"--history {path}: no such directory")
    roots = args.history or sorted({d.parent for d in compared})
    history_cat = catalogue(roots)
    key = str(cat["comparable"].iloc[0]) if len(cat) and not problems else ""
    history = compare_report.load_history(history_cat, key, set(cat["run_id"]), warn)
    cfg = CompareConfig(
        bootstrap=args.bootstrap, confidence=args.confidence, min_effect_pct=args.min_effect, seed=args.seed
    )
    result = compare_runs(sides[0][1], sides[1][1], cfg, history)
    a_ids = [r.run_id for r in sides[0][1]]
    b_ids = [r.run_id for r in sides[1][1]]
    if args.out:
        compare_report.write(args.out, result, a_ids, b_ids, cfg, problems, history)
    sys.stdout.write(compare_report.to_markdown(result, a_ids, b_ids, cfg, problems, history))
    return 0
