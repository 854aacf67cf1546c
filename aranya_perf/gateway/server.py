"""The reference gateway's lifecycle: listeners, services, metrics endpoint, start and stop.

Two topologies. Shared (the default): one gRPC server on ``listen`` carries every
device's Sync stream and the control service. Per device (``listener_per_device``), as
aranya runs it: one gRPC server and port per device id, each serving only that device's
Sync, and the control service alone on ``listen``; ``device_addresses()`` is the address
map a fleet needs. All servers share one event loop, one device registry and one
Prometheus registry. Over MQTT (``transport`` mqtt) no device listener exists: one client of
the broker subscribes every device's namespace (``aranya_perf.transport.mqtt.ControllerEnd``,
wildcard filters) and each namespace's stream is served exactly as a gRPC stream is; the
control service stays on ``listen``. What happens on a stream lives in ``edge_service``,
``link`` and ``control_service``; this module only wires them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

import grpc
from grpc import aio

from aranya_perf import protocol
from aranya_perf.gateway.config import GatewayConfig
from aranya_perf.gateway.control_service import ControlService
from aranya_perf.gateway.edge_service import EdgeDeviceService
from aranya_perf.gateway.emulate import Defects
from aranya_perf.gateway.metrics import GatewayMetrics
from aranya_perf.gateway.registry import DeviceRegistry
from aranya_perf.gc_policy import FreezeOnGrowth
from aranya_perf.protocol.control import add_ControlServicer_to_server
from aranya_perf.targets import TargetError, format_address, parse_address
from aranya_perf.transport.grpc_sync import sync_handlers

log = logging.getLogger(__name__)

GC_CHECK_INTERVAL_S = 2.0
RESET_GRACE_S = 1.0
"""How long ``reset_streams`` waits for the sessions open on the streams it ends."""
RESET_POLL_S = 0.02


class GatewayError(Exception):
    """The gateway could not start (address in use, unreadable TLS files, ...); one-line message."""


def _server_options(cfg: GatewayConfig) -> list[tuple[str, Any]]:
    limit = cfg.max_message_bytes
    return [
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
        # Without this a second gateway (or a stale one) could share the port silently.
        ("grpc.so_reuseport", 0),
        # Devices may keep idle streams alive with pings; don't GOAWAY them for it.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 5000),
        ("grpc.http2.max_ping_strikes", 0),
        # RPCs that grpc core holds before the Python server picks them up. The defaults
        # (1000 soft, 3000 hard) cancel streams during a connect storm: measured ~150 of
        # 5,000 devices got CANCELLED before reaching Sync.
        ("grpc.server.max_pending_requests", 20000),
        ("grpc.server.max_pending_requests_hard_limit", 40000),
    ]


class Gateway:
    """The reference gateway. Create, ``await start()``, ``await stop()`` (once); all on one event loop."""

    def __init__(self, config: GatewayConfig | None = None) -> None:
        self.config = config if config is not None else GatewayConfig()
        self.protocol = protocol.get(self.config.protocol)
        self.metrics = GatewayMetrics(self.protocol)
        self.registry = DeviceRegistry(self.metrics, self.config.device_ids)
        self._servers: list[aio.Server] = []
        self._address = ""
        self._metrics_address = ""
        self._device_addresses: dict[str, str] = {}
        self._stopping = False
        self._gc = FreezeOnGrowth()
        self._gc_task: asyncio.Task[None] | None = None
        self.defects = Defects(self.config.emulate)
        self._edge = EdgeDeviceService(
            self.protocol, self.config, self.metrics, self.registry, lambda: self._stopping, self.defects
        )
        self._mqtt: Any = None  # ControllerEnd, over MQTT
        self._streams: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        """``host:port`` of the control service (and, shared, of every device's Sync), after ``start``."""
        return self._address

    @property
    def metrics_address(self) -> str:
        """``host:port`` of the Prometheus endpoint (path ``/metrics``)."""
        return self._metrics_address

    def device_addresses(self) -> dict[str, str]:
        """Device id -> its own listener's ``host:port`` (empty when listeners are shared)."""
        return dict(self._device_addresses)

    def devices_online(self) -> list[str]:
        """Ids of the devices that passed the connect sequence, in the order they did."""
        return self.registry.online_ids()

    async def start(self, listen: str = "127.0.0.1:0", metrics_listen: str | None = "127.0.0.1:0") -> None:
        """Bind every endpoint and start serving. Raises ``GatewayError`` if any cannot be bound.

        ``metrics_listen`` None serves no HTTP endpoint (``metrics`` still counts): the endpoint
        runs on a thread, which a process monkey-patched by gevent would turn into a greenlet.
        Does not apply the loopback rule: callers (the CLI) decide what may be exposed.
        """
        if self._servers:
            raise RuntimeError("gateway already started")
        try:
            host, port = parse_address(listen)
            m_host, m_port = parse_address(metrics_listen) if metrics_listen is not None else ("", 0)
        except TargetError as exc:
            raise GatewayError(str(exc)) from None
        cfg, proto = self.config, self.protocol
        # Checked with a plain socket first: grpc reports a busy port only as a RuntimeError
        # plus a multi-line log on stderr.
        _check_bindable(host, port)
        credentials = _server_credentials(cfg) if cfg.tls else None
        try:
            main = aio.server(options=_server_options(cfg))
            control = ControlService(proto, cfg, self.metrics, self.registry, self._edge.pause_schedule)
            add_ControlServicer_to_server(control, main)
            if not cfg.listener_per_device and cfg.transport == "grpc":
                main.add_generic_rpc_handlers(sync_handlers(proto, self._edge.behaviour()))
            bound = _add_port(main, format_address(host, port), credentials)
            self._servers.append(main)
            if cfg.listener_per_device:
                for device_id in cfg.device_ids:
                    # One server per device, as aranya runs one grpc.Server per EdgeDevice: about
                    # 15-25 KiB and no thread each (measured at 200 and 2,000 listeners).
                    server = aio.server(options=_server_options(cfg))
                    server.add_generic_rpc_handlers(sync_handlers(proto, self._edge.behaviour(device_id)))
                    dev_port = _add_port(server, format_address(host, 0), credentials)
                    self._servers.append(server)
                    self._device_addresses[device_id] = format_address(host, dev_port)
            for server in self._servers:
                await server.start()
            if cfg.transport == "mqtt":
                await self._start_mqtt()
            if metrics_listen is not None:
                m_bound = await asyncio.to_thread(self.metrics.serve_http, m_host, m_port)
                self._metrics_address = format_address(m_host, m_bound)
        except OSError as exc:
            await self._stop_servers(None)
            where = format_address(m_host, m_port)
            raise GatewayError(f"cannot serve metrics on {where}: {exc.strerror or exc}") from None
        except GatewayError:
            await self._stop_servers(None)
            raise
        if cfg.gc_freeze:
            self._gc_task = asyncio.get_running_loop().create_task(self._gc_watch())
        self._address = format_address(host, bound)
        log.info(
            "gateway (%s) listening on %s%s (tls=%s), metrics on http://%s/metrics",  # "" when not served
            proto.name,
            self._address,
            f" plus {len(self._device_addresses)} device listeners"
            if self._device_addresses
            else (f", devices through MQTT broker {cfg.broker}" if cfg.transport == "mqtt" else ""),
            cfg.tls,
            self._metrics_address,
        )

    async def stop(self, grace: float | None = 1.0) -> None:
        """End every device stream (status OK), fail pending operator calls (UNAVAILABLE), stop serving.

        In-flight RPCs get ``grace`` seconds to finish before they are cancelled.
        """
        if not self._servers:
            return
        self._stopping = True
        if self._gc_task is not None:
            self._gc_task.cancel()
        for link in self.registry.links():
            link.drop("gateway stopping")
        if self._mqtt is not None:
            self._mqtt.stop()
            for task in list(self._streams):
                task.cancel()
        try:
            await self._stop_servers(grace)
        finally:
            if self._metrics_address:
                await asyncio.to_thread(self.metrics.stop_http)
        log.info("gateway stopped")

    async def reset_streams(self, grace: float = RESET_GRACE_S) -> int:
        """End every online device's stream, as a controller that sheds its connections does; return how
        many. Each device is offline at once (operators find it gone, its periodic commands stop); the
        sessions already open on it get up to ``grace`` seconds to be answered, so no command is cut
        between the gateway writing it and the device answering it; then its stream ends and the device
        connects again. A fault for the chaos suite (``[gateway] reset_at``, SIGUSR1 to ``gateway``)."""
        links = [link for link in map(self.registry.get, self.registry.online_ids()) if link is not None]
        for link in links:
            self.registry.release(link)
            for ticker in link.tickers:
                ticker.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while any(len(link.sessions) for link in links) and loop.time() < deadline:
            await asyncio.sleep(RESET_POLL_S)
        for link in links:
            link.drop("stream reset by the gateway")
        log.info("reset %d device streams", len(links))
        return len(links)

    async def _start_mqtt(self) -> None:
        from aranya_perf.transport import mqtt

        cfg, m = self.config, self.metrics
        assert cfg.broker is not None

        def stray(kind: int) -> None:
            # A frame for a namespace without an open stream: counted as any Msg, dropped as unsolicited.
            m.msgs_received[kind].inc()
            m.unsolicited[kind].inc()

        try:
            host, port = parse_address(cfg.broker)
            end = mqtt.ControllerEnd(
                self.protocol,
                cfg.mqtt_namespace,
                self._serve_mqtt,
                stray,
                f"aranya-perf-gateway-{os.getpid()}",
            )
            await end.start(mqtt.resolve(host, port))
        except (TargetError, mqtt.MqttError, ConnectionError) as exc:
            await self._stop_servers(None)
            raise GatewayError(f"MQTT broker {cfg.broker}: {exc}") from None
        self._mqtt = end

    def _serve_mqtt(self, stream: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._serve_stream(stream))
        self._streams.add(task)
        task.add_done_callback(self._streams.discard)

    async def _serve_stream(self, stream: Any) -> None:
        try:
            # The namespace is the device's, as a device's own listener is: an online from another id fails.
            await self._edge.serve(stream, stream.device_id)
        finally:
            stream.close()

    async def _stop_servers(self, grace: float | None) -> None:
        servers, self._servers = self._servers, []
        await asyncio.gather(*(s.stop(grace) for s in servers))

    async def _gc_watch(self) -> None:
        while True:
            await asyncio.sleep(GC_CHECK_INTERVAL_S)
            self._gc.check(len(self.registry))


def _add_port(server: aio.Server, target: str, credentials: grpc.ServerCredentials | None) -> int:
    try:
        if credentials is not None:
            return server.add_secure_port(target, credentials)
        return server.add_insecure_port(target)
    except RuntimeError as exc:
        raise GatewayError(f"cannot listen on {target}: {exc}".split(";")[0]) from None


def _check_bindable(host: str, port: int) -> None:
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise GatewayError(f"cannot listen on {format_address(host, port)}: {exc}") from None
    family, type_, proto, _, sockaddr = infos[0]
    with socket.socket(family, type_, proto) as probe:
        # Same flag grpc sets, so a port in TIME_WAIT is not reported busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            raise GatewayError(
                f"cannot listen on {format_address(host, port)}: {exc.strerror or exc}"
            ) from None


def _server_credentials(cfg: GatewayConfig) -> grpc.ServerCredentials:
    def read(path: str | None) -> bytes | None:
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise GatewayError(f"cannot read {path}: {exc.strerror or exc}") from None

    cert, key, ca = read(cfg.tls_cert_file), read(cfg.tls_key_file), read(cfg.tls_client_ca_file)
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )
