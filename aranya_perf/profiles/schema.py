"""What a run profile says: one frozen dataclass per section, with the rule for each key.

A profile is a TOML file (``[run]``, ``[target]``, ``[fleet]`` with its ``[[fleet.behaviour]]``,
``[operators]``, ``[service]``, ``[grpc]``, ``[gateway]``, ``[findings]``, ``[shape]``, ``[[slo]]``
and ``[[call]]``). Each field's
``metadata["kind"]`` names how its TOML value is read (``parse.py``): ``duration`` ("45s", "2m",
or seconds), ``interval`` (a duration where 0 means off), ``count`` (an integer >= 0),
``bytes`` (a count of at most ``limits.MAX_PAYLOAD_BYTES``), ``positive``, ``rate`` (a number >= 0),
``bool``, ``str``, ``path``, ``choice`` (one of ``metadata["choices"]``), ``names`` (a list of them),
``durations`` (a list of durations), ``counts`` (a list of counts), ``count_or_auto`` (a count or "auto"),
``weights`` (a table of names to numbers >= 0), ``paths`` (a list of file or directory names),
``template`` (a request: a TOML table or a JSON object as a string, kept as JSON text),
``labels`` (a table of names to strings). Defaults are the built-in layer of the rule
"built-in defaults < profile < command-line flags" (``aranya_perf.profiles.resolve``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aranya_perf import protocol
from aranya_perf.gateway.emulate import NAMES as EMULATIONS
from aranya_perf.gateway.schedule import DEFAULT_SCHEDULE, SCHEDULES

SHAPES = ("constant", "ramp", "step", "spike", "soak", "storm")
SCENARIOS = ("aranya", "grpc", "etcd")
"""What a run loads: aranya's device fleet and operators (the default), any gRPC service, an etcd cluster."""
SLO_METRICS = (
    "p50", "p90", "p99", "p999", "mean", "max",  # latency of a request kind, ms
    "error_rate",  # failures / requests of matching kinds
    "throughput",  # successful requests per second of matching kinds
    "reconnects",  # device streams opened beyond each device's first
    "online_within",  # seconds from the start until every device was online
    "devices_online",  # fraction of the fleet online at the end of the window
    "missed_starts",  # open-model arrivals the generator could not start on time
    "max_stall",  # seconds of the longest span with requests outstanding and no answer
)  # fmt: skip
KIND_METRICS = ("p50", "p90", "p99", "p999", "mean", "max", "error_rate", "throughput")
"""Metrics measured over the request kinds an SLO's ``kind`` glob matches; the others are the fleet's."""
DEFAULT_MAX_FAILURE_RATE = 0.01


def _f(default: Any, kind: str, help: str, **extra: Any) -> Any:
    """A field with its reading rule and one line of help (shown by ``profile show``)."""
    if isinstance(default, list | dict):
        return field(
            default_factory=lambda d=default: type(d)(d), metadata={"kind": kind, "help": help, **extra}
        )
    return field(default=default, metadata={"kind": kind, "help": help, **extra})


@dataclass(frozen=True)
class RunSection:
    scenario: str = _f(
        "aranya", "choice", "what is loaded: aranya's fleet and operators, any gRPC service ([service], "
        "[[call]]), or an etcd cluster ([service], [etcd])", choices=SCENARIOS
    )  # fmt: skip
    duration_s: float = _f(45.0, "duration", "how long the load runs (the measured window)")
    seed: int = _f(0, "count", "seed of every random choice the run makes")
    keep_samples: bool = _f(
        False, "bool", "also keep every raw response time (samples.csv; memory grows with the run)"
    )
    stall_threshold_s: float = _f(
        2.0,
        "duration",
        "requests outstanding and no answer for longer than this: the target stalled (an outage)",
    )


