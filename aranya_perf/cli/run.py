"""``aranya-perf run``: the main job - a run profile's fleet and operators against a gateway, then a report.

Settings come in one layering (``aranya_perf.profiles``): built-in defaults < the profile
(``--profile NAME|PATH``, default ``smoke``) < the flags below, each of which sets one profile
key (``PROFILE_FLAGS``). The rest say where results go and how Locust runs (one process, or a
master with local and remote workers).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from aranya_perf import profiles, protocol
from aranya_perf.cli import UsageError
from aranya_perf.cli.args import count, duration, interval, positive
from aranya_perf.gateway.emulate import NAMES as EMULATIONS
from aranya_perf.gateway.schedule import SCHEDULES
from aranya_perf.profiles.schema import CHECK_PERF_LOADS, SCENARIOS, SHAPES
from aranya_perf.targets import TargetError, check_target, is_loopback, parse_address

EXIT_CODES = {"ok": 0, "failed": 1, "interrupted": 130}


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


# flag, profile key(s), argparse keywords: each flag overrides the keys it names, when given.
PROFILE_FLAGS: tuple[tuple[str, tuple[str, ...], dict[str, Any]], ...] = (
    (
        "--scenario",
        ("run.scenario",),
        {"choices": SCENARIOS, "help": "what is loaded: aranya's fleet (default), any gRPC service, etcd"},
    ),
    ("--users", ("service.users",), {"type": count, "help": "scenarios grpc, etcd: concurrent clients"}),
    (
        "--check-perf",
        ("etcd.check_perf",),
        {
            "choices": CHECK_PERF_LOADS,
            "help": "scenario etcd: etcdctl check perf load after the window, or off",
        },
    ),
    (
        "--proto",
        ("grpc.proto",),
        {
            "action": "append",
            "metavar": "FILE",
            "help": "scenario grpc: a .proto file of the service (repeatable)",
        },
    ),
    (
        "--import-path",
        ("grpc.import_paths",),
        {
            "action": "append",
            "metavar": "DIR",
            "help": "scenario grpc: where protoc finds imports (repeatable)",
        },
    ),
    (
        "--reflection",
        ("grpc.reflection",),
        {"action": "store_const", "const": True, "help": "scenario grpc: the target's server reflection"},
    ),
    ("--devices", ("fleet.devices",), {"type": count, "help": "simulated devices (the shape's full level)"}),
    ("--operators", ("operators.count",), {"type": count, "help": "closed-model operators"}),
    (
        "--arrival-rate",
        ("operators.arrival_rate",),
        {"type": _rate, "help": "open model: operator calls per second, whatever the response time"},
    ),
    ("--duration", ("run.duration_s",), {"type": duration, "help": "measured window, e.g. 30s, 2m"}),
    ("--spawn-rate", ("fleet.spawn_rate",), {"type": positive, "help": "devices started per second"}),
    ("--shape", ("shape.kind",), {"choices": SHAPES, "help": "workload shape"}),
    ("--seed", ("run.seed",), {"type": count, "help": "seed of the run's random choices"}),
    (
        "--protocol",
        ("target.protocol",),
        {"choices": protocol.NAMES, "help": "protocol version the devices and the embedded gateway speak"},
    ),
    (
        "--target",
        ("target.address",),
        {
            "metavar": "SPEC",
            "help": "load this instead of the embedded gateway: HOST:PORT[,HOST:PORT...], HOST:LO-HI (a "
            "port per device), a .csv/.toml device map, or k8s:NAMESPACE/SERVICE (aranya's "
            "edgedevice-connectivity)",
        },
    ),
    (
        "--transport",
        ("target.transport",),
        {
            "choices": ("grpc", "mqtt"),
            "help": "how devices reach the target: grpc Sync streams (default) or mqtt through a broker "
            "(embedded: mosquitto is started; --target mqtt://HOST:PORT: a cluster's broker)",
        },
    ),
    (
        "--mqtt-namespace",
        ("target.mqtt_namespace",),
        {"metavar": "TEMPLATE", "help": "mqtt: each device's topic namespace, {device} its id"},
    ),
    (
        "--control",
        ("target.control",),
        {"metavar": "HOST:PORT", "help": "control service the operators call (default: the target's own)"},
    ),
    (
        "--target-metrics",
        ("target.metrics",),
        {"metavar": "HOST:PORT", "help": "Prometheus endpoint of --target"},
    ),
    (
        "--link",
        ("target.link",),
        {"metavar": "NAME", "help": "edge network link between devices and target (lan, lte, satellite...)"},
    ),
    (
        "--prometheus",
        ("target.prometheus",),
        {"metavar": "URL", "help": "Prometheus server the profile's [[query]] tables ask after the window"},
    ),
    (
        "--listener-per-device",
        ("gateway.listener_per_device",),
        {
            "action": "store_const",
            "const": True,
            "help": "embedded gateway: one listener per device, as aranya",
        },
    ),
    (
        "--gateway-processes",
        ("gateway.processes",),
        {"type": count, "help": "embedded gateway processes, each owning part of the fleet"},
    ),
    (
        "--schedule",
        ("gateway.schedule",),
        {"choices": sorted(SCHEDULES), "help": "embedded gateway's commands"},
    ),
    (
        "--node-info-interval",
        ("gateway.node_info_interval_s",),
        {"type": interval, "help": "overrides the schedule"},
    ),
    (
        "--metrics-interval",
        ("gateway.metrics_interval_s",),
        {"type": interval, "help": "overrides the schedule"},
    ),
    (
        "--emulate",
        ("gateway.emulate",),
        {
            "action": "append",
            "choices": EMULATIONS,
            "metavar": "NAME",
            "help": f"embedded gateway plays this aranya defect (repeatable): {', '.join(EMULATIONS)}",
        },
    ),
    (
        "--status-interval",
        ("fleet.status_interval_s",),
        {"type": interval, "help": "device status push period"},
    ),
    (
        "--answer-delay",
        ("fleet.answer_delay_s",),
        {"type": interval, "help": "ground truth: devices answer operator commands after this long"},
    ),
    (
        "--gc-freeze",
        ("fleet.gc_freeze", "gateway.gc_freeze"),
        {
            "action": argparse.BooleanOptionalAction,
            "help": "freeze long-lived objects out of the garbage collector, generator and embedded gateway",
        },
    ),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a load-test profile (embedded gateway by default) and write a report",
        description="Run a profile's fleet of simulated devices plus operators against the embedded "
        "reference gateway (default) or a target, then write results/<UTC timestamp>-<profile>/ with a "
        "verdict and a report. Exit code 0: ok; 1: failed (an SLO, the target went away, too many "
        "failures); 2: bad input.",
    )
    p.add_argument(
        "--profile",
        default=profiles.DEFAULT,
        metavar="NAME|PATH",
        help=f"a shipped profile ({', '.join(n for n, _ in profiles.builtin_profiles())}) or a TOML file "
        f"(default {profiles.DEFAULT}; see `aranya-perf profiles`)",
    )
    for flag, _keys, kwargs in PROFILE_FLAGS:
        p.add_argument(flag, default=None, **kwargs)
    p.add_argument(
        "--call",
        action="append",
        metavar="METHOD[=JSON]",
        help="scenario grpc: call package.Service/Method with this request (repeatable; replaces the "
        "profile's [[call]] tables)",
    )
    p.add_argument("--allow-remote", action="store_true", help="allow a target that is not loopback")
    p.add_argument("--out", type=Path, default=Path("results"), help="results root (default results/)")
    p.add_argument(
        "--workers", type=count, default=0, help="local Locust worker processes (default 0: one process)"
    )
    p.add_argument(
        "--remote-workers",
        type=count,
        default=0,
        help="also wait for this many workers started elsewhere with `aranya-perf worker --master-host`",
    )
    p.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="serve the generator's live Prometheus metrics there during the run (port 0: a free one)",
    )
    p.add_argument(
        "--master-bind",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="where the Locust master listens for workers (default 127.0.0.1, a free port)",
    )


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The profile keys the given flags set (``section.field`` -> value)."""
    out: dict[str, Any] = {}
    for flag, keys, _kwargs in PROFILE_FLAGS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            out.update(dict.fromkeys(keys, value))
    return out


