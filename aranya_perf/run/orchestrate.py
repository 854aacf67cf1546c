"""``aranya-perf run``: one load test, from a resolved profile to a verdict.

Order of work: check a given target (a refused or dead one is an error and nothing is
written), create the results directory with ``profile.toml`` and the run's record
(``record``: ``meta.json``, status ``running``), start the embedded gateway unless a target was
given, run the load (``load.Load``: shape, window, generator files), then judge what was
measured (``aranya_perf.judge``): SLOs (``slo.json``, ``slo.xml``), outage windows into
``events.jsonl``, the status; the record gains each phase as it is known. Whatever happens once
the directory exists (a failure, a stop signal: ``interrupt``), it is left readable with a status
saying how the run ended. The report is the CLI's to render from the directory (``then``), once the
verdict is written.

Importing this module imports Locust (through ``load``), which monkey-patches the process
with gevent: only the ``run`` verb imports it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from aranya_perf import findings, profiles, protocol, results
from aranya_perf.judge import drift
from aranya_perf.judge import slo as slo_rules
from aranya_perf.judge.measured import Measured, totals
from aranya_perf.judge.outages import outages, stalls
from aranya_perf.judge.saturation import Saturation, saturation
from aranya_perf.judge.verdict import decide
from aranya_perf.measure.latency import load_failures, load_histograms, load_intervals
from aranya_perf.measure.resources import read_samples
from aranya_perf.profiles import Profile
from aranya_perf.results import TIMELINE_COLUMNS, EventLog, ResultsError, RunFiles
from aranya_perf.run import cost, gateway_processes, interrupt, operator_api
from aranya_perf.run import etcd as etcd_run
from aranya_perf.run import record as rec
from aranya_perf.run.load import Load, LoadError, WindowFacts
from aranya_perf.run.target import (
    Target,
    TargetStartError,
    describe,
    remote_target,
    start_embedded,
    through_link,
)
from aranya_perf.run.workers import WORKERS_WAIT_S
from aranya_perf.targets import TargetError


@dataclass(frozen=True)
class RunOptions:
    out: Path = Path("results")
    workers: int = 0
    """Local Locust worker processes (0: one process)."""
    remote_workers: int = 0
    """Workers started elsewhere with ``aranya-perf worker --master-host``."""
    master_bind: tuple[str, int] = ("127.0.0.1", 0)
    workers_wait: float = WORKERS_WAIT_S
    """Seconds to wait for every worker to connect; the run fails when they do not."""
    metrics_listen: tuple[str, int] | None = None
    """Serve the generator's live Prometheus metrics there during the run."""
    allow_remote: bool = False
    argv: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    """``--label KEY=VALUE``, recorded in meta.json and the run catalogue."""
    group: dict[str, Any] | None = None
    """``--repeat N``: this run's place in its repeat group."""
    descriptors: bytes | None = None
    """Scenario grpc: the service's serialized ``FileDescriptorSet``, resolved by the run verb."""
    grpc_calls: dict[str, str] = field(default_factory=dict)
    """Scenario grpc: call name -> method kind, for meta.json."""


@dataclass
class RunOutcome:
    run_dir: Path
    status: str
    reason: str = ""
    slo_lines: list[str] = field(default_factory=list)
    stop_signal: int | None = None
    """The signal that interrupted the run (status ``interrupted``)."""
    notes: tuple[str, ...] = ()
    busiest: str = ""
    """Which processes of the run were busiest over the window, and by how much."""
    gateway_processes: str = ""
    """How many processes ``auto`` gave the embedded gateway, and why ("" when given or not embedded)."""
    finding_lines: tuple[str, ...] = ()
    """The invariants the run found broken (``findings.json``), one line each."""
    drift_lines: tuple[str, ...] = ()
    """A soak's slopes of the target's cost over time (``drift.json``), findings or not."""


def run_profile(
    p: Profile,
    options: RunOptions,
    out: TextIO = sys.stdout,
    then: Callable[[RunOutcome, Callable[[], bool]], None] | None = None,
) -> RunOutcome:
    """Run ``p``. Raises ``TargetError`` (or ``TargetUnreachable``) before anything is written when a given
    target is refused or dead, ``interrupt.Interrupted`` when stopped before that; every later failure
    ends in the outcome. ``then(outcome, stopped)`` (the CLI's report) runs once the verdict is written, still
    under the stop signals' handlers; ``stopped()`` says whether a stop signal has come, before or meanwhile.
    Call from the main thread: it installs them."""
    run_dirs: list[Path] = []  # the forced exit marks the run's meta.json, once there is one

    def forced(first: int, second: int) -> None:
        for run_dir in run_dirs:
            interrupt.mark_forced(run_dir, first, second)

    stops = interrupt.StopSignals(forced)
    with stops.installed():
        outcome = _run(p, options, out, stops, run_dirs)
        if then is not None:
            # Still deferred: a first signal is noted and lets it finish, a second leaves.
            then(outcome, lambda: stops.received is not None)
        return outcome