@dataclass(frozen=True)
class TargetSection:
    address: str | None = _f(
        None, "str", "device address map: HOST:PORT, HOST:LO-HI, a .csv/.toml file or k8s:NS/SERVICE; "
        "unset: the embedded gateway"
    )  # fmt: skip
    control: str | None = _f(
        None, "str", "control service HOST:PORT the operators call (a reference gateway)"
    )
    metrics: str | None = _f(
        None, "str", "Prometheus endpoint HOST:PORT of the target, snapshotted at the end"
    )
    kubeconfig: str | None = _f(
        None, "str", "kubeconfig of the cluster the Kubernetes operators use (operators.api kubernetes "
        "with an address; the embedded gateway writes its own)"
    )  # fmt: skip
    protocol: str = _f(
        protocol.DEFAULT, "choice", "protocol version the devices speak", choices=protocol.NAMES
    )
    transport: str = _f(
        "grpc", "choice", "how devices reach the target: grpc Sync streams, or mqtt topics through a broker "
        "(the embedded run starts mosquitto; --target mqtt://HOST:PORT names a cluster's broker)",
        choices=("grpc", "mqtt"),
    )  # fmt: skip
    mqtt_namespace: str = _f(
        "aranya-perf/{device}", "str", "mqtt: topic namespace of each device ({device} = its id), as an "
        "EdgeDevice's spec.mqtt.topicNamespace; NS/cmd, NS/msg, NS/status"
    )  # fmt: skip
    tls_ca: str | None = _f(None, "path", "CA bundle (PEM) that signed the target's certificate; enables TLS")
    tls_cert: str | None = _f(None, "path", "client certificate (PEM), for mTLS")
    tls_key: str | None = _f(None, "path", "client key (PEM), for mTLS")
    tls_server_name: str | None = _f(None, "str", "name to check the target's certificate against")
    link: str | None = _f(
        None, "str", "edge network link between the devices and the target: lan, lte, satellite, flaky, or a "
        "[link.NAME] table of this profile (unset: direct)"
    )  # fmt: skip
    prometheus: str | None = _f(
        None, "str", "Prometheus server (http://HOST:PORT) the [[query]] tables are asked after the window; "
        "with an address, also the target's cost over time"
    )  # fmt: skip
    pid: int | None = _f(
        None, "count", "with an address: the target's process on this machine, sampled for its cost over time"
    )


@dataclass(frozen=True)
class FleetSection:
    devices: int = _f(200, "count", "simulated devices (the shape's full level)")
    spawn_rate: float = _f(100.0, "positive", "devices started per second")
    prefix: str = _f("dev", "str", "device ids: PREFIX-WORKER-N (shared address) or the address map's")
    status_interval_s: float = _f(10.0, "interval", "status push period per device, 0 = off")
    node_status_bytes: int = _f(1024, "bytes", "size of a NODE_INFO_GET(ALL) answer")
    metrics_bytes: int = _f(8192, "bytes", "size of a metrics answer")
    exec_stdout_bytes: int = _f(2048, "bytes", "default exec output size")
    log_line_bytes: int = _f(120, "bytes", "log line size")
    pods: int = _f(2, "count", "pods each device reports")
    backoff_initial_s: float = _f(0.25, "duration", "first reconnect wait (jittered, doubles)")
    backoff_max_s: float = _f(10.0, "duration", "longest reconnect wait")
    answer_delay_s: float = _f(0.0, "interval", "devices wait this long before answering an operator command")
    gc_freeze: bool = _f(
        True, "bool", "freeze the fleet's objects out of the garbage collector after the ramp"
    )


@dataclass(frozen=True)
class OperatorsSection:
    count: int = _f(3, "count", "operators (closed model: each waits for its answer, then thinks)")
    arrival_rate: float = _f(
        0.0, "rate", "open model: operator requests per second at the shape's full level, whatever the "
        "response time (0 = closed model)"
    )  # fmt: skip
    follow_shape: bool = _f(True, "bool", "open model: scale the arrival rate with the shape's level")
    max_in_flight: int = _f(
        200, "count", "open model: calls in flight at most; later arrivals wait for a free slot, their "
        "latency still counted from the intended start"
    )  # fmt: skip
    think_min_s: float = _f(0.05, "interval", "closed model: shortest wait between calls")
    think_max_s: float = _f(0.15, "interval", "closed model: longest wait between calls")
    mix: dict[str, float] = _f(
        {"exec": 6.0, "logs": 3.0, "port_forward": 1.0, "metrics": 1.0}, "weights",
        "relative weights of the operator calls", choices=("exec", "logs", "port_forward", "metrics")
    )  # fmt: skip
    exec_stdout_bytes: int = _f(2048, "bytes", "exec output each call asks for")
    log_tail_lines: int = _f(50, "count", "log lines each call asks for")
    forward_frames: int = _f(4, "count", "port-forward frames each call sends")
    forward_frame_bytes: int = _f(4096, "bytes", "bytes per port-forward frame")
    pod_uid: str = _f("pod-0", "str", "pod the calls target (empty: the device host)")
    container: str = _f("app", "str", "container the calls target ('host' with an empty pod_uid)")
    deadline_s: float = _f(5.0, "duration", "deadline of each call")
    api: str = _f(
        "auto", "choice", "how operators reach devices: kubernetes (kubectl's paths on the gateway's "
        "Kubernetes face or a real cluster's API server), the reference gateway's control service, or "
        "auto: kubernetes where it can be used, else control with the reason printed at start-up",
        choices=("auto", "kubernetes", "control"),
    )  # fmt: skip
    route: str = _f(
        "api", "choice", "api kubernetes: through the API server, or straight to each virtual node's kubelet "
        "paths", choices=("api", "kubelet")
    )  # fmt: skip