def _master_bind(text: str, allow_remote: bool) -> tuple[str, int]:
    """A HOST:PORT to listen on (the Locust master, the live metrics): loopback unless --allow-remote."""
    try:
        host, port = parse_address(text)
    except TargetError as exc:
        raise UsageError(f"{text}: {exc}") from None
    if not allow_remote and not is_loopback(host):
        raise UsageError(f"{text}: not loopback; pass --allow-remote to listen there")
    return host, port


def cli_calls(specs: list[str] | None) -> tuple[profiles.Call, ...] | None:
    """``--call METHOD[=JSON]`` flags as ``[[call]]`` tables (weight 1 each)."""
    if not specs:
        return None
    from aranya_perf.profiles.parse import call

    out = []
    for i, spec in enumerate(specs, start=1):
        method, eq, request = spec.partition("=")
        out.append(call({"method": method.strip(), **({"request": request} if eq else {})}, "--call", i))
    return tuple(out)


def _grpc(profile: profiles.Profile, allow_remote: bool) -> tuple[bytes, dict[str, str]]:
    """Scenario grpc's descriptors and calls, resolved before Locust (and its gevent) is imported."""
    from aranya_perf.grpc_service import ServiceError
    from aranya_perf.grpc_service.calls import describe, prepare

    try:
        descriptors, calls = prepare(profile, allow_remote=allow_remote)
    except ServiceError as exc:
        raise UsageError(str(exc)) from None
    return descriptors, describe(calls)


