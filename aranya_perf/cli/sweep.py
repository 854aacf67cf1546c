"""``aranya-perf sweep``: a step series against the embedded gateway, then the capacity model.

Each step is one ``aranya-perf run`` (its own flags; ``--run-args`` passes more) into
``OUT/runs/``; then USL fit, SLO knees, resources per 1,000 devices, replicas for ``--fleet``
and the held-out check go to ``OUT/capacity.md`` (+ .html, .json, steps.csv, plots/).
``--from-runs DIR`` skips the running and models the runs already in DIR.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import count, duration, positive
from aranya_perf.cli.preflight import check_out


def _counts(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"need non-negative integers: {text!r}")
    return values


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="step sweep against the embedded gateway and a capacity model",
        description=__doc__.splitlines()[0],
    )
    p.add_argument(
        "--devices",
        type=_counts,
        default=[50, 100, 150, 200, 300, 400],
        help="devices per step (default: 50,100,150,200,300,400: 6 steps, 3 degrees of freedom for the USL)",
    )
    p.add_argument(
        "--operators",
        type=_counts,
        help="operators per step, one value or one per step (default: see --devices-per-operator)",
    )
    p.add_argument(
        "--devices-per-operator",
        type=positive,
        default=50.0,
        help="without --operators: one operator per this many devices, so all load grows (default 50)",
    )
    p.add_argument("--step-duration", type=duration, default=5.0, help="measured time per step (default 5s)")
    p.add_argument(
        "--status-interval",
        type=duration,
        default=1.0,
        help="device status interval (default 1s: load grows with devices)",
    )
    p.add_argument(
        "--node-info-interval", type=duration, default=5.0, help="embedded gateway's schedule (default 5s)"
    )
    p.add_argument(
        "--metrics-interval", type=duration, default=5.0, help="embedded gateway's schedule (default 5s)"
    )
    p.add_argument(
        "--spawn-rate",
        type=positive,
        help="users started per second (default: the step's devices, at least 100)",
    )
    p.add_argument(
        "--gc-freeze", action=argparse.BooleanOptionalAction, default=True, help="passed to each run"
    )
    p.add_argument("--run-args", default="", help="more flags for every `aranya-perf run`, as one string")
    p.add_argument(
        "--slo",
        action="append",
        default=None,
        help="p50|p90|p99=<ms>[@kind regex], repeatable (default p99=250ms)",
    )
    p.add_argument(
        "--fleet", type=count, default=10000, help="fleet size to recommend replicas for (default 10000)"
    )
    p.add_argument(
        "--headroom", type=float, default=0.2, help="spare capacity per replica, 0..1 (default 0.2)"
    )
    p.add_argument("--out", type=Path, help="sweep directory (default results/sweep-<UTC timestamp>)")
    p.add_argument("--from-runs", type=Path, metavar="DIR", help="model the runs in DIR instead of running")


def run(args: argparse.Namespace) -> int:
    from aranya_perf.analysis import capacity_report
    from aranya_perf.analysis.capacity import SLO, capacity_model
    from aranya_perf.analysis.run_catalogue import (
        CATALOGUE_FILE,
        catalogue,
        comparability_problems,
        run_dirs,
        write_catalogue,
    )
    from aranya_perf.analysis.sweep_frames import read_steps
    from aranya_perf.analysis.sweep_runner import StepSpec, SweepError, run_steps

    def warn(message: str) -> None:
        print(f"aranya-perf sweep: warning: {message}", file=sys.stderr)

    try:
        slos = [SLO.parse(s) for s in (args.slo or ["p99=250ms"])]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not 0 <= args.headroom < 1:
        raise UsageError(f"--headroom must be in [0, 1): {args.headroom}")
    devices = args.devices
    operators = args.operators or [max(1, round(d / args.devices_per_operator)) for d in devices]
    if len(operators) > 1 and len(devices) > 1 and len(operators) != len(devices):
        raise UsageError("--operators needs one value or as many as --devices")
    steps_n = max(len(devices), len(operators))
    load = "operators" if len(set(operators)) > 1 and len(set(devices)) == 1 else "devices"
    out = args.out or Path("results") / f"sweep-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    check_out(out)
    if args.from_runs is not None:
        if not args.from_runs.is_dir():
            raise UsageError(f"{args.from_runs}: no such directory")
        dirs = run_dirs([args.from_runs])
    else:
        if steps_n < 3:
            raise UsageError(
                "a sweep needs at least 3 steps (the USL has 3 parameters; 4 for the held-out check)"
            )
        extra = tuple(shlex.split(args.run_args))
        specs = []
        for i in range(steps_n):
            d = devices[i] if len(devices) > 1 else devices[0]
            o = operators[i] if len(operators) > 1 else operators[0]
            specs.append(
                StepSpec(
                    d,
                    o,
                    args.step_duration,
                    args.spawn_rate or max(100.0, float(d)),
                    args.status_interval,
                    args.node_info_interval,
                    args.metrics_interval,
                    args.gc_freeze,
                    extra,
                )
            )
        try:
            results = run_steps(
                specs, out / "runs", lambda m: print(f"aranya-perf sweep: {m}", file=sys.stderr)
            )
        except SweepError as exc:
            raise UsageError(f"a step's run refused its flags: {exc}") from None
        for r in results:
            if r.returncode != 0:
                warn(
                    f"step with {r.spec.devices} devices ended with exit code {r.returncode}: {r.stderr_tail}"
                )
        dirs = [r.run_dir for r in results if r.run_dir is not None]
    cat = catalogue(dirs, warn)
    problems = comparability_problems(cat, varied=("load",)) if len(cat) else []
    if problems:
        raise UsageError(f"the sweep's runs are not comparable: {'; '.join(problems)}")
    steps, step_latency = read_steps(dirs, "auto" if args.from_runs is not None else load, warn)
    load = str(steps.attrs.get("load", load))
    if steps.empty:
        raise UsageError("no step produced results")
    model = capacity_model(steps, step_latency, slos, args.fleet, args.headroom, load)
    out.mkdir(parents=True, exist_ok=True)
    write_catalogue(cat, out / CATALOGUE_FILE)
    md = capacity_report.write(out, model, steps, step_latency, slos)
    if model.fit is not None:
        f = model.fit
        line = (
            f"USL: alpha {f.alpha:.3g} [{f.alpha_ci[0]:.3g}, {f.alpha_ci[1]:.3g}], beta {f.beta:.3g} "
            f"[{f.beta_ci[0]:.3g}, {f.beta_ci[1]:.3g}], residual sd {f.residual_sd:.3g} req/s"
        )
        print(line, file=sys.stderr)
    if model.holdout is not None:
        h = model.holdout
        line = f"held-out last step: predicted {h.predicted:.1f}, measured {h.measured:.1f} req/s"
        print(f"{line} ({h.error_pct:+.1f} %)", file=sys.stderr)
    if model.replicas is not None:
        print(
            f"replicas for {model.fleet} devices at {model.headroom:.0%} headroom: {model.replicas} "
            f"({model.replicas_bound}; {model.capacity_basis})",
            file=sys.stderr,
        )
    print(md)
    return 0
