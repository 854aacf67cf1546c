"""What a run loads: the embedded reference gateway (one or more processes) or a target given by address.

Both kinds answer the same questions: where devices connect (an ``AddressMap``), which
control services operators call, where Prometheus metrics are, which local processes to
sample, and whether the target is still there (``lost``). Only the embedded gateway can be
drained (its schedule stopped, its sessions let end, so both sides' counts are final) and
frozen for a ground-truth stall.

Over MQTT (``[target] transport = "mqtt"``) devices connect to a broker, not to the gateway:
embedded, the run starts mosquitto (``aranya_perf.transport.mosquitto``) and one gateway
process subscribed to every device's namespace; given (``mqtt://HOST:PORT``), the broker is
a cluster's. The address map then holds the broker's address, the broker is sampled like a
gateway process, and its ``$SYS`` counters are saved after the window (``broker_sys.json``).

Several embedded processes each own part of the fleet: with shared listeners, the devices
whose id hashes to them; with a listener per device, a consecutive range of ids
(``--device-offset``). The address map routes every device, and every operator call, to the
process that owns it.
"""

from __future__ import annotations

import os
import signal
import socket
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aranya_perf import address_map
from aranya_perf.address_map import AddressMap
from aranya_perf.gateway.process import GatewayProcess, GatewayStartError
from aranya_perf.profiles import Profile
from aranya_perf.results import RunFiles, atomic_write_text
from aranya_perf.targets import (
    TargetError,
    check_target,
    format_address,
    parse_address,
    probe_grpc,
    strip_scheme,
    tls_in_use,
    wait_reachable,
)

GATEWAY_START_TIMEOUT_S = 20.0
REACH_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 1.0


class TargetStartError(RuntimeError):
    """The embedded gateway did not start."""


@dataclass
class Target:
    """Where the run's load goes; see the module docstring."""

    address_map: AddressMap
    controls: tuple[str, ...]
    metrics: tuple[str, ...] = ()
    processes: dict[str, int] = field(default_factory=dict)
    """Local processes of the target, role -> pid, for resource sampling."""
    description: str = ""
    embedded: bool = False
    transport: str = "grpc"
    broker: str | None = None
    """``host:port`` of the MQTT broker the devices use (transport mqtt)."""
    kubeconfig: str | None = None
    """The kubeconfig the Kubernetes operators use (the embedded gateway's face, or the cluster's)."""
    kube: str = ""
    """The embedded gateway's Kubernetes face, ``host:port`` (when served)."""
    operators: str = "control"
    """How operators reach devices, as meta.json and the report name it (``operator_route``)."""

    def lost(self) -> str | None:
        """Why the target is gone, or None while it is there."""
        return None

    def drain(self, timeout: float) -> int:
        """Stop the schedule, wait for open sessions; return how many stayed open. Embedded only."""
        return 0

    def freeze(self) -> None:
        """Stop every target process (SIGSTOP), for a ground-truth stall. Embedded only."""

    def thaw(self) -> None:
        """Let frozen processes run again (SIGCONT)."""

    def reset_streams(self) -> None:
        """End every device stream once (SIGUSR1: ``Gateway.reset_streams``), for ground-truth stream
        resets. Embedded only."""

    def close(self) -> None:
        """Stop what the run started."""

    def save_broker_sys(self, path: Path) -> str | None:
        """Over MQTT: the broker's ``$SYS`` counters into ``path`` once they are fresh (traffic has stopped:
        the window closed); an error message, or None when saved (or when there is no broker)."""
        if self.broker is None:
            return None
        return save_broker_sys(self.broker, path)

    def save_metrics(self, path: Path) -> str | None:
        """Snapshot the Prometheus metrics of every target process into ``path`` (each sample labelled
        ``gateway="<n>"`` when there are several); an error message, or None when saved."""
        if not self.metrics:
            return "no metrics endpoint"
        parts = []
        try:
            for address in self.metrics:
                with urllib.request.urlopen(f"http://{address}/metrics", timeout=5.0) as resp:
                    parts.append(resp.read().decode())
        except OSError as exc:
            return f"could not read gateway metrics: {exc}"
        atomic_write_text(path, merge_prometheus(parts))
        return None


