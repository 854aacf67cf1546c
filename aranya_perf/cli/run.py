"""``aranya-perf run``: the main job - a device fleet and operators against a gateway, then a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aranya_perf import protocol
from aranya_perf.cli import UsageError
from aranya_perf.cli.args import count, duration, interval, positive
from aranya_perf.gateway.schedule import DEFAULT_SCHEDULE, SCHEDULES

EXIT_CODES = {"ok": 0, "failed": 1, "interrupted": 130}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a fleet load test (embedded gateway by default) and write a report",
        description="Run a fleet of simulated devices plus operators against the embedded reference "
        "gateway (default) or --target, then write results/<UTC timestamp>-<profile>/ with a report.",
    )
    p.add_argument("--devices", type=count, default=200, help="simulated devices (default 200)")
    p.add_argument("--operators", type=count, default=3, help="simulated operators (default 3)")
    p.add_argument("--duration", type=duration, default=45.0, help="run time, e.g. 30s, 2m (default 45s)")
    p.add_argument(
        "--spawn-rate", type=positive, default=100.0, help="users started per second (default 100)"
    )
    p.add_argument(
        "--protocol",
        default=protocol.DEFAULT,
        choices=protocol.NAMES,
        help=f"protocol version the devices and the embedded gateway speak (default {protocol.DEFAULT})",
    )
    p.add_argument(
        "--target",
        metavar="SPEC",
        help="load this instead of the embedded gateway: HOST:PORT for every device, HOST:LO-HI (a port per "
        "device), a .csv/.toml device map, or k8s:NAMESPACE/SERVICE (aranya's edgedevice-connectivity)",
    )
    p.add_argument(
        "--control",
        metavar="HOST:PORT",
        help="control service the operators call (default: the embedded gateway, or a HOST:PORT --target)",
    )
    p.add_argument(
        "--listener-per-device",
        action="store_true",
        help="embedded gateway: one gRPC listener per device, as aranya runs one per EdgeDevice",
    )
    p.add_argument(
        "--schedule",
        default=DEFAULT_SCHEDULE,
        choices=sorted(SCHEDULES),
        help=f"embedded gateway's periodic commands (default {DEFAULT_SCHEDULE}; see `gateway --help`)",
    )
    p.add_argument("--target-metrics", metavar="HOST:PORT", help="Prometheus endpoint of --target, if any")
    p.add_argument("--allow-remote", action="store_true", help="allow a --target that is not loopback")
    p.add_argument("--out", type=Path, default=Path("results"), help="results root (default results/)")
    p.add_argument("--profile", default="fleet", help="name recorded in the run id and meta.json")
    p.add_argument("--node-info-interval", type=interval, help="embedded gateway: overrides the schedule")
    p.add_argument("--metrics-interval", type=interval, help="embedded gateway: overrides the schedule")
    p.add_argument("--status-interval", type=duration, default=10.0, help="device status push interval")
    p.add_argument(
        "--gc-freeze",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="freeze the fleet's objects out of the garbage collector after the ramp, in the generator "
        "and the embedded gateway (default on; cuts p99 pauses at thousands of devices)",
    )


def run(args: argparse.Namespace) -> int:
    if not args.profile.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"--profile must be letters, digits, - or _: {args.profile!r}")
    # Imported here: it pulls in Locust, which monkey-patches the process with gevent.
    from aranya_perf.fleet_run import FleetConfig, run_fleet
    from aranya_perf.targets import TargetError, TargetUnreachable

    config = FleetConfig(
        devices=args.devices,
        operators=args.operators,
        duration_s=args.duration,
        spawn_rate=args.spawn_rate,
        protocol=args.protocol,
        target=args.target,
        control=args.control,
        listener_per_device=args.listener_per_device,
        schedule=args.schedule,
        target_metrics=args.target_metrics,
        allow_remote=args.allow_remote,
        out=args.out,
        profile=args.profile,
        node_info_interval_s=args.node_info_interval,
        metrics_interval_s=args.metrics_interval,
        status_interval_s=args.status_interval,
        gc_freeze=args.gc_freeze,
        argv=sys.argv[1:],
    )
    try:
        outcome = run_fleet(config)
    except TargetUnreachable as exc:
        print(f"aranya-perf run: error: {exc}", file=sys.stderr)
        return 1
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    if outcome.status != "ok":
        print(f"aranya-perf run: {outcome.status}: {outcome.reason}", file=sys.stderr)
    return EXIT_CODES[outcome.status]
