"""``aranya-perf worker``: a Locust worker for a run whose master is elsewhere (``aranya-perf run
--remote-workers N --master-bind HOST:PORT``, or ``locust --master``). The run's profile and target come
from the master; the worker stops when its master quits. With no master to reach within ``--connect-timeout``
it gives up with one line and exit code 1, as ``run`` does with an unreachable target."""

from __future__ import annotations

import argparse
import sys

from aranya_perf.cli.args import duration, port

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


def run(args: argparse.Namespace) -> int:
    # Imported here: Locust monkey-patches the process with gevent.
    from aranya_perf.run.workers import MasterUnreachable, run_worker

    try:
        return run_worker(args.master_host, args.master_port, connect_timeout=args.connect_timeout)
    except MasterUnreachable as exc:
        print(f"aranya-perf worker: error: {exc}", file=sys.stderr)
        return 1
