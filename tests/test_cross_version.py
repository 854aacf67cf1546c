"""A device of one protocol version against a gateway of another fails fast, naming both versions.

Real gRPC over loopback: the suite's own ``DeviceAgent`` (as the load generator runs it)
against an in-process gateway, for every ordered pair of different versions. Same-version
pairs go online (the control case).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from aranya_perf.loadtests.device_agent import DeviceAgent, DeviceProfile
from grpc import aio

from aranya_perf import protocol
from aranya_perf.gateway import Gateway, GatewayConfig
from tests.gateway_fakes import LoopThread

pytestmark = pytest.mark.timeout(60)

PROFILE = DeviceProfile(status_push_interval_s=0, backoff_initial_s=5.0, backoff_max_s=5.0)


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[float, str, BaseException | None]] = []

    def __call__(self, _type: str, name: str, _ms: float, _len: int, exc: BaseException | None) -> None:
        self.items.append((time.monotonic(), name, exc))


@pytest.fixture(scope="module")
def aloop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


async def _against(gateway_version: str, device_versions: list[str], *, control_port: bool = False) -> dict:
    gw = Gateway(
        GatewayConfig(
            protocol=gateway_version,
            node_info_interval_s=0,
            metrics_collect_interval_s=0,
            listener_per_device=control_port,
            device_ids=("x",) if control_port else (),
        )
    )
    await gw.start("127.0.0.1:0", None)
    channels, tasks, out = [], [], {}
    try:
        started = time.monotonic()
        for version in device_versions:
            events = Events()
            channel = aio.insecure_channel(gw.address, options=[("grpc.use_local_subchannel_pool", 1)])
            agent = DeviceAgent(f"dev-{version}", channel, events, protocol.get(version), PROFILE)
            channels.append(channel)
            tasks.append(asyncio.get_running_loop().create_task(agent.run()))
            out[version] = (agent, events)
        deadline = started + 10
        # The device of the gateway's own version counts once the gateway lists it too: the agent can
        # see itself online a moment before the gateway has registered it.
        own = f"dev-{gateway_version}" if gateway_version in device_versions else None
        while time.monotonic() < deadline:
            settled = all(agent.online or any(e[2] for e in ev.items) for agent, ev in out.values())
            if settled and (own is None or own in gw.devices_online()):
                break
            await asyncio.sleep(0.02)
        return {v: (agent.online, ev.items, started, gw.devices_online()) for v, (agent, ev) in out.items()}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in channels:
            await channel.close()
        await gw.stop(grace=0.2)


@pytest.mark.parametrize("gateway_version", protocol.NAMES)
def test_every_other_version_fails_fast_with_both_names(aloop: LoopThread, gateway_version: str) -> None:
    results = aloop.run(_against(gateway_version, list(protocol.NAMES)), timeout=30)
    for device_version, (online, events, started, online_ids) in results.items():
        if device_version == gateway_version:
            assert online, events
            assert f"dev-{device_version}" in online_ids
            continue
        assert not online and f"dev-{device_version}" not in online_ids
        failures = [(t, name, exc) for t, name, exc in events if exc is not None]
        assert failures, f"{device_version} against {gateway_version}: no failure reported"
        when, name, exc = failures[0]
        assert name == "protocol"
        assert str(exc) == protocol.mismatch(device_version, gateway_version)
        assert when - started < 3.0, "a mismatch must not wait for a timeout"


def test_a_target_without_the_method_is_explained(aloop: LoopThread) -> None:
    # The control port of a gateway with a listener per device serves no Sync at all, like a
    # server that is not aranya: the device says what it tried and which versions use other paths.
    results = aloop.run(_against("aranya-v0.3", ["aranya-2020-09"], control_port=True), timeout=30)
    online, events, _started, _ids = results["aranya-2020-09"]
    assert not online
    exc = next(e for _, _, e in events if e is not None)
    message = str(exc)
    assert message.startswith("protocol mismatch: device speaks aranya-2020-09 (/aranya.Connectivity/Sync)")
    assert "UNIMPLEMENTED" in message and "aranya-v0.3" in message
