"""``aranya-perf publish``: a static HTML history site over the asv results and the load-test runs.

Writes ``OUT/index.html`` with a trend plot per benchmark and per request kind (change points
marked), the runs linked to their reports, ``runs.parquet`` and ``alerts.json``. Open the
index in a browser; nothing is served. Unreadable inputs are skipped with a warning.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aranya_perf.cli import UsageError
from aranya_perf.cli.preflight import check_out


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "publish", help="build the static HTML history site", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--asv", type=Path, default=Path("results/asv"), help="asv results dir (default results/asv)"
    )
    p.add_argument(
        "--runs",
        type=Path,
        action="append",
        help="a run directory or a directory of runs, repeatable (default results/)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("results/site"), help="site directory (default results/site)"
    )
    p.add_argument("--config", type=Path, help="alert thresholds TOML (default analysis/alerts.toml)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from aranya_perf.analysis.alert_config import ConfigError, load_config
    from aranya_perf.analysis.asv_results import ASV_COLUMNS, read_asv_results
    from aranya_perf.analysis.run_catalogue import catalogue, run_latency
    from aranya_perf.analysis.site import build_site

    def warn(message: str) -> None:
        print(f"aranya-perf publish: warning: {message}", file=sys.stderr)

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    check_out(args.out)
    runs = args.runs or [Path("results")]
    for path in runs:
        if not path.is_dir():
            raise UsageError(f"--runs {path}: no such directory")
    if args.asv.is_dir():
        asv = read_asv_results(args.asv, warn)
    else:
        if args.asv != Path("results/asv"):
            raise UsageError(f"--asv {args.asv}: no such directory")
        asv = pd.DataFrame(columns=list(ASV_COLUMNS))
    cat = catalogue(runs, warn)
    index = build_site(args.out, asv, cat, run_latency(cat), config)
    print(
        f"aranya-perf publish: {len(asv['series'].unique())} benchmark series, {len(cat)} runs",
        file=sys.stderr,
    )
    print(index)
    return 0
