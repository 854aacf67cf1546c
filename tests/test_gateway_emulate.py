"""The reference gateway playing aranya's known defects (``--emulate``), each against the clean gateway.

Scripted devices and real gRPC operator calls over loopback, on one asyncio loop in a
background thread, as in test_gateway.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio

from aranya_perf import profiles, protocol
from aranya_perf.gateway import Gateway, GatewayConfig, emulate
from aranya_perf.protocol import Op
from aranya_perf.protocol.control import messages as ctl
from aranya_perf.run.target import gateway_args
from tests.gateway_fakes import LoopThread, control, device, eventually
from tests.helpers import run_cli

pytestmark = pytest.mark.timeout(60)

DEFAULT = protocol.get(protocol.DEFAULT)
FAST = {"node_info_interval_s": 0.0, "metrics_collect_interval_s": 0.0, "session_timeout_s": 0.5}


@pytest.fixture(scope="module")
def aloop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def start_gateway(aloop: LoopThread) -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def start(*names: str, **overrides: Any) -> Gateway:
        gw = Gateway(GatewayConfig(**{**FAST, **overrides}, emulate=names))
        aloop.run(gw.start("127.0.0.1:0", None))
        started.append(gw)
        return gw

    yield start
    for gw in started:
        aloop.run(gw.stop(grace=0.5))


def exec_req(*argv: str, timeout_ms: int = 0) -> ctl.ExecRequest:
    return ctl.ExecRequest(
        device_id="dev-1", pod_uid="pod-1", container="app", command=argv, timeout_ms=timeout_ms
    )


def test_unknown_emulation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown emulation 'aranya-nope'; known: aranya-duplicate-lockout"):
        GatewayConfig(emulate=("aranya-nope",))
    assert GatewayConfig(emulate=(emulate.TIMER_LEAK, emulate.TIMER_LEAK)).emulate == (emulate.TIMER_LEAK,)


@pytest.mark.parametrize("emulated", [False, True], ids=["clean", "lockout"])
def test_duplicate_lockout(aloop: LoopThread, start_gateway: Callable[..., Gateway], emulated: bool) -> None:
    gw = start_gateway(*([emulate.DUPLICATE_LOCKOUT] if emulated else []))

    async def scenario() -> None:
        async with device(DEFAULT, gw.address) as first, device(DEFAULT, gw.address, online=False) as second:
            await second.wait(lambda: second.ended)
            if emulated:
                # The newcomer is closed unanswered; the reject lands on the original, which stays open.
                assert second.labels() == []
                await first.wait(lambda: bool(first.of_op(Op.REJECT)))
                assert not first.ended
            else:
                assert second.labels() == ["CMD_REJECT"]
                assert not first.of_op(Op.REJECT)
        # The original is gone now; the device comes back, and is let in only by the clean gateway.
        await eventually(lambda: gw.devices_online() == [])
        async with device(DEFAULT, gw.address, online=False) as again:
            if emulated:
                await again.wait(lambda: again.ended)
                assert again.labels() == []
            else:
                await again.wait_online()
                await eventually(lambda: gw.devices_online() == ["dev-1"])

    aloop.run(scenario())


@pytest.mark.parametrize("emulated", [False, True], ids=["clean", "sid0"])
def test_sid0_timeout_keeps_a_device_with_an_unanswered_pod_list_out(
    aloop: LoopThread, start_gateway: Callable[..., Gateway], emulated: bool
) -> None:
    gw = start_gateway(*([emulate.SID0_TIMEOUT] if emulated else []))

    async def scenario() -> None:
        async with device(DEFAULT, gw.address, online=False, pods="silent") as dev:
            await dev.wait(lambda: bool(dev.of_op(Op.POD_LIST)))
            if emulated:
                # Well past the 0.5 s session timeout: still waiting, never rejected, never online.
                await asyncio.sleep(2.0)
                assert not dev.ended and not dev.of_op(Op.REJECT) and not dev.of_op(Op.METRICS_CONFIG)
                assert gw.devices_online() == [] and gw.registry.open_sessions() == 1
            else:
                await dev.wait(lambda: dev.ended)
                assert dev.labels()[-1] == "CMD_REJECT"
                assert "pod list" in DEFAULT.read_reject(dev.received[-1].payload)[1]

    aloop.run(scenario())


@pytest.mark.parametrize("emulated", [False, True], ids=["clean", "sid0"])
def test_sid0_timeout_leaves_the_operator_waiting(
    aloop: LoopThread, start_gateway: Callable[..., Gateway], emulated: bool
) -> None:
    gw = start_gateway(*([emulate.SID0_TIMEOUT] if emulated else []))

    async def scenario() -> None:
        async with device(DEFAULT, gw.address), control(gw.address) as stub:
            with pytest.raises(aio.AioRpcError) as info:
                await stub.Exec(exec_req("hang", timeout_ms=200), timeout=2)
            if emulated:
                # Only the operator's own deadline ended the call; the gateway never answered.
                assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                assert not info.value.details().startswith("ERR_TIMEOUT")
            else:
                assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                assert info.value.details().startswith("ERR_TIMEOUT"), info.value.details()

    aloop.run(scenario())


@pytest.mark.parametrize("emulated", [False, True], ids=["clean", "leak"])
def test_timer_leak_keeps_finished_exec_deadlines(
    aloop: LoopThread, start_gateway: Callable[..., Gateway], emulated: bool
) -> None:
    gw = start_gateway(*([emulate.TIMER_LEAK] if emulated else []))

    async def scenario() -> None:
        async with device(DEFAULT, gw.address), control(gw.address) as stub:
            for _ in range(5):
                resp = await stub.Exec(exec_req("echo"), timeout=5)
                assert resp.stdout == b"hello world"

    aloop.run(scenario())
    # Only stream sessions leak: the connect sequence's three commands leave nothing behind.
    assert len(gw.defects.leaked) == (5 if emulated else 0)


def test_expired_leaked_deadlines_leave_the_queue() -> None:
    d = emulate.Defects([emulate.TIMER_LEAK])
    for deadline in (30.0, 10.0, 20.0):
        d.leak(deadline)
    d.on_open(15.0)
    assert d.leaked == [20.0, 30.0]


class Counted(float):
    """A deadline that counts the comparisons made of it."""

    made = 0

    def __lt__(self, other: object) -> bool:
        Counted.made += 1
        return float(self) < float(other)  # type: ignore[arg-type]


def test_the_leaked_queue_sort_is_not_adaptive_as_aranya_s() -> None:
    # aranya's sort costs O(n log n) on a queue already in order; Python's own would cost n - 1.
    n = 1024
    d = emulate.Defects([emulate.TIMER_LEAK])
    d.leaked = [Counted(1000.0 + i) for i in range(n)]
    Counted.made = 0
    d.on_open(0.0)
    assert Counted.made >= n * 9  # log2(1024) = 10 levels of a heap, most pops go most of the way
    assert d.leaked == sorted(d.leaked) and len(d.leaked) == n


def test_gateway_cli_refuses_an_unknown_emulation() -> None:
    proc = run_cli("gateway", "--emulate", "aranya-nope", timeout=60)
    assert proc.returncode == 2
    assert "invalid choice: 'aranya-nope'" in proc.stderr and "Traceback" not in proc.stderr


def test_a_profile_passes_its_emulations_to_the_embedded_gateway(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f'[gateway]\nemulate = ["{emulate.SID0_TIMEOUT}", "{emulate.TIMER_LEAK}"]\n')
    p = profiles.resolve(str(path))
    assert p.gateway.emulate == [emulate.SID0_TIMEOUT, emulate.TIMER_LEAK]
    args = gateway_args(p)
    assert args[-4:] == ["--emulate", emulate.SID0_TIMEOUT, "--emulate", emulate.TIMER_LEAK]
    flagged = profiles.resolve(str(path), {"gateway.emulate": [emulate.DUPLICATE_LOCKOUT]})
    assert flagged.gateway.emulate == [emulate.DUPLICATE_LOCKOUT]
    with pytest.raises(profiles.ProfileError, match=r"gateway\.emulate: expected one of"):
        path.write_text('[gateway]\nemulate = ["aranya-nope"]\n')
        profiles.resolve(str(path))
    with pytest.raises(profiles.ProfileError, match="embedded gateway only"):
        path.write_text(f'[target]\naddress = "127.0.0.1:1"\n[gateway]\nemulate = ["{emulate.TIMER_LEAK}"]\n')
        profiles.resolve(str(path))


def test_no_operator_input_for_a_port_forward_that_timed_out_before_the_device_was_ready(
    aloop: LoopThread, start_gateway: Callable[..., Gateway]
) -> None:
    # Found by the suite's no-command-after-close invariant: a timeout also wakes the wait for the
    # device's ready frame, and the operator's first bytes went out after CMD_SESSION_CLOSE.
    gw = start_gateway()

    async def scenario() -> None:
        async with device(DEFAULT, gw.address, stream_continue_delay=1.5) as dev, control(gw.address) as stub:
            call = stub.PortForward(timeout=5)
            await call.write(ctl.PortForwardFrame(device_id="dev-1", pod_uid="pod-1", port=80, data=b"ping"))
            with pytest.raises(aio.AioRpcError) as info:
                async for _ in call:
                    pass
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            await dev.wait(lambda: bool(dev.of_op(Op.SESSION_CLOSE)))
            await asyncio.sleep(0.3)
            assert dev.upstream == []

    aloop.run(scenario())
