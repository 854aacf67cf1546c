"""Locust event hooks every locustfile of this suite installs: the --allow-remote, --protocol,
--address-map and --metrics-listen options, the target checks before any user starts (loopback
rule, protocol name, a readable address map), freezing the fleet's objects out of the garbage
collector once the ramp is done, live Prometheus metrics (``live_metrics``), and stopping the load
engine when Locust quits."""

from __future__ import annotations

from typing import Any

from aranya_perf import protocol
from aranya_perf.address_map import parse
from aranya_perf.gc_policy import collect_and_freeze
from aranya_perf.targets import TargetError, strip_scheme
from loadtests import live_metrics
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


def _check_target(environment: Any, **_kw: Any) -> None:
    opts = environment.parsed_options
    if opts is None:  # library use
        return
    allow_remote = bool(getattr(opts, "allow_remote", False))
    try:
        name = getattr(opts, "protocol", None)
        if name is not None:
            protocol.get(name)
        spec = getattr(opts, "address_map", None)
        if spec:  # parsed once here (a Kubernetes Service is one API read), used by every DeviceUser
            environment._aranya_perf_address_map = parse(strip_scheme(spec), allow_remote=allow_remote)
        host = environment.host or getattr(opts, "host", None)
        if host:  # without one, the web UI asks for it later
            target_from_host(host, allow_remote=allow_remote)
    except (TargetError, protocol.ProtocolError) as exc:
        # One line and a non-zero exit before any user starts.
        raise SystemExit(f"aranya-perf: {exc}") from None


def install(events: Any, *, gc_freeze: bool = True) -> None:
    """Register the hooks once per Events instance (locustfiles may be imported more than once)."""
    if id(events) in _installed:
        return
    _installed.add(id(events))
    events.init_command_line_parser.add_listener(_add_arguments)
    events.init.add_listener(_check_target)
    events.init.add_listener(live_metrics.on_init)
    if gc_freeze:
        events.spawning_complete.add_listener(lambda **_kw: collect_and_freeze())
    events.quitting.add_listener(lambda **_kw: shutdown_engine())
