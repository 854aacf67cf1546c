"""Generator CPU per exec: the Kubernetes operators' exec, the gRPC control call, and a bare aiohttp client.

``python scripts/kube_exec_cpu.py [--rounds 7] [--execs 300] [--concurrency 8]``

The reference gateway runs as its own process with its Kubernetes face, the devices in another
(``--devices`` agents, answering ``echo``); this process only makes exec calls, so its CPU time
(``time.process_time``, every thread) per exec is the operator side's cost. Each round runs the
three clients one after another in a rotated order (interleaved, so drift on a shared machine hits
all three alike); the figures are medians over rounds, and the Kubernetes exec's efficiency is the
median of each round's ratio (bare CPU / ours: 1.0 is as cheap as the bare client).

- ``kube``: ``aranya_perf.loadtests.kube_operators.KubeCalls.exec`` as the operators make it (a websocket
  per call bounded by its deadline, ``echo WORD``, stdout and exit status checked);
- ``control``: the control service's ``Exec`` over one grpc.aio channel, the same ``echo WORD``;
- ``bare``: aiohttp's websocket client on the same URL, reading messages until the close, no checks.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # as Locust patches the generator's process, before anything imports ssl

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
from aranya_perf.loadtests.engine import get_engine, shutdown_engine  # noqa: E402
from aranya_perf.loadtests.kube_operators import KubeCalls, load_kubeconfig  # noqa: E402
from grpc import aio  # noqa: E402

from aranya_perf import kube_channels as ch  # noqa: E402
from aranya_perf import protocol  # noqa: E402
from aranya_perf.gateway.process import GatewayProcess  # noqa: E402
from aranya_perf.profiles.schema import OperatorsSection  # noqa: E402
from aranya_perf.protocol.control import ControlStub  # noqa: E402
from aranya_perf.protocol.control import messages as ctl  # noqa: E402


async def _devices(address: str, count: int) -> None:
    from aranya_perf.loadtests.device_agent import DeviceAgent, DeviceProfile

    profile = DeviceProfile(status_push_interval_s=0)
    agents = []
    for i in range(count):
        channel = aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        agent = DeviceAgent(f"dev-{i}", channel, lambda *_: None, protocol.get(protocol.DEFAULT), profile)
        agents.append(asyncio.get_running_loop().create_task(agent.run()))
    await asyncio.sleep(3600)


async def _bounded(n: int, concurrency: int, one: object) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with sem:
            await one(i)  # type: ignore[operator]

    await asyncio.gather(*(run(i) for i in range(n)))


async def measure(gw: GatewayProcess, kubeconfig: Path, devices: list[str], args: argparse.Namespace) -> dict:
    target = load_kubeconfig(kubeconfig)
    kube = KubeCalls(target, OperatorsSection())
    bare_session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True, ssl=target.ssl_context()), headers=target.headers()
    )
    channel = aio.insecure_channel(gw.address)
    stub = ControlStub(channel)

    async def kube_one(i: int) -> None:
        await kube.make("exec", devices[i % len(devices)])()  # as the operators call it: deadline-bound

    async def control_one(i: int) -> None:
        word = secrets.token_hex(8)
        req = ctl.ExecRequest(device_id=devices[i % len(devices)], container="host", command=["echo", word])
        resp = await stub.Exec(req, timeout=30)
        assert resp.exit_code == 0 and resp.stdout == f"{word}\n".encode()

    async def bare_one(i: int) -> None:
        device = devices[i % len(devices)]
        url = (
            f"{target.server}/api/v1/namespaces/{target.namespace}/pods/{device}/exec"
            f"?command=echo&command={secrets.token_hex(8)}&container=host&stdout=true&stderr=true"
        )
        async with bare_session.ws_connect(url, protocols=ch.EXEC_PROTOCOLS) as ws:
            async for _msg in ws:
                pass

    clients = {"kube": kube_one, "control": control_one, "bare": bare_one}
    for one in clients.values():  # warm up: connections, TLS session setup paths, caches
        await _bounded(20, args.concurrency, one)
    per_exec: dict[str, list[float]] = {name: [] for name in clients}
    names = list(clients)
    for r in range(args.rounds):
        for name in names[r % 3 :] + names[: r % 3]:
            cpu0 = time.process_time()
            await _bounded(args.execs, args.concurrency, clients[name])
            per_exec[name].append((time.process_time() - cpu0) / args.execs * 1e6)
    await kube.close()
    await bare_session.close()
    await channel.close()
    return per_exec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--execs", type=int, default=300, help="execs per client per round")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--serve-devices", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_devices:  # the devices' process
        # On the load engine, as the generator runs its devices (grpc.aio in a gevent-patched process).
        get_engine().call(lambda: _devices(args.serve_devices, args.devices), timeout=None)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        gw_args = [
            "--kube-listen",
            "127.0.0.1:0",
            "--kubeconfig-out",
            str(kubeconfig),
            "--schedule",
            "aranya-defaults",
        ]
        with GatewayProcess(gw_args) as gw:
            devices = subprocess.Popen(
                [sys.executable, __file__, "--serve-devices", gw.address, "--devices", str(args.devices)]
            )
            try:
                ids = [f"dev-{i}" for i in range(args.devices)]
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    online = [
                        k
                        for k in gw.metrics_text().splitlines()
                        if k.startswith("aranya_gateway_devices_online ")
                    ]
                    if online and float(online[0].split()[1]) >= args.devices:
                        break
                    time.sleep(0.2)
                per_exec = get_engine().call(lambda: measure(gw, kubeconfig, ids, args), timeout=None)
                shutdown_engine()
            finally:
                devices.terminate()
                devices.wait(timeout=10)
    med = {name: statistics.median(v) for name, v in per_exec.items()}
    # Paired: each round's ratio, between clients measured moments apart, then the median of those.
    ratio = {
        other: statistics.median(o / k for o, k in zip(per_exec[other], per_exec["kube"], strict=True))
        for other in ("bare", "control")
    }
    print(json.dumps({"rounds": per_exec, "median_cpu_us_per_exec": med, "median_ratio": ratio}, indent=1))
    print(
        f"generator CPU per exec (median of {args.rounds} interleaved rounds, {args.execs} execs each, "
        f"concurrency {args.concurrency}):"
    )
    for name in ("kube", "control", "bare"):
        print(f"  {name:8s} {med[name]:8.0f} us")
    print(
        f"  kube efficiency (median of per-round ratios) vs bare aiohttp: {ratio['bare']:.2f}x; "
        f"vs gRPC control: {ratio['control']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
