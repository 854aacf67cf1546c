"""Locust event hooks every locustfile of this suite installs: the --allow-remote, --protocol,
--address-map and --metrics-listen options, the checks before any user starts (loopback rule,
protocol name, a readable address map, a valid ``--profile``), the one line saying a plain
``locust`` run is the raw mode (``RAW_MODE_LINE``), the messages between master and
workers (``distributed``), live Prometheus metrics (``live_metrics``), freezing the fleet's
objects out of the garbage collector once the ramp is done, and stopping the load engine when
Locust quits."""

from __future__ import annotations

import sys
from typing import Any

from aranya_perf.loadtests import distributed, live_metrics
from aranya_perf.loadtests.engine import shutdown_engine
from aranya_perf.loadtests.grpc_user import target_from_host
from aranya_perf.loadtests.settings import remember_worker_options, settings_for

from aranya_perf import profiles, protocol
from aranya_perf.gc_policy import collect_and_freeze
from aranya_perf.targets import TargetError

_installed: set[int] = set()

RAW_MODE_LINE = (
    "aranya-perf: raw Locust mode: Locust's own statistics, no exact (HDR) latency, SLO verdicts or "
    "report; `aranya-perf run --profile P` (with --workers N or --remote-workers N) writes them"
)
"""Said once at start-up by a plain ``locust`` master or local process: its exit code is Locust's rule
(1 on any failed request), not a verdict."""


def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        default=False,
        help="allow a --host that is not loopback (load goes to loopback only otherwise)",
    )
    parser.add_argument(
        "--protocol",
        default=None,
        help=f"protocol version the devices speak: {', '.join(protocol.NAMES)} (default {protocol.DEFAULT})",
    )
    parser.add_argument(
        "--address-map",
        default=None,
        metavar="SPEC",
        help="where each device connects: HOST:PORT, HOST:LO-HI, a .csv/.toml file, or "
        "k8s:NAMESPACE/SERVICE (default: --host for every device; operators always use --host)",
    )
    live_metrics.add_arguments(parser)


def _on_init(environment: Any, runner: Any = None, **_kw: Any) -> None:
    opts = environment.parsed_options
    if opts is None:  # library use: the caller installs what it needs
        return
    kind = type(runner).__name__
    if kind == "WorkerRunner":  # everything about the run comes from the master, later
        remember_worker_options(environment)
        distributed.install_worker(environment)
        return
    allow_remote = bool(getattr(opts, "allow_remote", False))
    try:
        name = getattr(opts, "protocol", None)
        if name is not None:
            protocol.get(name)
        host = environment.host or getattr(opts, "host", None)
        if host:  # without one, the web UI asks for it later
            target_from_host(host, allow_remote=allow_remote)
            settings_for(environment)  # the profile and the address map (a Kubernetes Service is one read)
        elif getattr(opts, "profile", None):
            profiles.resolve(opts.profile)
    except (TargetError, protocol.ProtocolError, profiles.ProfileError) as exc:
        # One line and a non-zero exit before any user starts.
        raise SystemExit(f"aranya-perf: {exc}") from None
    print(RAW_MODE_LINE, file=sys.stderr, flush=True)
    if kind == "MasterRunner":
        from aranya_perf.measure.latency import LatencyRecorder

        distributed.install_master(environment, LatencyRecorder(environment, follow_resets=False))
    elif runner is not None:
        distributed.install_local(environment)


def install(events: Any, *, gc_freeze: bool = True) -> None:
    """Register the hooks once per Events instance (locustfiles may be imported more than once)."""
    if id(events) in _installed:
        return
    _installed.add(id(events))
    events.init_command_line_parser.add_listener(_add_arguments)
    events.init.add_listener(_on_init)
    events.init.add_listener(live_metrics.on_init)
    if gc_freeze:
        events.spawning_complete.add_listener(lambda **_kw: collect_and_freeze())
    events.quitting.add_listener(lambda **_kw: shutdown_engine())
