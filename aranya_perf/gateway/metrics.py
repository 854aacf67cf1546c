"""The reference gateway's own metrics: a private Prometheus registry, its HTTP endpoint, and a parser.

The registry is separate from prometheus_client's global one so that several
gateways (tests) or a gateway inside a load-generator process never mix series.
Labelled children are looked up once per label value and cached in plain dicts,
because the server touches them on every frame. The counters bumped on every frame
(commands and frames sent, sessions completed, Msgs received), the open sessions and the
session RTT histogram are plain numbers in the event loop's thread, read only when the
registry is collected (``_Counts``, ``_Level``, ``_Histograms``): measured under a fleet of
1,000 devices, prometheus_client's locked counters were 8 % of the gateway's main-thread CPU,
and its histogram's ``observe`` walks the buckets in Python, for values a scrape reads every
few seconds.

Series (all prefixed ``aranya_gateway_``):

===================================  =========  ===============================================
name                                 type       labels / meaning
===================================  =========  ===============================================
info                                 gauge      {protocol, service}: 1, the version spoken
devices_online                       gauge      devices that passed the connect sequence
devices_connecting                   gauge      streams online but still in the connect sequence
sessions_open                        gauge      sessions waiting for their device's final frame
device_connects_total                counter    devices that passed the connect sequence
device_disconnects_total             counter    online devices whose stream ended
online_seconds                       histogram  stream opened -> connect sequence passed
commands_sent_total                  counter    {kind}: session-opening Cmds written to a stream
frames_sent_total                    counter    {kind}: every Cmd frame written (commands, data,
                                                session closes, rejects)
session_rtt_seconds                  histogram  {kind}: command written -> device's final frame
                                                (outcomes done and error only)
sessions_completed_total             counter    {kind, outcome}: outcome is done, error,
                                                timeout or closed
session_timeouts_total               counter    {kind}
rejects_total                        counter    {reason}: the version's rejection reason name
control_requests_total               counter    {method, code}: Control RPCs by gRPC status name
kube_requests_total                  counter    {route, code}: Kubernetes face requests (exec, logs,
                                                portforward, metrics, get, list, discovery) by the
                                                same status names
msgs_received_total                  counter    {kind}: every Msg frame read from devices
unsolicited_msgs_total               counter    {kind}: Msgs with sid 0 or an unknown sid
===================================  =========  ===============================================

``kind`` labels are the protocol version's own names: ``CMD_EXEC`` in aranya-v0.3,
``CMD_POD_CTR_EXEC`` in aranya-2020-09, and ``CMD_RUNTIME:CMD_EXEC`` for a command routed
through a runtime packet. Aliased Msg kinds report their first name (``MSG_DATA`` in
v0.x, ``MSG_DATA_DEFAULT`` in 2020-09).
"""

from __future__ import annotations

import bisect
import contextlib
import socket
import threading
from collections.abc import Callable, Hashable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from aranya_perf.protocol import Protocol

PREFIX = "aranya_gateway_"

RTT_BUCKETS: tuple[float, ...] = (
    50e-6, 100e-6, 200e-6, 500e-6,
    1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3, 200e-3, 500e-3,
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0,
)  # fmt: skip
"""Session RTT buckets: 50 µs to 30 s in 1-2-5 steps (about x2 each)."""

OUTCOMES = ("done", "error", "timeout", "closed")


class _Children(dict):
    """key -> labelled child, created on first use so unused label values never appear as zeros."""

    def __init__(self, make: Callable[[Any], Any]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: Hashable) -> Any:
        child = self[key] = self._make(key)
        return child


