"""The load generator's own Prometheus metrics, served while a Locust run goes on.

Enabled with Locust's ``--metrics-listen HOST:PORT`` (loopback unless ``--allow-remote``;
port 0 picks one), or from code with ``LiveMetrics(environment).serve(host, port)``. Series
(all prefixed ``aranya_perf_``), in a private registry:

=================================  =========  ====================================================
name                               type       labels / meaning
=================================  =========  ====================================================
requests_total                     counter    {request_type, name}: every Locust request event
request_failures_total             counter    {request_type, name}: those with an exception
request_duration_seconds           histogram  {request_type, name}: exact response times (failures
                                              too, as Locust's stats count them)
users                              gauge      {user_class}: running users
devices_online                     gauge      device agents past their first command right now
device_reconnects_total            counter    device streams opened beyond each device's first
slo_passing                        gauge      {slo}: 1 passing, 0 failing; only what a caller sets
                                              with ``set_slo`` (nothing in this suite sets it yet)
generator_info                     gauge      {role, worker_index, run}: local, worker or master; the
                                              run's id where the process knows it (``aranya-perf run``)
window_open                        gauge      {run}: 1 while the run's measured window is open, then 0
phase                              gauge      {run, phase}: 1 for the shape's current phase (``ramp``,
                                              ``hold``, ``step 2: ...``), gone once it ends
process_cpu_seconds_total          counter    CPU time of this process (and ``process_*`` beside it)
event_loop_lag_seconds             gauge      how late the load engine's loop runs a timer, worst of the
                                              last 5 s; absent without an engine (a master)
workers_expected                   gauge      a master: the workers the run waits for
workers_connected                  gauge      a master: workers connected and not missing heartbeats
=================================  =========  ====================================================

The window and phase series are set by ``aranya-perf run`` (``set_window``, ``set_phase``) in the
run's own process; the Grafana dashboard draws them as annotations.

Request series come from this process's ``events.request``: in a distributed run scrape every
worker (the master fires no request events). Devices online and reconnects are the fleet plan's
counts at scrape time (the same the run's timeline records). A short run can end between two scrapes, so at
``quitting`` the exporter, once it has been scraped, waits for one more scrape (at most 1.5
scrape intervals, 30 s) before it stops: the last counts reach Prometheus.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from aranya_perf.loadtests.engine import engine_lag_s
from aranya_perf.loadtests.fleet import existing_plan
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from aranya_perf.gateway.metrics import RTT_BUCKETS
from aranya_perf.targets import TargetError, format_address, is_loopback, parse_address

PREFIX = "aranya_perf_"
MAX_LINGER_S = 30.0


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--metrics-listen",
        default=None,
        metavar="HOST:PORT",
        help="serve the generator's Prometheus metrics there while running (loopback unless "
        "--allow-remote; port 0 picks a free one)",
    )


class _FleetCollector:
    """Devices online and streams reopened: the process's fleet plan's counts
    (``aranya_perf.loadtests.fleet``)."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment

    def collect(self) -> Iterator[Any]:
        plan = existing_plan(self.environment)
        counts = plan.counts() if plan is not None else {}
        yield GaugeMetricFamily(
            PREFIX + "devices_online", "Device agents online now", value=counts.get("online", 0)
        )
        yield CounterMetricFamily(
            PREFIX + "device_reconnects",
            "Device streams opened beyond each device's first",
            value=counts.get("reconnects", 0),
        )


