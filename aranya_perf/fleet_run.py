"""The main job: a fleet of simulated devices plus operators against a gateway, ending in a report.

Order of work: validate, create the results directory, start the embedded
gateway (a separate process, so its CPU and memory are measured apart from
the generator's) unless a target was given, check the target is reachable,
run Locust in this process for the given duration, then stop everything and
write the results. Whatever happens after the results directory exists -
failure, Ctrl-C - the directory is left readable with ``status`` saying how
the run ended.

Importing this module imports Locust, which monkey-patches the process with
gevent: only the ``run`` verb imports it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import signal
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TextIO

import gevent
from locust import stats as locust_stats
from locust.env import Environment

from analysis.run_report import format_summary_table, summary_rows, write_run_report
from aranya_perf import address_map, protocol, results
from aranya_perf.gateway.process import GatewayProcess, GatewayStartError
from aranya_perf.measure.latency import LatencyRecorder, merge, split_key
from aranya_perf.measure.resources import ResourceSampler
from aranya_perf.protocol.control import ControlStub
from aranya_perf.protocol.control import messages as ctl
from aranya_perf.targets import TargetError, check_target, format_address, wait_reachable
from loadtests import hooks
from loadtests.devices import DeviceUser
from loadtests.engine import get_engine, shutdown_engine
from loadtests.operators import REQUEST_TYPE as OPERATOR_REQUESTS
from loadtests.operators import OperatorUser

GATEWAY_START_TIMEOUT_S = 15.0
REACH_TIMEOUT_S = 5.0
PROGRESS_EVERY_S = 5.0
STOP_TIMEOUT_S = 10.0  # graceful stop: users finish the call in flight
DRAIN_TIMEOUT_S = 10.0  # the embedded gateway's open sessions end well within their own timeout


@dataclass(frozen=True)
class FleetConfig:
    devices: int = 200
    operators: int = 3
    duration_s: float = 30.0
    spawn_rate: float = 100.0
    protocol: str = protocol.DEFAULT
    target: str | None = None  # an address map spec (see aranya_perf.address_map); None: embedded gateway
    control: str | None = None  # the operators' control service; None: the embedded or shared target
    target_metrics: str | None = None
    allow_remote: bool = False
    out: Path = Path("results")
    profile: str = "fleet"
    listener_per_device: bool = False  # embedded gateway: one listener per device, as aranya runs them
    schedule: str = "load-test"
    node_info_interval_s: float | None = None  # None: the schedule's
    metrics_interval_s: float | None = None
    status_interval_s: float = 10.0
    gc_freeze: bool = True
    argv: list[str] = field(default_factory=list)


@dataclass
class FleetOutcome:
    run_dir: Path
    status: str  # ok | failed | interrupted
    reason: str = ""
    summary_table: str = ""


class RunFailed(Exception):
    """The run could not do its job (target unreachable, gateway did not start)."""


def _gateway_args(config: FleetConfig, run_dir: Path) -> list[str]:
    args = ["--protocol", config.protocol, "--schedule", config.schedule]
    if config.node_info_interval_s is not None:
        args += ["--node-info-interval", f"{config.node_info_interval_s}s"]
    if config.metrics_interval_s is not None:
        args += ["--metrics-interval", f"{config.metrics_interval_s}s"]
    if config.listener_per_device:
        args += ["--listener-per-device", "--devices", str(config.devices)]
        args += ["--address-map-out", str(run_dir / ADDRESS_MAP_FILE)]
    args.append("--gc-freeze" if config.gc_freeze else "--no-gc-freeze")
    return args


ADDRESS_MAP_FILE = "address_map.csv"


def _save_metrics(run_dir: Path, address: str | None, out: TextIO) -> bool:
    """Snapshot the target's Prometheus metrics into gateway_metrics.prom; False if there are none."""
    if not address:
        return False
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5.0) as resp:
            results.atomic_write_text(run_dir / "gateway_metrics.prom", resp.read().decode())
    except OSError as exc:
        out.write(f"  could not read gateway metrics: {exc}\n")
        return False
    return True