class _Count:
    """One labelled counter as cheap as an attribute increment (the event loop's thread only writes it)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class _Counts:
    """A labelled counter family of ``_Count`` children, registered as a collector: a scrape reads them."""

    def __init__(
        self, name: str, documentation: str, labelnames: list[str], registry: CollectorRegistry
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self._children: dict[tuple[str, ...], _Count] = {}
        registry.register(self)

    def labels(self, *values: str) -> _Count:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = _Count()
        return child

    def collect(self) -> Any:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in list(self._children.items()):  # a copy: the loop may add a child meanwhile
            family.add_metric(list(values), child.value)
        yield family


class _Level:
    """An unlabelled gauge as a plain number the event loop's thread moves, registered as a collector."""

    __slots__ = ("documentation", "name", "value")

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name, self.documentation, self.value = name, documentation, 0.0
        registry.register(self)

    def inc(self) -> None:
        self.value += 1

    def dec(self) -> None:
        self.value -= 1

    def collect(self) -> Any:
        yield GaugeMetricFamily(self.name, self.documentation, value=self.value)


class _Histogram:
    """One labelled histogram's counts per bucket (not cumulative), its sum; ``observe`` is one bisect."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value


class _Histograms:
    """A labelled histogram family of ``_Histogram`` children, registered as a collector (the bucket
    rule is prometheus_client's: a value equal to a bound counts in that bound's bucket)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: list[str],
        buckets: tuple[float, ...],
        registry: CollectorRegistry,
    ) -> None:
        self.name, self.documentation, self.labelnames, self.buckets = (
            name,
            documentation,
            labelnames,
            buckets,
        )
        self._children: dict[tuple[str, ...], _Histogram] = {}
        registry.register(self)

    def labels(self, *values: str) -> _Histogram:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = _Histogram(self.buckets)
        return child

    def collect(self) -> Any:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        bounds = [*map(str, self.buckets), "+Inf"]
        for values, child in list(self._children.items()):
            counts, total = list(child.counts), child.sum  # copies: the loop may observe meanwhile
            cumulative, running = [], 0
            for bound, count in zip(bounds, counts, strict=True):
                running += count
                cumulative.append((bound, running))
            family.add_metric(list(values), cumulative, total)
        yield family