def merge_prometheus(texts: Sequence[str]) -> str:
    """Several processes' Prometheus text as one: each family once, with every process's samples labelled
    ``gateway="<n>"`` so they stay apart (readers sum over labels)."""
    if len(texts) == 1:
        return texts[0]
    families: dict[str, tuple[list[str], list[str]]] = {}
    for n, text in enumerate(texts):
        current = ""
        for line in text.splitlines():
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                current = line.split()[2]
                meta, _ = families.setdefault(current, ([], []))
                if line not in meta:
                    meta.append(line)
            elif line.strip() and not line.startswith("#"):
                name, brace, rest = line.partition("{")
                if brace:
                    labelled = f'{name}{{gateway="{n}",{rest}'
                else:
                    metric, _, value = line.partition(" ")
                    labelled = f'{metric}{{gateway="{n}"}} {value}'
                families.setdefault(current, ([], []))[1].append(labelled)
    return "\n".join(line for meta, samples in families.values() for line in (*meta, *samples)) + "\n"


class RemoteTarget(Target):
    """A target given by address: probed with a TCP connect, never drained or frozen."""

    def lost(self) -> str | None:
        probes = [*self.address_map.shards, *self.controls] or [self.address_map.entries[0].address]
        for address in dict.fromkeys(probes):
            host, port = parse_address(address)
            try:
                with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
                    pass
            except OSError as exc:
                return f"target {address} unreachable: {exc.strerror or exc}"
        return None


MQTT_SCHEME = "mqtt://"
BROKER_SETTLE_S = 2.5
"""Wait before reading ``$SYS``: mosquitto refreshes it once more than ``sys_interval`` (1 s) whole seconds
have passed, so a value can be up to 2 s old."""


def check_operator_api(p: Profile) -> None:
    """Combinations the Kubernetes operators and face cannot serve (yet): ``TargetError`` with one line."""
    kube = p.operators.api == "kubernetes"
    if p.target.address is None:
        if (kube or p.gateway.kubeconfig_out) and p.gateway.process_count > 1:
            raise TargetError("the Kubernetes face is served by one gateway process only (not yet several)")
    elif p.gateway.kubeconfig_out:
        raise TargetError("--kubeconfig-out is the embedded gateway's; against --target give --kubeconfig")
    if kube and p.target.transport == "mqtt":
        raise TargetError("Kubernetes operators with devices over MQTT are not supported yet")


def check_transport(p: Profile) -> None:
    """Combinations of the profile the transport cannot serve: ``TargetError`` with one line."""
    t, g = p.target, p.gateway
    if not p.fleet_run:
        return  # a service scenario has no devices to carry
    if t.transport == "grpc":
        if t.address is not None and t.address.startswith(MQTT_SCHEME):
            raise TargetError(f"target {t.address} is an MQTT broker: use transport mqtt (--transport mqtt)")
        return
    from aranya_perf.transport import topics

    try:
        topics.check_template(t.mqtt_namespace)
    except topics.MqttError as exc:
        raise TargetError(str(exc)) from None
    if p.embedded and g.listener_per_device:
        raise TargetError(
            "--listener-per-device is a gRPC topology: over MQTT every device shares the broker"
        )
    if p.embedded and g.process_count > 1:
        raise TargetError(
            "--gateway-processes > 1 with mqtt: the embedded gateway subscribes every namespace, so one "
            "process serves the whole fleet"
        )
    if t.address is not None and (
        "," in t.address or "-" in t.address.rpartition(":")[2] or t.address.endswith((".csv", ".toml"))
    ):
        raise TargetError(f"mqtt target {t.address!r}: give the broker as mqtt://HOST:PORT")


def remote_target(p: Profile, *, allow_remote: bool) -> RemoteTarget:
    """The profile's ``[target]``, checked and reached before anything is written (``TargetError``)."""
    t = p.target
    assert t.address is not None
    if not p.fleet_run:
        return service_target(p, allow_remote=allow_remote)
    check_transport(p)
    if t.transport == "mqtt":
        return _remote_broker(p, allow_remote=allow_remote)
    amap = address_map.parse(t.address, allow_remote=allow_remote, prefix=p.fleet.prefix)
    amap.assign(p.fleet.devices)  # enough devices in the map?
    control = t.control or amap.shared
    kube = p.operators.api == "kubernetes"
    if kube:
        _check_kubeconfig(p, allow_remote=allow_remote)
    elif (p.operators.count or p.operators.arrival_rate) and control is None:
        raise TargetError(
            "operators need a control service (target.control / --control HOST:PORT of a reference gateway) "
            "or, for a real aranya, the cluster's kubeconfig (--kubeconfig PATH); or set operators.count = 0"
        )
    controls = (format_address(*check_target(control, allow_remote=allow_remote)),) if control else ()
    first = amap.shards[0] if amap.shards else amap.entries[0].address
    wait_reachable(*check_target(first, allow_remote=allow_remote), timeout=REACH_TIMEOUT_S)
    if not tls_in_use(t.tls_ca, t.tls_cert):
        probe_grpc(*parse_address(first), timeout=REACH_TIMEOUT_S)
    metrics = (t.metrics,) if t.metrics else ()
    return RemoteTarget(
        amap,
        controls,
        metrics,
        description=t.address,
        kubeconfig=t.kubeconfig if kube else None,
        operators=operator_route(p),
    )


