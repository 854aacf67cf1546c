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
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import gevent
from locust import stats as locust_stats
from locust.env import Environment

from analysis.run_report import format_summary_table, summary_rows, write_run_report
from aranya_perf import results
from aranya_perf.measure.latency import LatencyRecorder
from aranya_perf.measure.resources import ResourceSampler
from aranya_perf.targets import TargetError, check_target, format_address, wait_reachable
from loadtests import hooks
from loadtests.devices import DeviceUser
from loadtests.engine import shutdown_engine
from loadtests.operators import OperatorUser

GATEWAY_START_TIMEOUT_S = 15.0
REACH_TIMEOUT_S = 5.0
PROGRESS_EVERY_S = 5.0
STOP_TIMEOUT_S = 10.0  # graceful stop: users finish the call in flight


@dataclass(frozen=True)
class FleetConfig:
    devices: int = 200
    operators: int = 3
    duration_s: float = 30.0
    spawn_rate: float = 100.0
    target: str | None = None  # None: start the embedded gateway
    target_metrics: str | None = None
    allow_remote: bool = False
    out: Path = Path("results")
    profile: str = "fleet"
    node_info_interval_s: float = 10.0
    metrics_interval_s: float = 10.0
    status_interval_s: float = 10.0
    argv: list[str] = field(default_factory=list)


@dataclass
class FleetOutcome:
    run_dir: Path
    status: str  # ok | failed | interrupted
    reason: str = ""
    summary_table: str = ""


class RunFailed(Exception):
    """The run could not do its job (target unreachable, gateway did not start)."""