@dataclass(frozen=True)
class ServiceSection:
    """Scenarios other than aranya's: clients of a service, each making calls one after another."""

    users: int = _f(10, "count", "concurrent clients (the shape's full level), each with its own connection")
    spawn_rate: float = _f(10.0, "positive", "clients started per second")
    think_min_s: float = _f(0.0, "interval", "shortest wait between a client's calls")
    think_max_s: float = _f(0.0, "interval", "longest wait between a client's calls")
    deadline_s: float = _f(10.0, "duration", "gRPC deadline of each call")


ETCD_CALLS = ("put", "range", "range_serializable")
CHECK_PERF_LOADS = ("off", "s", "m", "l", "xl")


@dataclass(frozen=True)
class EtcdSection:
    """Scenario etcd: what its KV clients call, its Watch and Lease streams, the cluster, check perf."""

    mix: dict[str, float] = _f(
        {"put": 1.0, "range": 1.0, "range_serializable": 1.0}, "weights",
        "relative weights of a KV client's calls: Put, linearizable Range, serializable Range (one key each)",
        choices=ETCD_CALLS,
    )  # fmt: skip
    rate: float = _f(
        0.0, "rate", "KV calls per second of all KV clients together, each paced to its share, as "
        "check perf caps its Puts (0 = closed loop: each client calls again as soon as it has an answer)"
    )  # fmt: skip
    prefix: str = _f(
        "/aranya-perf/", "str", "prefix of every key the run writes; deleted before and after it"
    )
    keys: int = _f(1000, "count", "key space the clients put and range over, each key written once before")
    key_size: int = _f(256, "bytes", "bytes of each key after the prefix (etcdctl check perf: 256)")
    value_size: int = _f(1024, "bytes", "bytes of each value, its first 8 the put's time (check perf: 1024)")
    watchers: int = _f(
        0, "count", "Watch streams, each holding one watch on the prefix (not scaled by the shape)"
    )
    leases: int = _f(0, "count", "lease streams: grant, keep alive over LeaseKeepAlive, revoke at the end")
    lease_ttl_s: float = _f(10.0, "duration", "TTL each lease is granted")
    keepalive_interval_s: float = _f(1.0, "duration", "how often a lease stream sends a keep-alive")
    members: int = _f(3, "count", "members of the cluster the run starts on loopback when no target is given")
    check_perf: str = _f(
        "s", "choice", "etcdctl check perf load run against the same cluster after the window (off: none)",
        choices=CHECK_PERF_LOADS,
    )  # fmt: skip
    compact: bool = _f(True, "bool", "compact the cluster's history between the run's phases")


@dataclass(frozen=True)
class GrpcSection:
    """Scenario grpc: where the service's descriptors come from (``aranya_perf.grpc_service``)."""

    proto: list[str] = _f([], "paths", ".proto files of the service, compiled with protoc at the start")
    import_paths: list[str] = _f([], "paths", "directories protoc resolves the files' imports in")
    reflection: bool = _f(False, "bool", "ask the target for its descriptors (gRPC server reflection)")


@dataclass(frozen=True)
class Call:
    """Scenario grpc: one ``[[call]]`` table, a request template of one method and its weight."""

    method: str = _f("", "str", "the method, 'package.Service/Method'")
    name: str = _f("", "str", "its name in the results (request type 'grpc'; default: the method)")
    weight: float = _f(1.0, "rate", "relative weight among the calls")
    request: str = _f("{}", "template", "the request (a table or a JSON object), with {variables}")
    messages: int = _f(1, "count", "client and bidi streams: requests each call sends")
    interval_s: float = _f(0.0, "interval", "client and bidi streams: wait between the requests")
    metadata: dict[str, str] = _f({}, "labels", "gRPC metadata sent with each call")

    @property
    def label(self) -> str:
        return self.name or self.method


