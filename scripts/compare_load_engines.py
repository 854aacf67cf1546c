"""Compare the two ways of running gRPC load from a Locust (gevent) process, side by side in one run.

Designs compared
  * grpcio + gevent: plain grpcio with sync stubs in a monkey-patched process, after
    ``grpc.experimental.gevent.init_gevent()``; every call or stream is a greenlet.
  * the engine (``loadtests/engine.py``): grpc.aio on an asyncio loop in a native OS thread of the
    Locust process; greenlets hand calls over with ``engine.call`` / ``engine.spawn``.
  * bare grpc.aio in plain asyncio (no gevent at all): the floor the engine is compared with.

What is measured (all against the project's reference gateway, started here as a child process,
loopback only; every variant runs in its own child process so gevent patching never leaks)
  [1] Held streams vs stall: N device streams connect (MSG_STATE online) and block reading
      commands; can another greenlet still finish 20 Control.ListDevices calls within 5 s?
      "online" is how many of the N devices the gateway lists. "STALLED" means the probe did not
      finish in time; "(hard)" means the whole child stopped answering and was killed. A control
      row runs grpcio under gevent without init_gevent: unary calls alone (N=0), then one stream.
  [2] Generator CPU per unary request: 2,000 ListDevices calls (--calls) from 20 concurrent
      callers, each on its own channel and TCP connection (as GrpcUser opens them), after 200
      warm-up calls. CPU is the generator process's own (all threads, user+sys) over the measured
      calls. Variants: (a) grpcio + gevent, one greenlet per caller; (b) the engine as operators
      use it, one greenlet per caller and one engine.call hand-off per request; (c) bare grpc.aio;
      (d) the engine with the 20 callers running on its loop (one hand-off in all), so (b) - (d)
      is the price of per-request hand-offs. Each variant runs 3 times (--repeats), interleaved;
      the table shows the median and its ratio to (c). "gw busy" is the gateway's CPU over the
      same window: near 100 % its core is saturated and req/s is the gateway's limit, not the
      generator's. No variant reports calls to Locust: this is transport cost only.
  [3] Fleet of device streams on the engine: N DeviceAgents (one channel and TCP connection each,
      no status pushes), time until the gateway lists all N, generator RSS growth per device,
      generator CPU while holding them for 10 s; then the same with the gateway sending every
      device CMD_NODE_INFO_GET once a second, giving generator CPU per answered command (raw, and
      net of the idle fleet's CPU at the same N).

How to read it
  The machine is shared (other benchmarks may run at the same time): absolute figures move by
  tens of percent from run to run. Compare ratios within one run only. Each section says how much
  of the machine other processes (not this script, its children or the gateway) used meanwhile,
  and the load average is printed at start and end. By default the gateway is pinned to one CPU
  and every generator child to another (--no-pin to disable).

Run: .venv/bin/python scripts/compare_load_engines.py   (about 1.5 minutes; progress on stderr)
"""

# Only stdlib modules that do not start threads are imported at module level: a child process
# must import locust (which monkey-patches) before anything else of substance.
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STALL_SIZES = (4, 8, 12, 32)
PROBE_CALLS = 20
PROBE_BUDGET_S = 5.0
NO_INIT_SIZES = (0, 1)  # grpcio under gevent without init_gevent: unary calls only, then one stream
SETTLE_BUDGET_S = 3.0  # time streams get to receive their first command before the probe starts

UNARY_TOTAL = 2000
UNARY_WARMUP = 200
UNARY_CONCURRENCY = 20
UNARY_REPEATS = 3
CALL_TIMEOUT_S = 10.0

FLEET_SIZES = (500, 2000)
FLEET_CMD_SIZE = 500
FLEET_HOLD_S = 10.0
FLEET_ONLINE_TIMEOUT_S = 60.0

CHILD_START_BUDGET_S = 30.0  # importing locust + grpc on a busy machine
CHILD_GRACE_S = 3.0
CHILD_HARD_CAP_S = 150.0  # no child lives longer, whatever budgets it announces
OWN_CONNECTION = (("grpc.use_local_subchannel_pool", 1),)

Spec = dict[str, Any]
Result = dict[str, Any]


# ==============================================================================================
# Child side: each function below runs in a fresh process and returns one JSON-able result.
# ==============================================================================================


