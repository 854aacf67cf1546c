"""The simulated agent on its own (no Locust users): reconnects, rejects, backoff.

Runs on the load engine, as in a real run, against the gateway as a child process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Callable

import gevent
import pytest
from aranya_perf.loadtests import engine as engine_module
from aranya_perf.loadtests.device_agent import DeviceAgent, DeviceProfile
from aranya_perf.loadtests.engine import Engine, get_engine, shutdown_engine
from grpc import aio

from aranya_perf import protocol
from aranya_perf.gateway.metrics import parse_metrics
from tests.helpers import free_port, gateway_process

FAST = DeviceProfile(status_push_interval_s=0, backoff_initial_s=0.1, backoff_max_s=0.4)
CHANNEL_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 200),
]


class Events:
    """Collects what agents report; appended from the loop thread (list.append is atomic)."""

    def __init__(self) -> None:
        self.items: list[tuple[float, str, BaseException | None]] = []

    def __call__(self, _type: str, name: str, _ms: float, _len: int, exc: BaseException | None) -> None:
        self.items.append((time.monotonic(), name, exc))

    def named(self, name: str) -> list[tuple[float, str, BaseException | None]]:
        return [e for e in self.items if e[1] == name]


def _wait(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        gevent.sleep(0.05)


@pytest.fixture
def engine():
    yield get_engine()
    shutdown_engine()


def test_lazy_results_arrive_by_timer_or_flush(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # A window's flush must see every device report, however lazily the loop posted it.
    got: list[int] = []

    async def post(first: int) -> None:
        for i in range(first, first + 50):
            engine.post_lazy(got.append, i)

    engine.spawn(post, 0)  # nothing else wakes the drain greenlet: the lazy timer must
    _wait(lambda: len(got) == 50, timeout=5)
    monkeypatch.setattr(engine_module, "LAZY_FLUSH_S", 60.0)
    engine.spawn(post, 50)
    import gevent

    gevent.sleep(0.3)
    assert len(got) == 50, "delivered before its (60 s) timer: not lazy"
    assert engine.flush(timeout=5)
    assert got == list(range(100))


def test_grpc_takes_a_native_lock_per_call_on_the_loop(engine: Engine) -> None:
    # Made at grpc's import after gevent's patching, it would be gevent's pure-Python RLock.
    from grpc import _observability

    assert isinstance(_observability._plugin_lock, engine_module._native_rlock)
    assert engine_module._native_rlock.__module__ == "_thread"


def _start_agent(
    engine: Engine, device_id: str, address: str, events: Events, profile: DeviceProfile = FAST
) -> DeviceAgent:
    async def make() -> DeviceAgent:
        channel = aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        return DeviceAgent(device_id, channel, events, protocol.get(protocol.DEFAULT), profile)

    agent = engine.call(make, timeout=5)
    engine.spawn(agent.run)
    return agent


def test_agent_reconnects_after_the_gateway_restarts(engine: Engine) -> None:
    port = free_port()
    events = Events()
    with gateway_process("--listen", f"127.0.0.1:{port}") as gw:
        agent = _start_agent(engine, "dev-restart", gw.address, events)
        _wait(lambda: agent.online)
    _wait(lambda: events.named("stream"))  # the stream end is reported as a failure
    assert not agent.online
    with gateway_process("--listen", f"127.0.0.1:{port}") as gw:
        _wait(lambda: agent.online and agent.connects == 2)
        # Online for the gateway once the connect sequence (node info, pod list, metrics config) is done.
        _wait(lambda: parse_metrics(gw.metrics_text())["aranya_gateway_devices_online"] == 1)
    assert len(events.named("first_cmd")) == 2


def test_duplicate_device_is_rejected_with_exponential_backoff(engine: Engine) -> None:
    events = Events()
    with gateway_process() as gw:
        first = _start_agent(engine, "dev-dup", gw.address, Events())
        _wait(lambda: first.online)
        _start_agent(engine, "dev-dup", gw.address, events)
        _wait(lambda: len(events.named("reject")) >= 4)
        assert first.online  # the first stream keeps working
    rejects = events.named("reject")
    assert all("ALREADY_CONNECTED" in str(exc) for _, _, exc in rejects)
    # Waits between attempts are at least half the backoff, which doubles up to the cap.
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(rejects)]
    floors = [min(FAST.backoff_initial_s * 2**i, FAST.backoff_max_s) / 2 for i in range(len(gaps))]
    assert all(gap >= floor * 0.95 for gap, floor in zip(gaps, floors, strict=True)), (gaps, floors)


def test_closing_the_window_lets_a_status_push_under_way_finish(engine: Engine) -> None:
    # grpc.aio cancels the whole stream when a write is cancelled: pausing status pushes must not
    # cancel one in the middle of its write, or the device drops out as the window closes.
    events = Events()
    with gateway_process() as gw:
        agent = _start_agent(
            engine, "dev-pause", gw.address, events, dataclasses.replace(FAST, status_push_interval_s=0.05)
        )
        _wait(lambda: agent.online and events.named("status_push"))
        gate = asyncio.Event()

        async def hold_next_write() -> None:
            call = agent._call
            real = call.write

            async def slow_write(frame: object) -> None:
                await gate.wait()
                await real(frame)

            call.write = slow_write

        engine.call(hold_next_write, timeout=5)
        _wait(lambda: agent._pushing)
        pushed = len(events.named("status_push"))

        async def pause_then_release() -> None:
            agent.pause_status()
            gate.set()

        engine.call(pause_then_release, timeout=5)
        _wait(lambda: len(events.named("status_push")) == pushed + 1)  # the push under way, reported
        gevent.sleep(0.3)
        assert len(events.named("status_push")) == pushed + 1  # and none after it
        assert agent.online and not events.named("stream") and not any(e[2] for e in events.items)
