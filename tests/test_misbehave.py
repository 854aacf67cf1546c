"""Misbehaving devices: which devices a ``[[fleet.behaviour]]`` picks, how it is read, and what each
behaviour does to a real gateway (a child process) and the operator calls that reach it.

The agents run on the load engine, as in a real run; operators call the gateway's control service
from the same loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import grpc
import pytest
from aranya_perf.loadtests import misbehave
from aranya_perf.loadtests.device_agent import DeviceAgent, DeviceProfile
from aranya_perf.loadtests.engine import Engine, get_engine, shutdown_engine
from grpc import aio

from aranya_perf import profiles, protocol
from aranya_perf.gateway.metrics import parse_metrics
from aranya_perf.gateway.process import GatewayProcess
from aranya_perf.profiles.schema import Behaviour
from aranya_perf.protocol.control import ControlStub
from aranya_perf.protocol.control import messages as ctl
from tests.helpers import gateway_process

pytestmark = pytest.mark.timeout(90)

FAST = DeviceProfile(status_push_interval_s=0, backoff_initial_s=0.1, backoff_max_s=0.4)
GATEWAY = ("--session-timeout", "1s", "--node-info-interval", "0", "--metrics-interval", "0")


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, int, BaseException | None]] = []

    def __call__(self, _type: str, name: str, _ms: float, length: int, exc: BaseException | None) -> None:
        self.items.append((name, length, exc))

    def named(self, name: str) -> list[tuple[str, int, BaseException | None]]:
        return [e for e in self.items if e[0] == name]


def _wait(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = gevent.get_hub().loop.now() + timeout
    while not cond():
        assert gevent.get_hub().loop.now() < deadline, "condition not reached in time"
        gevent.sleep(0.05)


@pytest.fixture
def engine() -> Any:
    yield get_engine()
    shutdown_engine()


def _agent(engine: Engine, address: str, events: Events, *behaviours: Behaviour) -> DeviceAgent:
    async def make() -> DeviceAgent:
        channel = aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        return DeviceAgent(
            "dev-mis",
            channel,
            events,
            protocol.get(protocol.DEFAULT),
            dataclasses.replace(FAST, behaviours=behaviours),
            new_channel=lambda: _channel(address),
        )

    agent = engine.call(make, timeout=5)
    engine.spawn(agent.run)
    return agent


async def _channel(address: str) -> aio.Channel:
    return aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


def _exec(engine: Engine, gw: GatewayProcess, size: int = 0) -> tuple[grpc.StatusCode, str, int]:
    """One operator Exec on the device: (status, details, stdout bytes)."""

    async def call() -> tuple[grpc.StatusCode, str, int]:
        req = ctl.ExecRequest(device_id="dev-mis", pod_uid="pod-1", container="app", command=["ls"])
        async with aio.insecure_channel(gw.address) as channel:
            try:
                resp = await ControlStub(channel).Exec(req, timeout=10)
            except aio.AioRpcError as exc:
                return exc.code(), exc.details() or "", 0
            return grpc.StatusCode.OK, "", len(resp.stdout)

    return engine.call(call, timeout=15)


def _online(gw: GatewayProcess) -> float:
    return parse_metrics(gw.metrics_text())["aranya_gateway_devices_online"]


def test_a_fraction_picks_the_same_devices_every_time() -> None:
    ids = [f"dev-{n}" for n in range(2000)]
    quarter = (Behaviour(kind="silent", fraction=0.25),)
    picked = [d for d in ids if misbehave.assigned(d, quarter)]
    assert 400 < len(picked) < 600  # about a quarter of 2,000 (crc32 spreads ids evenly)
    assert picked == [d for d in ids if misbehave.assigned(d, quarter)]
    assert all(misbehave.assigned(d, (Behaviour(fraction=1.0),)) for d in ids[:50])
    # Two behaviours of the same fraction pick different devices.
    both = (Behaviour(kind="late", fraction=0.25), Behaviour(kind="error", fraction=0.25))
    assert {d for d in ids if len(misbehave.assigned(d, both)) == 2} != set(picked)


def test_profile_behaviours_are_read_checked_and_rendered(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[fleet]\ndevices = 10\n[[fleet.behaviour]]\nkind = "late"\nfraction = 0.5\ndelay = "1s"\n'
        'delay_max = "3s"\ncommands = ["exec", "logs"]\n[[fleet.behaviour]]\nkind = "flap"\nwhen = "20s"\n'
    )
    p = profiles.resolve(str(path))
    assert [b.kind for b in p.behaviours] == ["late", "flap"] and p.fleet.devices == 10
    assert (p.behaviours[0].delay_s, p.behaviours[0].delay_max_s, p.behaviours[1].when_s) == (1.0, 3.0, 20.0)
    again = profiles.parse.parse_profile_text(profiles.render(p), "rendered")
    assert again.behaviours == p.behaviours
    for body, expect in (
        ('[[fleet.behaviour]]\nkind = "late"\nfraction = 0\n', "fraction must be above 0"),
        ('[[fleet.behaviour]]\nkind = "half"\ncommands = ["pod_list"]\n', "half applies to exec"),
        ('[[fleet.behaviour]]\nkind = "sulk"\n', "expected one of late, silent"),
        ('[[fleet.behaviour]]\nkind = "late"\ndelay = "2s"\ndelay_max = "1s"\n', "delay_max must not be"),
    ):
        path.write_text(body)
        with pytest.raises(profiles.ProfileError, match=expect):
            profiles.resolve(str(path))


@pytest.mark.parametrize(
    ("behaviour", "code", "details"),
    [
        # What a correct controller does about each: a late or silent or half answer ends at the
        # session deadline with a timeout; an error or malformed answer fails the call.
        (Behaviour(kind="late", fraction=1, delay_s=3.0), grpc.StatusCode.DEADLINE_EXCEEDED, "ERR_TIMEOUT"),
        (Behaviour(kind="silent", fraction=1), grpc.StatusCode.DEADLINE_EXCEEDED, "ERR_TIMEOUT"),
        (Behaviour(kind="half", fraction=1), grpc.StatusCode.DEADLINE_EXCEEDED, "ERR_TIMEOUT"),
        (Behaviour(kind="error", fraction=1), grpc.StatusCode.UNKNOWN, "misbehaving device: error"),
        (Behaviour(kind="malformed", fraction=1), grpc.StatusCode.UNKNOWN, "undecodable"),
        (Behaviour(kind="huge", fraction=1, bytes=300_000), grpc.StatusCode.OK, ""),
    ],
    ids=lambda v: v.kind if isinstance(v, Behaviour) else "",
)
def test_misanswers_reach_the_operator_as_a_correct_controller_says(
    engine: Engine, behaviour: Behaviour, code: grpc.StatusCode, details: str
) -> None:
    events = Events()
    with gateway_process(*GATEWAY) as gw:
        agent = _agent(engine, gw.address, events, behaviour)
        _wait(lambda: agent.online and _online(gw) == 1)
        got_code, got_details, size = _exec(engine, gw)
        assert got_code == code and details in got_details, (got_code, got_details)
        if behaviour.kind == "huge":
            assert size == 300_000
        # The device reports its misbehaviour on the engine's loop, which may come after the answer.
        _wait(lambda: bool(events.named(f"misbehave {behaviour.kind}")))
        assert agent.online and _online(gw) == 1  # the device itself stays in


def test_times_limits_a_misanswer_and_a_silent_pod_list_is_rejected_then_let_back_in(engine: Engine) -> None:
    events = Events()
    silent_once = Behaviour(kind="silent", fraction=1, commands=["pod_list"], times=1)
    with gateway_process(*GATEWAY) as gw:
        agent = _agent(engine, gw.address, events, silent_once)
        _wait(lambda: agent.connects >= 2 and _online(gw) == 1)
        assert "initial pod list: ERR_TIMEOUT" in str(events.named("reject")[0][2])
        assert len(events.named("misbehave silent")) == 1


@pytest.mark.parametrize("kind", ["flap", "duplicate", "offline"])
def test_acts_drop_the_stream_and_the_device_is_let_back_in(engine: Engine, kind: str) -> None:
    events = Events()
    with gateway_process(*GATEWAY) as gw:
        agent = _agent(engine, gw.address, events, Behaviour(kind=kind, fraction=1, when_s=0.3))
        _wait(lambda: agent.connects >= 2 and agent.online and events.named(f"misbehave {kind}"))
        _wait(lambda: _online(gw) == 1)
        metrics = parse_metrics(gw.metrics_text())
        assert metrics["aranya_gateway_device_connects_total"] == 2
        if kind == "duplicate":
            ((_, _, error),) = events.named("duplicate_online")
            assert error is None  # the gateway answered the duplicate (REJECT) rather than dropping it
        assert not events.named("reject") and not events.named("stream")


def test_a_deaf_device_misses_its_deadline_then_answers_again(engine: Engine) -> None:
    events = Events()
    with gateway_process(*GATEWAY) as gw:
        agent = _agent(
            engine, gw.address, events, Behaviour(kind="deaf", fraction=1, when_s=0.2, delay_s=3.0)
        )
        _wait(lambda: agent.online and _online(gw) == 1 and events.named("misbehave deaf"))
        assert _exec(engine, gw)[0] == grpc.StatusCode.OK  # read, answered; then it stops reading
        code, details, _ = _exec(engine, gw)
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED and "ERR_TIMEOUT" in details
        _wait(lambda: _exec(engine, gw)[0] == grpc.StatusCode.OK)
        assert agent.online and agent.connects == 1


def test_the_agent_observes_what_the_invariants_judge(engine: Engine) -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    async def make(address: str) -> DeviceAgent:
        return DeviceAgent(
            "dev-obs",
            await _channel(address),
            Events(),
            protocol.get(protocol.DEFAULT),
            dataclasses.replace(FAST, behaviours=(Behaviour(kind="flap", fraction=1, when_s=0.2),)),
            new_channel=lambda: _channel(address),
            observe=lambda event, device, **kw: seen.append((event, device, kw)),
        )

    with gateway_process(*GATEWAY) as gw:
        agent = engine.call(make, gw.address, timeout=5)
        engine.spawn(agent.run)
        _wait(lambda: [e for e, _, _ in seen].count("online") == 2)
    events = [e for e, _, _ in seen]
    assert events[:5] == ["connecting", "online", "gone", "connecting", "online"]
    assert {d for _, d, _ in seen} == {"dev-obs"}
    assert seen[2][2]["detail"] == "dropped by the device (clean)"
