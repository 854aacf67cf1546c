"""``aranya-perf worker``: a Locust worker for a run whose master is elsewhere (``aranya-perf run
--remote-workers N --master-bind HOST:PORT``, or ``locust --master``). The run's profile and target come
from the master; the worker stops when its master quits. With no master to reach within ``--connect-timeout``
it gives up with one line and exit code 1, as ``run`` does with an unreachable target.

Two things only the worker's own machine knows: how its devices reach the target (``--address-map``,
e.g. an edge link beside it) and where its live metrics are served (``--metrics-listen``); both are
loopback unless ``--allow-remote``."""

from __future__ import annotations

import argparse
import sys

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import duration, listen_address, port
from aranya_perf.targets import TargetError

DEFAULT_MASTER_PORT = 5557  # Locust's
DEFAULT_CONNECT_TIMEOUT_S = 30.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="join a run as a Locust worker", description=__doc__.splitlines()[0])
    p.add_argument("--master-host", required=True, help="host of the run's Locust master")
    p.add_argument(
        "--master-port",
        type=port,
        default=DEFAULT_MASTER_PORT,
        help=f"its port (default {DEFAULT_MASTER_PORT})",
    )
    p.add_argument(
        "--connect-timeout",
        type=duration,
        default=DEFAULT_CONNECT_TIMEOUT_S,
        help=f"give up when no master answers within this long (default {DEFAULT_CONNECT_TIMEOUT_S:g}s)",
    )
    p.add_argument(
        "--address-map",
        metavar="SPEC",
        help="where this worker's devices connect instead of the run's target (HOST:PORT, or a .csv map "
        "from `aranya-perf link --address-map-out`): an edge link running beside the worker",
    )
    p.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="serve this worker's live Prometheus metrics there (port 0: a free one)",
    )
    p.add_argument(
        "--allow-remote", action="store_true", help="allow the two addresses above to be non-loopback"
    )


def run(args: argparse.Namespace) -> int:
    from aranya_perf.address_map import parse

    metrics = listen_address(args.metrics_listen, args.allow_remote) if args.metrics_listen else None
    if args.address_map is not None:
        try:
            parse(args.address_map, allow_remote=args.allow_remote)
        except TargetError as exc:
            raise UsageError(f"--address-map: {exc}") from None
    # Imported here: Locust monkey-patches the process with gevent.
    from aranya_perf.run.workers import MasterUnreachable, run_worker

    try:
        return run_worker(
            args.master_host,
            args.master_port,
            connect_timeout=args.connect_timeout,
            address_map=args.address_map,
            metrics_listen=metrics,
        )
    except MasterUnreachable as exc:
        print(f"aranya-perf worker: error: {exc}", file=sys.stderr)
        return 1
