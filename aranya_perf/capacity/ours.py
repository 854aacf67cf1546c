"""Our load generator as the capacity benchmark measures it: Locust users on the load engine.

Each function runs in a child process of its own and drives a real Locust ``Environment``
with the suite's users (``OperatorUser``, ``DeviceUser``), configured as ``aranya-perf run``
configures them (``aranya_perf.loadtests.settings.configure`` with the ``smoke`` profile, the benchmark's
sizes replacing its own), the hooks every locustfile installs and, unless told otherwise, the
``LatencyRecorder`` that ``aranya-perf run`` attaches, so what is measured is what a run
costs. Locust is imported first: it monkey-patches the process with gevent, which must happen
before grpc loads.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from typing import Any

import gevent
import locust  # noqa: F401  (first import: gevent patches the process before grpc loads)
from locust.env import Environment

from aranya_perf import profiles
from aranya_perf.address_map import AddressMap
from aranya_perf.capacity.child import Result, Spec, open_fds, phase, rss_kib, wait_go
from aranya_perf.loadtests import hooks
from aranya_perf.loadtests import operators as operator_module
from aranya_perf.loadtests.devices import DeviceUser
from aranya_perf.loadtests.engine import shutdown_engine
from aranya_perf.loadtests.fleet import existing_plan
from aranya_perf.loadtests.operators import REQUEST_TYPE as CONTROL
from aranya_perf.loadtests.operators import OperatorUser
from aranya_perf.loadtests.settings import configure
from aranya_perf.measure.latency import LatencyRecorder
from aranya_perf.profiles import Profile

INSTRUMENT = ("off", "events", "full")
"""off: no Locust event and no HDR per request; events: Locust's request events (and its stats);
full: events plus the HDR LatencyRecorder, as ``aranya-perf run`` has it."""
NOT_WORK = frozenset(
    {"connect", "first_cmd", "stream", "reject", "protocol", "agent", "upstream", "duplicate_online",
     "offline_at_end"}
)  # fmt: skip
"""Device request names that are not commands answered or status pushes."""
BASE_PROFILE = "smoke"
"""The profile the benchmark's settings are put on (what ``aranya-perf run`` uses by default)."""