def _run(
    p: Profile, options: RunOptions, out: TextIO, stops: interrupt.StopSignals, run_dirs: list[Path]
) -> RunOutcome:
    # Before anything reads them, the gateway's processes and then the route that depends on them;
    # profile.toml keeps both choices.
    p, processes_line = gateway_processes.resolved(p, options.workers)
    p, fallback = operator_api.resolved(p)
    target: Target | None = None
    etcd = p.run.scenario == "etcd"
    if not p.embedded:
        target = remote_target(p, allow_remote=options.allow_remote)
        if p.target.pid is not None:
            target.processes["target"] = p.target.pid
        if etcd:
            assert isinstance(target, etcd_run.RemoteTarget)
            target = etcd_run.given_cluster(target, p)
    stops.defer()  # the directory and its first files are written whole; arm() raises a signal meanwhile
    run_dir = results.new_run_dir(options.out, p.name)
    run_dirs.append(run_dir)
    results.atomic_write_text(run_dir / RunFiles.PROFILE, profiles.render(p))
    if options.descriptors is not None:
        results.atomic_write_bytes(run_dir / RunFiles.GRPC_DESCRIPTORS, options.descriptors)
    record = _identity(p, run_dir, options).add(_config(p, options, processes_line))
    results.write_meta(run_dir, record.meta())
    events = EventLog(run_dir / RunFiles.EVENTS)
    what = f"{p.target.protocol} over {p.target.transport}" if p.fleet_run else f"scenario {p.run.scenario}"
    out.write(f"aranya-perf run: profile {p.name} ({what}), results in {run_dir}\n")
    for line in (processes_line, fallback):
        if line:
            out.write(f"  {line}\n")
    start_error = None
    facts = WindowFacts()
    phases: etcd_run.EtcdPhases | None = None
    try:
        stops.arm()
        with contextlib.ExitStack() as stack:
            if target is None and etcd:
                target = etcd_run.start_cluster(p, run_dir)
                stack.callback(target.close)
                out.write(f"  etcd cluster ({p.etcd.members} members on loopback): {target.description}\n")
            elif target is None:
                target = start_embedded(p, run_dir)
                stack.callback(target.close)
                out.write(f"  embedded gateway ({p.target.protocol}): {target.description}\n")
            link_profile = None
            if p.target.link is not None:
                link = through_link(p, target, run_dir, allow_remote=options.allow_remote)
                stack.callback(link.stop)
                link_profile = link.profile
                out.write(f"  devices through the {p.target.link} link ({link.ready.get('method')})\n")
            record = record.add(rec.Target(describe(target), link_profile))
            results.write_meta(run_dir, record.meta())
            if etcd:
                try:
                    phases = etcd_run.EtcdPhases(p, target.address_map.shards, events, out)
                    phases.started_cluster(target)
                    stack.callback(etcd_run.run_phase, phases, "cleanup", out)
                    phases.before_window()
                except (etcd_run.EtcdctlError, RuntimeError) as exc:
                    raise TargetStartError(f"etcd: {exc}") from None
            with Load(
                p,
                target,
                run_dir,
                events,
                out,
                workers=options.workers,
                remote_workers=options.remote_workers,
                master_bind=options.master_bind,
                workers_wait=options.workers_wait,
                allow_remote=options.allow_remote,
                metrics_listen=options.metrics_listen,
                descriptors=options.descriptors,
                stops=stops,
            ) as load:
                facts = load.measure()
                etcd_run.run_phase(phases, "after_window", out)
            if p.queries or (p.target.prometheus and not p.embedded and p.fleet_run):
                _store_queries(p, run_dir, facts, events, out, allow_remote=options.allow_remote)
            if stops.received is None:  # a stopped run is not kept for another load
                etcd_run.run_phase(phases, "check_perf", out, run_dir)
    except interrupt.Interrupted:
        pass  # stops.received says which signal
    except (TargetStartError, LoadError) as exc:
        start_error = str(exc)
    stops.defer()  # a signal while judging must not lose the verdict or the report; a second one leaves
    interrupted = interrupt.reason(stops.received) if stops.received is not None else ""
    try:
        # The window first: SLOs and outages are measured against it.
        record = record.add(_window(facts, phases))
        results.write_meta(run_dir, record.meta())
        outcome = _judge(p, run_dir, record, events, facts, interrupted=interrupted, start_error=start_error)
    finally:
        events.close()
    if outcome.status == "interrupted":  # a signal noted while judging leaves the verdict as written
        outcome.stop_signal = stops.received
    return outcome


