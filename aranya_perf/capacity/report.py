"""Reading ``capacity.json`` back and printing it: the per-mode figures and the targets table.

The only reader of the file the benchmark writes; it refuses files from a newer schema with a
one-line ``ResultsError``. Formatting is pure: document in, text out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aranya_perf.capacity import targets
from aranya_perf.capacity.bench import KIND, SCHEMA_VERSION
from aranya_perf.results import ResultsError


def load(path: Path) -> dict[str, Any]:
    """A capacity result; ResultsError when missing, not one, or from a newer schema."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path} not found") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise ResultsError(f"{path} is not a generator capacity result")
    version = doc.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise ResultsError(f"{path} has no valid schema_version")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{path} has schema_version {version}, newer than {SCHEMA_VERSION}: upgrade aranya-perf"
        )
    return doc


def _f(value: Any, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def _runs_line(runs: list[Mapping[str, Any]], key: str, spec: str) -> str:
    return "/".join("ERR" if "error" in r else _f(r.get(key), spec) for r in runs)


def _busy(runs: list[Mapping[str, Any]]) -> str:
    busy = targets.median(r.get("gateway_busy_pct") for r in runs)
    return f"{busy:>7.0f}%" if busy is not None else f"{'-':>8}"


def _pairs(m: Mapping[str, Any]) -> str:
    """`` (median of pairs 0.93/0.88/0.95)``: each interleaved pair's ratio; the ratio is their median."""
    pairs = m.get("pair_ratios") or []
    return f" (median of pairs {'/'.join(_f(r, '.2f') for r in pairs)})" if len(pairs) > 1 else ""


def _efficiency_section(title: str, m: Mapping[str, Any], unit: str, cost: str, extra: str) -> list[str]:
    lines = [title]
    if "error" in m and not m.get("runs"):
        return [*lines, f"    failed: {m['error']}"]
    lines.append(f"    {'':<6} {unit + ' (median)':>22} {'each run':<24} {cost:>10} {'gw busy':>8}")
    for who in ("ours", "bare"):
        runs = m["runs"][who]
        lines.append(
            f"    {who:<6} {_f(m['median'][who], ',.0f'):>22} {_runs_line(runs, m['key'], '.0f'):<24}"
            f" {_f(targets.median(r.get(cost) for r in runs), '.0f'):>10}"
            f" {_busy(runs)}"
        )
    lines.append(f"    ours / bare: {_f(m.get('ratio'), '.2f')}x{_pairs(m)}   {extra}")
    for w in m.get("warnings", []):
        lines.append(f"    ! {w}")
    return lines


def format_report(doc: Mapping[str, Any]) -> str:
    """Everything a reader needs from one run, in plain text."""
    modes = doc.get("modes", {})
    out: list[str] = []
    if "operators" in modes:
        m = modes["operators"]
        out += _efficiency_section(
            f"\n[operators] Control.Exec per generator CPU-second, {m.get('users', '?')} closed-loop callers",
            m,
            "req/CPU-s",
            "us_per_req",
            "(us_per_req: generator CPU per request; gw busy near 100 %: the gateway limits req/s)",
        )
    service = modes.get("service") or {}
    if "error" in service and not ({"etcd", "grpc"} & set(service)):
        out += ["\n[service]", f"    failed: {service['error']}"]
    for name, title, unit, cost in (
        ("etcd", "etcd Puts/s, {clients} closed-loop clients, one 3-member cluster", "Put/s", "us_per_puts"),
        (
            "grpc",
            "grpc Unary calls/s, {clients} closed-loop clients, an echo server",
            "call/s",
            "us_per_calls",
        ),
    ):
        m = service.get(name)
        if not isinstance(m, dict):
            continue
        head = f"\n[service {name}] " + title.format(clients=m.get("clients", "?"))
        out += _efficiency_section(head, m, unit, cost, f"({cost}: generator CPU per call; no gateway)")
        for who in ("ours", "bare") if m.get("runs") else ():
            rs = m["runs"][who]
            p50, p99 = _runs_line(rs, "p50_ms", ".1f"), _runs_line(rs, "p99_ms", ".1f")
            out.append(f"    {who:<6} p50 {p50} ms, p99 {p99} ms")
    if "device_work" in modes:
        m = modes["device_work"]
        out += _efficiency_section(
            f"\n[device_work] commands answered + status pushes per generator CPU-second, "
            f"{m.get('devices', '?')} devices, {m.get('gateway_schedule', '')}",
            m,
            "work/CPU-s",
            "us_per_command",
            "(us_per_command: generator CPU per answered command, status pushes included in the CPU)",
        )
    if "gateway" in modes:
        out += _gateway(modes["gateway"])
    if "hold" in modes:
        out.append("\n[hold] devices held online, one TCP connection each, status pushed periodically")
        h = modes["hold"]
        if "error" in h:
            out.append(f"    failed: {h['error']}")
        out.append(
            f"    {'run':<8} {'workers':>7} {'held/asked':>15} {'online in':>9} {'KiB/dev':>8}"
            f" {'status p50':>10} {'p99':>8} {'max':>8} {'CPU %/worker':>14} {'errors':>6}"
        )
        for name in ("single", "workers"):
            r = h.get(name)
            if not r or "error" in r:
                continue
            cpu = "/".join(f"{c:.0f}" for c in r["cpu_pct_per_worker"])
            out.append(
                f"    {name:<8} {r['workers']:>7} {r['held_online']:>7,}/{r['devices']:<7,}"
                f" {_f(r['all_online_s'], '.1f', 'never'):>8}s {r['rss_kib_per_device']:>8.1f}"
                f" {_f(r['status_p50_ms'], '.2f'):>10} {_f(r['status_p99_ms'], '.2f'):>8}"
                f" {_f(r['status_max_ms'], '.1f'):>8} {cpu:>14} {r['errors']:>6}"
            )
            gw = "/".join(_f(c, ".0f", "?") for c in r.get("gateway_cpu_pct", []))
            out.append(
                f"             gateway CPU % during the hold: {gw}; RSS {r['rss_mib_total']:,.0f} MiB in all"
            )
            for e in r.get("error_sample", [])[:3]:
                out.append(f"             ! {e.splitlines()[0][:120]}")
        out.append("    held = the gateways' own count of devices online at the end of the hold")
    if "instrumentation" in modes:
        m = modes["instrumentation"]
        out.append(f"\n[instrumentation] Exec p50 at {_f(m.get('rate_per_s'), '.0f')} req/s (fixed pacing)")
        if "error" in m and "runs" not in m:
            out.append(f"    failed: {m['error']}")
        else:
            for v, label in (
                ("off", "no events, no HDR"),
                ("events", "Locust request events"),
                ("full", "events + HDR (as aranya-perf run)"),
            ):
                out.append(
                    f"    {label:<34} p50 {_f(m['median_p50_ms'][v], '.3f')} ms"
                    f"  (each run {_runs_line(m['runs'][v], 'p50_ms', '.3f')})"
                    f"  CPU/req {_f(targets.median(r.get('us_per_req') for r in m['runs'][v]), '.0f')} us"
                )
            out.append(
                f"    added to p50: events {_f(m.get('events_only_pct'), '+.1f')} %,"
                f" events + HDR {_f(m.get('overhead_pct'), '+.1f')} %"
            )
    if "engines" in modes:
        out += _engines(modes["engines"])
    out.append("\nTargets (from the generator capacity issue):")
    out.append(targets.format_targets(doc.get("targets") or targets.evaluate(doc)))
    status = doc.get("status", "?")
    reason = f" ({doc['reason']})" if doc.get("reason") else ""
    out.append(f"\nstatus: {status}{reason}")
    return "\n".join(out)


def _gateway(m: Mapping[str, Any]) -> list[str]:
    out = [
        f"\n[gateway] server CPU per answered command (ms), listeners {m.get('listeners', '?')},"
        f" {m.get('schedule', '?')}: the embedded gateway (ours) vs a bare grpc.aio server (bare)"
    ]
    if "error" in m and "cases" not in m:
        return [*out, f"    failed: {m['error']}"]
    out.append(
        f"    {'devices':>7} {'Exec/s':>6}  {'ours':>6} {'bare':>6} {'ratio':>6}  {'ours each run':<20}"
        f" {'bare each run':<20} {'busy ours/bare':>14}"
    )
    for c in m["cases"]:
        runs, med = c["runs"], c["median"]
        busy = "/".join(_f(targets.median(r.get("server_busy_pct") for r in runs[w]), ".0f") for w in runs)
        out.append(
            f"    {c['devices']:>7,} {c['exec_rate']:>6g}"
            f"  {_f(med['ours'], '.3f'):>6} {_f(med['bare'], '.3f'):>6}"
            f" {_f(c.get('ratio'), '.2f'):>5}x  {_runs_line(runs['ours'], 'ms_per_command', '.3f'):<20}"
            f" {_runs_line(runs['bare'], 'ms_per_command', '.3f'):<20} {busy + ' %':>14}"
        )
        for w in c.get("warnings", []) + [r["warning"] for rs in runs.values() for r in rs if "warning" in r]:
            out.append(f"    ! {w}")
    out.append("    (server CPU over the window / commands the devices answered in it; status pushes off)")
    return out


def _engines(m: Mapping[str, Any]) -> list[str]:
    out = ["\n[engines] gRPC from a Locust (gevent) process: grpcio + gevent vs the engine vs bare grpc.aio"]
    if "error" in m:
        return [*out, f"    failed: {m['error']}"]
    u = m["unary"]
    out.append(
        f"    generator CPU per unary ListDevices, {u['callers']} callers, {u['calls']:,} calls per run"
    )
    for v, label in u["labels"].items():
        out.append(
            f"    {label:<38} {_f(u['median_us_per_req'][v], '.0f'):>6} us/req"
            f"  {_f(u['x_bare'][v], '.2f')}x bare  (each run {_runs_line(u['runs'][v], 'us_per_req', '.0f')})"
        )
    out.append(
        f"    held streams vs stall: {m['stall_probe_calls']} ListDevices from another greenlet within"
        f" {m['stall_probe_s']:g} s while N streams block"
    )
    for r in m["stall"]:
        label = "grpcio + gevent" + ("" if r["init_gevent"] else " WITHOUT init_gevent")
        if r["variant"] == "stall_engine":
            label = "engine (grpc.aio, native thread)"
        if r["hard_stall"]:
            verdict = "STALLED (whole process stopped answering, killed)"
        elif r["ok"]:
            verdict = f"ok in {r['probe_s']:.2f}s"
        elif r.get("error"):
            verdict = f"error: {r['error'][:60]}"
        else:
            verdict = f"STALLED ({r['calls']}/{m['stall_probe_calls']} calls in {r['probe_s']:.1f}s)"
        reading = _f(r.get("reading"), "d", "?")
        out.append(f"    N={r['streams']:<3} {label:<38} {verdict}; streams reading {reading}/{r['streams']}")
    return out