def _wait(cond: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        gevent.sleep(step)
    return True


def _quit(env: Environment) -> None:
    runner = env.runner
    if runner is not None:
        runner.quit()
    shutdown_engine()


def _environment(user_class: type, p: Profile, target: str, **kwargs: Any) -> Environment:
    """A Locust environment set up as ``aranya-perf run`` sets up its own: the run's settings for ``p``,
    every device and the operators at ``target``, the hooks (with the profile's gc freeze)."""
    env = Environment(user_classes=[user_class], host=target, **kwargs)
    configure(env, p, AddressMap(target, shards=(target,)), (target,))
    hooks.install(env.events, gc_freeze=p.fleet.gc_freeze)
    return env


# Fleets are not stopped user by user: the child ends with os._exit right after its result, which
# closes every connection at once (stopping 15,000 users one by one takes longer than the hold).


# -- operators ---------------------------------------------------------------------------------------


def operators(spec: Spec) -> Result:
    """``users`` OperatorUsers calling Exec only (no think time, or ``pacing_s`` apart), for ``window_s``."""
    instrument = spec.get("instrument", "full")
    if instrument not in INSTRUMENT:
        raise ValueError(f"instrument must be one of {INSTRUMENT}")
    users, window_s = spec["users"], spec["window_s"]
    samples: list[float] = []  # Exec times in ms; appended on the loop thread
    failures = [0]

    def report_done(
        self: OperatorUser,
        request_type: str,
        name: str,
        response_time_ms: float,
        response_length: int = 0,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        # Every variant keeps the same raw list, so p50 is computed the same way with or without
        # instrumentation; "off" stops here, the others go on to Locust's event as usual.
        if request_type == CONTROL and name == "Exec":
            if exception is None:
                samples.append(response_time_ms)
            else:
                failures[0] += 1
        if instrument != "off":
            OperatorUser.report_done(
                self, request_type, name, response_time_ms, response_length, exception, context
            )

    # Exec only, so both sides do the same request, and no think time (the bare clients have none).
    p = profiles.resolve(
        BASE_PROFILE,
        {
            "operators.count": users,
            "operators.mix": {"exec": 1.0},
            "operators.think_min_s": 0.0,
            "operators.think_max_s": 0.0,
            "operators.exec_stdout_bytes": spec["stdout_bytes"],
            "fleet.devices": 0,
        },
    )
    # One ListDevices per user, during the warm-up, as the bare clients list once: this child process
    # runs nothing else, so the module's refresh period can be set aside here.
    operator_module.DEVICE_LIST_TTL_S = 1e9
    attrs: dict[str, Any] = {"report_done": report_done}
    pacing = spec.get("pacing_s")
    if pacing:  # each call starts ``pacing`` after the previous one started, as Locust's constant_pacing
        attrs["think"] = lambda _self, busy_s: max(0.0, pacing - busy_s)
    env = _environment(type("Operator", (OperatorUser,), attrs), p, spec["target"])
    recorder = LatencyRecorder(env) if instrument == "full" else None
    runner = env.create_local_runner()
    try:
        runner.start(users, spawn_rate=max(users, 1) * 10)
        _wait(lambda: len(samples) >= spec["warmup_requests"], 30)
        phase("measure", window_s + 15)
        n0, f0 = len(samples), failures[0]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        gevent.sleep(window_s)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        n1, f1 = len(samples), failures[0]
        phase("measured", 15)
        window = samples[n0:n1]
        locust_count = env.stats.get("Exec", CONTROL).num_requests
        return {
            "instrument": instrument,
            "requests": n1 - n0,
            "failures": f1 - f0,
            "cpu_s": cpu,
            "wall_s": wall,
            "p50_ms": statistics.median(window) if window else None,
            "locust_requests": locust_count,
            "hdr_requests": recorder.histograms().get(f"{CONTROL} Exec").get_total_count()
            if recorder is not None and f"{CONTROL} Exec" in recorder.histograms()
            else 0,
        }
    finally:
        _quit(env)


# -- device fleets -------------------------------------------------------------------------------------


def _fleet_env(spec: Spec) -> tuple[Environment, LatencyRecorder]:
    """An environment whose ``devices`` DeviceUsers all connect to ``target``, pushing status every
    ``status_s``; its ``FleetPlan`` holds their agents (``_agents``)."""
    p = profiles.resolve(BASE_PROFILE, {"fleet.devices": spec["devices"], "operators.count": 0})
    fleet = dataclasses.replace(p.fleet, status_interval_s=spec["status_s"], prefix=spec["prefix"])
    p = dataclasses.replace(p, fleet=fleet)
    profiles.validate(p)
    env = _environment(DeviceUser, p, spec["target"], stop_timeout=5)
    return env, LatencyRecorder(env)


def _agents(env: Environment) -> list[Any]:
    """The live agents of the environment's fleet (none before the first device user started)."""
    plan = existing_plan(env)
    return list(plan.agents) if plan is not None else []


def _work(env: Environment) -> tuple[int, int, int]:
    """(commands answered, status pushes, failures) counted by Locust so far."""
    commands = status = failures = 0
    for (name, method), entry in env.stats.entries.items():
        if method != "device":
            continue
        failures += entry.num_failures
        if name == "status_push":
            status += entry.num_requests - entry.num_failures
        elif name not in NOT_WORK:
            commands += entry.num_requests - entry.num_failures
    return commands, status, failures


def _online(env: Environment, n: int, sequence: int = 3) -> bool:
    agents = _agents(env)
    return len(agents) >= n and all(a.online and a.commands >= sequence for a in agents)


def _count_online(env: Environment) -> int:
    return sum(1 for a in _agents(env) if a.online)


def fleet(spec: Spec) -> Result:
    """Device work per CPU-second: ``devices`` DeviceUsers answer the gateway's schedule for ``window_s``."""
    n, window_s = spec["devices"], spec["window_s"]
    env, _recorder = _fleet_env(spec)
    runner = env.create_local_runner()
    rss0 = rss_kib()
    phase("connect", spec["online_timeout_s"] + 10)
    t0 = time.perf_counter()
    runner.start(n, spawn_rate=spec["spawn_rate"])
    _wait(lambda: _online(env, n), spec["online_timeout_s"], 0.1)
    online_s = time.perf_counter() - t0
    gevent.sleep(spec.get("settle_s", 1.0))
    rss1 = rss_kib()
    phase("measure", window_s + 15)
    c0, s0, f0 = _work(env)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    gevent.sleep(window_s)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    c1, s1, f1 = _work(env)
    phase("measured", 15)
    return {
        "devices": n,
        "online": _count_online(env),
        "online_s": online_s,
        "commands": c1 - c0,
        "status": s1 - s0,
        "work": c1 - c0 + s1 - s0,
        "errors": f1 - f0,
        "cpu_s": cpu,
        "wall_s": wall,
        "rss_kib_per_device": (rss1 - rss0) / n,
        "fds": open_fds(),
    }


def hold(spec: Spec) -> Result:
    """Devices held online: connect ``devices``, report, hold ``hold_s`` between the parent's barriers.

    Barriers (``go`` on stdin) let the parent start every worker's hold together and read the
    gateways' own count of devices online while every worker still holds its fleet.
    """
    n, hold_s = spec["devices"], spec["hold_s"]
    env, recorder = _fleet_env(spec)
    runner = env.create_local_runner()
    rss0 = rss_kib()
    phase("connect", spec["online_timeout_s"] + 10)
    t0 = time.perf_counter()
    runner.start(n, spawn_rate=spec["spawn_rate"])
    all_online = _wait(lambda: _online(env, n), spec["online_timeout_s"], 0.2)
    online_s = time.perf_counter() - t0 if all_online else None
    gevent.sleep(spec.get("settle_s", 2.0))
    rss_online = rss_kib()
    phase("online", spec["barrier_timeout_s"] + 10)
    wait_go(gevent.sleep, spec["barrier_timeout_s"])
    online_at_hold = _count_online(env)
    phase("hold", hold_s + 15)
    recorder.reset()  # status latency of the hold only, not of the ramp
    _c0, s0, f0 = _work(env)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    gevent.sleep(hold_s)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    _c1, s1, f1 = _work(env)
    online_end = _count_online(env)
    phase("held", spec["barrier_timeout_s"] + 10)
    wait_go(gevent.sleep, spec["barrier_timeout_s"])
    status = recorder.histograms().get("device status_push")
    top = sorted(env.stats.errors.values(), key=lambda e: -e.occurrences)[:5]
    return {
        "devices": n,
        "online_s": online_s,
        "online_at_hold": online_at_hold,
        "online_end": online_end,
        "status": s1 - s0,
        "errors": f1 - f0,
        "cpu_s": cpu,
        "wall_s": wall,
        "rss_kib_start": rss0,
        "rss_kib_online": rss_online,
        "rss_kib_end": rss_kib(),
        "rss_kib_per_device": (rss_online - rss0) / n,
        "fds": open_fds(),
        "status_hdr": status.encode().decode() if status is not None else None,
        "error_sample": [f"{e.occurrences}x {e.name}: {e.error}" for e in top],
    }


# -- service: etcd KV clients ----------------------------------------------------------------------------


def etcd_kv(spec: Spec) -> Result:
    """``clients`` EtcdKvUsers putting in a closed loop (1 KiB values, 256-byte keys) for ``window_s``,
    spread over the cluster's ``endpoints`` as a run spreads them, with the run's HDR recording."""
    from aranya_perf.loadtests.etcd_users import EtcdKvUser

    clients, window_s, endpoints = spec["clients"], spec["window_s"], spec["endpoints"]
    overrides = {
        "run.scenario": "etcd",
        "service.users": clients,
        "etcd.mix": {"put": 1.0},
        "etcd.rate": 0.0,
        "etcd.key_size": 256,
        "etcd.value_size": 1024,
        "etcd.watchers": 0,
        "etcd.leases": 0,
        "etcd.check_perf": "off",
        "etcd.prefix": spec["prefix"],
    }
    p = profiles.resolve("etcd", overrides)
    env = Environment(user_classes=[EtcdKvUser], host=endpoints[0])
    configure(env, p, AddressMap(endpoints[0], shards=tuple(endpoints)), tuple(endpoints))
    hooks.install(env.events, gc_freeze=p.fleet.gc_freeze)
    recorder = LatencyRecorder(env)
    runner = env.create_local_runner()

    def puts() -> int:
        return env.stats.get("Put", "etcd").num_requests

    try:
        runner.start(clients, spawn_rate=clients * 10)
        _wait(lambda: puts() >= spec["warmup_requests"], 30)
        return _closed_loop_window(env, recorder, "etcd", "Put", window_s, unit="puts")
    finally:
        _quit(env)


def _closed_loop_window(
    env: Environment, recorder: LatencyRecorder, request_type: str, name: str, window_s: float, *, unit: str
) -> Result:
    """One measured window of a service mode's closed loop: its calls (as ``unit``), failures, this
    process's CPU and wall time, and the window's HDR p50/p99 of ``request_type name``."""

    def counts() -> tuple[int, int]:
        entry = env.stats.get(name, request_type)
        return entry.num_requests, entry.num_failures

    phase("measure", window_s + 15)
    (n0, f0), cpu0, wall0 = counts(), time.process_time(), time.perf_counter()
    gevent.sleep(window_s)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n1, f1 = counts()
    phase("measured", 15)
    hist = recorder.histograms().get(f"{request_type} {name}")
    return {
        unit: n1 - n0,
        "failures": f1 - f0,
        "cpu_s": cpu,
        "wall_s": wall,
        f"{unit}_per_s": (n1 - n0) / wall,
        "p50_ms": hist.get_value_at_percentile(50) / 1000 if hist else None,
        "p99_ms": hist.get_value_at_percentile(99) / 1000 if hist else None,
    }


# -- service: scenario grpc's client ---------------------------------------------------------------------


def grpc_unary(spec: Spec) -> Result:
    """``clients`` ServiceUsers calling the echo service's Unary in a closed loop (no think time) for
    ``window_s`` after a warm-up, with the run's HDR recording; descriptors as a run provides them."""
    from aranya_perf.capacity.echo import METHOD, descriptors
    from aranya_perf.loadtests.service_user import ServiceUser, provide_descriptors
    from aranya_perf.profiles.schema import Call

    clients, window_s, target = spec["clients"], spec["window_s"], spec["target"]
    overrides = {
        "run.scenario": "grpc",
        "target.address": target,
        "grpc.reflection": True,
        "service.users": clients,
        "service.think_min_s": 0.0,
        "service.think_max_s": 0.0,
    }
    call = Call(method=METHOD, name="Unary", request=json.dumps({"text": spec["text"]}))
    p = profiles.resolve(BASE_PROFILE, overrides, calls=(call,))
    env = _environment(ServiceUser, p, target)
    provide_descriptors(env, descriptors())
    recorder = LatencyRecorder(env)
    runner = env.create_local_runner()

    try:
        runner.start(clients, spawn_rate=clients * 10)
        gevent.sleep(spec["warmup_s"])
        return _closed_loop_window(env, recorder, "grpc", "Unary", window_s, unit="calls")
    finally:
        _quit(env)