class EmbeddedGateway:
    """The reference gateway in a child process on a free loopback port."""

    def __init__(self, config: FleetConfig, log_path: Path) -> None:
        self._config = config
        self._log_path = log_path
        self._log: TextIO | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.address = ""
        self.metrics_address = ""

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "aranya_perf", "gateway",
            "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
            "--node-info-interval", f"{self._config.node_info_interval_s}s",
            "--metrics-interval", f"{self._config.metrics_interval_s}s",
        ]  # fmt: skip
        self._log = self._log_path.open("w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, text=True)
        try:
            with gevent.Timeout(GATEWAY_START_TIMEOUT_S):
                line = self.proc.stdout.readline() if self.proc.stdout else ""
        except gevent.Timeout:
            line = ""
        try:
            ready = json.loads(line)
            self.address, self.metrics_address = ready["listen"], ready["metrics"]
        except (ValueError, KeyError, TypeError):
            self.stop()
            raise RunFailed(f"embedded gateway did not start (see {self._log_path})") from None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()
        if self._log:
            self._log.close()


def fetch_metrics(address: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as resp:
        return resp.read().decode()


def _user_classes(config: FleetConfig) -> list[type]:
    # Subclasses rather than mutating the shared classes: several runs can share a process (tests).
    profile = DeviceUser.profile.__class__(status_push_interval_s=config.status_interval_s)
    common = {"allow_remote": config.allow_remote}
    classes = []
    if config.devices:
        classes.append(
            type("DeviceUser", (DeviceUser,), {**common, "fixed_count": config.devices, "profile": profile})
        )
    if config.operators:
        classes.append(type("OperatorUser", (OperatorUser,), {**common, "fixed_count": config.operators}))
    return classes


def _progress(env: Environment, started: float, duration: float, out: TextIO) -> None:
    total = env.stats.total
    current = total.current_rps
    p50 = total.get_current_response_time_percentile(0.5) or 0
    out.write(
        f"  [{time.monotonic() - started:5.0f}s/{duration:.0f}s] users {env.runner.user_count:5d}  "
        f"req/s {current:8.1f}  requests {total.num_requests:8d}  failures {total.num_failures:5d}  "
        f"p50 {p50:.0f} ms\n"
    )
    out.flush()


def run_fleet(config: FleetConfig, out: TextIO = sys.stdout) -> FleetOutcome:
    """Run one fleet load test.

    Raises TargetError (or TargetUnreachable) before anything is written when
    the target is refused or dead; any later failure ends in the outcome.
    """
    if config.devices + config.operators == 0:
        raise TargetError("nothing to run: --devices and --operators are both 0")
    if config.target is not None:
        # Checked before anything is written: a refused or dead target leaves no results directory.
        wait_reachable(
            *check_target(config.target, allow_remote=config.allow_remote), timeout=REACH_TIMEOUT_S
        )

    run_dir = results.new_run_dir(Path(config.out), config.profile)
    meta = results.collect_meta(
        argv=config.argv,
        config={k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items() if k != "argv"},
        target={"address": config.target, "embedded": config.target is None},
        profile=config.profile,
        run_id=run_dir.name,
    )
    results.write_meta(run_dir, meta)
    out.write(f"aranya-perf run: results in {run_dir}\n")

    gateway: EmbeddedGateway | None = None
    env: Environment | None = None
    sampler: ResourceSampler | None = None
    recorder: LatencyRecorder | None = None
    csv_writer = None
    greenlets: list[gevent.Greenlet] = []
    outcome = FleetOutcome(run_dir=run_dir, status="failed")
    metrics_address = config.target_metrics
    try:
        if config.target is None:
            gateway = EmbeddedGateway(config, run_dir / "gateway.log")
            gateway.start()
            target, metrics_address = gateway.address, gateway.metrics_address
            out.write(f"  embedded gateway {target} (metrics http://{metrics_address}/metrics)\n")
            meta["target"]["address"] = target
            meta["target"]["metrics"] = metrics_address
            results.write_meta(run_dir, meta)
        else:
            target = format_address(*check_target(config.target, allow_remote=config.allow_remote))

        processes = {"generator": os.getpid()}
        if gateway is not None and gateway.proc is not None:
            processes["gateway"] = gateway.proc.pid
        sampler = ResourceSampler(run_dir / "resources.csv", processes, interval=1.0)
        sampler.start()

        env = Environment(user_classes=_user_classes(config), host=target, stop_timeout=STOP_TIMEOUT_S)
        hooks.install(env.events)
        recorder = LatencyRecorder(env)
        runner = env.create_local_runner()
        csv_writer = locust_stats.StatsCSVFileWriter(
            env, locust_stats.PERCENTILES_TO_REPORT, str(run_dir / "locust"), full_history=True
        )
        greenlets.append(gevent.spawn(locust_stats.stats_history, runner))
        greenlets.append(gevent.spawn(csv_writer.stats_writer))

        started = time.monotonic()
        runner.start(config.devices + config.operators, spawn_rate=config.spawn_rate)
        deadline = started + config.duration_s
        next_progress = started + PROGRESS_EVERY_S
        while (now := time.monotonic()) < deadline:
            gevent.sleep(min(0.2, deadline - now))
            if time.monotonic() >= next_progress:
                _progress(env, started, config.duration_s, out)
                next_progress += PROGRESS_EVERY_S
        # Operators first, gracefully, so no command is cut off by its device going away.
        if config.operators:
            runner.stop_users({"OperatorUser": config.operators})
        runner.quit()
        outcome.status = "ok"
        if env.stats.total.num_requests - env.stats.total.num_failures <= 0:
            outcome.status, outcome.reason = "failed", "no successful request"
    except KeyboardInterrupt:
        outcome.status, outcome.reason = "interrupted", "interrupted by the user"
    except RunFailed as exc:
        outcome.status, outcome.reason = "failed", str(exc)
    finally:
        _finish(
            run_dir,
            meta,
            outcome,
            env,
            gateway,
            metrics_address,
            sampler,
            recorder,
            csv_writer,
            greenlets,
            out,
        )
    return outcome


def _finish(
    run_dir: Path,
    meta: dict[str, Any],
    outcome: FleetOutcome,
    env: Environment | None,
    gateway: EmbeddedGateway | None,
    metrics_address: str | None,
    sampler: ResourceSampler | None,
    recorder: LatencyRecorder | None,
    csv_writer: Any,
    greenlets: list[gevent.Greenlet],
    out: TextIO,
) -> None:
    """Stop everything and write what we have; each step guarded so one failure loses nothing else."""
    # A second Ctrl-C during clean-up must not abort the writing of results.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if env is not None and env.runner is not None and env.runner.state != "stopped":
            env.runner.quit()
        if metrics_address:
            try:
                results.atomic_write_text(run_dir / "gateway_metrics.prom", fetch_metrics(metrics_address))
            except OSError as exc:
                out.write(f"  could not read gateway metrics: {exc}\n")
        if sampler is not None:
            sampler.stop()
        if gateway is not None:
            gateway.stop()
        shutdown_engine()
        if csv_writer is not None:
            gevent.killall(greenlets, block=True, timeout=2)
            _write_final_csv(csv_writer, run_dir)
        if recorder is not None:
            recorder.detach()
            recorder.write(run_dir)
        meta["status"] = outcome.status
        meta["reason"] = outcome.reason
        meta["finished_at"] = results.utc_now_iso()
        if env is not None:
            total = env.stats.total
            meta["summary"] = {
                "requests": total.num_requests,
                "failures": total.num_failures,
                "devices": sum(
                    getattr(c, "fixed_count", 0) for c in env.user_classes if "Device" in c.__name__
                ),
            }
        results.write_meta(run_dir, meta)
        report = write_run_report(run_dir)
        outcome.summary_table = format_summary_table(summary_rows(run_dir))
        out.write("\n" + outcome.summary_table + "\n")
        out.write(f"\nstatus: {outcome.status}{' (' + outcome.reason + ')' if outcome.reason else ''}\n")
        out.write(f"report: {report}\n")
        out.flush()
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
