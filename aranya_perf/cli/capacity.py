"""``aranya-perf capacity``: the generator capacity benchmark, its table, and its JSON result.

Also runnable as ``python -m aranya_perf.capacity`` (same options). Prints a table per mode
and the targets table (measured value, met or short), writes
``<out>/capacity/<UTC stamp>-capacity/capacity.json``; ``--show FILE`` prints a saved one again.
Exit code 0 when every mode produced figures (whether or not the targets were met), 1 when a
mode failed, 2 for bad input, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aranya_perf.cli import UsageError, _Parser
from aranya_perf.cli.args import count, duration, positive

if TYPE_CHECKING:
    from aranya_perf.capacity.bench import Sizes

EXIT_CODES = {"ok": 0, "failed": 1, "interrupted": 130}


def _modes(text: str) -> tuple[str, ...]:
    from aranya_perf.capacity.bench import MODES

    names = tuple(m.strip().replace("-", "_") for m in text.split(",") if m.strip())
    unknown = [m for m in names if m not in MODES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown mode {', '.join(unknown) or repr(text)}; known: {', '.join(MODES)}"
        )
    return names


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--modes",
        type=_modes,
        metavar="LIST",
        help="comma-separated: operators, device_work, gateway, hold, instrumentation, engines, service "
        "(default all)",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes (under a minute; for tests, not figures)")
    p.add_argument("--out", type=Path, default=Path("results"), help="results root (default results/)")
    p.add_argument("--no-pin", action="store_true", help="do not pin the gateway and generators to CPUs")
    p.add_argument("--repeats", type=count, help="interleaved runs per variant (default 3, quick 1)")
    p.add_argument("--devices", type=count, help="hold: devices of the one-process run (default 15000)")
    p.add_argument(
        "--workers", type=count, help="hold: generator processes of the multi-process run (default 2)"
    )
    p.add_argument(
        "--worker-devices", type=count, help="hold: devices over all workers of that run (default 30000)"
    )
    p.add_argument("--hold", type=duration, help="hold: how long the fleet is held online (default 20s)")
    p.add_argument(
        "--spawn-rate", type=positive, help="hold: devices started per second over all workers (default 200)"
    )
    p.add_argument("--fleet-devices", type=count, help="device_work: devices per fleet (default 500)")
    p.add_argument("--show", type=Path, metavar="FILE", help="print a saved capacity.json and exit")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capacity",
        help="measure the load generator's own capacity against its targets (a few minutes)",
        description=__doc__.splitlines()[0],
    )
    _add_arguments(p)


def _sizes(args: argparse.Namespace) -> Sizes:
    from aranya_perf.capacity.bench import DEFAULT, QUICK

    sizes = QUICK if args.quick else DEFAULT
    changes = {
        "repeats": args.repeats,
        "hold_devices": args.devices,
        "hold_workers": args.workers,
        "hold_worker_devices": args.worker_devices,
        "hold_s": args.hold,
        "hold_spawn_rate": args.spawn_rate,
        "fleet_devices": args.fleet_devices,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if args.repeats is not None:
        changes["fleet_repeats"] = changes["instr_repeats"] = args.repeats
    return dataclasses.replace(sizes, **changes)


def run(args: argparse.Namespace) -> int:
    from aranya_perf.capacity import report
    from aranya_perf.capacity.bench import MODES, CapacityConfig, CapacityError, run_capacity
    from aranya_perf.results import ResultsError

    if args.show is not None:
        try:
            print(report.format_report(report.load(args.show)))
        except ResultsError as exc:
            raise UsageError(str(exc)) from None
        return 0
    try:
        config = CapacityConfig(
            sizes=_sizes(args),
            modes=args.modes or MODES,
            out=args.out,
            pin=not args.no_pin,
            quick=args.quick,
            argv=tuple(sys.argv[1:]),
        )
    except CapacityError as exc:
        raise UsageError(str(exc)) from None
    # SIGTERM unwinds like an exception, so every gateway and child is still stopped and the
    # result file still written.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    path, doc = run_capacity(config)
    print(report.format_report(doc))
    print(f"results: {path}")
    return EXIT_CODES.get(doc["status"], 1)


def main(argv: list[str] | None = None) -> int:
    """``python -m aranya_perf.capacity``: the verb without the ``aranya-perf`` front end."""
    parser = _Parser(prog="aranya_perf.capacity", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
