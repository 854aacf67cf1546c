"""Running the generator capacity benchmark: every mode side by side in one run, saved as versioned JSON.

Modes (each bounded in time and count, loopback only, against the reference gateway started
here as a child process on free ports):

* ``operators``: Exec requests per generator CPU-second, our ``OperatorUser``s (Locust, the
  engine, our instrumentation) vs a bare grpc.aio loop with the same concurrency, request
  and answer check. The devices they reach run in a helper process.
* ``device_work``: commands answered plus status pushes per generator CPU-second, our fleet
  (``DeviceUser`` on the engine, Locust, instrumentation) vs a bare grpc.aio fleet doing the
  same work, under the same gateway schedule.
* ``gateway``: the embedded gateway's CPU per answered command, under a fleet of device agents
  (one listener per device, aranya's schedule with node info every 10 s, and again with Execs at
  a fixed rate), beside a bare grpc.aio server doing the same exchange with command bodies built
  once (``bare.server``): the floor of a device-facing server written in Python.
* ``hold``: devices one generator process holds online (status every 10 s), its RSS per
  device and status p99; then the same with N generator processes, each against a gateway
  process of its own (one process's file limit would not hold both ends of 30,000 streams).
* ``instrumentation``: Exec p50 at a fixed request rate with our instrumentation off, with
  Locust's request events only, and with events plus HDR recording.
* ``engines``: the engine comparison (grpcio under gevent, the engine, bare grpc.aio).
* ``service``: etcd Puts per second and generator CPU per Put, our ``EtcdKvUser``s (Locust, the
  engine, HDR recording) vs bare grpc.aio clients (``aranya_perf.etcd.bare``), both closed-loop
  at the same concurrency against a 3-member etcd cluster started here (its members on the
  gateway side's CPU); then the same for scenario grpc's ``ServiceUser`` against a bare grpc.aio
  caller, both calling a unary echo service (``echo``) in a child process on that CPU.

Variants of one mode run interleaved, in an order reversed every other round (ours, bare, bare,
ours, ours, bare, ...), so slow drifts in the machine's load hit them alike and neither always runs
first; the figures are medians, and a ratio of ours to bare is the median
of the ratios of interleaved pairs (run i of ours over run i of bare), so a drift over the sitting
(etcd's history grows with every Put) cancels within each pair. With two or more CPUs the gateway
side is pinned to one and each measured generator to another.
``results/capacity/<UTC stamp>-capacity/capacity.json`` is rewritten atomically after every mode, so
an interrupted run leaves a readable file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from aranya_perf import results
from aranya_perf.capacity import targets
from aranya_perf.capacity.runner import Child, Gateway, run_child
from aranya_perf.capacity.targets import counterbalanced, median, ratio

SCHEMA_VERSION = 1
RESULT_FILE = "capacity.json"
KIND = "aranya-perf generator capacity"
MODES = ("operators", "device_work", "gateway", "hold", "instrumentation", "engines", "service")
INSTRUMENT = ("off", "events", "full")  # as ours.INSTRUMENT; not imported: that module imports Locust
GATEWAY_DEVICES = 15_000
"""Devices one gateway process serves in the hold mode (both ends fit the 20,000 open files)."""
FD_LIMIT_MARGIN = 1_000
"""Files a generator process needs beside one socket per device."""


@dataclass(frozen=True)
class Sizes:
    """How big and how long each mode is; ``DEFAULT`` finishes in a few minutes, ``QUICK`` in under one."""

    repeats: int = 3
    # operators
    operator_users: int = 16
    operator_window_s: float = 3.0
    operator_warmup: int = 200
    host_devices: int = 20
    exec_stdout_bytes: int = 2048
    # device work
    fleet_devices: int = 500
    fleet_command_interval_s: float = 1.0
    fleet_status_s: float = 10.0
    fleet_window_s: float = 6.0
    fleet_repeats: int = 2
    # hold
    hold_devices: int = 15_000
    hold_workers: int = 2
    hold_worker_devices: int = 30_000
    hold_s: float = 20.0
    hold_status_s: float = 10.0
    hold_spawn_rate: float = 200.0
    hold_online_timeout_s: float = 60.0
    # instrumentation: a light fixed rate, so p50 is the request path's and not the gateway's queue
    instr_users: int = 4
    instr_pacing_s: float = 0.04
    instr_window_s: float = 3.0
    instr_repeats: int = 4
    # engines
    stall_sizes: tuple[int, ...] = (4, 8, 12, 32)
    stall_no_init: tuple[int, ...] = (0, 1)
    stall_probe_s: float = 5.0
    unary_calls: int = 2000
    # service: etcd closed-loop Puts
    service_clients: int = 50
    service_window_s: float = 8.0
    service_warmup: int = 200
    service_warmup_s: float = 2.0
    # gateway: the embedded gateway's CPU per answered command beside a bare grpc.aio server's
    gateway_devices: tuple[int, ...] = (100, 1_000, 5_000)
    gateway_exec_devices: int = 1_000
    gateway_exec_rate: float = 50.0
    gateway_node_info_s: float = 10.0
    gateway_window_s: float = 10.0
    gateway_online_timeout_s: float = 90.0


DEFAULT = Sizes()
QUICK = Sizes(
    repeats=1,
    operator_users=4,
    operator_window_s=1.0,
    operator_warmup=20,
    host_devices=4,
    fleet_devices=20,
    fleet_window_s=2.0,
    fleet_repeats=1,
    hold_devices=40,
    hold_worker_devices=40,
    hold_s=2.0,
    hold_status_s=1.0,
    hold_spawn_rate=200.0,
    hold_online_timeout_s=30.0,
    instr_users=4,
    instr_pacing_s=0.02,
    instr_window_s=1.0,
    instr_repeats=1,
    stall_sizes=(4, 12),
    stall_no_init=(),
    stall_probe_s=2.0,
    unary_calls=200,
    service_clients=4,
    service_window_s=1.0,
    service_warmup=20,
    service_warmup_s=0.5,
    gateway_devices=(20,),
    gateway_exec_devices=20,
    gateway_exec_rate=10.0,
    gateway_node_info_s=1.0,
    gateway_window_s=3.0,
    gateway_online_timeout_s=30.0,
)


class CapacityError(ValueError):
    """Settings the benchmark cannot run with (one line for the user)."""


@dataclass(frozen=True)
class CapacityConfig:
    sizes: Sizes = DEFAULT
    modes: tuple[str, ...] = MODES
    out: Path = Path("results")
    pin: bool = True
    quick: bool = False
    argv: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            raise CapacityError(
                f"unknown mode(s) {', '.join(unknown) or '(none)'}; known: {', '.join(MODES)}"
            )
        s = self.sizes
        for name in (
            "repeats",
            "fleet_repeats",
            "operator_users",
            "instr_users",
            "host_devices",
            "hold_workers",
        ):
            if getattr(s, name) < 1:
                raise CapacityError(f"{name.replace('_', '-')} must be at least 1")
        for name in ("fleet_devices", "hold_devices", "hold_worker_devices"):
            if getattr(s, name) < 1:
                raise CapacityError(f"{name.replace('_', '-')} must be at least 1")
        if "hold" not in self.modes:
            return
        limit = _fd_limit() - FD_LIMIT_MARGIN
        per_worker = -(-s.hold_worker_devices // s.hold_workers)
        for what, n in (("hold-devices", s.hold_devices), ("devices per worker", per_worker)):
            if n > limit:
                raise CapacityError(
                    f"{what} {n:,} exceeds what one process can connect here ({limit:,}: open files limit "
                    f"{_fd_limit():,} less {FD_LIMIT_MARGIN:,})"
                )
        if s.hold_worker_devices < s.hold_workers:
            raise CapacityError("hold-worker-devices must be at least one per worker")


def _fd_limit() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the run --------------------------------------------------------------------------------------------


class _Run:
    def __init__(self, config: CapacityConfig, out: TextIO) -> None:
        self.config, self.sizes, self.out = config, config.sizes, out
        self.dir = results.new_run_dir(Path(config.out) / "capacity", "capacity")
        self.logs = self.dir / "logs"
        self.logs.mkdir()
        cpus = sorted(os.sched_getaffinity(0))
        if config.pin and len(cpus) >= 2:
            self.side_cpus: set[int] | None = {cpus[0]}
            self.gen_cpus: set[int] | None = {cpus[1]}
        else:
            self.side_cpus = self.gen_cpus = None
        meta = results.collect_meta(
            argv=list(config.argv),
            config={"modes": list(config.modes), "quick": config.quick, "pin": config.pin},
            target={"address": None, "embedded": True},
            profile="capacity",
            run_id=self.dir.name,
        )
        self.doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": KIND,
            "status": "running",
            "meta": meta,
            "sizes": dataclasses.asdict(self.sizes),
            "machine": {
                "cpus": os.cpu_count(),
                "affinity": cpus,
                "gateway_cpus": sorted(self.side_cpus or []),
                "generator_cpus": sorted(self.gen_cpus or []),
                "open_files_limit": _fd_limit(),
                "loadavg_start": list(os.getloadavg()),
            },
            "modes": {},
            "targets": [],
        }
        self.started = time.monotonic()
        self.save()

    @property
    def path(self) -> Path:
        return self.dir / RESULT_FILE

    def save(self) -> None:
        self.doc["targets"] = targets.evaluate(self.doc)
        results.atomic_write_json(self.path, self.doc)

    def progress(self, what: str) -> None:
        self.out.write(f"  [{time.monotonic() - self.started:5.0f}s] {what}\n")
        self.out.flush()

    def gateway(self, name: str, *args: str, pin: bool = True) -> Gateway:
        return Gateway(list(args), self.logs / f"gateway-{name}.log", self.side_cpus if pin else None)

    def child(self, spec: dict[str, Any], gateway: Gateway | None = None) -> Child:
        return run_child(spec, self.logs, self.gen_cpus, gateway)

    def mode(self, name: str, body: Callable[[], dict[str, Any]]) -> None:
        if name not in self.config.modes:
            return
        self.progress(f"{name} ...")
        try:
            self.doc["modes"][name] = body()
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one failed mode must not lose the others
            self.doc["modes"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            self.out.write(f"  {name} failed: {exc}\n")
        self.save()

    # -- operators and instrumentation (one gateway, one device host) -------------------------------

    @contextlib.contextmanager
    def _operator_target(self) -> Iterator[Gateway]:
        s = self.sizes
        with self.gateway("operators", "--node-info-interval", "0", "--metrics-interval", "0") as gw:
            host = Child(
                {"variant": "device_host", "target": gw.address, "devices": s.host_devices, "prefix": "host"},
                self.logs,
                self.side_cpus,
            )
            try:
                if not host.wait_for(("READY", "RESULT")) or host.ready is None:
                    raise RuntimeError(f"device host: {host.error or 'no READY line'}")
                yield gw
            finally:
                host.close_stdin()
                host.kill()

    def operators(self, gw: Gateway) -> dict[str, Any]:
        s = self.sizes
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": []}
        for rep in range(s.repeats):
            for who in counterbalanced(rep, ("ours", "bare")):
                spec = {
                    "variant": f"{who}_operators",
                    "name": f"operators-{who}-{rep}",
                    "target": gw.address,
                    "users": s.operator_users,
                    "window_s": s.operator_window_s,
                    "warmup_requests": s.operator_warmup,
                    "stdout_bytes": s.exec_stdout_bytes,
                }
                runs[who].append(_per_cpu(self.child(spec, gw), "requests", "req_per_cpu_s", "us_per_req"))
        return _compare(runs, "req_per_cpu_s", extra={"users": s.operator_users, "request": "Control.Exec"})

    def instrumentation(self, gw: Gateway) -> dict[str, Any]:
        s = self.sizes
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in INSTRUMENT}
        for rep in range(s.instr_repeats):
            for instrument in counterbalanced(rep, INSTRUMENT):
                spec = {
                    "variant": "ours_operators",
                    "name": f"instrumentation-{instrument}-{rep}",
                    "instrument": instrument,
                    "target": gw.address,
                    "users": s.instr_users,
                    "pacing_s": s.instr_pacing_s,
                    "window_s": s.instr_window_s,
                    "warmup_requests": 5 * s.instr_users,
                    "stdout_bytes": s.exec_stdout_bytes,
                }
                runs[instrument].append(
                    _per_cpu(self.child(spec, gw), "requests", "req_per_cpu_s", "us_per_req")
                )
        med = {v: median(r.get("p50_ms") for r in runs[v]) for v in INSTRUMENT}
        overhead = ratio(med["full"], med["off"])
        events = ratio(med["events"], med["off"])
        return {
            "runs": runs,
            "median_p50_ms": med,
            "overhead_pct": None if overhead is None else (overhead - 1) * 100,
            "events_only_pct": None if events is None else (events - 1) * 100,
            "rate_per_s": s.instr_users / s.instr_pacing_s,
        }

    # -- device work --------------------------------------------------------------------------------

    def device_work(self) -> dict[str, Any]:
        s = self.sizes
        interval = f"{s.fleet_command_interval_s:g}s"
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": []}
        with self.gateway(
            "device-work", "--node-info-interval", interval, "--metrics-interval", interval
        ) as gw:
            for rep in range(s.fleet_repeats):
                for who in counterbalanced(rep, ("ours", "bare")):
                    _wait_empty(gw)
                    spec = {
                        "variant": f"{who}_fleet",
                        "name": f"device-work-{who}-{rep}",
                        "target": gw.address,
                        "devices": s.fleet_devices,
                        "prefix": f"{who}{rep}",
                        "status_s": s.fleet_status_s,
                        "window_s": s.fleet_window_s,
                        "spawn_rate": 500,
                        "online_timeout_s": 60,
                    }
                    run = _per_cpu(self.child(spec, gw), "work", "work_per_cpu_s", "us_per_work")
                    if run.get("commands"):
                        run["us_per_command"] = run["cpu_s"] / run["commands"] * 1e6
                    runs[who].append(run)
        return _compare(
            runs,
            "work_per_cpu_s",
            extra={
                "devices": s.fleet_devices,
                "gateway_schedule": f"node info and metrics every {interval} per device",
                "status_every_s": s.fleet_status_s,
            },
        )

    # -- the gateway itself --------------------------------------------------------------------------

    def gateway_cost(self) -> dict[str, Any]:
        s = self.sizes
        cases = [(n, 0.0) for n in s.gateway_devices]
        if s.gateway_exec_rate > 0:
            cases.append((s.gateway_exec_devices, s.gateway_exec_rate))
        out: list[dict[str, Any]] = []
        for n, rate in cases:
            runs: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": []}
            for rep in range(s.repeats):
                for who in counterbalanced(rep, ("ours", "bare")):
                    runs[who].append(self._gateway_run(who, n, rate, rep))
            self.progress(f"gateway: {n:,} devices{f', {rate:g} Exec/s' if rate else ''} done")
            out.append(_compare(runs, "ms_per_command", extra={"devices": n, "exec_rate": rate}))
        return {
            "cases": out,
            "schedule": f"aranya-defaults, node info every {s.gateway_node_info_s:g}s",
            "listeners": "one per device",
            "window_s": s.gateway_window_s,
        }

    def _gateway_run(self, who: str, n: int, rate: float, rep: int) -> dict[str, Any]:
        """One server (ours or bare) under one fleet; the server's CPU per command the devices answered."""
        s = self.sizes
        name = f"gateway-{who}-{n}{f'-exec{rate:g}' if rate else ''}-{rep}"
        addresses = self.logs / f"{name}-addresses.csv"
        prefix = "dev"
        server: Any = None
        try:
            if who == "ours":
                server = self.gateway(
                    name, "--listener-per-device", "--devices", str(n), "--device-prefix", prefix,
                    "--schedule", "aranya-defaults", "--node-info-interval", f"{s.gateway_node_info_s:g}s",
                    "--address-map-out", str(addresses),
                ).start()  # fmt: skip
                control = server.address
            else:
                spec = {
                    "variant": "bare_server", "name": name, "devices": n, "prefix": prefix,
                    "node_info_s": s.gateway_node_info_s, "stdout_bytes": s.exec_stdout_bytes,
                    "address_file": str(addresses),
                }  # fmt: skip
                server = Child(spec, self.logs, self.side_cpus, hard_cap_s=_gateway_cap(s, n))
                if not server.wait_for(("READY", "RESULT")) or server.ready is None:
                    return {"error": f"bare server: {server.error or 'no READY line'}"}
                control = server.ready["control"]
            fleet = {
                "variant": "gateway_fleet", "name": f"{name}-fleet", "address_file": str(addresses),
                "control": control, "exec_rate": rate, "stdout_bytes": s.exec_stdout_bytes,
                "window_s": s.gateway_window_s, "online_timeout_s": _online_timeout(s, n),
            }  # fmt: skip
            child = run_child(fleet, self.logs, self.gen_cpus, server, hard_cap_s=_gateway_cap(s, n))
        finally:
            if isinstance(server, Child):
                server.close_stdin()
                server.kill()
            elif server is not None:
                server.stop()
        r = child.outcome()
        if "error" in r:
            return r
        if "measure" not in child.marks or "measured" not in child.marks:
            return {"error": "no server CPU reading", **r}
        cpu = child.marks["measured"] - child.marks["measure"]
        r["server_cpu_s"] = cpu
        r["server_busy_pct"] = cpu / r["wall_s"] * 100 if r.get("wall_s") else None
        r["ms_per_command"] = cpu / r["commands"] * 1000 if r.get("commands") else None
        if r.get("errors") or r.get("exec_failures"):
            r["warning"] = f"{r['errors']} device errors, {r['exec_failures']} failed Execs"
        return r

    # -- devices held online --------------------------------------------------------------------------

    def hold(self) -> dict[str, Any]:
        s = self.sizes
        out: dict[str, Any] = {}
        out["single"] = self._hold_run("single", [s.hold_devices])
        self.doc["modes"]["hold"] = out  # saved now: the multi-process run takes as long again
        self.save()
        self.progress("hold: one process done")
        per = s.hold_worker_devices // s.hold_workers
        split = [
            per + (1 if i < s.hold_worker_devices % s.hold_workers else 0) for i in range(s.hold_workers)
        ]
        out["workers"] = self._hold_run("workers", split)
        return out

    def _hold_run(self, name: str, split: list[int]) -> dict[str, Any]:
        """One generator process per entry of ``split`` (its device count), each with a gateway of its own."""
        s = self.sizes
        gateways: list[Gateway] = []
        children: list[Child] = []
        try:
            for i in range(len(split)):
                gw = self.gateway(
                    f"hold-{name}-{i}", "--node-info-interval", "0", "--metrics-interval", "0", pin=False
                )
                gateways.append(gw.start())
            rate = s.hold_spawn_rate / len(split)
            # The ramp alone takes devices / rate; leave room for the connect sequence after it.
            online_timeout = max(s.hold_online_timeout_s, max(split) / rate * 1.5 + 30)
            for i, n in enumerate(split):
                spec = {
                    "variant": "ours_hold",
                    "name": f"hold-{name}-{i}",
                    "target": gateways[i].address,
                    "devices": n,
                    "prefix": f"w{i}",
                    "status_s": s.hold_status_s,
                    "hold_s": s.hold_s,
                    "spawn_rate": rate,
                    "online_timeout_s": online_timeout,
                    "barrier_timeout_s": online_timeout + 30,
                }
                cap = 3 * online_timeout + s.hold_s + 60
                children.append(Child(spec, self.logs, None, gateways[i], hard_cap_s=cap))
            for c in children:
                if not c.wait_for(phases=("online",)):
                    raise RuntimeError(f"{c.name}: {c.error}")
            online_at_start = sum(g.devices_online() for g in gateways)
            for c in children:
                c.send("go")
            for c in children:
                if not c.wait_for(phases=("held",)):
                    raise RuntimeError(f"{c.name}: {c.error}")
            held = sum(g.devices_online() for g in gateways)
            for c in children:
                c.send("go")
            workers = [c.finish() or {"error": c.error} for c in children]
            for c, w in zip(children, workers, strict=True):
                if "hold" in c.marks and "held" in c.marks and w.get("wall_s"):
                    w["gateway_cpu_pct"] = (c.marks["held"] - c.marks["hold"]) / w["wall_s"] * 100
        finally:
            for c in children:
                c.kill()
            for g in gateways:
                g.stop()
        bad = [w["error"] for w in workers if "error" in w]
        if bad:
            raise RuntimeError("; ".join(bad))
        return _hold_summary(split, workers, online_at_start, held, s.hold_status_s)

    # -- engines ------------------------------------------------------------------------------------------

    def engines(self) -> dict[str, Any]:
        s = self.sizes
        with self.gateway("engines", "--node-info-interval", "0", "--metrics-interval", "0") as gw:
            unary = self._unary(gw)  # first, while the gateway holds no devices (small answers)
            self.progress("engines: unary done")
            stall = self._stall(gw)
        return {"unary": unary, "stall": stall, "stall_probe_calls": 20, "stall_probe_s": s.stall_probe_s}

    def _unary(self, gw: Gateway) -> dict[str, Any]:
        s = self.sizes
        variants = ("unary_grpcio", "unary_engine_call", "unary_aio", "unary_engine_loop")
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        for rep in range(s.repeats):
            for v in counterbalanced(rep, variants):
                spec = {
                    "variant": v,
                    "name": f"engines-{v}-{rep}",
                    "target": gw.address,
                    "calls": s.unary_calls,
                }
                runs[v].append(_per_cpu(self.child(spec, gw), "requests", "req_per_cpu_s", "us_per_req"))
        med = {v: median(r.get("us_per_req") for r in runs[v]) for v in variants}
        return {
            "labels": {
                "unary_grpcio": "grpcio sync + gevent + init_gevent",
                "unary_engine_call": "engine, engine.call per request",
                "unary_aio": "bare grpc.aio, plain asyncio",
                "unary_engine_loop": "engine, callers on its loop",
            },
            "runs": runs,
            "median_us_per_req": med,
            "x_bare": {v: ratio(med[v], med["unary_aio"]) for v in variants},
            "callers": 20,
            "calls": s.unary_calls,
        }

    def _stall(self, gw: Gateway) -> list[dict[str, Any]]:
        s = self.sizes
        rows = []
        cases = [(v, n, True) for n in s.stall_sizes for v in ("stall_grpcio", "stall_engine")]
        cases += [("stall_grpcio", n, False) for n in s.stall_no_init]
        for variant, n, init in cases:
            prefix = f"stall-{variant}-{n}-{'init' if init else 'noinit'}-"  # unique ids per case
            spec = {
                "variant": variant,
                "name": f"engines-{variant}-{n}{'' if init else '-noinit'}",
                "target": gw.address,
                "n": n,
                "prefix": prefix,
                "init_gevent": init,
                "probe_s": s.stall_probe_s,
            }
            child = run_child(spec, self.logs, self.gen_cpus, gw)
            r = child.outcome()
            rows.append(
                {
                    "variant": variant,
                    "init_gevent": init,
                    "streams": n,
                    "ok": bool(r.get("ok")),
                    "hard_stall": child.stalled,
                    "calls": r.get("calls"),
                    "probe_s": r.get("probe_s"),
                    "reading": r.get("reading"),
                    "error": None if child.stalled else r.get("error"),
                }
            )
        return rows

    # -- service: etcd KV clients against a cluster of their own, grpc clients against an echo server -----

    def service(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, body in (("etcd", self._service_etcd), ("grpc", self._service_grpc)):
            try:
                out[name] = body()
            except Exception as exc:  # one failed half must not lose the other
                out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        failed = [f"{name}: {v['error']}" for name, v in out.items() if "error" in v]
        if failed:  # the run's status says so; the half that worked keeps its figures
            out["error"] = "; ".join(failed)
        return out

    def _pairs(self, variant: str, count: str, spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """``repeats`` interleaved runs of ours and bare; no gateway here, so no gateway share."""
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": []}
        for rep in range(self.sizes.repeats):
            for who in counterbalanced(rep, ("ours", "bare")):
                name = {"variant": f"{who}_{variant}", "name": f"{variant}-{who}-{rep}"}
                r = _per_cpu(self.child({**spec, **name}), count, f"{count}_per_cpu_s", f"us_per_{count}")
                r.pop("gateway_busy_pct", None)  # the children's gateway marks read 0 here
                runs[who].append(r)
        return runs

    def _service_etcd(self) -> dict[str, Any]:
        from aranya_perf.etcd.cluster import EtcdCluster

        s = self.sizes
        with EtcdCluster(3) as cluster:
            if self.side_cpus:
                for member in cluster.members:
                    with contextlib.suppress(OSError):
                        os.sched_setaffinity(member.pid, self.side_cpus)
            spec = {
                "endpoints": cluster.endpoints,
                "clients": s.service_clients,
                "window_s": s.service_window_s,
                "warmup_requests": s.service_warmup,
                "prefix": "/aranya-perf-capacity/",
            }
            runs = self._pairs("etcd_kv", "puts", spec)
        return _compare(runs, "puts_per_s", extra={"clients": s.service_clients, "request": "etcd Put"})

    def _service_grpc(self) -> dict[str, Any]:
        s = self.sizes
        server = Child({"variant": "echo_server"}, self.logs, self.side_cpus)
        try:
            if not server.wait_for(("READY", "RESULT")) or server.ready is None:
                raise RuntimeError(f"echo server: {server.error or 'no READY line'}")
            text = "x" * 64
            spec = {
                "target": f"127.0.0.1:{server.ready['port']}",
                "clients": s.service_clients,
                "window_s": s.service_window_s,
                "warmup_s": s.service_warmup_s,
                "text": text,
                # The message ours encodes from {"text": text}: field 1, length-delimited.
                "request": (b"\n" + bytes([len(text)]) + text.encode()).decode("latin-1"),
            }
            runs = self._pairs("grpc_unary", "calls", spec)
        finally:
            server.close_stdin()
            server.kill()
        return _compare(runs, "calls_per_s", extra={"clients": s.service_clients, "request": "grpc Unary"})

    # -- whole run -------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        try:
            if {"operators", "instrumentation"} & set(self.config.modes):
                try:
                    with self._operator_target() as gw:
                        self.mode("operators", lambda: self.operators(gw))
                        self.mode("instrumentation", lambda: self.instrumentation(gw))
                except RuntimeError as exc:
                    for name in ("operators", "instrumentation"):
                        if name in self.config.modes and name not in self.doc["modes"]:
                            self.doc["modes"][name] = {"error": str(exc)}
            self.mode("device_work", self.device_work)
            self.mode("gateway", self.gateway_cost)
            self.mode("hold", self.hold)
            self.mode("engines", self.engines)
            self.mode("service", self.service)
            failed = [m for m, r in self.doc["modes"].items() if "error" in r]
            self.doc["status"] = "failed" if failed else "ok"
            if failed:
                self.doc["reason"] = f"mode(s) failed: {', '.join(failed)}"
        except KeyboardInterrupt:
            self.doc["status"] = "interrupted"
        except SystemExit:  # SIGTERM (see cli.capacity): record it, clean up, exit as asked
            self.doc["status"] = "interrupted"
            raise
        finally:
            self.doc["meta"]["finished_at"] = results.utc_now_iso()
            self.doc["machine"]["loadavg_end"] = list(os.getloadavg())
            self.doc["wall_s"] = time.monotonic() - self.started
            self.save()
        return self.doc


ONLINE_PER_S = 40.0
"""Devices a loaded 2-core machine brings online per second in the gateway mode, at the least (5,000 took
more than 90 s once with a load average of 20)."""


def _online_timeout(s: Sizes, devices: int) -> float:
    return max(s.gateway_online_timeout_s, devices / ONLINE_PER_S)


def _gateway_cap(s: Sizes, devices: int) -> float:
    """Hard cap of one gateway-mode child: listeners up, every device online, the window, margins."""
    return _online_timeout(s, devices) * 2 + s.gateway_window_s + 90


def _per_cpu(child: Child, count_key: str, rate_key: str, cost_key: str) -> dict[str, Any]:
    """The child's figures plus count per CPU-second, CPU-µs per count, and the gateway's CPU share."""
    r = child.outcome()
    if "error" in r:
        return r
    count, cpu = r.get(count_key) or 0, r.get("cpu_s") or 0.0
    r[rate_key] = count / cpu if cpu > 0 else None
    r[cost_key] = cpu / count * 1e6 if count else None
    if "measure" in child.marks and "measured" in child.marks and r.get("wall_s"):
        gw_cpu = child.marks["measured"] - child.marks["measure"]
        r["gateway_busy_pct"] = gw_cpu / r["wall_s"] * 100
    return r


def _compare(runs: dict[str, list[dict[str, Any]]], key: str, extra: dict[str, Any]) -> dict[str, Any]:
    med = {who: median(r.get(key) for r in rs) for who, rs in runs.items()}
    errors = [r["error"] for rs in runs.values() for r in rs if "error" in r]
    pairs = [ratio(o.get(key), b.get(key)) for o, b in zip(runs["ours"], runs["bare"], strict=False)]
    out = {"runs": runs, "median": med, "pair_ratios": pairs, "ratio": median(pairs), "key": key, **extra}
    if med["ours"] is None or med["bare"] is None:
        out["error"] = "; ".join(errors) or "no usable run"
    elif errors:
        out["warnings"] = errors
    return out


def _hold_summary(
    split: list[int], workers: list[dict[str, Any]], online_at_start: int, held: int, status_s: float
) -> dict[str, Any]:
    from hdrh.histogram import HdrHistogram

    from aranya_perf.measure.latency import merge

    hists = [HdrHistogram.decode(w["status_hdr"]) for w in workers if w.get("status_hdr")]
    status = merge(hists) if hists else None
    n = sum(split)
    rss_growth = sum(w["rss_kib_online"] - w["rss_kib_start"] for w in workers)
    online_times = [w["online_s"] for w in workers]
    return {
        "workers": len(split),
        "devices": n,
        "held_online": held,
        "online_at_hold_start": online_at_start,
        "generator_online_end": sum(w["online_end"] for w in workers),
        "all_online_s": None if any(t is None for t in online_times) else max(online_times),
        "rss_kib_per_device": rss_growth / n,
        "rss_mib_total": sum(w["rss_kib_end"] for w in workers) / 1024,
        "status_every_s": status_s,
        "status_pushes": sum(w["status"] for w in workers),
        "status_p50_ms": status.get_value_at_percentile(50) / 1000 if status else None,
        "status_p99_ms": status.get_value_at_percentile(99) / 1000 if status else None,
        "status_max_ms": status.get_max_value() / 1000 if status else None,
        "errors": sum(w["errors"] for w in workers),
        "cpu_pct_per_worker": [w["cpu_s"] / w["wall_s"] * 100 for w in workers],
        "gateway_cpu_pct": [w.get("gateway_cpu_pct") for w in workers],
        "fds_per_worker": [w["fds"] for w in workers],
        "error_sample": [e for w in workers for e in w.get("error_sample", [])][:5],
        "per_worker": [{k: v for k, v in w.items() if k != "status_hdr"} for w in workers],
    }


def _wait_empty(gw: Gateway, timeout: float = 15.0) -> None:
    """Devices of the previous variant may still be leaving the gateway; wait for them (bounded)."""
    deadline = time.monotonic() + timeout
    while gw.devices_online() > 0 and time.monotonic() < deadline:
        time.sleep(0.2)


def run_capacity(config: CapacityConfig, out: TextIO = sys.stdout) -> tuple[Path, dict[str, Any]]:
    """Run the benchmark; returns the path of capacity.json and its content."""
    run = _Run(config, out)
    out.write(
        f"generator capacity: {', '.join(config.modes)}{' (quick)' if config.quick else ''}; "
        f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}; "
        f"results in {run.path}\n"
    )
    if run.gen_cpus:
        out.write(
            f"  gateway side pinned to cpu{min(run.side_cpus or [])}, generators to cpu{min(run.gen_cpus)}\n"
        )
    doc = run.run()
    return run.path, doc
