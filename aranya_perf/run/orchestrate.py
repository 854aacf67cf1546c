"""``aranya-perf run``: one load test, from a resolved profile to a verdict and a report.

Order of work: check a given target (a refused or dead one is an error and nothing is
written), create the results directory with ``profile.toml`` and ``meta.json`` (status
``running``), start the embedded gateway unless a target was given, run the load
(``load.Load``: shape, window, generator files), then judge what was measured: SLOs
(``slo.json``, ``slo.xml``), the status rules (``verdict``), outage windows into
``events.jsonl``, the final ``meta.json``, the report. Whatever happens once the directory
exists (a failure, Ctrl-C), it is left readable with a status saying how the run ended.

Importing this module imports Locust (through ``load``), which monkey-patches the process
with gevent: only the ``run`` verb imports it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from analysis import etcd_report
from analysis import slo as slo_rules
from analysis.outages import outages
from analysis.run_data import judged, load_run
from analysis.run_report import write_run_report
from analysis.run_summary import device_costs, format_summary_table, summary_rows
from aranya_perf import findings, profiles, protocol, results
from aranya_perf.profiles import Profile
from aranya_perf.results import EventLog, RunFiles
from aranya_perf.run import etcd as etcd_run
from aranya_perf.run.load import Load, LoadError, WindowFacts
from aranya_perf.run.target import (
    Target,
    TargetStartError,
    describe,
    remote_target,
    start_embedded,
    through_link,
)
from aranya_perf.run.verdict import Verdict, decide
from aranya_perf.targets import TargetError


@dataclass(frozen=True)
class RunOptions:
    out: Path = Path("results")
    workers: int = 0
    """Local Locust worker processes (0: one process)."""
    remote_workers: int = 0
    """Workers started elsewhere with ``aranya-perf worker --master-host``."""
    master_bind: tuple[str, int] = ("127.0.0.1", 0)
    metrics_listen: tuple[str, int] | None = None
    """Serve the generator's live Prometheus metrics there during the run."""
    allow_remote: bool = False
    argv: tuple[str, ...] = ()
    descriptors: bytes | None = None
    """Scenario grpc: the service's serialized ``FileDescriptorSet``, resolved by the run verb."""
    grpc_calls: dict[str, str] = field(default_factory=dict)
    """Scenario grpc: call name -> method kind, for meta.json."""


@dataclass
class RunOutcome:
    run_dir: Path
    status: str
    reason: str = ""
    summary_table: str = ""
    slo_lines: list[str] = field(default_factory=list)


def run_profile(p: Profile, options: RunOptions, out: TextIO = sys.stdout) -> RunOutcome:
    """Run ``p``. Raises ``TargetError`` (or ``TargetUnreachable``) before anything is written when a given
    target is refused or dead; every later failure ends in the outcome."""
    target: Target | None = None
    etcd = p.run.scenario == "etcd"
    if not p.embedded:
        target = remote_target(p, allow_remote=options.allow_remote)
        if etcd:
            assert isinstance(target, etcd_run.RemoteTarget)
            target = etcd_run.given_cluster(target, p)
    run_dir = results.new_run_dir(options.out, p.name)
    results.atomic_write_text(run_dir / RunFiles.PROFILE, profiles.render(p))
    meta = _initial_meta(p, options, run_dir)
    if options.descriptors is not None:
        results.atomic_write_bytes(run_dir / RunFiles.GRPC_DESCRIPTORS, options.descriptors)
        source = "reflection" if p.grpc.reflection else "proto"
        meta["grpc"] = {
            "descriptors": RunFiles.GRPC_DESCRIPTORS,
            "source": source,
            "calls": options.grpc_calls,
        }
    results.write_meta(run_dir, meta)
    events = EventLog(run_dir / RunFiles.EVENTS)
    what = f"{p.target.protocol} over {p.target.transport}" if p.fleet_run else f"scenario {p.run.scenario}"
    out.write(f"aranya-perf run: profile {p.name} ({what}), results in {run_dir}\n")
    interrupted, start_error = False, None
    facts = WindowFacts()
    phases: etcd_run.EtcdPhases | None = None
    try:
        with contextlib.ExitStack() as stack:
            if target is None and etcd:
                target = etcd_run.start_cluster(p, run_dir)
                stack.callback(target.close)
                out.write(f"  etcd cluster ({p.etcd.members} members on loopback): {target.description}\n")
            elif target is None:
                target = start_embedded(p, run_dir)
                stack.callback(target.close)
                out.write(f"  embedded gateway ({p.target.protocol}): {target.description}\n")
            if p.target.link is not None:
                link = through_link(p, target, run_dir, allow_remote=options.allow_remote)
                stack.callback(link.stop)
                meta["link"] = link.profile
                out.write(f"  devices through the {p.target.link} link ({link.ready.get('method')})\n")
            meta["target"] = describe(target)
            results.write_meta(run_dir, meta)
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
                allow_remote=options.allow_remote,
                metrics_listen=options.metrics_listen,
                descriptors=options.descriptors,
            ) as load:
                facts = load.measure()
                etcd_run.run_phase(phases, "after_window", out)
            if p.queries:
                _store_queries(p, run_dir, facts, events, out, allow_remote=options.allow_remote)
            etcd_run.run_phase(phases, "check_perf", out, run_dir)
    except KeyboardInterrupt:
        interrupted = True
    except (TargetStartError, LoadError) as exc:
        start_error = str(exc)
    if phases is not None:
        meta["etcd"] = phases.facts
    # A second Ctrl-C while judging must not lose the verdict or the report.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return _judge(p, run_dir, meta, events, facts, interrupted, start_error, out)
    finally:
        events.close()
        signal.signal(signal.SIGINT, previous)


