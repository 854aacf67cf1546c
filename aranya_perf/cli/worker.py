"""``aranya-perf worker``: a Locust worker for a run whose master is elsewhere (``aranya-perf run
--remote-workers N --master-bind HOST:PORT``, or ``locust --master``). The run's profile and target come
from the master; the worker stops when its master quits."""

from __future__ import annotations

import argparse

from aranya_perf.cli.args import count

DEFAULT_MASTER_PORT = 5557  # Locust's


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="join a run as a Locust worker", description=__doc__.splitlines()[0])
    p.add_argument("--master-host", required=True, help="host of the run's Locust master")
    p.add_argument(
        "--master-port",
        type=count,
        default=DEFAULT_MASTER_PORT,
        help=f"its port (default {DEFAULT_MASTER_PORT})",
    )


def run(args: argparse.Namespace) -> int:
    # Imported here: Locust monkey-patches the process with gevent.
    from aranya_perf.run.workers import run_worker

    return run_worker(args.master_host, args.master_port)
