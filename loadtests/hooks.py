"""Locust event hooks every locustfile of this suite installs: the --allow-remote flag, the
loopback check before any user starts, freezing the fleet's objects out of the garbage
collector once the ramp is done, and stopping the load engine when Locust quits."""

from __future__ import annotations

from typing import Any

from aranya_perf.gc_policy import collect_and_freeze
from aranya_perf.targets import TargetError
from loadtests.engine import shutdown_engine
from loadtests.grpc_user import target_from_host

_installed: set[int] = set()


def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        default=False,
        help="allow a --host that is not loopback (load goes to loopback only otherwise)",
    )


def _check_target(environment: Any, **_kw: Any) -> None:
    opts = environment.parsed_options
    host = environment.host or getattr(opts, "host", None)
    if opts is None or not host:  # library use, or the web UI will ask for the host later
        return
    try:
        target_from_host(host, allow_remote=bool(getattr(opts, "allow_remote", False)))
    except TargetError as exc:
        # One line and a non-zero exit before any user starts.
        raise SystemExit(f"aranya-perf: {exc}") from None


def install(events: Any, *, gc_freeze: bool = True) -> None:
    """Register the hooks once per Events instance (locustfiles may be imported more than once)."""
    if id(events) in _installed:
        return
    _installed.add(id(events))
    events.init_command_line_parser.add_listener(_add_arguments)
    events.init.add_listener(_check_target)
    if gc_freeze:
        events.spawning_complete.add_listener(lambda **_kw: collect_and_freeze())
    events.quitting.add_listener(lambda **_kw: shutdown_engine())
