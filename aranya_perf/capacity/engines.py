"""The engine comparison: two ways of running gRPC from a Locust (gevent) process, and the floor.

Why the load engine exists (docs/architecture.md): grpcio's sync stubs under gevent stall once
about nine streams block at the same time, and deadlock on one bidi stream without
``init_gevent``. This module keeps that measurement runnable, as children of the capacity
benchmark:

* ``stall_grpcio`` / ``stall_engine``: N device streams (online, then blocked reading; they
  never answer, so the gateway never lists them) and 20 ListDevices calls from another
  greenlet within 5 s: does the process still answer?
* ``unary_*``: generator CPU per unary ListDevices from 20 concurrent callers, each on its own
  channel and TCP connection: (a) grpcio + gevent, (b) the engine as operators use it, one
  ``engine.call`` hand-off per request, (c) bare grpc.aio in plain asyncio, (d) the engine with
  the callers on its loop (one hand-off in all), so (b) - (d) is the price of per-call hand-offs.

Every function but ``unary_aio`` imports Locust first (so the process is
patched exactly as Locust patches it) and grpc only after that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from aranya_perf.capacity.child import Result, Spec, phase

PROBE_CALLS = 20
SETTLE_BUDGET_S = 3.0  # time streams get to receive their first command before the probe starts
UNARY_CONCURRENCY = 20
UNARY_WARMUP = 200
CALL_TIMEOUT_S = 10.0
OWN_CONNECTION = (("grpc.use_local_subchannel_pool", 1),)


def _patch_like_locust() -> None:
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


async def _aio_control_stubs(target: str, count: int) -> list[Any]:
    from grpc import aio

    from aranya_perf.protocol.control import ControlStub

    return [ControlStub(aio.insecure_channel(target, options=OWN_CONNECTION)) for _ in range(count)]


async def _aio_list(stub: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
    from aranya_perf.protocol.control import messages as ctl

    return await stub.ListDevices(ctl.ListDevicesRequest(), timeout=timeout)


# -- held streams vs stall -----------------------------------------------------------------------------


def _probe(spec: Spec, reading: Callable[[], int], list_ids: Callable[[], list[str]]) -> Result:
    """Gevent side: let the streams settle, then time the probe calls from another greenlet."""
    import gevent

    n, budget = spec["n"], spec["probe_s"]
    phase("settle", SETTLE_BUDGET_S + 2)
    deadline = time.monotonic() + SETTLE_BUDGET_S
    while reading() < n and time.monotonic() < deadline:
        gevent.sleep(0.05)
    phase("probe", budget + 2)
    state: Result = {"calls": 0, "error": None}

    def probe() -> None:
        try:
            with gevent.Timeout(budget):
                for _ in range(PROBE_CALLS):
                    list_ids()
                    state["calls"] += 1
        except gevent.Timeout:
            pass
        except Exception as exc:
            state["error"] = repr(exc)

    t0 = time.perf_counter()
    gevent.spawn(probe).join()
    state["probe_s"] = time.perf_counter() - t0
    state["ok"] = state["calls"] == PROBE_CALLS
    state["reading"] = reading()
    return state


def stall_grpcio(spec: Spec) -> Result:
    """N sync bidi streams, one greenlet each, under gevent + init_gevent (or without it)."""
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
        return list(stub.ListDevices(ctl.ListDevicesRequest(), timeout=spec["probe_s"]).device_ids)

    return _probe(spec, lambda: reading[0], list_ids)


def stall_engine(spec: Spec) -> Result:
    """N grpc.aio bidi streams as coroutines on the engine, in a Locust-patched process."""
    _patch_like_locust()
    from grpc import aio

    from aranya_perf.loadtests.engine import get_engine

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
        return list(engine.call(_aio_list, stub, spec["probe_s"]).device_ids)

    return _probe(spec, lambda: reading[0], list_ids)


# -- generator CPU per unary call -------------------------------------------------------------------------


class _Meter:
    """CPU (whole process, all threads) and wall time over the measured calls."""

    def start(self, calls: int) -> None:
        phase("measure", 60 + calls / 200)  # generous: even 200 req/s would finish in time
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()

    def stop(self, calls: int) -> Result:
        cpu, wall = time.process_time() - self.cpu0, time.perf_counter() - self.wall0
        phase("measured", 10)
        return {"requests": calls, "cpu_s": cpu, "wall_s": wall}


def _greenlet_callers(stubs: list[Any], call_once: Callable[[Any], Any], calls: int) -> Result:
    """One greenlet per stub calling ``call_once(stub)``: a warm-up, then ``calls`` metered."""
    import gevent

    def run(total: int) -> None:
        per_stub = total // len(stubs)
        greenlets = [gevent.spawn(lambda st=st: [call_once(st) for _ in range(per_stub)]) for st in stubs]
        gevent.joinall(greenlets, raise_error=True)

    run(UNARY_WARMUP)
    meter = _Meter()
    meter.start(calls)
    run(calls)
    return meter.stop(calls)


def unary_grpcio(spec: Spec) -> Result:
    """(a) grpcio sync stubs under gevent + init_gevent, one greenlet per caller."""
    _patch_like_locust()
    import grpc
    from grpc.experimental import gevent as grpc_gevent

    grpc_gevent.init_gevent()
    from aranya_perf.protocol.control import ControlStub
    from aranya_perf.protocol.control import messages as ctl

    stubs = [
        ControlStub(grpc.insecure_channel(spec["target"], options=OWN_CONNECTION))
        for _ in range(UNARY_CONCURRENCY)
    ]
    request = ctl.ListDevicesRequest()
    return _greenlet_callers(
        stubs, lambda stub: stub.ListDevices(request, timeout=CALL_TIMEOUT_S), spec["calls"]
    )


def unary_engine_call(spec: Spec) -> Result:
    """(b) The operator path: one greenlet per caller, one engine.call hand-off per request."""
    _patch_like_locust()
    from aranya_perf.loadtests.engine import get_engine

    engine = get_engine()
    stubs = engine.call(_aio_control_stubs, spec["target"], UNARY_CONCURRENCY, timeout=10)
    return _greenlet_callers(stubs, lambda stub: engine.call(_aio_list, stub), spec["calls"])


async def _aio_callers(stubs: list[Any], total: int) -> None:
    import asyncio

    async def worker(stub: Any, count: int) -> None:
        for _ in range(count):
            await _aio_list(stub)

    await asyncio.gather(*(worker(s, total // len(stubs)) for s in stubs))


def unary_aio(spec: Spec) -> Result:
    """(c) Bare grpc.aio in plain asyncio: no gevent, no Locust, no thread hand-off."""
    import asyncio

    async def main() -> Result:
        stubs = await _aio_control_stubs(spec["target"], UNARY_CONCURRENCY)
        await _aio_callers(stubs, UNARY_WARMUP)
        meter = _Meter()
        meter.start(spec["calls"])
        await _aio_callers(stubs, spec["calls"])
        return meter.stop(spec["calls"])

    return asyncio.run(main())


def unary_engine_loop(spec: Spec) -> Result:
    """(d) The engine with the callers running on its loop: one engine.call for all requests."""
    _patch_like_locust()
    from aranya_perf.loadtests.engine import get_engine

    engine = get_engine()
    stubs = engine.call(_aio_control_stubs, spec["target"], UNARY_CONCURRENCY, timeout=10)
    engine.call(_aio_callers, stubs, UNARY_WARMUP, timeout=60)
    meter = _Meter()
    meter.start(spec["calls"])
    engine.call(_aio_callers, stubs, spec["calls"], timeout=60 + spec["calls"] / 200)
    return meter.stop(spec["calls"])