def _store_queries(
    p: Profile, run_dir: Path, facts: WindowFacts, events: EventLog, out: TextIO, *, allow_remote: bool
) -> None:
    """The profile's PromQL range queries over the window, and a remote aranya target's own cost
    (``promql.TARGET_COST``), into ``prometheus/``; a warning if unreachable."""
    from aranya_perf.measure import promql

    assert p.target.prometheus is not None
    try:
        url = promql.check_url(p.target.prometheus, allow_remote=allow_remote)
        queries = promql.parse_queries(p.queries, p.source)
        if not p.embedded and p.fleet_run:
            queries += promql.target_cost_queries(p.target.metrics)
        stored = promql.store_series(run_dir, url, queries, facts.started_at, facts.ended_at)
    except (promql.PrometheusError, TargetError, ValueError) as exc:
        out.write(f"  Prometheus series not stored: {exc}\n")
        events.write("prometheus", error=str(exc))
        return
    events.write("prometheus", stored=sorted(stored))


def _identity(p: Profile, run_dir: Path, options: RunOptions) -> rec.RunRecord:
    identity = rec.Identity(
        run_id=run_dir.name,
        profile=p.name,
        argv=tuple(options.argv),
        started_at=results.utc_now_iso(),
        provenance=results.provenance(),
        labels=dict(options.labels),
        group=options.group,
    )
    return rec.RunRecord(identity)


def _config(p: Profile, options: RunOptions, processes_line: str = "") -> rec.Config:
    proto = protocol.get(p.target.protocol)
    config = {
        "scenario": p.run.scenario,
        "devices": p.fleet.devices,
        "operators": p.operators.count,
        "arrival_rate": p.operators.arrival_rate,
        "duration_s": p.run.duration_s,
        "shape": p.shape.kind,
        "workers": options.workers + options.remote_workers,
        "gateway_processes": p.gateway.processes if p.embedded else None,
        "gateway_processes_reason": processes_line or None,
        "listener_per_device": p.gateway.listener_per_device,
        "transport": p.target.transport,
        "status_interval_s": p.fleet.status_interval_s,
        "schedule": p.gateway.schedule,
        "gc_freeze": p.fleet.gc_freeze,
        "profile_source": p.source,
    }
    if not p.fleet_run:
        config["users"] = p.service.users
    transport = {"name": p.target.transport}
    if p.target.transport == "mqtt":
        transport["namespace"] = p.target.mqtt_namespace
    grpc = None
    if options.descriptors is not None:
        source = "reflection" if p.grpc.reflection else "proto"
        grpc = {"descriptors": RunFiles.GRPC_DESCRIPTORS, "source": source, "calls": dict(options.grpc_calls)}
    return rec.Config(
        config=config,
        protocol={"name": proto.name, "source": proto.source, "service": proto.service},
        transport=transport,
        target={"address": p.target.address, "embedded": p.embedded},
        grpc=grpc,
    )


def _window(facts: WindowFacts, phases: etcd_run.EtcdPhases | None) -> rec.Window:
    return rec.Window(
        started_at=facts.started_at or None,
        ended_at=facts.ended_at or None,
        ended_early=facts.ended_early,
        fleet=dict(facts.fleet),
        window=dict(facts.window),
        in_flight_at_close=facts.in_flight_at_close,
        sessions_open_after_drain=facts.sessions_open_after_drain,
        workers_lost=tuple(facts.workers_lost),
        etcd=phases.facts if phases is not None else None,
    )


def _measured(run_dir: Path, facts: WindowFacts) -> Measured:
    """What the window recorded: the latency files just written and the timeline sampled."""
    try:
        histograms, failures = load_histograms(run_dir), load_failures(run_dir)
    except ResultsError:  # the run never got to write them (it could not start)
        histograms, failures = {}, {}
    started = facts.started_at or None
    return Measured(
        histograms=histograms,
        failures=failures,
        intervals=load_intervals(run_dir / RunFiles.LATENCY_INTERVALS),
        timeline=pd.DataFrame(facts.timeline, columns=list(TIMELINE_COLUMNS)),
        t0=started,
        seconds=facts.ended_at - facts.started_at if started and facts.ended_at else None,
        fleet=dict(facts.fleet),
        window=dict(facts.window),
    )