def drain_gateway(control: str, timeout: float = DRAIN_TIMEOUT_S) -> int:
    """Ask a reference gateway (plaintext ``control`` address) to stop its schedule and wait for open
    sessions to end; return how many were still open. Runs on the load engine."""
    from grpc import aio  # here, not at the top: grpc must load after Locust has patched the process

    async def drain() -> int:
        async with aio.insecure_channel(control) as channel:
            request = ctl.DrainRequest(timeout_ms=int(timeout * 1000))
            return (await ControlStub(channel).Drain(request, timeout=timeout + 5)).sessions_open

    return int(get_engine().call(drain, timeout=timeout + 10))


def _drain(control: str, out: TextIO) -> None:
    try:
        left = drain_gateway(control)
    except Exception as exc:  # the run's results still get written; the counts may then differ
        out.write(f"  could not drain the gateway: {exc}\n")
        return
    if left:
        out.write(f"  {left} sessions still open after {DRAIN_TIMEOUT_S:g}s of draining\n")


def _user_classes(config: FleetConfig, devices: address_map.AddressMap) -> list[type]:
    # Subclasses rather than mutating the shared classes: several runs can share a process (tests).
    # Operators call the environment's host (the control service); devices take the address map.
    profile = dataclasses.replace(DeviceUser.profile, status_push_interval_s=config.status_interval_s)
    common = {"allow_remote": config.allow_remote}
    classes = []
    if config.devices:
        attrs = {"fixed_count": config.devices, "profile": profile, "protocol_name": config.protocol}
        attrs["address_map"] = devices
        classes.append(type("DeviceUser", (DeviceUser,), {**common, **attrs}))
    if config.operators:
        classes.append(type("OperatorUser", (OperatorUser,), {**common, "fixed_count": config.operators}))
    return classes


def _progress(
    env: Environment, recorder: LatencyRecorder, elapsed: float, duration: float, out: TextIO
) -> None:
    """One progress line: users, request rate, failures and exact operator latency so far."""
    total = env.stats.total
    ops = merge(h for k, h in recorder.histograms().items() if split_key(k)[0] == OPERATOR_REQUESTS)
    if ops.get_total_count():
        latency = f"operator p50 {ops.get_value_at_percentile(50) / 1000:.2f} ms  "
        latency += f"p99 {ops.get_value_at_percentile(99) / 1000:.2f} ms"
    else:
        latency = "no operator calls yet"
    out.write(
        f"  [{elapsed:4.0f}s/{duration:.0f}s] users {env.runner.user_count:5d}  "
        f"req/s {total.current_rps:7.1f}  requests {total.num_requests:7d}  "
        f"failures {total.num_failures:4d}  {latency}\n"
    )
    out.flush()


def run_fleet(config: FleetConfig, out: TextIO = sys.stdout) -> FleetOutcome:
    """Run one fleet load test.

    Raises TargetError (or TargetUnreachable) before anything is written when
    the target is refused or dead; any later failure ends in the outcome.
    """
    if config.devices + config.operators == 0:
        raise TargetError("nothing to run: --devices and --operators are both 0")
    protocol.get(config.protocol)  # ProtocolError (a ValueError) names the known versions
    if config.listener_per_device and config.target is not None:
        raise TargetError(
            "--listener-per-device sets up the embedded gateway; a --target has its own listeners"
        )
    devices: address_map.AddressMap | None = None
    control = config.control
    if config.target is not None:
        # Checked before anything is written: a refused or dead target leaves no results directory.
        devices = address_map.parse(config.target, allow_remote=config.allow_remote)
        devices.assign(config.devices)  # enough devices in the map?
        if control is None and devices.shared is not None:
            control = devices.shared
        if config.operators and control is None:
            raise TargetError(
                "operators need a control service (--control HOST:PORT of a reference gateway); "
                "a real aranya is driven through kubectl: pass --operators 0"
            )
        first = devices.shared or devices.entries[0].address
        wait_reachable(*check_target(first, allow_remote=config.allow_remote), timeout=REACH_TIMEOUT_S)
    if control is not None:
        control = format_address(*check_target(control, allow_remote=config.allow_remote))
    return FleetRun(config, out, devices, control).run()


