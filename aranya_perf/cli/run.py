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
from typing import TYPE_CHECKING, Any

import psutil

from aranya_perf import profiles, protocol
from aranya_perf.cli import UsageError, preflight
from aranya_perf.cli.args import (
    count,
    count_or_auto,
    duration,
    interval,
    listen_address,
    non_negative,
    positive,
)
from aranya_perf.gateway.emulate import NAMES as EMULATIONS
from aranya_perf.gateway.schedule import SCHEDULES
from aranya_perf.profiles.schema import CHECK_PERF_LOADS, SCENARIOS, SHAPES
from aranya_perf.run import gateway_processes
from aranya_perf.run.workers import WORKERS_WAIT_S
from aranya_perf.targets import TargetError, check_target

if TYPE_CHECKING:
    from collections.abc import Callable

    from aranya_perf.run.orchestrate import RunOutcome

EXIT_CODES = {"ok": 0, "failed": 1, "interrupted": 130}


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
        {"type": non_negative, "help": "open model: operator calls per second, whatever the response time"},
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
        "--operator-api",
        ("operators.api",),
        {
            "choices": ("auto", "kubernetes", "control"),
            "help": "how operators reach devices: kubectl's paths (the embedded gateway's Kubernetes face, "
            "or --kubeconfig's cluster), the gateway's control service, or auto (default): kubernetes "
            "where it can be used, else control, saying why",
        },
    ),
    (
        "--operator-route",
        ("operators.route",),
        {
            "choices": ("api", "kubelet"),
            "help": "kubernetes: through the API server, or to the kubelet paths",
        },
    ),
    (
        "--kubeconfig",
        ("target.kubeconfig",),
        {"metavar": "PATH", "help": "with --target: the cluster's kubeconfig for the Kubernetes operators"},
    ),
    (
        "--kubeconfig-out",
        ("gateway.kubeconfig_out",),
        {
            "metavar": "PATH",
            "help": "embedded: write the gateway's Kubernetes kubeconfig there during the run",
        },
    ),
    (
        "--target-metrics",
        ("target.metrics",),
        {"metavar": "HOST:PORT", "help": "Prometheus endpoint of --target"},
    ),
    (
        "--target-pid",
        ("target.pid",),
        {"type": count, "metavar": "PID", "help": "--target's process on this machine: its cost over time"},
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
        {
            "type": count_or_auto,
            "metavar": "N|auto",
            "help": "embedded gateway processes, each owning part of the fleet (default auto: chosen from "
            "the fleet, its command rate and the cores, said at start-up)",
        },
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


FLEET, SERVICE, GRPC, ETCD = ("aranya",), ("grpc", "etcd"), ("grpc",), ("etcd",)
EMBEDDED, GIVEN, EITHER = "embedded", "given", "either"
FLAG_SCOPES: dict[str, tuple[tuple[str, ...], str]] = {
    "--scenario": (SCENARIOS, EITHER),
    "--users": (SERVICE, EITHER),
    "--check-perf": (ETCD, EITHER),
    "--proto": (GRPC, EITHER),
    "--import-path": (GRPC, EITHER),
    "--reflection": (GRPC, EITHER),
    "--call": (GRPC, EITHER),
    "--devices": (FLEET, EITHER),
    "--operators": (FLEET, EITHER),
    "--arrival-rate": (FLEET, EITHER),
    "--duration": (SCENARIOS, EITHER),
    "--spawn-rate": (FLEET, EITHER),
    "--shape": (SCENARIOS, EITHER),
    "--seed": (SCENARIOS, EITHER),
    "--protocol": (FLEET, EITHER),
    "--target": (SCENARIOS, EITHER),
    "--transport": (FLEET, EITHER),
    "--mqtt-namespace": (FLEET, EITHER),
    "--control": (FLEET, GIVEN),
    "--target-metrics": (SCENARIOS, GIVEN),
    "--target-pid": (SCENARIOS, GIVEN),
    "--link": (FLEET, EITHER),
    "--prometheus": (SCENARIOS, EITHER),
    "--listener-per-device": (FLEET, EMBEDDED),
    "--gateway-processes": (FLEET, EMBEDDED),
    "--schedule": (FLEET, EMBEDDED),
    "--node-info-interval": (FLEET, EMBEDDED),
    "--metrics-interval": (FLEET, EMBEDDED),
    "--status-interval": (FLEET, EITHER),
    "--answer-delay": (FLEET, EITHER),
    "--gc-freeze": (SCENARIOS, EITHER),
    "--operator-api": (FLEET, EITHER),
    "--operator-route": (FLEET, EITHER),
    "--kubeconfig": (FLEET, GIVEN),
    "--kubeconfig-out": (FLEET, EMBEDDED),
    "--emulate": (FLEET, EMBEDDED),
}
"""Each profile flag's scope: the scenarios it applies to, and whether to the embedded target, a given
one (``--target``), or either. A flag given outside its scope is refused, not ignored."""


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
    p.add_argument(
        "--repeat",
        type=count,
        metavar="N",
        help="run the profile N times, each in its own directory, as one group (listed in OUT/groups/)",
    )
    p.add_argument(
        "--label",
        action="append",
        metavar="KEY=VALUE",
        help="recorded in meta.json and the run catalogue, e.g. aranya_commit=abc123 (repeatable)",
    )
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
    p.add_argument(
        "--workers-wait",
        type=duration,
        default=WORKERS_WAIT_S,
        metavar="DURATION",
        help="the run fails when its workers have not all connected within this long "
        f"(default {WORKERS_WAIT_S:g}s)",
    )


def _value(args: argparse.Namespace, flag: str) -> Any:
    """What ``flag`` was given as (None: not given)."""
    return getattr(args, flag[2:].replace("-", "_"))


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The profile keys the given flags set (``section.field`` -> value)."""
    out: dict[str, Any] = {}
    for flag, keys, _kwargs in PROFILE_FLAGS:
        value = _value(args, flag)
        if value is not None:
            out.update(dict.fromkeys(keys, value))
    return out


def origins(args: argparse.Namespace) -> dict[str, str]:
    """The profile keys the given flags set (``section.field`` -> the flag), for messages."""
    out: dict[str, str] = {}
    for flag, keys, _kwargs in PROFILE_FLAGS:
        if _value(args, flag) is not None:
            out.update(dict.fromkeys(keys, flag))
    return out


def check_scopes(args: argparse.Namespace, flags: dict[str, Any], base: profiles.Profile) -> None:
    """Refuse a flag given outside its ``FLAG_SCOPES`` (the scenario and target are the flags' over the
    profile's ``base``)."""
    scenario = flags.get("run.scenario", base.run.scenario)
    address = flags.get("target.address", base.target.address)
    from_where = "--scenario" if "run.scenario" in flags else base.source
    for flag, (scenarios, target) in FLAG_SCOPES.items():
        if _value(args, flag) is None:
            continue
        if scenario not in scenarios:
            raise UsageError(
                f"{flag} applies to scenario {', '.join(scenarios)}, not to {scenario} (set by {from_where})"
            )
        if target == EMBEDDED and address is not None:
            raise UsageError(f"{flag} applies to the embedded gateway only, not to target {address}")
        if target == GIVEN and address is None:
            raise UsageError(f"{flag} applies to a given target (--target) only, not to the embedded one")


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
    from aranya_perf.run import repeat

    try:
        labels = repeat.parse_labels(args.label)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.repeat == 0:
        raise UsageError("--repeat must be at least 1")
    flags = overrides(args)
    if str(flags.get("target.address", "")).startswith("mqtt://") and "target.transport" not in flags:
        flags["target.transport"] = "mqtt"  # a broker's address says how devices reach it
    given = origins(args)
    try:
        check_scopes(args, flags, profiles.load(args.profile))
        profile = profiles.resolve(args.profile, flags, cli_calls(args.call), given)
    except profiles.ProfileError as exc:
        raise UsageError(str(exc)) from None
    preflight.check_out(args.out)
    preflight.check_fleet(profile, given)
    preflight.check_workers(args.workers)
    # The run decides "auto" again from the same inputs (run.orchestrate); here its count is checked.
    checked, _ = gateway_processes.resolved(profile, args.workers)
    preflight.check_sizes(checked, max(1, args.workers + args.remote_workers), given)
    preflight.check_tls(profile)
    preflight.check_address_map(profile, args.allow_remote)
    preflight.check_protos(profile, given)
    from aranya_perf.run.target import check_operator_api, check_transport

    try:
        check_transport(checked)
        check_operator_api(checked)
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    bind = listen_address(args.master_bind, args.allow_remote)
    live = listen_address(args.metrics_listen, args.allow_remote) if args.metrics_listen else None
    if profile.target.pid is not None and not (
        profile.target.pid > 0 and psutil.pid_exists(profile.target.pid)
    ):
        raise UsageError(f"target.pid {profile.target.pid}: no such process on this machine")
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
    from aranya_perf.run.orchestrate import RunOptions

    options = RunOptions(
        out=args.out,
        workers=args.workers,
        remote_workers=args.remote_workers,
        master_bind=bind,
        workers_wait=args.workers_wait,
        metrics_listen=live,
        allow_remote=args.allow_remote,
        argv=tuple(sys.argv[1:]),
        descriptors=descriptors,
        grpc_calls=grpc_calls,
    )
    return _runs(profile, options, args.repeat, labels)


def _runs(profile: profiles.Profile, options: Any, repeat_n: int | None, labels: dict[str, str]) -> int:
    """One run, or with ``--repeat`` a group of runs; the exit code of the worst."""
    from dataclasses import replace

    from aranya_perf.run import repeat
    from aranya_perf.run.interrupt import exit_code
    from aranya_perf.run.orchestrate import run_profile
    from aranya_perf.targets import TargetUnreachable

    size = repeat_n or 1
    group = repeat.new_group_id(profile.name) if repeat_n else None
    listed: list[dict[str, str]] = []
    worst = 0
    etcd = profile.run.scenario == "etcd"
    for index in range(size):
        place = repeat.group_meta(group, index, size) if group is not None else None
        try:
            outcome = run_profile(
                profile,
                replace(options, labels=labels, group=place),
                then=lambda done, stopped: _report(done, stopped, etcd=etcd),
            )
        except TargetUnreachable as exc:
            print(f"aranya-perf run: error: {exc}", file=sys.stderr)
            return 1
        except TargetError as exc:
            if index:  # the target was fine for the earlier runs of the group
                print(f"aranya-perf run: error: {exc}", file=sys.stderr)
                return 1
            raise UsageError(str(exc)) from None
        if outcome.status != "ok":
            print(f"aranya-perf run: {outcome.status}: {outcome.reason}", file=sys.stderr)
        stopped = outcome.stop_signal
        worst = max(worst, exit_code(stopped) if stopped is not None else EXIT_CODES[outcome.status])
        if group is not None:
            listed.append(
                {"run_id": outcome.run_dir.name, "path": str(outcome.run_dir), "status": outcome.status}
            )
            where = repeat.write_listing(options.out, group, size, listed)
            print(f"aranya-perf run: group {group}: {len(listed)} of {size} runs, listed in {where}")
        if outcome.status == "interrupted":
            break
    return worst


def _report(outcome: RunOutcome, stopped: Callable[[], bool], *, etcd: bool) -> None:
    """The report of the run's directory, as written, and the summary printed under the run's progress.
    A stopped run (``stopped()``, before or meanwhile) gets its report without the plots not yet drawn:
    a stop must end within a CI runner's or Kubernetes' grace period, and the plots take the most CPU."""
    # Imported here: pandas and matplotlib; the run itself imports no report code.
    from aranya_perf.analysis import etcd_report
    from aranya_perf.analysis.run_data import load_run
    from aranya_perf.analysis.run_report import format_summary_table, summary_rows, write_run_report

    data = load_run(outcome.run_dir)
    report = write_run_report(data, stopped=stopped)  # a first stop signal meanwhile is noted, not raised
    summary = summary_rows(data)
    beside = etcd_report.summary_lines(data, summary) if etcd else []
    beside_text = ("\n" + "\n".join(beside) + "\n") if beside else ""
    lines = outcome.slo_lines
    slo_text = ("\nSLOs:\n  " + "\n  ".join(lines) + "\n") if lines else ""
    if outcome.finding_lines:
        slo_text += "\nfindings:\n  " + "\n  ".join(outcome.finding_lines) + "\n"
    if outcome.drift_lines:
        slo_text += "\ncost over time:\n  " + "\n  ".join(outcome.drift_lines) + "\n"
    reason = f" ({outcome.reason})" if outcome.reason else ""
    busiest = f"\nbusiest: {outcome.busiest}" if outcome.busiest else ""
    if outcome.gateway_processes:
        busiest += f"\n{outcome.gateway_processes}"
    notes = "".join(f"\nnote: {n}" for n in outcome.notes)
    table = format_summary_table(summary)
    ending = f"status: {outcome.status}{reason}\nreport: {report}"
    print(f"\n{table}\n{beside_text}{slo_text}{busiest}{notes}\n{ending}", flush=True)