def _findings(
    p: Profile, run_dir: Path, facts: WindowFacts, measured: Measured
) -> tuple[tuple[findings.Finding, ...], drift.Drift | None]:
    """The invariants over what the run observed and the drift of the target's cost (``drift.json``),
    into ``findings.json`` and ``findings.xml``."""
    rules = findings.Rules(
        online_within_s=p.findings.online_within_s,
        window_end=facts.ended_at or None,
        severity=p.findings.severity,
    )
    path = run_dir / RunFiles.OBSERVATIONS
    observations = results.read_events(path) if path.exists() else []
    found = findings.check(observations, rules)
    trend = cost.judge(p, run_dir, measured)
    checked: tuple[str, ...] = findings.INVARIANTS
    if trend is not None and trend.judged:
        found += drift.findings(trend, cost.rules(p))
        checked += findings.DRIFT
    results.atomic_write_json(run_dir / RunFiles.FINDINGS, findings.findings_json(found, rules, checked))
    results.atomic_write_text(
        run_dir / RunFiles.FINDINGS_JUNIT, findings.junit_xml(found, checked, run_dir.name)
    )
    return found, trend


def _judge(
    p: Profile,
    run_dir: Path,
    record: rec.RunRecord,
    events: EventLog,
    facts: WindowFacts,
    *,
    interrupted: str,
    start_error: str | None,
) -> RunOutcome:
    """SLOs, outages and the status of what was measured, into slo.json/xml, events.jsonl and the record."""
    measured = _measured(run_dir, facts)
    slo_results = slo_rules.evaluate(measured, p) if not (interrupted or start_error) else []
    results.atomic_write_json(run_dir / RunFiles.SLO, slo_rules.slo_json(slo_results, run_dir.name))
    results.atomic_write_text(run_dir / RunFiles.SLO_JUNIT, slo_rules.junit_xml(slo_results, run_dir.name))
    for r in slo_results:
        events.write("slo", **asdict(r))
    for o in outages(measured, p.run.stall_threshold_s):
        at = {"start_s": round(o.start_s, 1), "end_s": round(o.end_s, 1)}
        events.write("outage", what=o.what, detail=o.detail, **at)
    stalled = stalls(measured, p.run.stall_threshold_s) if not (interrupted or start_error) else []
    found, trend = _findings(p, run_dir, facts, measured) if not (interrupted or start_error) else ((), None)
    for f in found:
        events.write("finding", **f.to_json())
    requests, failures = totals(measured)
    workers = int(record.config.config["workers"]) if record.config is not None else 0
    busy = _saturation(run_dir, measured, workers=workers)
    verdict = decide(
        p,
        interrupted=interrupted,
        start_error=start_error,
        target_lost=[f"{x['reason']} (at {x['at_s']:g}s)" for x in facts.target_lost],
        workers_lost=facts.workers_lost,
        stalls=[f"{o.detail} (at {o.start_s:.0f}s)" for o in stalled],
        requests=requests,
        failures=failures,
        slo_failures=[r.line() for r in slo_results if not r.passed],
        findings=findings.failing(found),
        notes=busy.notes,
    )
    events.write("run_end", status=verdict.status, reasons=list(verdict.reasons), notes=list(verdict.notes))
    counts = rec.Counts(requests, failures, p.fleet.devices, p.operators.count, slo_rules.status(slo_results))
    ended = rec.Verdict(verdict.status, verdict.reason, results.utc_now_iso(), verdict.notes, busy.as_json())
    record = record.add(counts).add(ended)
    results.write_meta(run_dir, record.meta())
    slo_lines = [r.line() for r in slo_results]
    return RunOutcome(
        run_dir,
        verdict.status,
        verdict.reason,
        slo_lines,
        notes=verdict.notes,
        busiest=busy.busiest_line(),
        gateway_processes=str(record.config.config.get("gateway_processes_reason") or "")
        if record.config is not None
        else "",
        finding_lines=tuple(f.line() for f in found),
        drift_lines=tuple(trend.lines()) if trend is not None and p.shape.kind == "soak" else (),
    )


def _saturation(run_dir: Path, m: Measured, *, workers: int) -> Saturation:
    """The CPU limits of the window's sides (``judge.saturation``), from the samples just written."""
    if m.t0 is None:
        return Saturation((), ())
    samples = read_samples(run_dir / RunFiles.RESOURCES, m.t0)
    return saturation(samples, m.seconds, cores=os.cpu_count() or 1, workers=workers)