class LiveMetrics:
    """Prometheus series of one Locust environment; listens to its request events from creation."""

    def __init__(self, environment: Any, run: str = "") -> None:
        self.environment = environment
        self.run = run
        r = self.registry = CollectorRegistry()
        labels = ["request_type", "name"]
        requests = Counter(PREFIX + "requests", "Locust request events", labels, registry=r)
        failures = Counter(PREFIX + "request_failures", "Request events that failed", labels, registry=r)
        duration = Histogram(
            PREFIX + "request_duration_seconds", "Response times", labels, buckets=RTT_BUCKETS, registry=r
        )
        self._slo = Gauge(
            PREFIX + "slo_passing", "SLO verdicts set by the run: 1 pass, 0 fail", ["slo"], registry=r
        )
        self._window = Gauge(
            PREFIX + "window_open", "1 while the measured window is open", ["run"], registry=r
        )
        self._phase = Gauge(PREFIX + "phase", "1 for the shape's current phase", ["run", "phase"], registry=r)
        self._phase_now: str | None = None
        ProcessCollector(namespace=PREFIX.rstrip("_"), registry=r)
        self._fleet = _FleetCollector(environment)
        r.register(self._fleet)
        r.register(self)  # users and generator_info, read when scraped
        # Per-event paths index these dicts, not .labels() (a lock and a tuple key per call).
        self._children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self._families = (requests, failures, duration)
        self._httpd: Any = None
        self._thread: threading.Thread | None = None
        self._scrapes: list[float] = []
        environment.events.request.add_listener(self._on_request)

    def describe(self) -> list[Any]:  # registering self must not call collect() early
        return []

    def collect(self) -> Iterator[Any]:
        runner = getattr(self.environment, "runner", None)
        users = GaugeMetricFamily(PREFIX + "users", "Running users", labels=["user_class"])
        for name, n in (getattr(runner, "user_classes_count", None) or {}).items():
            users.add_metric([name], n)
        role = {"MasterRunner": "master", "WorkerRunner": "worker"}.get(type(runner).__name__, "local")
        info = GaugeMetricFamily(
            PREFIX + "generator_info", "This generator", labels=["role", "worker_index", "run"]
        )
        worker_index = str(getattr(runner, "worker_index", 0) or 0)  # set once a worker joins
        info.add_metric([role, worker_index, self.run], 1)
        families = [users, info]
        if (lag := engine_lag_s()) is not None:
            families.append(GaugeMetricFamily(PREFIX + "event_loop_lag_seconds", "Load engine loop lag", lag))
        if role == "master":
            expected = getattr(self.environment.parsed_options, "expect_workers", 0) or 0
            families.append(GaugeMetricFamily(PREFIX + "workers_expected", "Workers expected", expected))
            families.append(
                GaugeMetricFamily(PREFIX + "workers_connected", "Workers connected", runner.worker_count)
            )
        self._scrapes.append(time.monotonic())
        del self._scrapes[:-3]
        return iter(families)

    def _on_request(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        response_length: int = 0,
        exception: BaseException | None = None,
        **_kw: Any,
    ) -> None:
        key = (request_type, name)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = tuple(f.labels(request_type, name) for f in self._families)
        requests, failures, duration = children
        requests.inc()
        if exception is not None:
            failures.inc()
        if response_time is not None:
            duration.observe(response_time / 1000.0)

    def set_slo(self, name: str, passing: bool) -> None:
        """Publish one SLO's verdict as ``aranya_perf_slo_passing{slo=name}``."""
        self._slo.labels(name).set(1 if passing else 0)

    def set_window(self, open_: bool) -> None:
        """``aranya_perf_window_open{run}``: 1 from the window's opening, 0 from its close."""
        self._window.labels(self.run).set(1 if open_ else 0)

    def set_phase(self, name: str | None) -> None:
        """``aranya_perf_phase{run, phase=name}`` 1, the previous phase's series removed; None: no phase."""
        if self._phase_now is not None:
            self._phase.remove(self.run, self._phase_now)
        self._phase_now = name
        if name is not None:
            self._phase.labels(self.run, name).set(1)

    def serve(self, host: str, port: int) -> str:
        """Serve ``/metrics`` on host:port from a thread; returns the bound ``HOST:PORT``."""
        self._httpd, self._thread = start_http_server(port, addr=host, registry=self.registry)
        return format_address(host, int(self._httpd.server_address[1]))

    def linger_s(self) -> float:
        """How long ``linger`` waits at most: 0 when nothing scraped this exporter."""
        if not self._scrapes:
            return 0.0
        interval = self._scrapes[-1] - self._scrapes[-2] if len(self._scrapes) > 1 else 15.0
        return min(1.5 * interval + 1.0, MAX_LINGER_S)

    def linger(self) -> None:
        """Wait for one more scrape, if anything scrapes this exporter (bounded)."""
        if not self._scrapes:
            return
        deadline = time.monotonic() + self.linger_s()
        seen = self._scrapes[-1]
        while time.monotonic() < deadline and self._scrapes[-1] == seen:
            time.sleep(0.05)  # gevent's sleep under Locust: the HTTP thread keeps serving

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with contextlib.suppress(ValueError):
            self.environment.events.request.remove_listener(self._on_request)


def on_init(environment: Any, **_kw: Any) -> None:
    """Locust ``init`` listener: start the exporter when ``--metrics-listen`` is given."""
    opts = environment.parsed_options
    spec = getattr(opts, "metrics_listen", None) if opts is not None else None
    if not spec:
        return
    try:
        host, port = parse_address(spec)
        if not getattr(opts, "allow_remote", False) and not is_loopback(host):
            raise TargetError(f"{spec!r} is not loopback; pass --allow-remote to listen there")
    except TargetError as exc:
        raise SystemExit(f"aranya-perf: --metrics-listen: {exc}") from None
    live = LiveMetrics(environment)
    try:
        address = live.serve(host, port)
    except OSError as exc:
        raise SystemExit(f"aranya-perf: --metrics-listen {spec}: {exc.strerror or exc}") from None
    environment._aranya_perf_live_metrics = live

    def quitting(**_kw: Any) -> None:
        live.linger()
        live.stop()

    environment.events.quitting.add_listener(quitting)
    print(f"aranya-perf: live metrics on http://{address}/metrics", file=sys.stderr, flush=True)
