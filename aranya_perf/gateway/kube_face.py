"""The gateway's Kubernetes face: the API server and kubelet paths operators use, on the gateway's loop.

What kubectl and the operators reach (see docs/kubernetes.md): ``/version``, ``/api``, ``/apis``
and ``/api/v1`` discovery; get and list of the virtual pods (one per online device, named
after it, container ``host``, in ``namespace``) and nodes; ``pods/exec`` and ``pods/portforward``
over websockets (``kube_channels``), ``pods/log`` (``tailLines``, ``follow``), ``nodes/proxy``
metrics (``/metrics/resource``, ``/stats/summary``); and the kubelet paths ``/exec/...``,
``/containerLogs/...``, ``/portForward/...``, ``/metrics/resource``, ``/stats/summary`` (a
kubelet metrics path names its node in the Host header: every virtual node shares this
listener). Each exec, log, port (of a port-forward) and metrics request opens one session
through ``operations.open_*``, exactly as the control service does, and a request that ends
before its session closes the session on the device. Every request needs the bearer token.
Outcomes are counted in ``kube_requests_total{route, code}`` with the control service's
status names. SPDY (``kubectl port-forward``) is not spoken.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import secrets
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import grpc
from aiohttp import WSMsgType, web

from aranya_perf import kube_channels as ch
from aranya_perf.gateway import kube_objects as objs
from aranya_perf.gateway.config import GatewayConfig
from aranya_perf.gateway.kube_tls import server_ssl_context
from aranya_perf.gateway.link import DeviceLink
from aranya_perf.gateway.metrics import GatewayMetrics
from aranya_perf.gateway.operations import (
    Failure,
    Operation,
    StreamOp,
    open_collect,
    open_exec,
    open_logs,
    open_port_forward,
    pump_input,
)
from aranya_perf.gateway.registry import DeviceRegistry
from aranya_perf.results import atomic_write_text
from aranya_perf.targets import TargetError, format_address, parse_address

if TYPE_CHECKING:
    from aranya_perf.gateway.server import Gateway

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "edge"
SHUTDOWN_TIMEOUT_S = 1.0

_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "BadRequest"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "Unauthorized"),
    grpc.StatusCode.NOT_FOUND: (404, "NotFound"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "NotImplemented"),
    grpc.StatusCode.UNAVAILABLE: (503, "ServiceUnavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "Timeout"),
}
"""Failure code -> (HTTP status, Status reason); anything else is 500 InternalError."""

Handler = Callable[[web.Request, "_Call"], Awaitable[web.StreamResponse]]


class _Call:
    """One request's sessions and outcome: the handler sets ``code`` when it answered a failure itself."""

    __slots__ = ("code", "ops")

    def __init__(self) -> None:
        self.code = "OK"
        self.ops: list[Operation] = []

    def close(self) -> None:
        for op in self.ops:
            if not op.finished and op.link is not None:
                op.link.finish(op, "closed", close=True)


def _flag(query: Any, *names: str) -> bool:
    return any(query.get(n, "").lower() in ("1", "true") for n in names)


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(obj).encode(), status=status, content_type="application/json")


def failure_response(failure: Failure) -> web.Response:
    status, reason = _HTTP_STATUS.get(failure.code, (500, "InternalError"))
    return _json(objs.status(status, reason, failure.details), status)