def _emit(tag: str, payload: Any) -> None:
    sys.stdout.write(f"{tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


def _phase(name: str, budget_s: float) -> None:
    """Tell the parent which phase starts and how long it may take before the child counts as stalled."""
    _emit("PHASE", {"name": name, "budget_s": budget_s})


def _patch_like_locust() -> None:
    """Monkey-patch this process exactly as Locust does: by importing it, before grpc is imported."""
    import locust  # noqa: F401


def _online_msg(device_id: str) -> Any:
    from aranya_perf import protocol

    return protocol.get(protocol.DEFAULT).online(device_id)


def _sync_method(channel: Any) -> Any:
    """The default protocol's Sync on a channel (sync grpcio or grpc.aio: both have stream_stream)."""
    from aranya_perf import protocol

    p = protocol.get(protocol.DEFAULT)
    return channel.stream_stream(
        p.method, request_serializer=p.msg_type.SerializeToString, response_deserializer=p.cmd_type.FromString
    )


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def _aio_control_stubs(target: str, count: int) -> list[Any]:
    """On the loop: ``count`` Control stubs, each on its own channel (own TCP connection)."""
    from grpc import aio

    from aranya_perf.protocol.control import ControlStub

    return [ControlStub(aio.insecure_channel(target, options=OWN_CONNECTION)) for _ in range(count)]


async def _aio_list(stub: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
    from aranya_perf.protocol.control import messages as ctl

    return await stub.ListDevices(ctl.ListDevicesRequest(), timeout=timeout)


def _probe_while_streams_held(
    n: int, prefix: str, reading: Callable[[], int], list_ids: Callable[[], list[str]]
) -> Result:
    """Gevent side: let the streams settle, then time 20 ListDevices calls from another greenlet."""
    import gevent

    _phase("settle", SETTLE_BUDGET_S + 2)
    deadline = time.monotonic() + SETTLE_BUDGET_S
    while reading() < n and time.monotonic() < deadline:
        gevent.sleep(0.05)
    _phase("probe", PROBE_BUDGET_S + 2)
    state: Result = {"calls": 0, "online": None, "error": None}

    def probe() -> None:
        try:
            with gevent.Timeout(PROBE_BUDGET_S):
                for _ in range(PROBE_CALLS):
                    ids = list_ids()
                    state["calls"] += 1
                    state["online"] = sum(1 for d in ids if d.startswith(prefix))
        except gevent.Timeout:
            pass
        except Exception as exc:
            state["error"] = repr(exc)

    t0 = time.perf_counter()
    gevent.spawn(probe).join()
    state["probe_s"] = time.perf_counter() - t0
    state["ok"] = state["calls"] == PROBE_CALLS
    state["reading"] = reading()
    if not state["ok"]:
        # Keep the streams for a while, so the parent can ask the gateway how many it holds.
        state["linger_s"] = 10.0
    return state


def child_stall_grpcio(spec: Spec) -> Result:
    """[1a] N sync bidi streams, one greenlet each, under gevent + init_gevent (or, to show why it is
    needed, without it when ``spec["init_gevent"]`` is false)."""
    _patch_like_locust()
    import gevent
    import gevent.event
    import grpc
    from grpc.experimental import gevent as grpc_gevent

    if spec.get("init_gevent", True):
        grpc_gevent.init_gevent()
    from aranya_perf.protocol.control import ControlStub
    from aranya_perf.protocol.control import messages as ctl

    target, n, prefix = spec["target"], spec["n"], spec["prefix"]
    hold_open = gevent.event.Event()
    reading = [0]

    def requests(device_id: str) -> Iterator[Any]:
        yield _online_msg(device_id)
        hold_open.wait()  # keep the request side of the stream open

    def hold(device_id: str) -> None:
        channel = grpc.insecure_channel(target, options=OWN_CONNECTION)
        seen = False
        try:
            for _cmd in _sync_method(channel)(requests(device_id)):
                if not seen:
                    seen = True
                    reading[0] += 1
        except grpc.RpcError:
            pass

    for i in range(n):
        gevent.spawn(hold, f"{prefix}{i:04d}")
    stub = ControlStub(grpc.insecure_channel(target, options=OWN_CONNECTION))

    def list_ids() -> list[str]:
        return list(stub.ListDevices(ctl.ListDevicesRequest(), timeout=PROBE_BUDGET_S).device_ids)

    return _probe_while_streams_held(n, prefix, lambda: reading[0], list_ids)


def child_stall_engine(spec: Spec) -> Result:
    """[1b] N grpc.aio bidi streams as coroutines on the engine, in a Locust-patched process."""
    _patch_like_locust()
    from grpc import aio

    from loadtests.engine import get_engine

    target, n, prefix = spec["target"], spec["n"], spec["prefix"]
    engine = get_engine()
    reading = [0]

    def mark_reading() -> None:
        reading[0] += 1

    async def hold(device_id: str) -> None:
        channel = aio.insecure_channel(target, options=OWN_CONNECTION)
        call = _sync_method(channel)()
        await call.write(_online_msg(device_id))
        seen = False
        while await call.read() is not aio.EOF:
            if not seen:
                seen = True
                engine.post(mark_reading)

    for i in range(n):
        engine.spawn(hold, f"{prefix}{i:04d}")
    (stub,) = engine.call(_aio_control_stubs, target, 1, timeout=10)

    def list_ids() -> list[str]:
        return list(engine.call(_aio_list, stub, PROBE_BUDGET_S).device_ids)

    return _probe_while_streams_held(n, prefix, lambda: reading[0], list_ids)


class _Meter:
    """CPU (whole process, all threads) and wall time over the measured calls."""

    def start(self, calls: int) -> None:
        _phase("measure", 60 + calls / 200)  # generous: even 200 req/s would finish in time
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()

    def stop(self, calls: int) -> Result:
        cpu, wall = time.process_time() - self.cpu0, time.perf_counter() - self.wall0
        _phase("measured", 10)
        return {"us_per_req": cpu / calls * 1e6, "req_s": calls / wall, "wall_s": wall, "calls": calls}


def child_unary_grpcio(spec: Spec) -> Result:
    """[2a] grpcio sync stubs under gevent + init_gevent, one greenlet per caller."""
    _patch_like_locust()
    import grpc
    from grpc.experimental import gevent as grpc_gevent

    grpc_gevent.init_gevent()
    from aranya_perf.protocol.control import ControlStub
    from aranya_perf.protocol.control import messages as ctl

    target = spec["target"]
    stubs = [
        ControlStub(grpc.insecure_channel(target, options=OWN_CONNECTION)) for _ in range(UNARY_CONCURRENCY)
    ]
    request = ctl.ListDevicesRequest()

    return _measure_greenlet_callers(
        stubs, lambda stub: stub.ListDevices(request, timeout=CALL_TIMEOUT_S), spec
    )


def _measure_greenlet_callers(stubs: list[Any], call_once: Callable[[Any], Any], spec: Spec) -> Result:
    """One greenlet per stub calling ``call_once(stub)``: a warm-up, then ``spec["calls"]`` metered."""
    import gevent

    def run(total: int) -> None:
        per_stub = total // len(stubs)
        greenlets = [gevent.spawn(lambda st=st: [call_once(st) for _ in range(per_stub)]) for st in stubs]
        gevent.joinall(greenlets, raise_error=True)

    run(UNARY_WARMUP)
    meter = _Meter()
    meter.start(spec["calls"])
    run(spec["calls"])
    return meter.stop(spec["calls"])


def child_unary_engine_call(spec: Spec) -> Result:
    """[2b] The operator path: one greenlet per caller, one engine.call hand-off per request."""
    _patch_like_locust()

    from loadtests.engine import get_engine

    engine = get_engine()
    stubs = engine.call(_aio_control_stubs, spec["target"], UNARY_CONCURRENCY, timeout=10)

    return _measure_greenlet_callers(stubs, lambda stub: engine.call(_aio_list, stub), spec)


async def _aio_callers(stubs: list[Any], total: int) -> None:
    """On an asyncio loop: one task per stub, ``total`` ListDevices calls between them."""
    import asyncio

    async def worker(stub: Any, count: int) -> None:
        for _ in range(count):
            await _aio_list(stub)

    await asyncio.gather(*(worker(s, total // len(stubs)) for s in stubs))


def child_unary_aio(spec: Spec) -> Result:
    """[2c] Bare grpc.aio in plain asyncio: no gevent, no Locust, no thread hand-off."""
    import asyncio

    async def main() -> Result:
        stubs = await _aio_control_stubs(spec["target"], UNARY_CONCURRENCY)
        await _aio_callers(stubs, UNARY_WARMUP)
        meter = _Meter()
        meter.start(spec["calls"])
        await _aio_callers(stubs, spec["calls"])
        return meter.stop(spec["calls"])

    return asyncio.run(main())


def child_unary_engine_loop(spec: Spec) -> Result:
    """[2d] The engine with the callers running on its loop: one engine.call for all requests."""
    _patch_like_locust()

    from loadtests.engine import get_engine

    engine = get_engine()
    stubs = engine.call(_aio_control_stubs, spec["target"], UNARY_CONCURRENCY, timeout=10)
    engine.call(_aio_callers, stubs, UNARY_WARMUP, timeout=60)
    meter = _Meter()
    meter.start(spec["calls"])
    engine.call(_aio_callers, stubs, spec["calls"], timeout=60 + spec["calls"] / 200)
    return meter.stop(spec["calls"])


def child_fleet(spec: Spec) -> Result:
    """[3] N DeviceAgents on the engine: time to online, RSS per device, CPU while holding them."""
    _patch_like_locust()
    import gevent
    from grpc import aio

    from aranya_perf import protocol
    from loadtests.device_agent import DeviceAgent, DeviceProfile
    from loadtests.engine import get_engine

    target, n, prefix = spec["target"], spec["n"], spec["prefix"]
    engine = get_engine()
    (stub,) = engine.call(_aio_control_stubs, target, 1, timeout=10)

    def online_ids() -> list[str]:
        return list(engine.call(_aio_list, stub, timeout=CALL_TIMEOUT_S).device_ids)

    # Devices of an earlier child may still be leaving the gateway; wait for them (bounded).
    _phase("drain", 15)
    deadline = time.monotonic() + 10
    leftover = len(online_ids())
    while leftover and time.monotonic() < deadline:
        gevent.sleep(0.2)
        leftover = len(online_ids())

    counts = {"commands": 0, "errors": 0}
    not_commands = {"connect", "first_cmd", "stream", "reject", "status_push", "upstream"}

    def count(name: str, failed: bool) -> None:
        if failed:
            counts["errors"] += 1
        elif name not in not_commands:
            counts["commands"] += 1

    def report(_type: str, name: str, _ms: float, _length: int, exc: BaseException | None) -> None:
        # Called on the loop thread; handed to gevent the way GrpcUser.report does it.
        engine.post(count, name, exc is not None)

    profile = DeviceProfile(status_push_interval_s=0)
    proto = protocol.get(protocol.DEFAULT)

    async def make_agents() -> list[DeviceAgent]:
        return [
            DeviceAgent(
                f"{prefix}{i:05d}",
                aio.insecure_channel(target, options=OWN_CONNECTION),
                report,
                proto,
                profile,
            )
            for i in range(n)
        ]

    rss0 = _rss_kib()
    _phase("connect", FLEET_ONLINE_TIMEOUT_S + 15)
    t0 = time.perf_counter()
    agents = engine.call(make_agents, timeout=30)
    for agent in agents:
        engine.spawn(agent.run)
    online = 0
    while online < n and time.perf_counter() - t0 < FLEET_ONLINE_TIMEOUT_S:
        gevent.sleep(0.1)
        online = sum(1 for d in online_ids() if d.startswith(prefix))
    online_s = time.perf_counter() - t0
    # The gateway lists a device on registration and then sends it one CMD_NODE_INFO_GET; start
    # holding once every device has answered it, so the hold window sees only steady state.
    while counts["commands"] < online and time.perf_counter() - t0 < FLEET_ONLINE_TIMEOUT_S:
        gevent.sleep(0.1)
    gevent.sleep(0.5)
    rss1 = _rss_kib()

    _phase("hold", FLEET_HOLD_S + 15)
    cmds0 = counts["commands"]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    gevent.sleep(FLEET_HOLD_S)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    commands = counts["commands"] - cmds0
    online_end = sum(1 for d in online_ids() if d.startswith(prefix))
    return {
        "leftover": leftover,
        "online": online,
        "online_end": online_end,
        "online_s": online_s if online == n else None,
        "rss_kib_per_device": (rss1 - rss0) / n,
        "rss_mib": _rss_kib() / 1024,
        "cpu_pct": cpu / wall * 100,
        "cpu_s": cpu,
        "hold_s": wall,
        "commands": commands,
        "agent_commands": sum(a.commands for a in agents),
        "us_per_cmd": cpu / commands * 1e6 if commands else None,
        "errors": counts["errors"],
    }


def child_count(spec: Spec) -> Result:
    """Helper: how many devices with ``prefix`` the gateway lists (plain grpcio, no gevent)."""
    import grpc

    from aranya_perf.protocol.control import ControlStub
    from aranya_perf.protocol.control import messages as ctl

    with grpc.insecure_channel(spec["target"]) as channel:
        ids = ControlStub(channel).ListDevices(ctl.ListDevicesRequest(), timeout=5).device_ids
    return {"online": sum(1 for d in ids if d.startswith(spec["prefix"]))}


CHILDREN: dict[str, Callable[[Spec], Result]] = {
    "stall_grpcio": child_stall_grpcio,
    "stall_engine": child_stall_engine,
    "unary_grpcio": child_unary_grpcio,
    "unary_engine_call": child_unary_engine_call,
    "unary_aio": child_unary_aio,
    "unary_engine_loop": child_unary_engine_loop,
    "fleet": child_fleet,
    "count": child_count,
}


def child_main(spec: Spec) -> None:
    sys.path.insert(0, REPO)
    try:
        result = CHILDREN[spec["variant"]](spec)
    except BaseException as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    _emit("RESULT", result)
    if result.get("linger_s"):
        time.sleep(result["linger_s"])  # the parent kills this process once it has looked
    # Skip interpreter shutdown: streams, channels and the engine thread may still be live.
    os._exit(0)


# ==============================================================================================
# Parent side: the gateway, running children with hard deadlines, the tables.
# ==============================================================================================


class Gateway:
    """The reference gateway child, pinned to ``cpu``; always stopped on exit from the ``with`` block."""

    def __init__(self, node_info_interval: str, cpu: int | None) -> None:
        # Imported here: children import this script before they choose their gevent patching.
        from aranya_perf.gateway.process import GatewayProcess

        self.process = GatewayProcess(
            ["--node-info-interval", node_info_interval, "--metrics-interval", "0", "--log-level", "warning"]
        )
        self.cpu = cpu

    @property
    def target(self) -> str:
        return self.process.address

    @property
    def pid(self) -> int:
        return self.process.pid

    def __enter__(self) -> Gateway:
        self.process.start(timeout=30)
        if self.cpu is not None:
            os.sched_setaffinity(self.pid, {self.cpu})
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    def cpu_s(self) -> float:
        import psutil

        try:
            t = psutil.Process(self.pid).cpu_times()
        except psutil.Error:
            return float("nan")
        return t.user + t.system


class ChildRun:
    """What one child reported: its result, or that it stalled (and in which phase)."""

    def __init__(self) -> None:
        self.result: Result | None = None
        self.stalled = False
        self.phase = "start"
        self.marks: dict[str, float] = {}  # phase name -> gateway CPU seconds when it was announced
        self.held_info: Result | None = None  # what inspect_held saw
        self.stderr_tail = ""

    @property
    def error(self) -> str | None:
        if self.stalled:
            return None
        if self.result is None:
            return f"no result ({self.stderr_tail.strip().splitlines()[-1:] or ['?']})"
        return self.result.get("error")


def run_child(
    spec: Spec,
    gateway: Gateway | None,
    cpu: int | None,
    inspect_held: Callable[[], Result | None] | None = None,
) -> ChildRun:
    """Run one variant in a fresh process; kill it if a phase overruns the budget it announced.

    ``inspect_held()`` runs while the child is still alive, after it stalled or when its result
    asks for it (``linger_s``), to look at the gateway before the child's streams go away.
    """
    import collections
    import queue
    import subprocess
    import threading

    run = ChildRun()
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if cpu is not None:
        os.sched_setaffinity(proc.pid, {cpu})
    lines: queue.Queue[tuple[str, float] | None] = queue.Queue()
    stderr_tail: collections.deque[str] = collections.deque(maxlen=20)

    def read_stdout() -> None:
        for line in proc.stdout:
            # Stamped here, not in the main loop, so gateway CPU marks sit close to the child's clock.
            lines.put((line, gateway.cpu_s() if gateway is not None else 0.0))
        lines.put(None)

    def read_stderr() -> None:
        for line in proc.stderr:
            stderr_tail.append(line)

    readers = [threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr)]
    for t in readers:
        t.start()
    cap = time.monotonic() + CHILD_HARD_CAP_S
    deadline = time.monotonic() + CHILD_START_BUDGET_S
    try:
        while True:
            try:
                item = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                run.stalled = run.result is None
                if run.stalled and inspect_held is not None:
                    run.held_info = inspect_held()  # while the child still holds its streams
                break
            if item is None:
                break
            line, gw_cpu = item
            tag, _, payload = line.partition(" ")
            if tag == "PHASE":
                phase = json.loads(payload)
                run.phase = phase["name"]
                run.marks[run.phase] = gw_cpu
                deadline = min(cap, time.monotonic() + phase["budget_s"] + CHILD_GRACE_S)
            elif tag == "RESULT":
                run.result = json.loads(payload)
                deadline = time.monotonic() + CHILD_GRACE_S
                if run.result.get("linger_s") and inspect_held is not None:
                    run.held_info = inspect_held()
                    break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for t in readers:
            t.join(timeout=2)
    run.stderr_tail = "".join(stderr_tail)
    return run


# -- the three measurements ------------------------------------------------------------------------


class Noise:
    """CPU used by processes other than this script and its children, since ``start``."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.start = self._snapshot()

    def _snapshot(self) -> tuple[float, float, float]:
        import resource

        import psutil

        t = psutil.cpu_times()
        busy = t.user + t.nice + t.system + t.irq + t.softirq  # guest time is already in user/nice
        ours = self.gateway.cpu_s()
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):  # children: those already reaped
            r = resource.getrusage(who)
            ours += r.ru_utime + r.ru_stime
        return time.monotonic(), busy, ours

    def others_pct(self) -> float:
        """Other processes' CPU as % of the whole machine (all CPUs) since ``start``."""
        (w0, b0, o0), (w1, b1, o1) = self.start, self._snapshot()
        return max(0.0, (b1 - b0) - (o1 - o0)) / ((w1 - w0) * (os.cpu_count() or 1)) * 100


def measure_stall(
    gw: Gateway, cpu: int | None, progress: Callable[[str], None]
) -> dict[tuple[str, int], ChildRun]:
    runs: dict[tuple[str, int], ChildRun] = {}
    for n in STALL_SIZES:
        for variant in ("stall_grpcio", "stall_engine"):
            prefix = f"stall-{variant}-{n}-{os.getpid()}-"

            def count_online(prefix: str = prefix) -> Result | None:
                return run_child(
                    {"variant": "count", "target": gw.target, "prefix": prefix}, None, cpu
                ).result

            spec = {"variant": variant, "target": gw.target, "n": n, "prefix": prefix}
            runs[variant, n] = run_child(spec, gw, cpu, inspect_held=count_online)
            progress(f"[1] {variant} N={n}")
    for n in NO_INIT_SIZES:
        prefix = f"stall-noinit-{n}-{os.getpid()}-"

        def count_noinit(prefix: str = prefix) -> Result | None:
            return run_child({"variant": "count", "target": gw.target, "prefix": prefix}, None, cpu).result

        spec = {
            "variant": "stall_grpcio",
            "init_gevent": False,
            "target": gw.target,
            "n": n,
            "prefix": prefix,
        }
        runs["stall_grpcio_noinit", n] = run_child(spec, gw, cpu, inspect_held=count_noinit)
        progress(f"[1] stall_grpcio without init_gevent N={n}")
    return runs


UNARY_VARIANTS = (
    ("unary_grpcio", "a grpcio sync + gevent + init_gevent"),
    ("unary_engine_call", "b engine, engine.call per request"),
    ("unary_aio", "c bare grpc.aio, plain asyncio"),
    ("unary_engine_loop", "d engine, callers on its loop"),
)


def measure_unary(
    gw: Gateway, cpu: int | None, calls: int, repeats: int, progress: Callable[[str], None]
) -> dict[str, list[ChildRun]]:
    runs: dict[str, list[ChildRun]] = {v: [] for v, _ in UNARY_VARIANTS}
    for rep in range(repeats):
        for variant, _ in UNARY_VARIANTS:  # interleaved so slow drifts in machine load hit all alike
            spec = {"variant": variant, "target": gw.target, "calls": calls}
            runs[variant].append(run_child(spec, gw, cpu))
            progress(f"[2] {variant} run {rep + 1}")
    return runs


def measure_fleet(gw: Gateway, cpu: int | None, n: int, label: str) -> ChildRun:
    spec = {"variant": "fleet", "target": gw.target, "n": n, "prefix": f"fleet-{label}-{n}-{os.getpid()}-"}
    return run_child(spec, gw, cpu)


# -- output ------------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def _median(values: list[float]) -> float | None:
    import statistics

    return statistics.median(values) if values else None


def print_stall_table(runs: dict[tuple[str, int], ChildRun], others_pct: float) -> None:
    print(
        f"\n[1] Held streams vs stall: N device streams blocked reading, then {PROBE_CALLS} ListDevices calls"
    )
    print(f"    from another greenlet within {PROBE_BUDGET_S:g} s; 'online' = how many the gateway lists")
    print(f"    (other processes used {others_pct:.0f} % of the machine meanwhile)")
    print(f"    {'N':>3}  {'grpcio sync + gevent + init_gevent':<42}  {'engine (grpc.aio, native thread)'}")
    for n in STALL_SIZES:
        cells = [_stall_cell(runs[variant, n], n) for variant in ("stall_grpcio", "stall_engine")]
        print(f"    {n:>3}  {cells[0]:<42}  {cells[1]}")
    for n in NO_INIT_SIZES:
        label = f"grpcio sync + gevent WITHOUT init_gevent, N={n}{' (unary only)' if n == 0 else ''}:"
        print(f"    {label:<60} {_stall_cell(runs['stall_grpcio_noinit', n], n)}")
    print(
        "    STALLED (k/20 ...): gevent still ran (the probe's own timeout fired), yet no gRPC call finished;"
    )
    print("    STALLED (hard ...): the whole child stopped answering and was killed.")


def _stall_cell(run: ChildRun, n: int) -> str:
    held_online = (run.held_info or {}).get("online")
    if run.stalled:
        return f"STALLED (hard, in {run.phase}) online {_fmt(held_online, 'd', '?')}/{n}"
    if run.error:
        return f"ERROR {run.error[:34]}"
    r = run.result or {}
    online = _fmt(r.get("online") if r.get("online") is not None else held_online, "d", "?")
    if r.get("ok"):
        return f"ok {r['probe_s']:.2f}s  online {online}/{n}"
    return f"STALLED ({r['calls']}/{PROBE_CALLS} calls in {r['probe_s']:.1f}s) online {online}/{n}"


def print_unary_table(runs: dict[str, list[ChildRun]], calls: int, others_pct: float) -> None:
    repeats = max(len(r) for r in runs.values())
    print(
        f"\n[2] Generator CPU per unary ListDevices: {calls:,} calls, {UNARY_CONCURRENCY} concurrent"
        f" callers, median of {repeats} interleaved runs"
    )
    print(f"    (other processes used {others_pct:.0f} % of the machine meanwhile)")
    print(
        f"    {'variant':<38} {'us/req':>6} {'(each run)':<14} {'x aio':>5} {'req/s':>6}"
        f" {'gw us/req':>9} {'gw busy':>7}"
    )
    rows = []
    for variant, label in UNARY_VARIANTS:
        us, rps, gw_us, gw_busy, problems = [], [], [], [], []
        for run in runs[variant]:
            r = run.result
            if run.stalled or run.error or r is None:
                problems.append("stalled" if run.stalled else (run.error or "?")[:60])
                continue
            us.append(r["us_per_req"])
            rps.append(r["req_s"])
            if "measure" in run.marks and "measured" in run.marks:
                gw_cpu = run.marks["measured"] - run.marks["measure"]
                gw_us.append(gw_cpu / r["calls"] * 1e6)
                gw_busy.append(gw_cpu / r["wall_s"] * 100)
        rows.append((label, _median(us), us, _median(rps), _median(gw_us), _median(gw_busy), problems))
    base = rows[2][1]  # bare grpc.aio
    for label, med, us, rps, gw_us, gw_busy, problems in rows:
        ratio = med / base if med is not None and base else None
        each = "/".join(f"{u:.0f}" for u in us)
        print(
            f"    {label:<38} {_fmt(med, '.0f'):>6} {each:<14} {_fmt(ratio, '.2f'):>5} {_fmt(rps, '.0f'):>6}"
            f" {_fmt(gw_us, '.0f'):>9} {_fmt(gw_busy, '.0f'):>6}%"
        )
        for p in problems:
            print(f"      ! {p}")
    print(
        "    'gw busy' near 100 % means the gateway's core is saturated: req/s is then the gateway's limit."
    )


def print_fleet_table(rows: list[tuple[int, str, ChildRun]], others_pct: float) -> None:
    print(
        "\n[3] Fleet of DeviceAgents on the engine (own channel + TCP connection per device, no status push)"
    )
    print(
        f"    (generator CPU over {FLEET_HOLD_S:g} s of holding; other processes used up to"
        f" {others_pct:.0f} % of the machine meanwhile)"
    )
    print(
        f"    {'N':>5} {'gateway sends':<14} {'online in':>9} {'listed':>10} {'RSS KiB/dev':>11}"
        f" {'CPU % core':>10} {'cmds/s':>6} {'us/cmd':>6} {'net us/cmd':>10} {'errors':>6}"
    )
    idle_cpu: dict[int, float] = {}
    for n, schedule, run in rows:
        r = run.result if run.result is not None and not run.error else None
        if r is None:
            why = f"stalled in {run.phase}" if run.stalled else run.error
            print(f"    {n:>5} {schedule:<14} {why}")
            continue
        if schedule == "nothing":
            idle_cpu[n] = r["cpu_pct"]
        net = None
        if r["commands"] and n in idle_cpu:
            net = (r["cpu_pct"] - idle_cpu[n]) / 100 * r["hold_s"] / r["commands"] * 1e6
        listed = f"{r['online']}/{n}" + ("" if r["online_end"] == r["online"] else f">{r['online_end']}")
        print(
            f"    {n:>5} {schedule:<14} {_fmt(r['online_s'], '.1f', 'never'):>8}s {listed:>10}"
            f" {r['rss_kib_per_device']:>11.0f} {r['cpu_pct']:>10.1f} {r['commands'] / r['hold_s']:>6.0f}"
            f" {_fmt(r['us_per_cmd'], '.0f'):>6} {_fmt(net, '.0f'):>10} {r['errors']:>6}"
        )
        if r["leftover"]:
            print(f"      ! {r['leftover']} devices of an earlier variant were still listed at the start")
    print("    net us/cmd: generator CPU per answered command minus the idle fleet's CPU at the same N.")


def machine_info(gen_cpu: int | None, gw_cpu: int | None) -> None:
    import platform
    from importlib import metadata

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "missing"

    print("compare_load_engines: gRPC load-generation designs measured side by side in one run")
    print(
        f"machine: {os.cpu_count()} CPUs (usable {sorted(os.sched_getaffinity(0))}), {platform.system()}"
        f" {platform.release()}, Python {platform.python_version()}, grpcio {version('grpcio')},"
        f" gevent {version('gevent')}, locust {version('locust')}, protobuf {version('protobuf')}"
    )
    pinning = (
        f"gateway on cpu{gw_cpu}, every generator child on cpu{gen_cpu}" if gen_cpu is not None else "off"
    )
    print(f"pinning: {pinning}")
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(
        "NOTE: the machine is shared and other benchmarks may run at the same time; absolute figures"
        " are only indicative.\n      Compare ratios within this one run."
    )


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-pin", action="store_true", help="do not pin gateway and generators to CPUs")
    parser.add_argument(
        "--calls", type=int, default=UNARY_TOTAL, help="calls per run in [2] (default %(default)s)"
    )
    parser.add_argument(
        "--repeats", type=int, default=UNARY_REPEATS, help="runs per variant in [2] (default %(default)s)"
    )
    parser.add_argument("--skip-fleet", action="store_true", help="skip measurement [3] (saves ~40 s)")
    args = parser.parse_args(argv)
    if args.calls < UNARY_CONCURRENCY or args.repeats < 1:
        parser.error(f"--calls must be at least {UNARY_CONCURRENCY} and --repeats at least 1")
    # SIGTERM unwinds like Ctrl-C, so the gateway and any running child are always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    cpus = sorted(os.sched_getaffinity(0))
    gw_cpu, gen_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 and not args.no_pin else (None, None)
    machine_info(gen_cpu, gw_cpu)
    started = time.monotonic()

    def progress(what: str) -> None:
        print(f"  .. {what} done ({time.monotonic() - started:.0f}s)", file=sys.stderr, flush=True)

    fleet_rows: list[tuple[int, str, ChildRun]] = []
    with Gateway("0", gw_cpu) as gw:
        print(f"gateway: pid {gw.pid} on {gw.target}, node-info and metrics intervals 0")
        # Unary first, while the gateway holds no devices (ListDevices answers stay tiny).
        noise = Noise(gw)
        unary = measure_unary(gw, gen_cpu, args.calls, args.repeats, progress)
        unary_noise = noise.others_pct()
        noise = Noise(gw)
        stall = measure_stall(gw, gen_cpu, progress)
        stall_noise = noise.others_pct()
        print_stall_table(stall, stall_noise)
        print_unary_table(unary, args.calls, unary_noise)
        if not args.skip_fleet:
            noise = Noise(gw)
            for n in FLEET_SIZES:
                fleet_rows.append((n, "nothing", measure_fleet(gw, gen_cpu, n, "idle")))
                progress(f"[3] fleet N={n}")
            fleet_noise = [noise.others_pct()]
    if not args.skip_fleet:
        with Gateway("1s", gw_cpu) as gw_cmd:
            noise = Noise(gw_cmd)
            fleet_rows.append(
                (FLEET_CMD_SIZE, "node-info 1/s", measure_fleet(gw_cmd, gen_cpu, FLEET_CMD_SIZE, "cmd"))
            )
            fleet_noise.append(noise.others_pct())
            progress(f"[3] fleet N={FLEET_CMD_SIZE} with commands")
        print_fleet_table(fleet_rows, max(fleet_noise))
    print(
        "\nload average at end: {:.2f} {:.2f} {:.2f}; total {:.0f}s".format(
            *os.getloadavg(), time.monotonic() - started
        )
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child_main(json.loads(sys.argv[2]))
    sys.exit(main())