def operator_route(p: Profile) -> str:
    """``control``, ``kubernetes api`` or ``kubernetes kubelet``."""
    return f"kubernetes {p.operators.route}" if p.operators.api == "kubernetes" else "control"


def _check_kubeconfig(p: Profile, *, allow_remote: bool) -> None:
    """Kubernetes operators against a given target: a readable kubeconfig whose server may be loaded."""
    if not (p.operators.count or p.operators.arrival_rate):
        return
    if p.target.kubeconfig is None:
        raise TargetError(
            "--operator-api kubernetes against --target needs --kubeconfig PATH (the cluster's)"
        )
    from urllib.parse import urlsplit

    from aranya_perf.loadtests.kube_operators import load_kubeconfig

    kube = load_kubeconfig(p.target.kubeconfig, p.operators.route)  # KubeConfigError is a TargetError
    server = urlsplit(kube.server)
    port = server.port or (443 if server.scheme == "https" else 80)
    check_target(format_address(server.hostname or "", port), allow_remote=allow_remote)


def _remote_broker(p: Profile, *, allow_remote: bool) -> RemoteTarget:
    t = p.target
    assert t.address is not None
    broker = format_address(*check_target(t.address.removeprefix(MQTT_SCHEME), allow_remote=allow_remote))
    if (p.operators.count or p.operators.arrival_rate) and t.control is None:
        raise TargetError(
            "operators need a control service (--control HOST:PORT of a reference gateway); a real aranya "
            "is driven through kubectl: set operators.count = 0"
        )
    controls = (format_address(*check_target(t.control, allow_remote=allow_remote)),) if t.control else ()
    wait_reachable(*check_target(broker, allow_remote=allow_remote), timeout=REACH_TIMEOUT_S)
    amap = AddressMap(f"{MQTT_SCHEME}{broker}", shards=(broker,))
    metrics = (t.metrics,) if t.metrics else ()
    return RemoteTarget(
        amap, controls, metrics, description=f"{MQTT_SCHEME}{broker}", transport="mqtt", broker=broker
    )


def save_broker_sys(broker: str, path: Path, settle_s: float = BROKER_SETTLE_S) -> str | None:
    """Read the broker's ``$SYS`` tree (on the load engine, after ``settle_s``) into ``path`` as JSON."""
    import functools
    import json
    import time

    from aranya_perf.loadtests.engine import get_engine
    from aranya_perf.transport import mosquitto

    host, port = parse_address(broker)
    try:
        read = functools.partial(mosquitto.read_sys, host, port, settle_s=settle_s)
        values = get_engine().call(read, timeout=settle_s + 15)
    except Exception as exc:  # the broker is gone, refuses us, or hides $SYS
        return f"could not read the broker's $SYS counters: {exc}"
    doc = {
        "broker": broker,
        "read_at": time.time(),
        "settle_s": settle_s,
        "counters": mosquitto.summary(values),
    }
    doc["sys"] = values
    atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return None


def service_target(p: Profile, *, allow_remote: bool) -> RemoteTarget:
    """A service scenario's ``[target] address``: one or more ``HOST:PORT`` endpoints (its clients spread
    over them), each checked and the first reached before anything is written."""
    assert p.target.address is not None
    endpoints = []
    for spec in p.target.address.split(","):
        endpoints.append(format_address(*check_target(strip_scheme(spec.strip()), allow_remote=allow_remote)))
    wait_reachable(*parse_address(endpoints[0]), timeout=REACH_TIMEOUT_S)
    if not tls_in_use(p.target.tls_ca, p.target.tls_cert):
        probe_grpc(*parse_address(endpoints[0]), timeout=REACH_TIMEOUT_S)
    metrics = (p.target.metrics,) if p.target.metrics else ()
    return RemoteTarget(
        AddressMap(p.target.address, shards=tuple(endpoints)), (), metrics, description=p.target.address
    )


