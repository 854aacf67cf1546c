"""``LoopUser`` (a client loop on the load engine) keeps Locust's users, events, stop and shapes.

Real Locust environments in this process on the load engine, against the reference gateway as a
child process: every call a loop reports is one request event (set against the gateway's own
count), a stop mid-call cancels the call and leaves nothing in flight, a shape's step down stops
loops and its step up starts them, and a loop that breaks is one failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from aranya_perf.loadtests import hooks
from aranya_perf.loadtests.engine import shutdown_engine
from aranya_perf.loadtests.loop_user import LoopUser
from aranya_perf.loadtests.settings import configure
from aranya_perf.loadtests.window import window_for
from locust import LoadTestShape
from locust.env import Environment

from aranya_perf import profiles
from aranya_perf.address_map import AddressMap
from aranya_perf.gateway.metrics import parse_metrics
from aranya_perf.gateway.process import GatewayProcess
from aranya_perf.protocol.control import ControlStub
from aranya_perf.protocol.control import messages as ctl
from tests.helpers import gateway_process

WAIT_S = 20.0  # bound on every wait below; none is a speed assertion


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    with gateway_process("--node-info-interval", "0", "--metrics-interval", "0") as gw:
        yield gw


class _Loops:
    """What the loops did, counted on the loop thread."""

    def __init__(self) -> None:
        self.running = 0
        self.cancelled = 0
        self.in_call = 0


class ListingUser(LoopUser):
    """Calls ListDevices one after another, each counted in flight and reported, as a client does."""

    abstract = True
    loops: _Loops
    pause_s = 0.01

    async def client_loop(self) -> None:
        stub, w, loops = ControlStub(self.channel), self.window, self.loops
        loops.running += 1
        try:
            while True:
                if w.start_on_loop():
                    await self.timed(
                        "control", "ListDevices", lambda: stub.ListDevices(ctl.ListDevicesRequest())
                    )
                await asyncio.sleep(self.pause_s)
        except asyncio.CancelledError:
            loops.cancelled += 1
            raise
        finally:
            loops.running -= 1


class HangingUser(LoopUser):
    """One call that never answers: what a stop mid-call meets."""

    abstract = True
    loops: _Loops

    async def client_loop(self) -> None:
        self.loops.running += 1
        try:
            if self.window.start_on_loop():
                self.loops.in_call += 1
                await self.timed("control", "Hang", lambda: asyncio.Event().wait())
        except asyncio.CancelledError:
            self.loops.cancelled += 1
            raise
        finally:
            self.loops.running -= 1


class BrokenUser(LoopUser):
    """A loop that fails at once; it idles afterwards, so the failure must still be reported once."""

    abstract = True
    idle_after_loop = True
    loop_request_type = "control"
    loop_name = "broken"

    async def client_loop(self) -> None:
        raise RuntimeError("no way through")


def _on_start(self: LoopUser) -> None:
    LoopUser.on_start(self)
    self.start_loop()


def _user(base: type, **attrs: Any) -> type:
    return type(base.__name__, (base,), {"abstract": False, "on_start": _on_start, **attrs})


def _env(gw: GatewayProcess, user_class: type, shape: LoadTestShape | None = None) -> Environment:
    p = profiles.resolve("smoke", {"fleet.devices": 0, "operators.count": 1})
    env = Environment(user_classes=[user_class], host=gw.address, shape_class=shape, stop_timeout=5)
    configure(env, p, AddressMap(gw.address, shards=(gw.address,)), (gw.address,))
    hooks.install(env.events)
    return env


def _until(cond: Any) -> bool:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.02)
    return True


def _list_requests(gw: GatewayProcess) -> float:
    metrics = parse_metrics(gw.metrics_text())
    return metrics.get('aranya_gateway_control_requests_total{code="OK",method="ListDevices"}', 0.0)


def test_every_call_is_one_request_event_as_the_gateway_counted(gateway: GatewayProcess) -> None:
    loops = _Loops()
    env = _env(gateway, _user(ListingUser, loops=loops))
    before = _list_requests(gateway)
    runner = env.create_local_runner()
    try:
        runner.start(3, spawn_rate=100)
        assert _until(lambda: env.stats.get("ListDevices", "control").num_requests >= 30)
        window = window_for(env)
        assert window.close(WAIT_S) == 0  # every call started was reported
        runner.quit()
    finally:
        shutdown_engine()
    entry = env.stats.get("ListDevices", "control")
    assert entry.num_failures == 0, env.stats.errors
    assert entry.num_requests == _list_requests(gateway) - before
    assert loops.running == 0 and loops.cancelled == 3


def test_stop_mid_call_cancels_it_and_leaves_nothing_in_flight(gateway: GatewayProcess) -> None:
    loops = _Loops()
    env = _env(gateway, _user(HangingUser, loops=loops))
    runner = env.create_local_runner()
    window = window_for(env)
    try:
        runner.start(2, spawn_rate=100)
        assert _until(lambda: loops.in_call == 2)
        assert window.calls_in_flight == 2
        runner.stop_users({"HangingUser": 1})
        assert _until(lambda: loops.cancelled == 1)
        assert runner.user_count == 1 and window.calls_in_flight == 1
        runner.quit()
        assert loops.cancelled == 2 and loops.running == 0
    finally:
        shutdown_engine()
    # Cancelled calls are neither successes nor failures, and no loop's end is reported.
    assert env.stats.total.num_requests == 0 and env.stats.total.num_failures == 0, env.stats.errors
    assert window.calls_in_flight == 0


class _Steps(LoadTestShape):
    """3 users, then 1, then 2: the loops follow the count."""

    steps = ((3, 0), (1, 1), (2, 1))
    at = 0

    def tick(self) -> tuple[int, float] | None:
        if self.at >= len(self.steps):
            return None
        return self.steps[self.at][0], 100


def test_a_shape_changes_how_many_loops_run(gateway: GatewayProcess) -> None:
    loops = _Loops()
    shape = _Steps()
    env = _env(gateway, _user(ListingUser, loops=loops, pause_s=0.05), shape)
    runner = env.create_local_runner()
    try:
        runner.start_shape()
        assert _until(lambda: loops.running == 3)
        shape.at = 1
        assert _until(lambda: loops.running == 1 and runner.user_count == 1)
        assert loops.cancelled == 2
        shape.at = 2
        assert _until(lambda: loops.running == 2 and runner.user_count == 2)
        shape.at = 3
        assert _until(lambda: loops.running == 0)
        assert window_for(env).close(WAIT_S) == 0
        runner.quit()
    finally:
        shutdown_engine()
    assert env.stats.get("ListDevices", "control").num_failures == 0, env.stats.errors
    assert env.stats.get("ListDevices", "control").num_requests > 0


def test_a_broken_loop_is_one_failure(gateway: GatewayProcess) -> None:
    env = _env(gateway, _user(BrokenUser))
    runner = env.create_local_runner()
    try:
        runner.start(1, spawn_rate=100)
        assert _until(lambda: env.stats.get("broken", "control").num_failures == 1)
        gevent.sleep(1.5)  # idling: it must not report the same end again
        runner.quit()
    finally:
        shutdown_engine()
    entry = env.stats.get("broken", "control")
    assert entry.num_requests == entry.num_failures == 1
    assert "no way through" in str(next(iter(env.stats.errors.values())).error)
