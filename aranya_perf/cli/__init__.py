"""``aranya-perf`` command line: one module per verb, each exposing ``add_parser`` and ``run``.

Errors a user can cause end in one line on stderr and exit code 2; a run that
worked but failed its purpose (no successful request) exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from typing import NoReturn

from aranya_perf import __version__
from aranya_perf.extras import MissingExtra

VERBS = {
    "run": "aranya_perf.cli.run",
    "gateway": "aranya_perf.cli.gateway",
    "etcd-cluster": "aranya_perf.cli.etcd_cluster",
    "link": "aranya_perf.cli.link",
    "report": "aranya_perf.cli.report",
    "evaluate": "aranya_perf.cli.evaluate",
    "detect": "aranya_perf.cli.detect",
    "alerts": "aranya_perf.cli.alerts",
    "compare": "aranya_perf.cli.compare",
    "sweep": "aranya_perf.cli.sweep",
    "publish": "aranya_perf.cli.publish",
    "tune": "aranya_perf.cli.tune",
    "capacity": "aranya_perf.cli.capacity",
    "profiles": "aranya_perf.cli.profile",
    "profile": "aranya_perf.cli.profile",
    "worker": "aranya_perf.cli.worker",
    "chaos": "aranya_perf.cli.chaos",
}


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + message
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aranya-perf", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"aranya-perf {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    for module in dict.fromkeys(VERBS.values()):  # a module may add several verbs
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(importlib.import_module(VERBS[args.verb]).run(args) or 0)
    except (UsageError, MissingExtra) as exc:
        print(f"aranya-perf {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # A run stopped by SIGTERM or SIGHUP while starting raises a KeyboardInterrupt naming it.
        from aranya_perf.run.interrupt import exit_code

        signum = getattr(exc, "signum", signal.SIGINT)
        print(f"aranya-perf {args.verb}: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
        return exit_code(signum)


if __name__ == "__main__":
    sys.exit(main())