class KubeFace:
    """Create, ``await start(listen)``, ``await stop()``; shares the gateway's registry and metrics."""

    def __init__(
        self,
        config: GatewayConfig,
        metrics: GatewayMetrics,
        registry: DeviceRegistry,
        *,
        token: str,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.config, self.metrics, self.registry = config, metrics, registry
        self.token, self.namespace = token, namespace
        self.created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        self._runner: web.AppRunner | None = None
        self.address = ""

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, listen: str, ssl_context: ssl.SSLContext) -> str:
        """Bind ``listen`` and serve; returns ``host:port``. OSError/TargetError if it cannot bind."""
        host, port = parse_address(listen)
        app = web.Application(middlewares=[self._authenticate])
        self._routes(app.router)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0][1]
        self.address = format_address(host, bound)
        log.info("Kubernetes face on https://%s (namespace %s)", self.address, self.namespace)
        return self.address

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def _routes(self, r: web.UrlDispatcher) -> None:
        pods, nodes = "/api/v1/namespaces/{ns}/pods/{pod}", "/api/v1/nodes/{node}"
        get = {
            "/version": ("discovery", self._version),
            "/api": ("discovery", self._api),
            "/apis": ("discovery", self._apis),
            "/api/v1": ("discovery", self._core),
            "/api/v1/pods": ("list", self._list_pods),
            "/api/v1/namespaces/{ns}/pods": ("list", self._list_pods),
            pods: ("get", self._get_pod),
            "/api/v1/nodes": ("list", self._list_nodes),
            nodes: ("get", self._get_node),
            pods + "/log": ("logs", self._logs),
            "/containerLogs/{ns}/{pod}/{container}": ("logs", self._logs),
            nodes + "/proxy/{path:.+}": ("metrics", self._node_proxy),
            "/metrics/resource": ("metrics", self._metrics),
            "/stats/summary": ("metrics", self._summary),
        }
        streams = {
            pods + "/exec": ("exec", self._exec),
            "/exec/{ns}/{pod}/{container}": ("exec", self._exec),
            "/exec/{ns}/{pod}/{uid}/{container}": ("exec", self._exec),
            pods + "/portforward": ("portforward", self._port_forward),
            "/portForward/{ns}/{pod}": ("portforward", self._port_forward),
            "/portForward/{ns}/{pod}/{uid}": ("portforward", self._port_forward),
        }
        for path, (route, fn) in get.items():
            r.add_get(path, self._counted(route, fn), allow_head=False)
        for path, (route, fn) in streams.items():
            r.add_get(path, self._counted(route, fn), allow_head=False)
            r.add_post(path, self._counted(route, fn))

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if not (auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip(), self.token)):
            return _json(objs.status(401, "Unauthorized", "Unauthorized"), 401)
        return await handler(request)

    def _counted(self, route: str, fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        counters = self.metrics.kube_requests

        async def handle(request: web.Request) -> web.StreamResponse:
            call = _Call()
            try:
                return await fn(request, call)
            except Failure as exc:
                call.code = exc.code.name
                return failure_response(exc)
            except (asyncio.CancelledError, ConnectionError):
                call.code = "CANCELLED"
                raise
            finally:
                call.close()
                counters[(route, call.code)].inc()

        return handle

    # -- objects ----------------------------------------------------------------------------------

    def _link(self, request: web.Request) -> tuple[str, DeviceLink]:
        """The device behind the request's pod (or node); NOT_FOUND unless it is online."""
        info = request.match_info
        if "node" in info:
            name = info["node"]
        elif "pod" in info:
            if info["ns"] != self.namespace:
                raise Failure(grpc.StatusCode.NOT_FOUND, f'pods "{info["pod"]}" not found in {info["ns"]}')
            name = info["pod"]
        else:  # a kubelet path of the node: the Host header names it
            name = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host
        link = self.registry.get(name)
        if link is None:
            raise Failure(grpc.StatusCode.NOT_FOUND, f'"{name}" not found (no such device online)')
        return name, link

    def _container(self, request: web.Request) -> str:
        container = (
            request.match_info.get("container") or request.query.get("container") or objs.HOST_CONTAINER
        )
        if container != objs.HOST_CONTAINER:
            pod = request.match_info["pod"]
            raise Failure(
                grpc.StatusCode.INVALID_ARGUMENT, f"container {container} is not valid for pod {pod}"
            )
        return container

    async def _version(self, request: web.Request, call: _Call) -> web.StreamResponse:
        return _json(objs.version())

    async def _api(self, request: web.Request, call: _Call) -> web.StreamResponse:
        return _json(objs.api_versions(self.address))

    async def _apis(self, request: web.Request, call: _Call) -> web.StreamResponse:
        return _json(objs.api_groups())

    async def _core(self, request: web.Request, call: _Call) -> web.StreamResponse:
        return _json(objs.core_resources())

    def _listing(self, request: web.Request, kind: str, items: list[dict[str, Any]]) -> web.Response:
        if objs.wants_table(request.headers.get("Accept", "")):
            return _json(objs.table(kind, items))
        return _json(objs.object_list(kind, items))

    async def _list_pods(self, request: web.Request, call: _Call) -> web.StreamResponse:
        ns = request.match_info.get("ns")
        ids = self.registry.online_ids() if ns in (None, self.namespace) else []
        return self._listing(request, "Pod", [objs.pod(d, self.namespace, self.created) for d in ids])

    async def _list_nodes(self, request: web.Request, call: _Call) -> web.StreamResponse:
        ids = self.registry.online_ids()
        return self._listing(request, "Node", [objs.node(d, self.created) for d in ids])

    async def _get_pod(self, request: web.Request, call: _Call) -> web.StreamResponse:
        name, _ = self._link(request)
        obj = objs.pod(name, self.namespace, self.created)
        if objs.wants_table(request.headers.get("Accept", "")):
            return _json(objs.table("Pod", [obj]))
        return _json(obj)

    async def _get_node(self, request: web.Request, call: _Call) -> web.StreamResponse:
        name, _ = self._link(request)
        obj = objs.node(name, self.created)
        if objs.wants_table(request.headers.get("Accept", "")):
            return _json(objs.table("Node", [obj]))
        return _json(obj)

    # -- sessions ---------------------------------------------------------------------------------

    def _timeout(self) -> float:
        return self.config.session_timeout_s

    async def _metrics(self, request: web.Request, call: _Call) -> web.StreamResponse:
        _, link = self._link(request)
        op = open_collect(link, self._timeout())
        call.ops.append(op)
        await op.fut
        return web.Response(body=b"".join(op.out), content_type="text/plain", charset="utf-8")

    async def _node_proxy(self, request: web.Request, call: _Call) -> web.StreamResponse:
        # Clients may send the proxied path percent-encoded (the Python client does: metrics%2Fresource).
        path = unquote(request.match_info["path"]).strip("/")
        if path == "metrics/resource":
            return await self._metrics(request, call)
        if path == "stats/summary":
            return await self._summary(request, call)
        raise Failure(grpc.StatusCode.NOT_FOUND, f"node proxy path /{path} is not served")

    async def _summary(self, request: web.Request, call: _Call) -> web.StreamResponse:
        """The device is pulled as for a scrape; the summary names the node only (the device's answer is
        Prometheus text, with nothing a summary's fields could honestly be filled from)."""
        name, link = self._link(request)
        op = open_collect(link, self._timeout())
        call.ops.append(op)
        await op.fut
        return _json(
            {"node": {"nodeName": name, "startTime": self.created, "systemContainers": []}, "pods": []}
        )

    async def _logs(self, request: web.Request, call: _Call) -> web.StreamResponse:
        _, link = self._link(request)
        container = self._container(request)
        q = request.query
        try:
            tail = int(q.get("tailLines", q.get("tail", "0")) or 0)
        except ValueError:
            raise Failure(grpc.StatusCode.INVALID_ARGUMENT, "tailLines must be an integer") from None
        op = open_logs(link, "", container, tail, _flag(q, "follow"), self._timeout())
        call.ops.append(op)
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        try:
            async for data in op.data():
                if not resp.prepared:
                    await resp.prepare(request)
                await resp.write(data)
        except Failure as exc:
            if not resp.prepared:
                raise
            call.code = exc.code.name  # the lines so far are out: the stream just ends
        if not resp.prepared:
            await resp.prepare(request)
        await resp.write_eof()
        return resp

    async def _upgrade(self, request: web.Request, protocols: tuple[str, ...]) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=protocols, autoping=True, max_msg_size=0)
        if not ws.can_prepare(request).ok:
            raise Failure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"websocket upgrade ({', '.join(protocols)}) required; SPDY is not supported",
            )
        await ws.prepare(request)
        return ws

    async def _exec(self, request: web.Request, call: _Call) -> web.StreamResponse:
        _, link = self._link(request)
        container = self._container(request)
        q = request.query
        command = q.getall("command", [])
        if not command:
            raise Failure(grpc.StatusCode.INVALID_ARGUMENT, "you must specify at least one command")
        stdin = _flag(q, "stdin", "input")
        stdout = _flag(q, "stdout", "output")
        stderr = _flag(q, "stderr", "error")
        ws = await self._upgrade(request, ch.EXEC_PROTOCOLS)
        op = open_exec(link, "", container, command, None, self._timeout())
        call.ops.append(op)
        reader = asyncio.get_running_loop().create_task(_exec_input(ws, link, op, stdin))
        try:
            await asyncio.wait((op.fut, reader), return_when=asyncio.FIRST_COMPLETED)
            if not op.fut.done():  # the client went away first
                call.code = "CANCELLED"
                return ws
            try:
                exit_code = op.fut.result()
            except Failure as exc:
                call.code = exc.code.name
                await ws.send_bytes(ch.exit_status(0, exc.details))
                return ws
            if stdout:
                for part in op.out:
                    await ws.send_bytes(ch.frame(ch.STDOUT, part))
            if stderr:
                for part in op.err:
                    await ws.send_bytes(ch.frame(ch.STDERR, part))
            await ws.send_bytes(ch.exit_status(exit_code))
            return ws
        except ConnectionError:
            call.code = "CANCELLED"
            return ws
        finally:
            reader.cancel()
            await ws.close()

    async def _port_forward(self, request: web.Request, call: _Call) -> web.StreamResponse:
        _, link = self._link(request)
        q = request.query
        try:
            ports = [int(p) for v in q.getall("ports", []) + q.getall("port", []) for p in v.split(",") if p]
        except ValueError:
            raise Failure(grpc.StatusCode.INVALID_ARGUMENT, "ports must be integers") from None
        if not ports or not all(0 < p < 65536 for p in ports):
            raise Failure(grpc.StatusCode.INVALID_ARGUMENT, "at least one port in 1..65535 is required")
        ws = await self._upgrade(request, ch.PORT_FORWARD_PROTOCOLS)
        loop = asyncio.get_running_loop()
        inputs: list[asyncio.Queue[bytes | None]] = []
        tasks: list[asyncio.Task[None]] = []
        outputs: asyncio.Future[list[Any]] | None = None
        try:
            for i, port in enumerate(ports):
                op = open_port_forward(link, "", port, self._timeout())
                call.ops.append(op)
                queue: asyncio.Queue[bytes | None] = asyncio.Queue()
                inputs.append(queue)
                await ws.send_bytes(ch.port_header(2 * i, port))
                await ws.send_bytes(ch.port_header(2 * i + 1, port))
                tasks.append(loop.create_task(pump_input(link, op, _drain(queue))))
                tasks.append(loop.create_task(_forward_output(ws, op, 2 * i)))
            outputs = asyncio.gather(*tasks[1::2], return_exceptions=True)
            reader = loop.create_task(_port_forward_input(ws, inputs))
            tasks.append(reader)
            # The client's close is the normal end of a forward (its sessions are closed on the device).
            await asyncio.wait((outputs, reader), return_when=asyncio.FIRST_COMPLETED)
            if outputs.done():
                errors = [e for e in outputs.result() if isinstance(e, Failure)]
                if errors:
                    call.code = errors[0].code.name
            return ws
        finally:
            for task in tasks:
                task.cancel()
            if outputs is not None:
                outputs.cancel()
            await ws.close()


