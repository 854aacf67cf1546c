"""What each link method does to raw TCP: the proxy's bandwidth, loss stalls and resets; the kernel
method's tbf bandwidth and link-down partitions (needs root and network namespaces).

Servers and the proxy run on the load engine's loop (pytest has gevent-patched the process); the
kernel link runs as ``aranya-perf link --method netns``, its own process.
Bounds are the model's: a transfer cannot beat its rate; the upper bounds leave room for a
shared machine.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest
from aranya_perf.loadtests.engine import Engine, get_engine, shutdown_engine

from aranya_perf import link
from aranya_perf.link.process import LinkProcess
from aranya_perf.link.profiles import LinkProfile
from aranya_perf.link.proxy import read_events


@pytest.fixture
def engine():
    yield get_engine()
    shutdown_engine()


class Servers:
    """A sink (counts bytes) and an echo server on loopback, on the engine's loop."""

    def __init__(self) -> None:
        self.received = 0
        self.servers: list[asyncio.base_events.Server] = []

    async def start(self) -> tuple[str, str]:
        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                self.received += len(data)
            writer.close()

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            writer.close()

        out = []
        for handler in (sink, echo):
            server = await asyncio.start_server(handler, "127.0.0.1", 0)
            self.servers.append(server)
            out.append(f"127.0.0.1:{server.sockets[0].getsockname()[1]}")
        return out[0], out[1]

    async def stop(self) -> None:
        for server in self.servers:
            server.close()


async def _send_and_wait(address: str, servers: Servers, size: int) -> float:
    """Seconds from the first byte written until the sink has all ``size`` bytes."""
    host, port = address.rsplit(":", 1)
    _reader, writer = await asyncio.open_connection(host, int(port))
    start = servers.received
    t0 = time.perf_counter()
    writer.write(b"x" * size)
    await writer.drain()
    deadline = t0 + 20
    while servers.received - start < size and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - t0
    writer.close()
    return elapsed


async def _round_trips(address: str, count: int, gap: float = 0.0) -> list[float]:
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        writer.write(b"p" * 100)
        await writer.drain()
        await asyncio.wait_for(reader.readexactly(100), 10)
        out.append(time.perf_counter() - t0)
        await asyncio.sleep(gap)
    writer.close()
    return out


def test_proxy_bandwidth_loss_stalls_and_resets(engine: Engine) -> None:
    async def scenario() -> dict:
        servers = Servers()
        sink, echo = await servers.start()
        results: dict = {}
        # 1600 kbit/s up: 200,000 bytes take 1.0 s.
        narrow = link.LinkProxy(LinkProfile("narrow", up_kbit=1600), [link.Route(sink)])
        [addr] = await narrow.start()
        results["transfer_s"] = await _send_and_wait(addr, servers, 200_000)
        await narrow.stop()
        # Loss as stalls: every lost segment holds its chunk (and those behind it) one RTO.
        lossy = link.LinkProxy(LinkProfile("lossy", loss=0.2, rto_ms=100), [link.Route(echo)], seed=7)
        [addr] = await lossy.start()
        results["round_trips"] = await _round_trips(addr, 30)
        results["stalls"] = lossy.stats.stalls
        await lossy.stop()
        # Resets: about 10 per second per connection, sent as RST.
        resetting = link.LinkProxy(LinkProfile("resets", resets_per_hour=36_000), [link.Route(echo)], seed=3)
        [addr] = await resetting.start()
        host, port = addr.rsplit(":", 1)
        reader, _writer = await asyncio.open_connection(host, int(port))
        try:
            await asyncio.wait_for(reader.read(1), 5)
            results["reset"] = "eof"
        except ConnectionResetError:
            results["reset"] = "rst"
        results["resets"] = resetting.stats.resets
        await resetting.stop()
        await servers.stop()
        return results

    r = engine.call(scenario, timeout=60)
    assert 0.95 <= r["transfer_s"] <= 1.6, r["transfer_s"]
    assert r["stalls"] > 0
    # Without loss a round trip takes a few ms; each stall adds exactly one 100 ms RTO.
    assert sum(round(rt / 0.1) for rt in r["round_trips"]) == r["stalls"], r
    assert r["reset"] == "rst" and r["resets"] == 1


def _netns_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    name = f"aranya-probe-{os.getpid()}"
    proc = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=10)
    if proc.returncode:
        return f"ip netns add failed: {proc.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    return None


@pytest.mark.skipif(bool(_netns_available()), reason=str(_netns_available()))
def test_netns_link_shapes_bandwidth_and_partitions_in_the_kernel(engine: Engine, tmp_path: Path) -> None:
    # tbf on the namespace end of the veth: 4000 kbit/s up, so 500,000 bytes take 1.0 s. A stall
    # partition from 1.0 s to 2.5 s: the veth goes down, TCP retransmits, nothing resets.
    (tmp_path / "links.toml").write_text(
        "[link.tbf]\nup_kbit = 4000\n\n[link.cut]\npartition_first_s = 1.0\npartition_s = 1.5\n"
        'partition_every_s = 600\npartition_mode = "stall"\n'
    )
    servers = Servers()
    sink, echo = engine.call(servers.start, timeout=10)

    def link_process(name: str, target: str) -> LinkProcess:
        args = ["--method", "netns", "--link", name, "--link-file", str(tmp_path / "links.toml")]
        args += ["--target", target, "--events-out", str(tmp_path / f"{name}.events")]
        return LinkProcess(args, stderr=None)

    try:
        with link_process("tbf", sink) as shaped:
            assert shaped.ready["kernel"] == ["bandwidth", "partitions"]
            assert shaped.address.startswith("127.0.0.1:")  # devices see loopback; the veth is inside
            transfer_s = engine.call(_send_and_wait, shaped.address, servers, 500_000, timeout=30)
        with link_process("cut", echo) as parted:
            t0 = time.monotonic()
            before = engine.call(_round_trips, parted.address, 1, timeout=10)[0]
            time.sleep(max(0.0, 1.3 - (time.monotonic() - t0)))
            during = engine.call(_round_trips, parted.address, 1, timeout=10)[0]
    finally:
        engine.call(servers.stop, timeout=10)
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    events = read_events(tmp_path / "cut.events")

    assert 0.9 <= transfer_s <= 2.0, transfer_s
    assert before < 0.1
    # Sent 0.3 s into a partition that ends 1.2 s later: delivered after the link is back, by a
    # retransmission, on the same connection (a reset would have failed the round trip).
    assert 1.0 <= during <= 5.0, during
    assert [e["event"] for e in events if e["event"].startswith("partition")] == [
        "partition_start",
        "partition_end",
    ]
    assert next(e for e in events if e["event"] == "stopped")["resets"] == 0
    assert f"aranya-link-{shaped.pid}-" not in namespaces and f"aranya-link-{parted.pid}-" not in namespaces