class EmbeddedTarget(Target):
    """The reference gateway as ``gateway.processes`` child processes of this run."""

    gateways: list[GatewayProcess]
    _logs: list[IO[bytes]]
    _frozen: bool = False
    mosquitto: Any = None

    def lost(self) -> str | None:
        broker = self.mosquitto
        if broker is not None and broker.proc is not None and broker.proc.poll() is not None:
            return f"embedded MQTT broker (pid {broker.pid}) exited with code {broker.proc.returncode}"
        for n, gw in enumerate(self.gateways):
            code = gw.proc.poll() if gw.proc is not None else None
            if code is not None:
                return f"embedded gateway {n} (pid {gw.pid}) exited with code {code}"
        return None

    def drain(self, timeout: float) -> int:
        return sum(drain_gateway(gw.address, timeout) for gw in self.gateways)

    def freeze(self) -> None:
        self._signal(signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        if self._frozen:
            self._signal(signal.SIGCONT)
            self._frozen = False

    def reset_streams(self) -> None:
        self._signal(signal.SIGUSR1)

    def _signal(self, sig: int) -> None:
        for gw in self.gateways:
            if gw.proc is not None and gw.proc.poll() is None:
                os.kill(gw.pid, sig)

    def close(self) -> None:
        self.thaw()  # a stopped process would not see SIGTERM
        for gw in self.gateways:
            gw.stop()
        if self.mosquitto is not None:
            self.mosquitto.stop()
        for log in self._logs:
            log.close()


def drain_gateway(control: str, timeout: float) -> int:
    """Ask a reference gateway (plaintext ``control`` address) to stop its schedule and wait for open
    sessions to end; return how many were still open. Runs on the load engine."""
    # Here, not at the top: grpc must load after Locust has patched the process.
    from grpc import aio

    from aranya_perf.loadtests.engine import get_engine
    from aranya_perf.protocol.control import ControlStub
    from aranya_perf.protocol.control import messages as ctl

    async def drain() -> int:
        async with aio.insecure_channel(control) as channel:
            request = ctl.DrainRequest(timeout_ms=int(timeout * 1000))
            return (await ControlStub(channel).Drain(request, timeout=timeout + 5)).sessions_open

    return int(get_engine().call(drain, timeout=timeout + 10))


def gateway_args(p: Profile) -> list[str]:
    """``aranya-perf gateway`` flags for the profile's ``[gateway]`` (listeners and offsets aside)."""
    g = p.gateway
    args = ["--protocol", p.target.protocol, "--schedule", g.schedule]
    if g.node_info_interval_s is not None:
        args += ["--node-info-interval", f"{g.node_info_interval_s}s"]
    if g.metrics_interval_s is not None:
        args += ["--metrics-interval", f"{g.metrics_interval_s}s"]
    args += ["--session-timeout", f"{g.session_timeout_s}s"]
    args.append("--gc-freeze" if g.gc_freeze else "--no-gc-freeze")
    for name in g.emulate:
        args += ["--emulate", name]
    return args


def start_embedded(p: Profile, run_dir: Path) -> EmbeddedTarget:
    """Start ``gateway.processes`` gateways; on failure, stop those started and raise ``TargetStartError``."""
    if not p.fleet_run:
        raise TargetStartError(f"scenario {p.run.scenario} has no embedded target: give --target")
    g, n = p.gateway, p.gateway.process_count
    target = EmbeddedTarget(AddressMap("embedded"), (), embedded=True, transport=p.target.transport)
    target.gateways, target._logs = [], []
    share = -(-p.fleet.devices // n)  # devices per process, rounded up
    mqtt_args: list[str] = []
    kube_args: list[str] = []
    if p.operators.api == "kubernetes" or g.kubeconfig_out:
        try:
            check_operator_api(p)
        except TargetError as exc:
            raise TargetStartError(str(exc)) from None
        target.kubeconfig = g.kubeconfig_out or str(run_dir / RunFiles.KUBECONFIG)
        kube_args = ["--kube-listen", "127.0.0.1:0", "--kubeconfig-out", target.kubeconfig]
    try:
        if p.target.transport == "mqtt":
            from aranya_perf.transport.mosquitto import Broker, BrokerError

            log = (run_dir / RunFiles.BROKER_LOG).open("wb")
            target._logs.append(log)
            try:
                target.mosquitto = Broker(log=log).start()
            except BrokerError as exc:
                raise TargetStartError(f"embedded {exc} (see {run_dir / RunFiles.BROKER_LOG})") from None
            target.broker = target.mosquitto.address
            mqtt_args = ["--transport", "mqtt", "--broker", target.broker]
            mqtt_args += ["--mqtt-namespace", p.target.mqtt_namespace]
        for k in range(n):
            log_name = RunFiles.GATEWAY_LOG if n == 1 else f"gateway-{k}.log"
            log = (run_dir / log_name).open("wb")
            target._logs.append(log)
            args = gateway_args(p) + mqtt_args + kube_args
            if g.listener_per_device:
                count = max(0, min(share, p.fleet.devices - k * share))
                args += ["--listener-per-device", "--devices", str(max(count, 1))]
                args += ["--device-offset", str(k * share), "--device-prefix", p.fleet.prefix]
            gw = GatewayProcess(args, stderr=log)
            target.gateways.append(gw)
            try:
                gw.start(timeout=GATEWAY_START_TIMEOUT_S)
            except GatewayStartError as exc:
                raise TargetStartError(f"embedded {exc} (see {run_dir / log_name})") from None
    except BaseException:
        target.close()
        raise
    gws = target.gateways
    if g.listener_per_device:
        entries = [address_map.DeviceAddress(d, a) for gw in gws for d, a in gw.device_addresses.items()]
        target.address_map = AddressMap("embedded", tuple(entries[: p.fleet.devices]))
        address_map.write_csv(run_dir / RunFiles.ADDRESS_MAP, list(target.address_map.entries))
    elif target.broker is not None:
        target.address_map = AddressMap("embedded", shards=(target.broker,))
    else:
        target.address_map = AddressMap("embedded", shards=tuple(gw.address for gw in gws))
    target.controls = tuple(gw.address for gw in gws)
    target.kube = gws[0].kube_address
    target.operators = operator_route(p)
    target.metrics = tuple(gw.metrics_address for gw in gws)
    target.processes = {("gateway" if n == 1 else f"gateway-{k}"): gw.pid for k, gw in enumerate(gws)}
    if target.mosquitto is not None:
        target.processes["broker"] = target.mosquitto.pid
    listeners = f"{len(target.address_map.entries)} device listeners + " if g.listener_per_device else ""
    broker = f"mqtt://{target.broker} + " if target.broker is not None else ""
    target.description = f"{listeners}{broker}{', '.join(target.controls)}"
    return target


def through_link(p: Profile, target: Target, run_dir: Path, *, allow_remote: bool) -> Any:
    """Put the profile's edge network link (``aranya-perf link``) between the devices and ``target``: the
    devices' address map becomes the link's; operators still call the target directly. Returns the
    started ``LinkProcess`` (stop it after the run); ``TargetStartError`` when it does not start."""
    from aranya_perf.link.process import LinkProcess

    assert p.target.link is not None
    amap = target.address_map
    if amap.shards:
        spec = ",".join(amap.shards)
    else:
        spec = str(run_dir / RunFiles.ADDRESS_MAP)
        address_map.write_csv(Path(spec), list(amap.entries))
    args = ["--link", p.target.link, "--target", spec, "--seed", str(p.run.seed)]
    args += [
        "--address-map-out",
        str(run_dir / RunFiles.LINK_MAP),
        "--events-out",
        str(run_dir / RunFiles.LINK_EVENTS),
    ]
    if p.links:
        links = run_dir / RunFiles.LINKS
        atomic_write_text(links, "".join(_link_table(n, t) for n, t in p.links.items()))
        args += ["--link-file", str(links)]
    if allow_remote:
        args.append("--allow-remote")
    log = (run_dir / RunFiles.LINK_LOG).open("wb")
    link = LinkProcess(args, stderr=log)
    try:
        link.start()
    except GatewayStartError as exc:
        raise TargetStartError(f"{exc} (see {run_dir / RunFiles.LINK_LOG})") from None
    finally:
        log.close()
    target.address_map = link.address_map
    return link


def _link_table(name: str, table: dict[str, Any]) -> str:
    import json

    values = "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())
    return f"[link.{json.dumps(name)}]\n{values}\n"


def describe(target: Target) -> dict[str, Any]:
    """What meta.json records about the target."""
    out = {
        "address": target.description,
        "embedded": target.embedded,
        "control": list(target.controls),
        "metrics": list(target.metrics),
        "listener_per_device": target.address_map.per_device,
        "processes": len(target.processes) if target.embedded else None,
        "transport": target.transport,
        "operators": target.operators,
    }
    if target.broker is not None:
        out["broker"] = target.broker
    if target.kube:
        out["kube"] = target.kube
    if target.embedded and target.address_map.per_device:
        out["address_map"] = RunFiles.ADDRESS_MAP
    return out