def run(args: argparse.Namespace) -> int:
    flags = overrides(args)
    if str(flags.get("target.address", "")).startswith("mqtt://") and "target.transport" not in flags:
        flags["target.transport"] = "mqtt"  # a broker's address says how devices reach it
    try:
        profile = profiles.resolve(args.profile, flags, cli_calls(args.call))
    except profiles.ProfileError as exc:
        raise UsageError(str(exc)) from None
    from aranya_perf.run.target import check_transport

    try:
        check_transport(profile)
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    bind = _master_bind(args.master_bind, args.allow_remote)
    live = _master_bind(args.metrics_listen, args.allow_remote) if args.metrics_listen else None
    if profile.target.address is not None:
        for spec in (profile.target.control, profile.target.metrics):
            if spec:
                try:
                    check_target(spec, allow_remote=args.allow_remote)
                except TargetError as exc:
                    raise UsageError(str(exc)) from None
    from aranya_perf.targets import TargetUnreachable

    descriptors, grpc_calls = None, {}
    if profile.run.scenario == "grpc":
        try:
            descriptors, grpc_calls = _grpc(profile, args.allow_remote)
        except TargetUnreachable as exc:
            print(f"aranya-perf run: error: {exc}", file=sys.stderr)
            return 1
        except TargetError as exc:
            raise UsageError(str(exc)) from None
    # Imported here: it pulls in Locust, which monkey-patches the process with gevent.
    from aranya_perf.run.orchestrate import RunOptions, run_profile

    options = RunOptions(
        out=args.out,
        workers=args.workers,
        remote_workers=args.remote_workers,
        master_bind=bind,
        metrics_listen=live,
        allow_remote=args.allow_remote,
        argv=tuple(sys.argv[1:]),
        descriptors=descriptors,
        grpc_calls=grpc_calls,
    )
    try:
        outcome = run_profile(profile, options)
    except TargetUnreachable as exc:
        print(f"aranya-perf run: error: {exc}", file=sys.stderr)
        return 1
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    if outcome.status != "ok":
        print(f"aranya-perf run: {outcome.status}: {outcome.reason}", file=sys.stderr)
    return EXIT_CODES[outcome.status]