BEHAVIOURS = ("late", "silent", "error", "half", "malformed", "huge", "flap", "duplicate", "offline", "deaf")
"""How a misbehaving device misbehaves (``aranya_perf.loadtests.misbehave``): the first six answer commands
wrongly,
the last four act on the device's stream at ``when``."""
BEHAVIOUR_COMMANDS = (
    "exec",
    "logs",
    "port_forward",
    "metrics_collect",
    "node_info",
    "pod_list",
    "metrics_config",
)
"""Commands a behaviour may apply to (``aranya_perf.protocol.Op`` values)."""


@dataclass(frozen=True)
class Behaviour:
    """One ``[[fleet.behaviour]]`` table: a share of the fleet that misbehaves one way."""

    kind: str = _f("late", "choice", "how the devices misbehave", choices=BEHAVIOURS)
    fraction: float = _f(0.1, "rate", "share of the fleet that does (0..1; the same ids every run)")
    commands: list[str] = _f(
        ["exec"], "names", "commands it applies to (late .. huge)", choices=BEHAVIOUR_COMMANDS
    )
    when_s: float = _f(0.0, "interval", "from this long after each device first came online")
    every_s: float = _f(0.0, "interval", "flap, duplicate, offline, deaf: again this often (0 = once)")
    times: int = _f(0, "count", "late .. huge: misanswer this many commands per device at most (0 = all)")
    delay_s: float = _f(1.0, "interval", "late: the shortest delay; deaf: how long it stops reading")
    delay_max_s: float = _f(0.0, "interval", "late: the longest delay (uniform; 0 = always delay)")
    bytes: int = _f(8 * 1024 * 1024, "count", "huge: output size of an exec")


@dataclass(frozen=True)
class GatewaySection:
    schedule: str = _f(
        DEFAULT_SCHEDULE, "choice", "periodic commands of the embedded gateway", choices=tuple(SCHEDULES)
    )
    node_info_interval_s: float | None = _f(None, "interval", "overrides the schedule's NODE_INFO_GET period")
    metrics_interval_s: float | None = _f(None, "interval", "overrides the schedule's METRICS_COLLECT period")
    session_timeout_s: float = _f(10.0, "interval", "deadline of a session, 0 = none")
    listener_per_device: bool = _f(False, "bool", "one listener per device, as aranya runs them")
    processes: int | str = _f(
        "auto",
        "count_or_auto",
        "gateway processes, each owning a range of devices; auto: chosen before the "
        "run from the fleet, its command rate and the cores left beside the generator, said at start-up",
    )
    stall_at_s: float = _f(
        0.0,
        "interval",
        "ground truth: the gateway freezes (SIGSTOP) once, this long after the load starts (0 = never)",
    )
    stall_s: float = _f(0.0, "interval", "ground truth: how long it stays frozen")
    reset_at_s: float = _f(
        0.0,
        "interval",
        "ground truth: the gateway ends every device stream once, this long after the load starts "
        "(0 = never)",
    )
    gc_freeze: bool = _f(True, "bool", "freeze long-lived objects out of the gateway's garbage collector")
    kubeconfig_out: str | None = _f(
        None, "str", "write the Kubernetes face's kubeconfig here while the run lasts, instead of the run "
        "directory (the face is served with operators.api kubernetes or this set)"
    )  # fmt: skip
    emulate: list[str] = _f(
        [], "names", "aranya defects the embedded gateway plays (docs/findings.md)", choices=EMULATIONS
    )

    @property
    def process_count(self) -> int:
        """``processes`` as the run uses it: ``auto`` is decided by ``run.gateway_processes`` first."""
        if isinstance(self.processes, str):
            raise ValueError("gateway.processes 'auto' is read before run.gateway_processes decided it")
        return self.processes


@dataclass(frozen=True)
class FindingsSection:
    """The invariants every run checks (``aranya_perf.findings``)."""

    online_within_s: float = _f(
        30.0, "duration", "a connecting device, or one that lost its stream, is online by"
    )
    severity: dict[str, str] = _f(
        {}, "labels", "invariant -> fail (default), warn (reported only) or off; e.g. { call-ends = 'warn' }"
    )
    cost_slope_pct_per_hour: float = _f(
        50.0, "rate", "cost-slope: the target's CPU per request (or per exec) growing significantly by at "
        "least this, % of its mean per hour, is a finding"
    )  # fmt: skip
    rss_slope_mib_per_hour: float = _f(
        256.0, "rate", "memory-slope: the target's resident memory (or Go heap) growing significantly by at "
        "least this, MiB per hour, is a finding"
    )  # fmt: skip
    slope_min_window_s: float = _f(
        600.0, "duration", "a shorter window reports the slopes, but finds nothing on them"
    )