async def _exec_input(ws: web.WebSocketResponse, link: DeviceLink, op: Operation, stdin: bool) -> None:
    """Reads the client until it closes: stdin (channel 0) as CMD_DATA_UPSTREAM, v5's close of stdin as
    the empty complete frame. Resize and anything else are dropped."""
    seq = 0
    closed = not stdin
    async for msg in ws:
        if msg.type is not WSMsgType.BINARY or not msg.data:
            continue
        data: bytes = msg.data
        channel = data[0]
        if closed or op.finished or not link.alive:
            continue
        if channel == ch.STDIN and len(data) > 1:
            seq = link.send_upstream(op, data[1:], seq)
        elif channel == ch.CLOSE and data[1:2] == bytes((ch.STDIN,)):
            link.send_upstream(op, b"", seq, complete=True)
            closed = True


async def _drain(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (data := await queue.get()) is not None:
        yield data


async def _port_forward_input(ws: web.WebSocketResponse, inputs: list[asyncio.Queue[bytes | None]]) -> None:
    """Client data channel 2i -> port i's input; the client's close ends every port's input."""
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.BINARY or len(msg.data) < 2:
                continue
            channel = msg.data[0]
            if channel % 2 == 0 and channel // 2 < len(inputs):
                inputs[channel // 2].put_nowait(msg.data[1:])
    finally:
        for queue in inputs:
            queue.put_nowait(None)


async def _forward_output(ws: web.WebSocketResponse, op: StreamOp, channel: int) -> None:
    """Device data -> the port's data channel; a failed session -> its error channel (then returned)."""
    try:
        async for data in op.data():
            await ws.send_bytes(ch.frame(channel, data))
    except Failure as exc:
        await ws.send_bytes(ch.frame(channel + 1, exc.details.encode()))
        raise


class KubeFaceError(Exception):
    """The face could not start (address in use, unreadable TLS files, unwritable kubeconfig); one line."""


async def start_face(gateway: Gateway, listen: str, namespace: str, kubeconfig_out: Path | None) -> KubeFace:
    """The face on ``gateway``'s registry with a fresh bearer token, its kubeconfig written (mode 0600,
    atomically) to ``kubeconfig_out`` when given."""
    config = gateway.config
    face = KubeFace(
        config, gateway.metrics, gateway.registry, token=secrets.token_urlsafe(24), namespace=namespace
    )
    try:
        ctx, ca = server_ssl_context(config, parse_address(listen)[0])
        address = await face.start(listen, ctx)
    except (OSError, ssl.SSLError, TargetError) as exc:
        raise KubeFaceError(f"cannot serve the Kubernetes face on {listen}: {exc}") from None
    if kubeconfig_out is not None:
        text = objs.kubeconfig(f"https://{address}", face.token, namespace, ca)
        try:
            atomic_write_text(kubeconfig_out, text)
            os.chmod(kubeconfig_out, 0o600)
        except OSError as exc:
            await face.stop()
            raise KubeFaceError(f"cannot write {kubeconfig_out}: {exc.strerror or exc}") from None
    return face
