"""``aranya-perf chaos``: the fault suite at small size (``aranya_perf.chaos``), one table, exit 1 if a row
is wrong."""

from __future__ import annotations

import argparse
import concurrent.futures
import threading
import time
from pathlib import Path

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import count, duration


def add_parser(sub: argparse._SubParsersAction) -> None:
    from aranya_perf.chaos import FAULTS

    p = sub.add_parser(
        "chaos",
        help="run the fault suite (target killed, restarted, frozen; stream resets; a link partition; "
        "signals; a worker killed) and judge it",
        description="Run each fault as a small real run against the embedded gateway and print one table: "
        "survived, verdict right, samples lost, time to recover, ended on time, processes left behind. "
        "Exit code 0: every row right; 1: a row is wrong; 2: bad input.",
    )
    p.add_argument(
        "--faults",
        metavar="NAME,...",
        help=f"only these faults (default all: {', '.join(f.name for f in FAULTS)})",
    )
    p.add_argument("--duration", type=duration, default=20.0, help="each run's window (default 20s)")
    p.add_argument(
        "--jobs", type=count, default=1, help="faults run at the same time (default 1; each run is small)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the runs go, one directory per fault (default results/chaos-<UTC timestamp>)",
    )


def run(args: argparse.Namespace) -> int:
    from aranya_perf.chaos import BY_NAME, FAULTS, Fault, Row, format_table, run_fault

    faults = list(FAULTS)
    if args.faults:
        names = [n.strip() for n in args.faults.split(",") if n.strip()]
        unknown = [n for n in names if n not in BY_NAME]
        if unknown or not names:
            raise UsageError(
                f"--faults: unknown fault {', '.join(unknown) or '(none)'} (known: {', '.join(BY_NAME)})"
            )
        faults = [BY_NAME[n] for n in names]
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    out = args.out or Path("results") / time.strftime("chaos-%Y%m%dT%H%M%SZ", time.gmtime())
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out} is not an empty directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: {exc.strerror or exc}") from None
    print(f"aranya-perf chaos: {len(faults)} faults, runs of {args.duration:g}s in {out}", flush=True)
    started = time.monotonic()

    def one(fault: Fault) -> Row:
        row = run_fault(fault, out, duration_s=args.duration, starting=starting)
        state = "WRONG" if row.wrong else "right"
        print(f"  {fault.name}: {state} ({time.monotonic() - started:.0f}s)", flush=True)
        return row

    starting = threading.Lock()
    # Each fault is a subprocess; a thread per job only watches it.
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(one, faults))
    print()
    print(format_table(rows))
    wrong = [r.fault for r in rows if r.wrong]
    print(
        f"\n{len(rows) - len(wrong)} of {len(rows)} faults right"
        + (f"; wrong: {', '.join(wrong)}" if wrong else "")
    )
    return 1 if wrong else 0