@dataclass(frozen=True)
class ShapeSection:
    kind: str = _f("constant", "choice", "how the load changes over the run", choices=SHAPES)
    ramp_s: float = _f(0.0, "interval", "ramp: time to reach the full fleet (0: the spawn rate decides)")
    levels: list[int] = _f([], "counts", "step: device counts of the steps (default: quarters of the fleet)")
    hold_s: float = _f(0.0, "interval", "step: time at each level (default: duration / levels)")
    spike_at_s: float = _f(0.0, "interval", "spike: when the spike starts")
    spike_s: float = _f(0.0, "interval", "spike: how long it lasts")
    spike_devices: int = _f(0, "count", "spike: devices during the spike (the fleet's devices are the base)")
    storm_at_s: list[float] = _f([], "durations", "storm: times at which devices drop and reconnect at once")
    storm_fraction: float = _f(1.0, "rate", "storm: share of the fleet that drops (0..1)")
    storm_duplicate: float = _f(
        0.0, "rate", "storm: share of those that come back before their old stream is gone (0..1)"
    )
    soak_mark_s: float = _f(60.0, "interval", "soak: a phase mark every this long, for drift between marks")


@dataclass(frozen=True)
class Slo:
    metric: str = _f("p99", "choice", "what is measured", choices=SLO_METRICS)
    kind: str = _f(
        "*", "str", "request kinds it covers, a glob over '<type> <name>' (e.g. 'operator exec': an exec on "
        "either operator route, 'kube exec' or 'control Exec')"
    )  # fmt: skip
    max: float | None = _f(None, "threshold", "upper bound (ms for latencies, '250ms'/'2s' accepted)")
    min: float | None = _f(None, "threshold", "lower bound")
    per_step: bool = _f(False, "bool", "step shapes: check each step on its own, not only the whole run")
    name: str = _f("", "str", "how reports name it (default: built from the other keys)")

    def label(self) -> str:
        if self.name:
            return self.name
        bound = f"<= {self.max:g}" if self.max is not None else f">= {self.min:g}"
        kind = f" {self.kind}" if self.metric in KIND_METRICS else ""
        return f"{self.metric}{kind} {bound}"


@dataclass(frozen=True)
class Profile:
    """A whole run, resolved: the built-in defaults, then the profile file, then command-line flags."""

    name: str = "smoke"
    description: str = ""
    source: str = "built-in defaults"
    run: RunSection = field(default_factory=RunSection)
    target: TargetSection = field(default_factory=TargetSection)
    fleet: FleetSection = field(default_factory=FleetSection)
    operators: OperatorsSection = field(default_factory=OperatorsSection)
    service: ServiceSection = field(default_factory=ServiceSection)
    etcd: EtcdSection = field(default_factory=EtcdSection)
    grpc: GrpcSection = field(default_factory=GrpcSection)
    gateway: GatewaySection = field(default_factory=GatewaySection)
    findings: FindingsSection = field(default_factory=FindingsSection)
    shape: ShapeSection = field(default_factory=ShapeSection)
    slo: tuple[Slo, ...] = ()
    behaviours: tuple[Behaviour, ...] = ()
    """``[[fleet.behaviour]]`` tables: misbehaving shares of the fleet."""
    calls: tuple[Call, ...] = ()
    """``[[call]]`` tables: scenario grpc's requests."""
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Custom ``[link.NAME]`` tables (``aranya_perf.link.profiles`` reads them)."""
    queries: tuple[dict[str, Any], ...] = ()
    """``[[query]]`` tables: PromQL range queries stored in the results (``aranya_perf.measure.promql``)."""

    @property
    def embedded(self) -> bool:
        return self.target.address is None

    @property
    def fleet_run(self) -> bool:
        """aranya's scenario: devices, operators and a gateway (else a service's clients)."""
        return self.run.scenario == "aranya"


SECTIONS: dict[str, type] = {
    "run": RunSection,
    "target": TargetSection,
    "fleet": FleetSection,
    "operators": OperatorsSection,
    "service": ServiceSection,
    "etcd": EtcdSection,
    "grpc": GrpcSection,
    "gateway": GatewaySection,
    "findings": FindingsSection,
    "shape": ShapeSection,
}
