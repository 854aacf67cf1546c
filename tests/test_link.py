"""Edge network links: profiles, the ``link`` verb, and what a link does to a real fleet.

The gateway and the link run as child processes (``aranya-perf gateway``, ``aranya-perf
link``); devices are ``DeviceAgent``s on the load engine's loop, as in a run. Timing
checks compare medians of several samples through two links of the same relay (``lan``
and the one under test), so the relay hop itself cancels out.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
from aranya_perf.loadtests.device_agent import DeviceAgent, DeviceProfile
from aranya_perf.loadtests.engine import Engine, get_engine, shutdown_engine
from grpc import aio

from aranya_perf import link, protocol
from aranya_perf.gateway.metrics import parse_metrics
from aranya_perf.link.process import LinkProcess
from aranya_perf.protocol.control import ControlStub
from aranya_perf.protocol.control import messages as ctl
from tests.helpers import gateway_process, run_cli

QUIET = DeviceProfile(status_push_interval_s=0, backoff_initial_s=0.1, backoff_max_s=1.0)
# As DeviceUser does: grpc's own reconnect backoff on the scale of the agent's.
CHANNEL_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
QUIET_GATEWAY = ("--node-info-interval", "0", "--metrics-interval", "0", "--pod-list-interval", "0")


@pytest.fixture
def engine():
    yield get_engine()
    shutdown_engine()


def _link(tmp: Path, target: str, name: str, tables: str = "") -> LinkProcess:
    args = ["--link", name, "--target", target, "--events-out", str(tmp / f"{name}.events")]
    if tables:
        (tmp / "links.toml").write_text(tables)
        args += ["--link-file", str(tmp / "links.toml")]
    return LinkProcess(args, stderr=None)


class Fleet:
    """Agents on the engine; ``connect_ms`` per device id, from the agents' own reports."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.agents: list[DeviceAgent] = []
        self.connect_ms: dict[str, list[float]] = {}

    def start(self, device_id: str, address: str) -> DeviceAgent:
        def report(_t: str, name: str, ms: float, _n: int, exc: BaseException | None) -> None:
            if name == "connect" and exc is None:
                self.connect_ms.setdefault(device_id, []).append(ms)

        async def make() -> DeviceAgent:
            channel = aio.insecure_channel(address, options=CHANNEL_OPTIONS)
            return DeviceAgent(device_id, channel, report, protocol.get(protocol.DEFAULT), QUIET)

        agent = self.engine.call(make, timeout=5)
        self.engine.spawn(agent.run)
        self.agents.append(agent)
        return agent

    def wait(self, cond, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "condition not reached in time"
            time.sleep(0.05)


# -- profiles and the verb's input checks ---------------------------------------------------------


def test_builtin_and_custom_profiles(tmp_path: Path) -> None:
    assert {"lan", "lte", "satellite", "flaky"} <= set(link.BUILTIN)
    assert link.get("lan").is_passthrough and not link.get("lte").is_passthrough
    (tmp_path / "p.toml").write_text(
        '[fleet]\ndevices = 5\n\n[link.rural]\nbase = "lte"\nrtt_ms = 150\nup_kbit = 800\n'
        '\n[link.worse]\nbase = "rural"\nloss = 0.05\n'
    )
    custom = link.load_file(tmp_path / "p.toml")
    assert list(custom) == ["rural", "worse"]
    worse = link.get("worse", custom)
    assert (worse.rtt_ms, worse.up_kbit, worse.down_kbit, worse.loss) == (150, 800, 20_000, 0.05)
    assert worse.stall_s == pytest.approx(0.35)  # an RTO: the round trip + 200 ms

    for body, expect in (
        ("[link.x]\nrtt = 5\n", "unknown key(s) rtt"),
        ("[link.x]\nrtt_ms = -1\n", "rtt_ms must be a number >= 0"),
        ("[link.x]\nloss = 1.5\n", "loss is a probability below 1"),
        ('[link.x]\nbase = "nope"\n', "base 'nope' is not a known link profile"),
        ("[link.x]\npartition_every_s = 10\npartition_s = 20\n", "partition_s must be > 0 and shorter"),
    ):
        (tmp_path / "bad.toml").write_text(body)
        with pytest.raises(link.LinkProfileError, match=expect.replace("(", r"\(").replace(")", r"\)")):
            link.load_file(tmp_path / "bad.toml")


def test_link_verb_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[link.x]\nrtt_ms = 'slow'\n")
    for args, expect in (
        (["--link", "dialup", "--target", "127.0.0.1:1"], "unknown link profile 'dialup'"),
        (["--target", "10.1.2.3:50051"], "refusing non-loopback target"),
        (["--target", "127.0.0.1:1", "--listen", "0.0.0.0"], "is not loopback"),
        (["--link-file", str(tmp_path / "bad.toml"), "--target", "127.0.0.1:1"], "rtt_ms must be a number"),
        ([], "--target is required"),
    ):
        proc = run_cli("link", *args, timeout=30)
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and expect in lines[0] and "Traceback" not in proc.stderr, proc.stderr


# -- the proxy against a real gateway -------------------------------------------------------------


def test_added_round_trip_shows_in_connect_and_command_latency(tmp_path: Path, engine: Engine) -> None:
    rtt = 100.0
    tables = f"[link.rtt100]\nrtt_ms = {rtt:g}\n"
    n = 6
    with (
        gateway_process(*QUIET_GATEWAY) as gw,
        _link(tmp_path, gw.address, "lan") as lan,
        _link(tmp_path, gw.address, "rtt100", tables) as slow,
    ):
        assert slow.profile["rtt_ms"] == rtt and lan.profile["rtt_ms"] == 0
        fleet = Fleet(engine)
        for i in range(n):  # one at a time, so no connect waits for another's CPU
            for device_id, address in ((f"lan-{i}", lan.address), (f"slow-{i}", slow.address)):
                fleet.start(device_id, address)
                fleet.wait(lambda d=device_id: d in fleet.connect_ms)
        # Online for the gateway once the connect sequence is answered, over the link too.
        fleet.wait(lambda: parse_metrics(gw.metrics_text())["aranya_gateway_devices_online"] == 2 * n)

        async def exec_ms(device_id: str) -> list[float]:
            async with aio.insecure_channel(gw.address) as channel:
                stub = ControlStub(channel)
                req = ctl.ExecRequest(device_id=device_id, pod_uid="pod-0", container="app", command=["true"])
                await stub.Exec(req, timeout=10)  # warm the channel
                samples = []
                for _ in range(8):
                    t0 = time.perf_counter()
                    resp = await stub.Exec(req, timeout=10)
                    samples.append((time.perf_counter() - t0) * 1000)
                    assert resp.exit_code == 0
                return samples

        exec_lan = [t for i in range(n) for t in engine.call(exec_ms, f"lan-{i}", timeout=30)]
        exec_slow = [t for i in range(n) for t in engine.call(exec_ms, f"slow-{i}", timeout=30)]

    def median_connect(prefix: str) -> float:
        return statistics.median(v[0] for d, v in fleet.connect_ms.items() if d.startswith(prefix))

    connect_delta = median_connect("slow-") - median_connect("lan-")
    exec_delta = statistics.median(exec_slow) - statistics.median(exec_lan)
    # A gRPC connect waits for the server's SETTINGS: the TCP handshake plus one more round trip.
    assert abs(connect_delta - 2 * rtt) < 5, (connect_delta, fleet.connect_ms)
    # A command is one round trip over the device's link (the operator's call does not cross it).
    assert abs(exec_delta - rtt) < 5, (exec_lan, exec_slow)


def test_partition_is_an_outage_and_the_fleet_reconnects(tmp_path: Path, engine: Engine) -> None:
    tables = "[link.cut]\npartition_first_s = 2\npartition_s = 5\npartition_every_s = 600\n"
    n = 10
    with gateway_process(*QUIET_GATEWAY) as gw, _link(tmp_path, gw.address, "cut", tables) as cut:
        fleet = Fleet(engine)
        for i in range(n):
            fleet.start(f"dev-{i}", cut.address)
        samples: list[tuple[float, int]] = []  # (wall clock, devices online), as the link's events
        deadline = time.monotonic() + 20
        # Until the partition has come and gone and everyone is back (bounded by the deadline).
        while time.monotonic() < deadline:
            online = sum(a.online for a in fleet.agents)
            samples.append((time.time(), online))
            if online == n and any(o == 0 for _, o in samples) and samples[-1][0] - samples[0][0] > 8:
                break
            time.sleep(0.05)
        metrics = parse_metrics(gw.metrics_text())
    events = link.proxy.read_events(tmp_path / "cut.events")
    starts = [e["time"] for e in events if e["event"] == "partition_start"]
    ends = [e["time"] for e in events if e["event"] == "partition_end"]
    assert len(starts) == len(ends) == 1 and ends[0] - starts[0] == pytest.approx(5.0, abs=0.3)

    first_all = next(i for i, (_, online) in enumerate(samples) if online == n)
    down = [t for t, online in samples[first_all:] if online == 0]
    assert down, "the fleet never went offline"
    # The outage window is the partition plus the fleet's way back: connects are refused until the
    # link is up, then each device's backoff (agent and channel, at most 1 s each here) and its
    # connect sequence.
    assert -0.1 <= down[0] - starts[0] <= 0.5, down[0] - starts[0]
    assert 0 <= down[-1] - ends[0] <= 3.0, down[-1] - ends[0]
    assert samples[-1][1] == n, "the fleet did not come back"
    assert all(a.connects >= 2 for a in fleet.agents)
    assert metrics["aranya_gateway_device_disconnects_total"] >= n
    assert metrics["aranya_gateway_devices_online"] == n
