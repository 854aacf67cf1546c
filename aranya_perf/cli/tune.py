"""``aranya-perf tune``: sweeps over named knobs and a generated tuning guide.

For the embedded gateway each value of each ``--knobs`` knob is one ``aranya-perf run`` (its own
flags) at the same load, ``--repeat`` times; for a remote aranya, which the suite cannot
restart, give runs you made yourself as ``--from-runs knob=value:RUN_DIR`` (repeatable). Writes
``OUT/tuning.md`` (+ .html, .json, plots/). Knobs that need a run flag that does not exist yet
are listed in the guide as not measured.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import count, duration
from aranya_perf.cli.preflight import check_out


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune", help="sweep named knobs and write a tuning guide", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--knobs",
        default="gc_freeze,command_schedule,listener_per_device",
        help="comma-separated (default gc_freeze,command_schedule,listener_per_device)",
    )
    p.add_argument("--devices", type=count, default=200, help="devices per run (default 200)")
    p.add_argument("--operators", type=count, default=3, help="operators per run (default 3)")
    p.add_argument("--duration", type=duration, default=10.0, help="measured time per run (default 10s)")
    p.add_argument(
        "--status-interval", type=duration, default=2.0, help="device status interval (default 2s)"
    )
    p.add_argument("--repeat", type=count, default=1, help="runs per value (default 1)")
    p.add_argument("--run-args", default="", help="more flags for every `aranya-perf run`, as one string")
    p.add_argument(
        "--from-runs", action="append", metavar="KNOB=VALUE:DIR", help="model these labelled runs instead"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--out", type=Path, help="guide directory (default results/tune-<UTC timestamp>)")


def _labelled(items: list[str]) -> dict[str, dict[str, list[Path]]]:
    out: dict[str, dict[str, list[Path]]] = {}
    for item in items:
        label, sep, path = item.partition(":")
        knob, eq, value = label.partition("=")
        if not sep or not eq or not knob or not value or not path:
            raise UsageError(f"--from-runs {item!r}: use KNOB=VALUE:RUN_DIR")
        if not Path(path).is_dir():
            raise UsageError(f"--from-runs {item!r}: {path}: no such directory")
        out.setdefault(knob, {}).setdefault(value, []).append(Path(path))
    return out


def _measure(args: argparse.Namespace, knobs: list[str], out: Path, warn) -> dict[str, dict[str, list[Path]]]:
    """One ``aranya-perf run`` per knob value and repeat, under OUT/runs/<knob>/<value>/."""
    from aranya_perf.analysis.sweep_runner import StepSpec, SweepError, run_steps
    from aranya_perf.analysis.tuning import KNOBS

    extra = tuple(shlex.split(args.run_args))
    labelled: dict[str, dict[str, list[Path]]] = {}
    for knob in knobs:
        labelled[knob] = {}
        for value, flags in KNOBS[knob].values.items():
            spawn = max(100.0, float(args.devices))
            # The knob's flags come last: they override the defaults given here (argparse keeps the last).
            spec = StepSpec(
                args.devices,
                args.operators,
                args.duration,
                spawn,
                args.status_interval,
                10.0,
                10.0,
                True,
                (*extra, *flags),
            )
            label = f"aranya-perf tune: {knob}={value}"
            try:
                results = run_steps(
                    [spec] * args.repeat,
                    out / "runs" / knob / value,
                    lambda m, label=label: print(f"{label}: {m}", file=sys.stderr),
                )
            except SweepError as exc:
                raise UsageError(f"a run refused its flags: {exc}") from None
            labelled[knob][value] = [
                r.run_dir for r in results if r.run_dir is not None and r.returncode == 0
            ]
            for r in results:
                if r.returncode != 0:
                    warn(f"{knob}={value}: a run ended with exit code {r.returncode}: {r.stderr_tail}")
    return labelled


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from aranya_perf.analysis import tuning_report
    from aranya_perf.analysis.compare import CompareConfig
    from aranya_perf.analysis.compare_report import load_run
    from aranya_perf.analysis.run_catalogue import catalogue, comparability_problems, run_dirs
    from aranya_perf.analysis.sweep_frames import read_steps
    from aranya_perf.analysis.tuning import KNOBS, choose

    def warn(message: str) -> None:
        print(f"aranya-perf tune: warning: {message}", file=sys.stderr)

    out = args.out or Path("results") / f"tune-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    check_out(out)
    if args.from_runs:
        labelled = _labelled(args.from_runs)
        knobs = list(labelled)
        setup = "Runs labelled by hand (--from-runs)."
        needs_flag: list[str] = []
    else:
        knobs = [k.strip() for k in args.knobs.split(",") if k.strip()]
        unknown = [k for k in knobs if k not in KNOBS]
        if unknown or not knobs:
            raise UsageError(f"unknown knob(s) {', '.join(unknown) or '(none)'}; known: {', '.join(KNOBS)}")
        if args.repeat < 1:
            raise UsageError("--repeat must be at least 1")
        needs_flag = [k for k in knobs if KNOBS[k].needs_flag]
        knobs = [k for k in knobs if not KNOBS[k].needs_flag]
        setup = (
            f"Embedded gateway, {args.devices} devices, {args.operators} operators, "
            f"{args.duration:g} s per run, status every {args.status_interval:g} s, "
            f"{args.repeat} run(s) per value."
        )
        labelled = _measure(args, knobs, out, warn)
    cfg = CompareConfig(seed=args.seed)
    knob_results = []
    for knob in knobs:
        dirs = {v: run_dirs(ds) for v, ds in labelled[knob].items()}
        cat = catalogue([d for ds in dirs.values() for d in ds], warn)
        # The knob is what differs on purpose; anything else that differs makes the comparison void.
        problems = comparability_problems(cat) if len(cat) else []
        if problems:
            raise UsageError(f"{knob}: runs not comparable: {'; '.join(problems)}")
        frames, runs = [], {}
        for value, ds in dirs.items():
            steps, _ = read_steps(ds, "devices", warn)
            frames.append(steps.assign(value=value))
            runs[value] = [r for r in (load_run(d, warn) for d in ds) if r is not None]
        steps = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        known = KNOBS.get(knob)
        what = known.what if known else f"labelled by hand ({knob})"
        knob_results.append(choose(knob, what, known.default if known else None, steps, runs, cfg))
    md = tuning_report.write(out, knob_results, setup, needs_flag)
    for r in knob_results:
        print(f"aranya-perf tune: {r.knob}: recommended {r.recommended} ({r.reason})", file=sys.stderr)
    print(md)
    return 0
