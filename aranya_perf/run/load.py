"""The generator side of a run: Locust (one process, or a master with workers), its window, its files.

``Load`` is a context manager: entering builds the Locust environment for the profile, starts
the runner (local, or a master that waits for its workers), the resource sampler and Locust's
CSV writer; ``measure`` runs the profile's shape until the window ends and closes it so both
sides' counts are final; leaving stops everything it started and writes the generator's files
(latency, Locust's CSVs, samples, per-worker counts), whatever happened before.

Importing this module imports Locust, which monkey-patches the process with gevent: only the
``run`` verb imports it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import gevent
from locust import stats as locust_stats
from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments
from locust.env import Environment

from aranya_perf import profiles
from aranya_perf.loadtests import distributed, hooks
from aranya_perf.loadtests.fleet import existing_plan
from aranya_perf.loadtests.kube_operators import KUBECONFIG_OPTION, kube_option, load_kubeconfig, provide_kube
from aranya_perf.loadtests.kube_operators import REQUEST_TYPE as KUBE_REQUESTS
from aranya_perf.loadtests.observe import observations_for
from aranya_perf.loadtests.operators import REQUEST_TYPE as OPERATOR_REQUESTS
from aranya_perf.loadtests.scenarios import all_user_classes
from aranya_perf.loadtests.service_user import DESCRIPTORS_OPTION, descriptors_option, provide_descriptors
from aranya_perf.loadtests.settings import (
    CONTROLS_OPTION,
    DEVICES_OPTION,
    PROFILE_OPTION,
    configure,
    map_option,
)
from aranya_perf.loadtests.shapes import ProfileShape
from aranya_perf.loadtests.window import window_for
from aranya_perf.measure.latency import (
    SERVICE_SUFFIX,
    LatencyRecorder,
    merge,
    split_key,
    write_samples,
)
from aranya_perf.measure.resources import ResourceSampler
from aranya_perf.profiles import Profile
from aranya_perf.profiles.plan import devices_at, phases
from aranya_perf.results import TIMELINE_COLUMNS, CsvAppender, EventLog, RunFiles, atomic_write_text
from aranya_perf.run import interrupt, progress
from aranya_perf.run.target import Target
from aranya_perf.run.workers import WORKERS_WAIT_S, LocalWorkers

PROGRESS_EVERY_S = 5.0
STOP_TIMEOUT_S = 10.0  # graceful stop: users finish the call in flight
CLOSE_TIMEOUT_S = 10.0  # operators' calls in flight when the window closes
DRAIN_TIMEOUT_S = 10.0
TIMELINE_PERIOD_S = 0.5  # short enough to catch a fleet that drops and is back within a second
LOST_GRACE_S = 10.0
"""A target gone this long ends the window early: the outage is on record, waiting longer shows nothing."""
MISSING_GRACE_S = 5.0
"""A worker missing its heartbeats this much longer than Locust allows is lost (a busy one comes back)."""


class LoadError(RuntimeError):
    """The generator could not start (workers did not connect)."""


@dataclass
class WindowFacts:
    """What happened during the window, for the verdict and meta.json."""

    started_at: float = 0.0
    ended_at: float = 0.0
    ended_early: str = ""
    target_lost: list[dict[str, Any]] = field(default_factory=list)
    workers_lost: list[str] = field(default_factory=list)
    in_flight_at_close: int = 0
    sessions_open_after_drain: int = 0
    metrics_error: str | None = None
    fleet: dict[str, int] = field(default_factory=dict)
    window: dict[str, int] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    """The rows of timeline.csv, as sampled."""


def _master_options(
    p: Profile, target: Target, workers: int, allow_remote: bool, descriptors: bytes | None = None
) -> argparse.Namespace:
    """Locust's parsed options for the master, with the run in our keys: Locust copies them into every
    spawn message, which is how a worker anywhere learns the run."""
    parser = get_empty_argument_parser()
    setup_parser_arguments(parser)
    opts = parser.parse(args=[])
    opts.num_users = None
    opts.expect_workers = workers
    setattr(opts, PROFILE_OPTION, profiles.render(p))
    setattr(opts, DEVICES_OPTION, map_option(target.address_map))
    setattr(opts, CONTROLS_OPTION, list(target.controls))
    if target.kubeconfig is not None:
        setattr(opts, KUBECONFIG_OPTION, kube_option(target.kubeconfig, p.operators.route))
    opts.allow_remote = allow_remote
    if descriptors is not None:
        setattr(opts, DESCRIPTORS_OPTION, descriptors_option(descriptors))
    return opts


class Load:
    def __init__(
        self,
        p: Profile,
        target: Target,
        run_dir: Path,
        events: EventLog,
        out: TextIO,
        *,
        workers: int = 0,
        remote_workers: int = 0,
        master_bind: tuple[str, int] = ("127.0.0.1", 0),
        workers_wait: float = WORKERS_WAIT_S,
        allow_remote: bool = False,
        metrics_listen: tuple[str, int] | None = None,
        descriptors: bytes | None = None,
        stops: interrupt.StopSignals | None = None,
    ) -> None:
        self.stops = stops
        """The run's stop signals: from the window's opening, one ends the window early (``interrupt``)."""
        self.descriptors = descriptors
        """Scenario grpc: the service's ``FileDescriptorSet``, for every Locust process."""
        self.p, self.target, self.run_dir, self.events, self.out = p, target, run_dir, events, out
        self.workers, self.remote_workers = workers, remote_workers
        self.master_bind, self.allow_remote = master_bind, allow_remote
        self.workers_wait = workers_wait
        """Seconds the master waits for all its workers to connect before the run fails."""
        self.metrics_listen = metrics_listen
        self.live: Any = None
        self.facts = WindowFacts()
        self.missing_since: dict[str, float] = {}
        """Workers missing their heartbeats -> since when (s into the window)."""

    # -- setup -------------------------------------------------------------------------------------

    def __enter__(self) -> Load:
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def _start(self) -> None:
        p, target = self.p, self.target
        self.runner: Any = None
        self.local_workers: LocalWorkers | None = None
        self.tally: distributed.RunTally | None = None
        self.sampler: ResourceSampler | None = None
        self.csv_writer: Any = None
        self.timeline: CsvAppender | None = None
        self.shape = ProfileShape()
        self.shape.stop_at_end = False  # the window ends here, after the gateway drained
        self.shape.on_storm = self._on_storm
        distributed_run = self.workers + self.remote_workers > 0
        opts = None
        if distributed_run:
            opts = _master_options(
                p, target, self.workers + self.remote_workers, self.allow_remote, self.descriptors
            )
        self.env = env = Environment(
            user_classes=all_user_classes(),
            shape_class=self.shape,
            stop_timeout=STOP_TIMEOUT_S,
            parsed_options=opts,
        )
        configure(env, p, target.address_map, target.controls, allow_remote=self.allow_remote)
        if self.descriptors is not None:
            provide_descriptors(env, self.descriptors)
        if target.kubeconfig is not None:
            provide_kube(env, load_kubeconfig(target.kubeconfig, p.operators.route))
        hooks.install(env.events, gc_freeze=p.fleet.gc_freeze)
        if self.metrics_listen is not None:
            from aranya_perf.loadtests.live_metrics import LiveMetrics

            self.live = LiveMetrics(env, run=self.run_dir.name)
            address = self.live.serve(*self.metrics_listen)
            self.out.write(f"  live metrics on http://{address}/metrics\n")
        if distributed_run:
            host, port = self.master_bind
            self.runner = env.create_master_runner(master_bind_host=host, master_bind_port=port)
            self.recorder = LatencyRecorder(env, follow_resets=False)
            self.tally = distributed.install_master(env, self.recorder)
            env.events.worker_connect.add_listener(
                lambda client_id, **_kw: self.events.write("worker_joined", client=client_id)
            )
            if self.workers:
                self.local_workers = LocalWorkers(self.workers, self.runner.server.port, self.run_dir)
            self._wait_for_workers()
        else:
            self.runner = env.create_local_runner()
            self.recorder = LatencyRecorder(env, keep_samples=p.run.keep_samples)
            distributed.install_local(env)
        processes = {"generator": os.getpid(), **target.processes}
        if self.local_workers is not None:
            processes.update(self.local_workers.pids)
        self.sampler = ResourceSampler(self.run_dir / RunFiles.RESOURCES, processes, interval=1.0)
        self.sampler.start()
        self.csv_writer = locust_stats.StatsCSVFileWriter(
            env, locust_stats.PERCENTILES_TO_REPORT, str(self.run_dir / "locust"), full_history=True
        )
        self.greenlets = [
            gevent.spawn(locust_stats.stats_history, self.runner),
            gevent.spawn(self.csv_writer.stats_writer),
        ]
        self.timeline = CsvAppender(self.run_dir / RunFiles.TIMELINE, TIMELINE_COLUMNS)

    def _wait_for_workers(self) -> None:
        want = self.workers + self.remote_workers
        host, port = self.master_bind[0], self.runner.server.port
        if self.remote_workers:  # they may take a while (pods being scheduled): say what the run waits for
            self.out.write(f"  waiting up to {self.workers_wait:g}s for {want} workers at {host}:{port}\n")
            self.out.flush()
        deadline = time.monotonic() + self.workers_wait
        while self.runner.worker_count < want:
            if time.monotonic() > deadline:
                raise LoadError(
                    f"only {self.runner.worker_count} of {want} workers connected "
                    f"within {self.workers_wait:g}s"
                )
            if self.local_workers is not None and (gone := self.local_workers.exited()):
                raise LoadError(f"{gone[0]} before connecting (see {self.run_dir}/worker-*.log)")
            gevent.sleep(0.1)
        self.out.write(f"  {want} workers connected to the master at {host}:{port}\n")

    # -- the window --------------------------------------------------------------------------------

    def measure(self) -> WindowFacts:
        """Run the shape until the profile's duration (or until the target is gone for good), then close
        the window."""
        p, facts = self.p, self.facts
        plan = phases(p)
        if self.stops is not None:
            self.stops.defer()
        self.runner.start_shape()
        facts.started_at = started = time.time()
        self.events.write("window_open", t=started, profile=p.name, shape=p.shape.kind)
        if self.live is not None:
            self.live.set_window(True)
        self.out.write(progress.header(PROGRESS_EVERY_S, self._progress_what()))
        self.last_tally = self._tally()
        phase_index, lost_since = -1, None
        next_sample = time.monotonic()
        next_progress = next_sample + PROGRESS_EVERY_S
        next_probe = next_sample
        stall = p.gateway.stall_at_s if p.gateway.stall_s else None
        thaw_at = None
        reset = p.gateway.reset_at_s or None
        while (elapsed := time.time() - started) < p.run.duration_s:
            gevent.sleep(0.2)
            if self.stops is not None and self.stops.received is not None:
                facts.ended_early = interrupt.reason(self.stops.received)
                break
            if stall is not None and elapsed >= stall:
                self.target.freeze()
                self.events.write("stall", seconds=p.gateway.stall_s)
                stall, thaw_at = None, elapsed + p.gateway.stall_s
            if thaw_at is not None and elapsed >= thaw_at:
                self.target.thaw()
                self.events.write("stall_end")
                thaw_at = None
            if reset is not None and elapsed >= reset:
                self.target.reset_streams()
                self.events.write("streams_reset")
                reset = None
            while phase_index + 1 < len(plan) and elapsed >= plan[phase_index + 1].start_s:
                phase_index += 1
                ph = plan[phase_index]
                self.events.write(
                    "phase", name=ph.name, start_s=ph.start_s, end_s=ph.end_s, devices=ph.devices
                )
                if self.live is not None:
                    self.live.set_phase(ph.name)
            if time.monotonic() < next_sample:
                continue
            next_sample += TIMELINE_PERIOD_S
            if time.monotonic() >= next_probe and thaw_at is None:  # a frozen target is not a lost one
                next_probe += 1.0  # a connect probe once a second is plenty
                reason = self.target.lost()
                if reason and lost_since is None:
                    lost_since = elapsed
                    facts.target_lost.append({"at_s": round(elapsed, 1), "reason": reason})
                    self.events.write("target_lost", at_s=round(elapsed, 1), reason=reason)
                    self.out.write(f"  target lost at {elapsed:.0f}s: {reason}\n")
                elif not reason and lost_since is not None:
                    self.events.write("target_back", at_s=round(elapsed, 1))
                    lost_since = None
            self._check_workers(elapsed)
            self._sample(started, plan[max(phase_index, 0)].name, target_up=lost_since is None)
            if lost_since is not None and elapsed - lost_since >= LOST_GRACE_S:
                facts.ended_early = f"target gone since {lost_since:.0f}s"
                break
            if time.monotonic() >= next_progress:
                self._progress(elapsed)
                next_progress += PROGRESS_EVERY_S
        self.target.thaw()
        self._close_window(started)
        return facts

    def _after_window(self, elapsed: float) -> str:
        """The line saying what the run waits for once the window closed (so a long wait is never silent)."""
        steps = ["operators' calls in flight"]
        if self.tally is not None:
            steps.append("the workers' final reports")
        if self.target.embedded:
            steps.append("the gateway's drain and final counters")
        elif self.target.metrics:
            steps.append("the target's final counters")
        if self.live is not None:
            steps.append("one more Prometheus scrape of the live metrics")
        if self.p.queries:
            steps.append("the Prometheus range queries")
        steps += ["the generator's files", "the verdict and the report"]
        return f"  window closed at {elapsed:.0f}s; waiting for {', '.join(steps)}\n"

    def _close_window(self, started: float) -> None:
        facts = self.facts
        self.out.write(self._after_window(time.time() - started))
        self.out.flush()
        close = distributed.barrier(self.runner, distributed.CLOSE, CLOSE_TIMEOUT_S)
        facts.in_flight_at_close = close["in_flight"]
        if close["missing"]:
            facts.workers_lost.append(f"{close['missing']} workers did not answer the window's close")
        self.events.write("window_closed", elapsed_s=round(time.time() - started, 1), **close)
        if self.live is not None:
            self.live.set_phase(None)
            self.live.set_window(False)
        if self.target.embedded and not self.target.lost():
            try:
                facts.sessions_open_after_drain = self.target.drain(DRAIN_TIMEOUT_S)
                self.events.write("drained", sessions_open=facts.sessions_open_after_drain)
            except Exception as exc:  # the counts may then differ by what was in flight
                self.out.write(f"  could not drain the gateway: {exc}\n")
        flush = distributed.barrier(self.runner, distributed.FLUSH, CLOSE_TIMEOUT_S)
        if flush["missing"]:
            facts.workers_lost.append(f"{flush['missing']} workers sent no final report")
        facts.metrics_error = self.target.save_metrics(self.run_dir / RunFiles.GATEWAY_METRICS)
        if facts.metrics_error and self.target.metrics:
            self.out.write(f"  {facts.metrics_error}\n")
        broker_error = self.target.save_broker_sys(self.run_dir / RunFiles.BROKER_SYS)
        if broker_error:
            self.out.write(f"  {broker_error}\n")
            self.events.write("broker_sys", error=broker_error)
        facts.ended_at = time.time()
        fleet, window = self._counts()
        facts.fleet, facts.window = fleet, window
        self._sample(started, "end", target_up=self.target.lost() is None)

    def _counts(self) -> tuple[dict[str, int], dict[str, int]]:
        if self.tally is not None:
            return self.tally.total("fleet"), self.tally.total("window")
        plan = existing_plan(self.env)
        return (plan.counts() if plan is not None else {}), window_for(self.env).counts()

    def _sample(self, started: float, phase: str, *, target_up: bool) -> None:
        fleet, window = self._counts()
        now = time.time()
        elapsed = now - started
        row = {
            "timestamp": round(now, 3),
            "elapsed_s": round(elapsed, 3),
            "phase": phase,
            "devices_target": devices_at(self.p, elapsed),
            "users": self.runner.user_count,
            **{k: fleet.get(k, 0) for k in ("devices", "online", "connects", "reconnects")},
            **{
                k: window.get(k, 0) for k in ("arrivals", "missed_starts", "queued_starts", "calls_in_flight")
            },
            "workers": self.runner.worker_count if self.tally is not None else 1,
            "target_up": int(target_up),
        }
        self.timeline.append(row)
        self.facts.timeline.append(row)

    def _check_workers(self, elapsed: float) -> None:
        """A worker whose process exited (local workers), or missing its heartbeats for ``MISSING_GRACE_S``,
        is lost from then on."""
        if self.tally is None:
            return
        procs = self.local_workers.procs if self.local_workers is not None else []
        exited = {p.pid for p in procs if p.poll() is not None}
        missing = {c.id for c in self.runner.clients.missing}
        self.missing_since = {c: self.missing_since.get(c, elapsed) for c in missing}
        gone = {
            c: "missing (no heartbeat)" for c in missing if elapsed - self.missing_since[c] >= MISSING_GRACE_S
        }
        gone |= {c: "exited" for c, pid in self.tally.pids.items() if pid in exited}
        for client, how in gone.items():
            if client in self.tally.lost:
                continue
            at = self.missing_since.get(client, elapsed)
            devices = self.tally.lose(client, self.facts.started_at + at)
            index, pid = self.tally.index.get(client, -1), self.tally.pids.get(client, 0)
            note = f"worker {index} (pid {pid}) {how} at {at:.0f}s: its {devices} devices offline since"
            self.facts.workers_lost.append(note)
            self.events.write("worker_lost", client=client, worker=index, pid=pid, at_s=round(at, 1))
            self.out.write(f"  {note}\n")

    def _on_storm(self, index: int, at: float) -> None:
        s = self.p.shape
        self.events.write(
            "storm", index=index, at_s=at, fraction=s.storm_fraction, duplicate=s.storm_duplicate
        )
        self.out.write(f"  storm {index + 1} at {at:g}s: {s.storm_fraction:.0%} of the devices drop\n")

    def _progress_what(self) -> str:
        return "operator calls" if self.p.fleet_run else "calls"

    def _tally(self) -> progress.Tally:
        """The counters a progress line is computed from (``progress``), as of now."""
        total = self.env.stats.total
        # A service scenario's clients make one kind of call: all of them are its latency.
        ops = merge(
            h
            for k, h in self.recorder.histograms().items()
            if (split_key(k)[0] in (OPERATOR_REQUESTS, KUBE_REQUESTS) or not self.p.fleet_run)
            and not k.endswith(SERVICE_SUFFIX)
        )
        return progress.Tally(time.monotonic(), total.num_requests, total.num_failures, ops)

    def _progress(self, elapsed: float) -> None:
        now = self._tally()
        fleet, _ = self._counts()
        level = (
            f"devices online {fleet.get('online', 0):5d}"
            if self.p.fleet_run
            else f"clients {self.runner.user_count:5d}"
        )
        self.out.write(
            progress.line(
                self.last_tally,
                now,
                elapsed_s=elapsed,
                duration_s=self.p.run.duration_s,
                level=level,
                what=self._progress_what(),
            )
        )
        self.out.flush()
        self.last_tally = now

    # -- teardown ----------------------------------------------------------------------------------

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        """Stop what was started, in order (users, workers, samplers), then write the generator's files."""
        from aranya_perf.loadtests.engine import shutdown_engine

        if self.runner is not None and self.runner.state != "stopped":
            self.runner.quit()
        if self.live is not None:
            if wait := self.live.linger_s():
                self.out.write(
                    f"  waiting up to {wait:.0f}s for Prometheus to scrape the live metrics once more\n"
                )
                self.out.flush()
            self.live.linger()  # the last counts reach a Prometheus that scrapes us
            self.live.stop()
        if self.local_workers is not None:
            # Before the window (a stop while starting) a worker may not have joined, so no quit reaches it.
            self.local_workers.stop(STOP_TIMEOUT_S if self.facts.started_at else 0.0)
        shutdown_engine()
        if self.sampler is not None:
            self.sampler.stop()
        if self.timeline is not None:
            self.timeline.close()
        if self.csv_writer is None:
            return
        self._write_locust_csv()
        self.recorder.detach()
        self.recorder.write(self.run_dir)
        samples = self.recorder.samples()
        if samples:
            write_samples(self.run_dir / RunFiles.SAMPLES, samples)
        if self.tally is not None:
            self._write_workers()
        self._write_observations()

    def _write_observations(self) -> None:
        """``observations.jsonl``: this process's and every worker's, oldest first."""
        own = observations_for(self.env).take()
        every = sorted(
            [*own, *(self.tally.observations if self.tally is not None else ())], key=lambda o: o["t"]
        )
        text = "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in every)
        atomic_write_text(self.run_dir / RunFiles.OBSERVATIONS, text)

    def _write_locust_csv(self) -> None:
        """Close Locust's periodic writer, then rewrite its snapshot files with the final totals.

        The periodic writer refreshes once a second; its last pass may predate the end of the run. The
        history file is append-only and stays as written.
        """
        gevent.killall(self.greenlets, block=True, timeout=2)
        self.csv_writer.close_files()
        final = locust_stats.StatsCSV(self.env, locust_stats.PERCENTILES_TO_REPORT)
        for name, write in (
            (RunFiles.STATS, final.requests_csv),
            (RunFiles.FAILURES, final.failures_csv),
            (RunFiles.EXCEPTIONS, final.exceptions_csv),
        ):
            buf = io.StringIO()
            write(csv.writer(buf))
            atomic_write_text(self.run_dir / name, buf.getvalue())

    def _write_workers(self) -> None:
        """``workers.csv``: what each worker reported, per request kind (the master's totals are the sum)."""
        assert self.tally is not None
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["worker", "client_id", "request_type", "name", "requests", "failures"])
        for client, kinds in sorted(
            self.tally.requests.items(), key=lambda kv: self.tally.index.get(kv[0], -1)
        ):
            fails = self.tally.failures.get(client, {})
            for key in sorted(kinds):
                out.writerow(
                    [self.tally.index.get(client, -1), client, *split_key(key), kinds[key], fails.get(key, 0)]
                )
        atomic_write_text(self.run_dir / RunFiles.WORKERS, buf.getvalue())