class GatewayMetrics:
    """The gateway's metric objects in a private registry, plus the HTTP exposition server."""

    def __init__(self, proto: Protocol) -> None:
        r = self.registry = CollectorRegistry()
        # process_cpu_seconds_total and process_resident_memory_bytes, as aranya exports them: a run
        # given this gateway as its target can read its cost over time from Prometheus.
        ProcessCollector(registry=r)
        p = PREFIX
        Gauge(p + "info", "Protocol version the gateway speaks", ["protocol", "service"], registry=r).labels(
            proto.name, proto.service
        ).set(1)
        self.devices_connecting = Gauge(
            p + "devices_connecting", "Device streams online but still in the connect sequence", registry=r
        )
        self.online_seconds = Histogram(
            p + "online_seconds",
            "Device stream opened to connect sequence passed",
            buckets=RTT_BUCKETS,
            registry=r,
        )
        self.devices_online = Gauge(
            p + "devices_online", "Devices that passed the connect sequence", registry=r
        )
        self.sessions_open = _Level(p + "sessions_open", "Sessions waiting for their device's answer", r)
        self.device_connects = Counter(
            p + "device_connects_total", "Devices that passed the connect sequence", registry=r
        )
        self.device_disconnects = Counter(
            p + "device_disconnects_total", "Online device streams that ended", registry=r
        )
        commands = _Counts(
            p + "commands_sent_total", "Session-opening commands written to device streams", ["kind"], r
        )
        frames = _Counts(p + "frames_sent_total", "Cmd frames written to device streams", ["kind"], r)
        rtt = _Histograms(
            p + "session_rtt_seconds",
            "Command written to the device's final frame (sessions ending done or error)",
            ["kind"],
            RTT_BUCKETS,
            r,
        )
        completed = _Counts(
            p + "sessions_completed_total", "Sessions ended, by outcome", ["kind", "outcome"], r
        )
        timeouts = Counter(p + "session_timeouts_total", "Sessions past their deadline", ["kind"], registry=r)
        rejects = Counter(p + "rejects_total", "Device streams rejected", ["reason"], registry=r)
        control = Counter(
            p + "control_requests_total",
            "Control RPCs by method and gRPC status",
            ["method", "code"],
            registry=r,
        )
        kube = Counter(
            p + "kube_requests_total",
            "Kubernetes face requests by route and outcome (gRPC status name)",
            ["route", "code"],
            registry=r,
        )
        received = _Counts(p + "msgs_received_total", "Msg frames read from devices", ["kind"], r)
        unsolicited = _Counts(p + "unsolicited_msgs_total", "Msgs with sid 0 or an unknown sid", ["kind"], r)

        # Per-frame paths index these dicts with a label (or an int kind) instead of calling
        # .labels(), which takes a lock and builds a tuple key each time.
        frame_child = _Children(lambda label: frames.labels(label))
        self.command_counters: dict[str, tuple[Any, ...]] = _Children(
            lambda label: (commands.labels(label), frame_child[label])
        )
        """command label -> counters to bump when a session-opening Cmd is written."""
        self.frame_counters: dict[str, tuple[Any, ...]] = _Children(lambda label: (frame_child[label],))
        """Cmd kind name -> counters to bump when any other Cmd frame is written."""
        self.session_rtt: dict[str, Any] = _Children(lambda label: rtt.labels(label))
        self.sessions_completed: dict[tuple[str, str], Any] = _Children(lambda lo: completed.labels(*lo))
        self.session_timeouts: dict[str, Any] = _Children(lambda label: timeouts.labels(label))
        self.rejects: dict[int, Any] = _Children(lambda reason: rejects.labels(proto.reject_name(reason)))
        self.control_requests: dict[tuple[str, str], Any] = _Children(lambda mc: control.labels(*mc))
        self.kube_requests: dict[tuple[str, str], Any] = _Children(lambda rc: kube.labels(*rc))
        self.msgs_received: dict[int, Any] = _Children(lambda k: received.labels(proto.msg_name(k)))
        self.unsolicited: dict[int, Any] = _Children(lambda k: unsolicited.labels(proto.msg_name(k)))

        self._httpd: Any = None
        self._http_thread: threading.Thread | None = None

    def exposition(self) -> str:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry).decode()

    def snapshot(self) -> dict[str, float]:
        """The current values, keyed as ``parse_metrics`` keys them."""
        return parse_metrics(self.exposition())

    def serve_http(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on host:port from a daemon thread; return the bound port (port 0 picks one).

        Raises OSError when the address cannot be bound.
        """
        # prometheus_client >= 0.17 returns (server, thread); the server knows the real port.
        httpd, thread = start_http_server(port, addr=host, registry=self.registry)
        self._httpd, self._http_thread = httpd, thread
        return int(httpd.server_address[1])

    def stop_http(self) -> None:
        """Stop the HTTP endpoint and close its socket; returns within a few tens of ms."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        # shutdown() waits for serve_forever to notice, which it only does between
        # select() calls of 0.5 s; a throw-away connection wakes the select at once.
        stopper = threading.Thread(target=httpd.shutdown, daemon=True)
        stopper.start()
        host, port = httpd.server_address[:2]
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection((host, port), timeout=0.2).close()
            stopper.join(0.02)
        httpd.server_close()
        if self._http_thread is not None:
            self._http_thread.join(timeout=2.0)
            self._http_thread = None


def _sample_key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition -> ``{'name{label="v",...}': value}``.

    Labels are sorted by name and values are not escaped; histogram samples keep
    their ``_bucket``/``_count``/``_sum`` names and counters their ``_total`` (and
    ``_created``) names, exactly as exposed. Works on any exporter's text, not only
    the gateway's.
    """
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[_sample_key(sample.name, sample.labels)] = float(sample.value)
    return out