def _store_queries(
    p: Profile, run_dir: Path, facts: WindowFacts, events: EventLog, out: TextIO, *, allow_remote: bool
) -> None:
    """The profile's PromQL range queries over the window, into ``prometheus/``; a warning if unreachable."""
    from aranya_perf.measure import promql

    assert p.target.prometheus is not None
    try:
        url = promql.check_url(p.target.prometheus, allow_remote=allow_remote)
        queries = promql.parse_queries(p.queries, p.source)
        stored = promql.store_series(run_dir, url, queries, facts.started_at, facts.ended_at)
    except (promql.PrometheusError, TargetError, ValueError) as exc:
        out.write(f"  Prometheus series not stored: {exc}\n")
        events.write("prometheus", error=str(exc))
        return
    events.write("prometheus", stored=sorted(stored))


def _initial_meta(p: Profile, options: RunOptions, run_dir: Path) -> dict:
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
        "listener_per_device": p.gateway.listener_per_device,
        "transport": p.target.transport,
        "status_interval_s": p.fleet.status_interval_s,
        "schedule": p.gateway.schedule,
        "gc_freeze": p.fleet.gc_freeze,
        "profile_source": p.source,
    }
    if not p.fleet_run:
        config["users"] = p.service.users
    meta = results.collect_meta(
        argv=list(options.argv),
        config=config,
        target={"address": p.target.address, "embedded": p.embedded},
        profile=p.name,
        run_id=run_dir.name,
    )
    meta["protocol"] = {"name": proto.name, "source": proto.source, "service": proto.service}
    meta["transport"] = {"name": p.target.transport}
    if p.target.transport == "mqtt":
        meta["transport"]["namespace"] = p.target.mqtt_namespace
    return meta


def _findings(p: Profile, run_dir: Path, facts: WindowFacts) -> tuple[findings.Finding, ...]:
    """The invariants over what the run observed, into ``findings.json``."""
    rules = findings.Rules(
        online_within_s=p.findings.online_within_s,
        window_end=facts.ended_at or None,
        severity=p.findings.severity,
    )
    path = run_dir / RunFiles.OBSERVATIONS
    observations = results.read_events(path) if path.exists() else []
    found = findings.check(observations, rules)
    results.atomic_write_json(run_dir / RunFiles.FINDINGS, findings.findings_json(found, rules))
    return found


def _judge(
    p: Profile,
    run_dir: Path,
    meta: dict,
    events: EventLog,
    facts: WindowFacts,
    interrupted: bool,
    start_error: str | None,
    out: TextIO,
) -> RunOutcome:
    meta["window"] = {
        "started_at": facts.started_at or None,
        "ended_at": facts.ended_at or None,
        "ended_early": facts.ended_early,
        "fleet": facts.fleet,
        "window": facts.window,
        "in_flight_at_close": facts.in_flight_at_close,
        "sessions_open_after_drain": facts.sessions_open_after_drain,
    }
    results.write_meta(run_dir, meta)  # the window first: SLOs and outages are measured against it
    data = load_run(run_dir)
    slo_results = slo_rules.evaluate(data, p) if not (interrupted or start_error) else []
    slo_doc = slo_rules.slo_json(slo_results, run_dir.name)
    results.atomic_write_json(run_dir / RunFiles.SLO, slo_doc)
    results.atomic_write_text(run_dir / RunFiles.SLO_JUNIT, slo_rules.junit_xml(slo_results, run_dir.name))
    written = [events.write("slo", **asdict(r)) for r in slo_results]
    for o in outages(data):
        at = {"start_s": round(o.start_s, 1), "end_s": round(o.end_s, 1)}
        written.append(events.write("outage", what=o.what, detail=o.detail, **at))
    found = _findings(p, run_dir, facts) if not (interrupted or start_error) else ()
    written += [events.write("finding", **f.to_json()) for f in found]
    summary = summary_rows(data)
    total = summary[summary["name"] == "Aggregated"]
    requests = int(total["count"].iloc[0]) if len(total) else 0
    failures = int(total["failures"].iloc[0]) if len(total) else 0
    verdict: Verdict = decide(
        p,
        interrupted=interrupted,
        start_error=start_error,
        target_lost=[f"{x['reason']} (at {x['at_s']:g}s)" for x in facts.target_lost],
        workers_lost=facts.workers_lost,
        requests=requests,
        failures=failures,
        slo_failures=[r.line() for r in slo_results if not r.passed],
        findings=findings.failing(found),
    )
    written.append(events.write("run_end", status=verdict.status, reasons=list(verdict.reasons)))
    meta.update(status=verdict.status, reason=verdict.reason, finished_at=results.utc_now_iso())
    meta["summary"] = {
        "requests": requests,
        "failures": failures,
        "devices": p.fleet.devices,
        "operators": p.operators.count,
        "slo": slo_rules.status(slo_results),
        "generator_per_device": device_costs(data.resources, data.timeline, meta),
    }
    results.write_meta(run_dir, meta)
    report = write_run_report(judged(data, meta, slo_doc, written))
    table = format_summary_table(summary)
    lines = [r.line() for r in slo_results]
    reason = f" ({verdict.reason})" if verdict.reason else ""
    slo_text = ("\nSLOs:\n  " + "\n  ".join(lines) + "\n") if lines else ""
    if found:
        slo_text += "\nfindings:\n  " + "\n  ".join(f.line() for f in found) + "\n"
    beside = etcd_report.summary_lines(data, summary) if p.run.scenario == "etcd" else []
    beside_text = ("\n" + "\n".join(beside) + "\n") if beside else ""
    out.write(f"\n{table}\n{beside_text}{slo_text}\nstatus: {verdict.status}{reason}\nreport: {report}\n")
    out.flush()
    return RunOutcome(run_dir, verdict.status, verdict.reason, table, lines)