class FleetRun:
    """The state of one run, so that ``finish`` can stop and save whatever was started."""

    def __init__(
        self, config: FleetConfig, out: TextIO, devices: address_map.AddressMap | None, control: str | None
    ) -> None:
        self.config = config
        self.out = out
        self.devices = devices
        self.control = control
        self.run_dir = results.new_run_dir(Path(config.out), config.profile)
        proto = protocol.get(config.protocol)
        self.meta = results.collect_meta(
            argv=config.argv,
            config={
                k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items() if k != "argv"
            },
            target={
                "address": config.target,
                "embedded": config.target is None,
                "control": control,
                "listener_per_device": config.listener_per_device or bool(devices and devices.per_device),
            },
            profile=config.profile,
            run_id=self.run_dir.name,
        )
        self.meta["protocol"] = {"name": proto.name, "source": proto.source, "service": proto.service}
        results.write_meta(self.run_dir, self.meta)
        self.outcome = FleetOutcome(run_dir=self.run_dir, status="failed")
        self.metrics_address = config.target_metrics
        self.metrics_saved = False
        self.gateway: GatewayProcess | None = None
        self._gateway_log: IO[bytes] | None = None
        self.env: Environment | None = None
        self.sampler: ResourceSampler | None = None
        self.recorder: LatencyRecorder | None = None
        self.csv_writer: locust_stats.StatsCSVFileWriter | None = None
        self.greenlets: list[gevent.Greenlet] = []

    def run(self) -> FleetOutcome:
        self.out.write(f"aranya-perf run ({self.config.protocol}): results in {self.run_dir}\n")
        try:
            self._start_target()
            self._load()
            self.outcome.status = "ok"
            total = self.env.stats.total if self.env else None
            if total is None or total.num_requests - total.num_failures <= 0:
                self.outcome.status, self.outcome.reason = "failed", "no successful request"
        except KeyboardInterrupt:
            self.outcome.status, self.outcome.reason = "interrupted", "interrupted by the user"
        except RunFailed as exc:
            self.outcome.status, self.outcome.reason = "failed", str(exc)
        finally:
            self._finish()
        return self.outcome

    def _start_target(self) -> None:
        """Start the embedded gateway unless a target was given; fills ``devices`` and ``control``."""
        config = self.config
        if self.devices is not None:
            return
        self._gateway_log = (self.run_dir / "gateway.log").open("wb")
        self.gateway = GatewayProcess(_gateway_args(config, self.run_dir), stderr=self._gateway_log)
        try:
            self.gateway.start(timeout=GATEWAY_START_TIMEOUT_S)
        except GatewayStartError as exc:
            raise RunFailed(f"embedded {exc} (see {self.run_dir / 'gateway.log'})") from None
        gw = self.gateway
        self.metrics_address = gw.metrics_address
        if config.listener_per_device:
            self.devices = address_map.read_file(self.run_dir / ADDRESS_MAP_FILE)
        else:
            self.devices = address_map.AddressMap(gw.address, shared=gw.address)
        self.control = gw.address
        where = (
            f"{len(gw.device_addresses)} device listeners + control {gw.address}"
            if gw.device_addresses
            else gw.address
        )
        self.out.write(
            f"  embedded gateway ({gw.protocol}) {where} (metrics http://{self.metrics_address}/metrics)\n"
        )
        self.meta["target"].update(address=gw.address, control=gw.address, metrics=self.metrics_address)
        if config.listener_per_device:
            self.meta["target"]["address_map"] = ADDRESS_MAP_FILE
        results.write_meta(self.run_dir, self.meta)

    def _load(self) -> None:
        config = self.config
        processes = {"generator": os.getpid()}
        if self.gateway is not None:
            processes["gateway"] = self.gateway.pid
        self.sampler = ResourceSampler(self.run_dir / "resources.csv", processes, interval=1.0)
        self.sampler.start()

        assert self.devices is not None
        env = Environment(
            user_classes=_user_classes(config, self.devices),
            host=self.control or self.devices.shared,
            stop_timeout=STOP_TIMEOUT_S,
        )
        self.env = env
        hooks.install(env.events, gc_freeze=config.gc_freeze)
        self.recorder = LatencyRecorder(env)
        runner = env.create_local_runner()
        self.csv_writer = locust_stats.StatsCSVFileWriter(
            env, locust_stats.PERCENTILES_TO_REPORT, str(self.run_dir / "locust"), full_history=True
        )
        self.greenlets += [
            gevent.spawn(locust_stats.stats_history, runner),
            gevent.spawn(self.csv_writer.stats_writer),
        ]

        started = time.monotonic()
        runner.start(config.devices + config.operators, spawn_rate=config.spawn_rate)
        deadline = started + config.duration_s
        next_progress = started + PROGRESS_EVERY_S
        while (now := time.monotonic()) < deadline:
            gevent.sleep(min(0.2, deadline - now))
            if time.monotonic() >= next_progress:
                _progress(env, self.recorder, time.monotonic() - started, config.duration_s, self.out)
                next_progress += PROGRESS_EVERY_S
        # Operators first, gracefully, so no command is cut off by its device going away.
        if config.operators:
            runner.stop_users({"OperatorUser": config.operators})
        # The gateway's view at the end of the measured window, with the fleet still online: the
        # embedded gateway first stops its schedule and lets open sessions end, so both sides' counts
        # are final when its metrics are read.
        if self.gateway is not None:
            _drain(self.gateway.address, self.out)
        self.metrics_saved = _save_metrics(self.run_dir, self.metrics_address, self.out)
        runner.quit()

    def _finish(self) -> None:
        """Stop everything and write what we have."""
        # A second Ctrl-C during clean-up must not abort the writing of results.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            env, run_dir, outcome = self.env, self.run_dir, self.outcome
            if env is not None and env.runner is not None and env.runner.state != "stopped":
                env.runner.quit()
            if not self.metrics_saved:
                _save_metrics(run_dir, self.metrics_address, self.out)
            if self.sampler is not None:
                self.sampler.stop()
            if self.gateway is not None:
                self.gateway.stop()
            if self._gateway_log is not None:
                self._gateway_log.close()
            shutdown_engine()
            if self.csv_writer is not None:
                gevent.killall(self.greenlets, block=True, timeout=2)
                _write_final_csv(self.csv_writer, run_dir)
            if self.recorder is not None:
                self.recorder.detach()
                self.recorder.write(run_dir)
            summary = {}
            if env is not None:
                total = env.stats.total
                summary = {"requests": total.num_requests, "failures": total.num_failures}
            summary.update(devices=self.config.devices, operators=self.config.operators)
            self.meta.update(status=outcome.status, reason=outcome.reason, finished_at=results.utc_now_iso())
            self.meta["summary"] = summary
            results.write_meta(run_dir, self.meta)
            report = write_run_report(run_dir)
            outcome.summary_table = format_summary_table(summary_rows(run_dir))
            reason = f" ({outcome.reason})" if outcome.reason else ""
            self.out.write(
                f"\n{outcome.summary_table}\n\nstatus: {outcome.status}{reason}\nreport: {report}\n"
            )
            self.out.flush()
        finally:
            signal.signal(signal.SIGINT, previous)


def _write_final_csv(csv_writer: locust_stats.StatsCSVFileWriter, run_dir: Path) -> None:
    """Close Locust's periodic writer, then rewrite its snapshot files with the final totals.

    The periodic writer refreshes once a second; its last pass may predate the
    end of the run. The history file is append-only and stays as written.
    """
    csv_writer.close_files()
    final = locust_stats.StatsCSV(csv_writer.environment, locust_stats.PERCENTILES_TO_REPORT)
    for suffix, write in (
        ("stats", final.requests_csv),
        ("failures", final.failures_csv),
        ("exceptions", final.exceptions_csv),
    ):
        buf = io.StringIO()
        write(csv.writer(buf))
        results.atomic_write_text(run_dir / f"locust_{suffix}.csv", buf.getvalue())
