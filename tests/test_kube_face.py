"""The gateway's Kubernetes face against independent clients: the installed kubectl and the ``kubernetes``
Python client.

The gateway runs as its own process with ``--kube-listen`` and ``--kubeconfig-out``; a few of the
suite's ``DeviceAgent``s hold their Sync streams from the test's engine loop. Every answer is
what the device produced (``echo`` words, log lines, the forwarded bytes), and the gateway's own
``kube_requests_total`` and session counts equal what the clients did.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aranya_perf.loadtests.device_agent import DeviceAgent, DeviceProfile
from grpc import aio

from aranya_perf import protocol
from aranya_perf.gateway import parse_metrics
from aranya_perf.gateway.process import GatewayProcess
from tests.gateway_fakes import LoopThread
from tests.helpers import gateway_process, run_cli

pytestmark = pytest.mark.timeout(120)

DEVICES = ("dev-a", "dev-b", "dev-c")
NAMESPACE = "edge"
KUBECTL = shutil.which("kubectl")
PROFILE = DeviceProfile(status_push_interval_s=0)


class Fleet:
    """Agents on the engine loop, connected to ``address`` until ``stop``."""

    def __init__(self, aloop: LoopThread, address: str) -> None:
        self.aloop = aloop
        self.channels: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.agents: list[DeviceAgent] = []

        async def start() -> None:
            loop = asyncio.get_running_loop()
            for device in DEVICES:
                channel = aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                agent = DeviceAgent(device, channel, _ignore, protocol.get(protocol.DEFAULT), PROFILE)
                self.channels.append(channel)
                self.agents.append(agent)
                self.tasks.append(loop.create_task(agent.run()))

        aloop.run(start())

    def stop(self) -> None:
        async def stop() -> None:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for channel in self.channels:
                await channel.close()

        self.aloop.run(stop())


def _ignore(*_args: Any) -> None:
    pass


@pytest.fixture(scope="module")
def aloop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture(scope="module")
def face(
    aloop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, Path]]:
    kubeconfig = tmp_path_factory.mktemp("kube") / "kubeconfig"
    gw = gateway_process(
        "--kube-listen", "127.0.0.1:0", "--kubeconfig-out", str(kubeconfig), "--kube-namespace", NAMESPACE,
        "--node-info-interval", "0", "--metrics-interval", "0", "--no-gc-freeze",
    )  # fmt: skip
    with gw:
        fleet = Fleet(aloop, gw.address)
        try:
            deadline = time.monotonic() + 15
            while not all(a.online for a in fleet.agents) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert all(a.online for a in fleet.agents)
            yield gw, kubeconfig
        finally:
            fleet.stop()


def kube_counts(gw: GatewayProcess) -> dict[str, float]:
    return {k: v for k, v in parse_metrics(gw.metrics_text()).items() if "kube_requests_total" in k}


def count(metrics: dict[str, float], route: str, code: str = "OK") -> float:
    return sum(v for k, v in metrics.items() if f'route="{route}"' in k and f'code="{code}"' in k)


def kubectl(kubeconfig: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None, "kubectl must be installed for these tests"
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True, timeout=30, env=env
    )


def test_kubectl_gets_execs_and_reads_logs(face: tuple[GatewayProcess, Path], tmp_path: Path) -> None:
    gw, kubeconfig = face
    before = kube_counts(gw)
    pods = kubectl(kubeconfig, tmp_path, "get", "pods")
    assert pods.returncode == 0, pods.stderr
    lines = pods.stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(DEVICES)
    assert all(line.split()[2] == "Running" for line in lines[1:])

    nodes = kubectl(kubeconfig, tmp_path, "get", "nodes", "-o", "name")
    assert nodes.returncode == 0, nodes.stderr
    assert sorted(nodes.stdout.split()) == sorted(f"node/{d}" for d in DEVICES)

    for device in DEVICES:
        out = kubectl(kubeconfig, tmp_path, "exec", device, "-c", "host", "--", "echo", "hello", device)
        assert (out.returncode, out.stdout) == (0, f"hello {device}\n"), out.stderr

    logs = kubectl(kubeconfig, tmp_path, "logs", DEVICES[0], "-c", "host", "--tail", "3")
    assert logs.returncode == 0, logs.stderr
    assert len(logs.stdout.splitlines()) == 3 and logs.stdout.endswith("\n")
    assert all(" host [" in line for line in logs.stdout.splitlines())

    missing = kubectl(kubeconfig, tmp_path, "exec", "no-such-device", "-c", "host", "--", "echo", "x")
    assert missing.returncode != 0 and "NotFound" in missing.stderr

    after = kube_counts(gw)
    assert count(after, "exec") - count(before, "exec") == len(DEVICES)
    assert count(after, "logs") - count(before, "logs") == 1


def test_a_wrong_token_is_refused(face: tuple[GatewayProcess, Path]) -> None:
    gw, _ = face
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"https://{gw.kube_address}/api/v1/pods", headers={"Authorization": "Bearer no"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5, context=ssl._create_unverified_context())
    assert err.value.code == 401


def _client(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    api = client.ApiClient(config.new_client_from_config(str(kubeconfig)).configuration)
    return client.CoreV1Api(api)


def test_python_client_exec_and_port_forward(face: tuple[GatewayProcess, Path]) -> None:
    from kubernetes.stream import portforward, stream

    gw, kubeconfig = face
    core = _client(kubeconfig)
    before = kube_counts(gw)
    execs = 0
    for device in DEVICES:
        resp = stream(
            core.connect_get_namespaced_pod_exec, device, NAMESPACE, command=["echo", "hi", "there"],
            container="host", stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False,
        )  # fmt: skip
        resp.run_forever(timeout=10)
        assert resp.read_stdout() == "hi there\n"
        assert resp.returncode == 0
        execs += 1

    forwards = 0
    for device in DEVICES[:2]:
        pf = portforward(core.connect_get_namespaced_pod_portforward, device, NAMESPACE, ports="8080")
        sock = pf.socket(8080)
        sock.setblocking(True)
        sent = os.urandom(3000) + device.encode()
        sock.sendall(sent)
        got = b""
        sock.settimeout(10)
        while len(got) < len(sent):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        assert got == sent
        assert pf.error(8080) is None
        sock.close()
        forwards += 1

    # The sessions end when each forward's websocket is closed: wait for the gateway to see that.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = kube_counts(gw)
        if count(after, "portforward") - count(before, "portforward") == forwards:
            break
        time.sleep(0.1)
    assert count(after, "exec") - count(before, "exec") == execs
    assert count(after, "portforward") - count(before, "portforward") == forwards


def test_node_metrics_through_the_proxy_and_the_kubelet_path(face: tuple[GatewayProcess, Path]) -> None:
    gw, kubeconfig = face
    core = _client(kubeconfig)
    api = core.api_client
    text = core.connect_get_node_proxy_with_path(DEVICES[1], "metrics/resource")
    assert text.startswith("node_") and DEVICES[1] in text

    token = "Bearer " + json.loads(kubeconfig.read_text())["users"][0]["user"]["token"]
    host, port = gw.kube_address.rsplit(":", 1)
    tls = ssl.create_default_context(cafile=api.configuration.ssl_ca_cert)
    with (
        socket.create_connection((host, int(port))) as raw_sock,
        tls.wrap_socket(raw_sock, server_hostname=host) as s,
    ):
        s.sendall(
            f"GET /stats/summary HTTP/1.1\r\nHost: {DEVICES[2]}\r\nAuthorization: {token}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    assert raw.startswith(b"HTTP/1.1 200") and f'"nodeName": "{DEVICES[2]}"'.encode() in raw


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--kubeconfig-out", "/tmp/x"], "--kubeconfig-out needs --kube-listen"),
        (["--kube-listen", "10.1.2.3:0"], "not loopback"),
        (["--kube-listen", "nowhere"], "--kube-listen"),
    ],
)
def test_bad_kube_options_are_one_line(args: list[str], expect: str) -> None:
    proc = run_cli("gateway", *args, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr and expect in lines[0], proc.stderr
