"""Kubernetes operators: kubectl's exec, logs, port-forward and a metrics pipeline's node scrapes, as load.

The same operators as ``aranya_perf.loadtests.operators`` (the profile's ``[operators]`` mix, think times,
open-model schedule), reaching devices the way people do in a cluster: through the API server
(``/api/v1/namespaces/NS/pods/DEVICE/exec|log|portforward``, ``/api/v1/nodes/DEVICE/proxy/...``),
or with ``route = "kubelet"`` straight to the virtual node's kubelet paths (``/exec/...``,
``/containerLogs/...``, ``/portForward/...``, ``/metrics/resource`` with the node in the Host
header). The target is the virtual pod named after each device, container ``host``.

Every call runs on the load engine's loop with aiohttp, one connection per call as kubectl makes
(a websocket for exec and port-forward, ``kube_channels``), and checks its answer: exec runs
``echo WORD`` and wants exactly ``WORD\\n`` on stdout and exit 0 on the status channel; logs
want the asked number of lines; port-forward wants its bytes back; a scrape wants Prometheus
text. A call is bounded by ``deadline_s`` and, like the control operators', observed for the run's
invariants (``aranya_perf.findings``) when it fails, and so is every device a list names. Requests
are of type ``kube`` (the route), so they read ``kube exec``, ``kube logs``, ``kube portforward``,
``kube metrics``, ``kube list``. Reports cross to Locust in batches as the
service scenario's clients' do. Where to go comes from a kubeconfig (``KUBECONFIG_OPTION`` on workers,
``provide_kube`` in the local process): the gateway's own (JSON, token) is read directly; any
other is loaded with the ``kubernetes`` package, imported only then.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aranya_perf.loadtests.engine import native_socket
from aranya_perf.loadtests.grpc_user import GrpcUser
from aranya_perf.loadtests.loop_user import CLOSED_POLL_S, LoopUser
from aranya_perf.loadtests.observe import observations_for
from aranya_perf.loadtests.operators import (
    DEVICE_LIST_TTL_S,
    ArrivalUser,
    WrongAnswer,
    call_mix,
    observed_call,
)

from aranya_perf import kube_channels as ch
from aranya_perf.gateway.kube_objects import HOST_CONTAINER
from aranya_perf.measure.kinds import OPERATOR_CALLS, call_names
from aranya_perf.profiles.schema import OperatorsSection
from aranya_perf.targets import TargetError

REQUEST_TYPE = "kube"
CALL_NAMES = call_names(REQUEST_TYPE)
LIST_NAME = OPERATOR_CALLS["list"][REQUEST_TYPE]
ROUTES = ("api", "kubelet")
FORWARD_PORT = 8080
KUBECONFIG_OPTION = "aranya_perf_kubeconfig"
"""The master's parsed option: ``PATH`` or ``PATH#kubelet`` (the route), copied to every worker."""
_TARGET_ATTR = "_aranya_perf_kube_target"


class KubeConfigError(TargetError):
    """A kubeconfig this suite cannot use; one line (a user's start reports it as a setup failure)."""


@dataclass(frozen=True)
class KubeTarget:
    """Where the operators go and as whom."""

    server: str
    """``https://host:port`` of the API server (the kubelet route uses it for every node too)."""
    namespace: str
    token: str | None = None
    ca_pem: bytes | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True
    route: str = "api"

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The client TLS context (False for a plain http server)."""
        if not self.server.startswith("https:"):
            return False
        ctx = ssl.create_default_context(cadata=self.ca_pem.decode() if self.ca_pem else None)
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def load_kubeconfig(path: str | Path, route: str = "api") -> KubeTarget:
    """The current context of a kubeconfig: server, namespace, credentials."""
    if route not in ROUTES:
        raise KubeConfigError(f"unknown operator route {route!r}; known: {', '.join(ROUTES)}")
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise KubeConfigError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        own = json.loads(text)
    except ValueError:
        own = None
    if own is not None and _simple(own):
        ctx = _named(own, "contexts", own["current-context"])
        cluster = _named(own, "clusters", ctx["cluster"])
        user = _named(own, "users", ctx["user"])
        ca = cluster.get("certificate-authority-data")
        return KubeTarget(
            server=cluster["server"].rstrip("/"),
            namespace=ctx.get("namespace") or "default",
            token=user["token"],
            ca_pem=base64.b64decode(ca) if ca else None,
            verify=not cluster.get("insecure-skip-tls-verify", False),
            route=route,
        )
    return _load_with_kubernetes(str(path), route)


def _simple(cfg: dict[str, Any]) -> bool:
    """A kubeconfig with a bearer token only, such as the gateway writes."""
    try:
        user = _named(cfg, "users", _named(cfg, "contexts", cfg["current-context"])["user"])
    except (KeyError, TypeError):
        return False
    return set(user) == {"token"}


def _named(cfg: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    for entry in cfg[section]:
        if entry["name"] == name:
            return entry[section[:-1]]
    raise KeyError(name)


def _load_with_kubernetes(path: str, route: str) -> KubeTarget:
    try:
        from kubernetes import client, config
    except ImportError:
        raise KubeConfigError(
            "reading this kubeconfig needs the kubernetes package: pip install 'aranya-perf[kubernetes]'"
        ) from None
    try:
        conf = client.Configuration()
        config.load_kube_config(config_file=path, client_configuration=conf)
        _, active = config.list_kube_config_contexts(path)
    except Exception as exc:  # the package raises ConfigException, ValueError, yaml errors...
        raise KubeConfigError(f"kubeconfig {path}: {exc}") from None
    token = (conf.api_key or {}).get("authorization", "").removeprefix("Bearer ").strip() or None
    ca = Path(conf.ssl_ca_cert).read_bytes() if conf.ssl_ca_cert else None
    return KubeTarget(
        server=conf.host.rstrip("/"),
        namespace=(active.get("context") or {}).get("namespace") or "default",
        token=token,
        ca_pem=ca,
        client_cert=conf.cert_file,
        client_key=conf.key_file,
        verify=bool(conf.verify_ssl),
        route=route,
    )


def provide_kube(environment: Any, target: KubeTarget) -> None:
    """This process's target (the local runner, tests); a master also sets ``KUBECONFIG_OPTION``."""
    setattr(environment, _TARGET_ATTR, target)


def kube_option(kubeconfig: str | Path, route: str) -> str:
    return f"{kubeconfig}#{route}"


def target_for(environment: Any) -> KubeTarget:
    """The process's target, read from the master's option once."""
    target = getattr(environment, _TARGET_ATTR, None)
    if target is None:
        opts = environment.parsed_options
        text = getattr(opts, KUBECONFIG_OPTION, None) if opts else None
        if not text:
            raise KubeConfigError("the Kubernetes operators need a kubeconfig (aranya-perf run --kubeconfig)")
        path, _, route = text.rpartition("#")
        target = load_kubeconfig(path, route)
        setattr(environment, _TARGET_ATTR, target)
    return target


class KubeCalls:
    """The operator calls against one Kubernetes endpoint, as coroutines that check their answer and return
    the bytes received (``WrongAnswer`` when the answer is not the device's). Create on the loop."""

    request_type = REQUEST_TYPE
    list_name = LIST_NAME
    names = CALL_NAMES

    def __init__(
        self, target: KubeTarget, ops: OperatorsSection, observe: Callable[..., None] | None = None
    ) -> None:
        self.target, self.ops, self.observe = target, ops, observe
        # One connection per call, as kubectl makes: nothing is pooled.
        connector = aiohttp.TCPConnector(
            force_close=True, ssl=target.ssl_context(), socket_factory=native_socket
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            headers=target.headers(),
            timeout=aiohttp.ClientTimeout(total=ops.deadline_s),
        )
        self._ns = target.namespace
        self._kubelet = target.route == "kubelet"

    async def close(self) -> None:
        await self.session.close()

    def make(self, key: str, device: str) -> Callable[[], Awaitable[int]]:
        method, deadline, observe = getattr(self, key), self.ops.deadline_s, self.observe

        async def bounded() -> int:
            # The session's timeout bounds a request, not a websocket's stream after its handshake: this
            # does, in the call's own task (asyncio.wait_for would start a second task per call).
            async with asyncio.timeout(deadline):
                return int(await method(device))

        if observe is None:
            return bounded
        return lambda: observed_call(observe, key, device, deadline, bounded, _http_outcome)

    def _url(self, path: str, query: list[tuple[str, str]] | None = None) -> str:
        return self.target.server + path + ("?" + urlencode(query) if query else "")

    async def list_devices(self) -> list[str]:
        """The virtual pods: named after their node, as aranya's are."""
        url = self._url(f"/api/v1/namespaces/{self._ns}/pods")
        async with self.session.get(url, headers={"Accept": "application/json"}) as resp:
            if resp.status != 200:
                raise WrongAnswer(f"pod list: HTTP {resp.status}: {(await resp.text())[:200]}")
            items = (await resp.json())["items"]
        names = [
            p["metadata"]["name"] for p in items if p.get("spec", {}).get("nodeName") == p["metadata"]["name"]
        ]
        if self.observe is not None:
            for device in names:
                self.observe("listed", device)
        return names

    async def exec(self, device: str, stdin: bytes | None = None) -> int:
        word = secrets.token_hex(8)
        if self._kubelet:
            path = f"/exec/{self._ns}/{device}/{HOST_CONTAINER}"
            flags = [("output", "1"), ("error", "1")] + ([("input", "1")] if stdin is not None else [])
        else:
            path = f"/api/v1/namespaces/{self._ns}/pods/{device}/exec"
            flags = [("container", HOST_CONTAINER), ("stdout", "true"), ("stderr", "true")]
            flags += [("stdin", "true")] if stdin is not None else []
        url = self._url(path, [("command", "echo"), ("command", word), *flags])
        out, err, status = [], [], None
        async with self.session.ws_connect(url, protocols=ch.EXEC_PROTOCOLS, max_msg_size=0) as ws:
            if stdin is not None:
                await ws.send_bytes(ch.frame(ch.STDIN, stdin))
                if ws.protocol == ch.V5:
                    await ws.send_bytes(bytes((ch.CLOSE, ch.STDIN)))
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                channel, body = msg.data[0], msg.data[1:]
                if channel == ch.STDOUT:
                    out.append(body)
                elif channel == ch.STDERR:
                    err.append(body)
                elif channel == ch.STATUS:
                    status = body
        if status is None:
            raise WrongAnswer("exec: the connection closed without a status")
        exit_code = ch.read_exit_status(status)  # ValueError: the call failed (its message says why)
        stdout = b"".join(out)
        if exit_code != 0 or stdout != f"{word}\n".encode():
            raise WrongAnswer(f"exec: exit {exit_code}, stdout {stdout[:64]!r}, want {word!r} and a newline")
        return len(stdout) + sum(map(len, err))

    async def logs(self, device: str) -> int:
        want = self.ops.log_tail_lines
        if self._kubelet:
            url = self._url(
                f"/containerLogs/{self._ns}/{device}/{HOST_CONTAINER}", [("tailLines", str(want))]
            )
        else:
            query = [("container", HOST_CONTAINER), ("tailLines", str(want))]
            url = self._url(f"/api/v1/namespaces/{self._ns}/pods/{device}/log", query)
        async with self.session.get(url) as resp:
            data = await resp.read()
            if resp.status != 200:
                raise WrongAnswer(f"logs: HTTP {resp.status}: {data[:200]!r}")
        if (lines := data.count(b"\n")) != want:
            raise WrongAnswer(f"logs: {lines} of {want} lines")
        return len(data)

    async def port_forward(self, device: str) -> int:
        ops = self.ops
        sent = [random.randbytes(ops.forward_frame_bytes) for _ in range(ops.forward_frames)]
        total = sum(map(len, sent))
        if self._kubelet:
            url = self._url(f"/portForward/{self._ns}/{device}", [("port", str(FORWARD_PORT))])
        else:
            url = self._url(
                f"/api/v1/namespaces/{self._ns}/pods/{device}/portforward", [("ports", str(FORWARD_PORT))]
            )
        got: list[bytes] = []
        received = 0
        headers = 0
        async with self.session.ws_connect(url, protocols=ch.PORT_FORWARD_PROTOCOLS, max_msg_size=0) as ws:
            for blob in sent:
                await ws.send_bytes(ch.frame(0, blob))
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                channel = msg.data[0]
                if headers < 2:  # each channel's first message is its port
                    if ch.read_port_header(msg.data) != FORWARD_PORT:
                        raise WrongAnswer(f"port-forward: channel {channel} opened for another port")
                    headers += 1
                    continue
                if channel == 1:
                    raise WrongAnswer(f"port-forward: {msg.data[1:].decode(errors='replace')}")
                got.append(msg.data[1:])
                received += len(msg.data) - 1
                if received >= total:
                    break
        if b"".join(got) != b"".join(sent):
            raise WrongAnswer(f"port-forward: echoed {received} bytes, sent {total}")
        return received

    async def metrics(self, device: str) -> int:
        if self._kubelet:
            # Every virtual node of the reference gateway shares one listener: the Host header names it.
            url, headers = self._url("/metrics/resource"), {"Host": device}
        else:
            url, headers = self._url(f"/api/v1/nodes/{device}/proxy/metrics/resource"), {}
        async with self.session.get(url, headers=headers) as resp:
            data = await resp.read()
            if resp.status != 200:
                raise WrongAnswer(f"metrics: HTTP {resp.status}: {data[:200]!r}")
        if not data.startswith(b"node_"):
            raise WrongAnswer(f"metrics: {len(data)} bytes not in Prometheus text format")
        return len(data)


def _http_outcome(exc: Exception) -> tuple[str, str]:
    """A failed Kubernetes call: ``unanswered`` when only this operator's deadline ended it, else ``error``
    (the API server's or the device's answer)."""
    if isinstance(exc, TimeoutError):
        return "unanswered", "no answer within the call's deadline"
    return "error", f"{exc.__class__.__name__}: {exc}"[:200]


class _KubeControls:
    """``_Controls``' shape for the open-model schedule: one endpoint's calls."""

    def __init__(self, user: GrpcUser) -> None:
        self.user = user
        target = target_for(user.environment)
        ops = user.settings.profile.operators
        observe = observations_for(user.environment).add
        self.calls = [user.engine.call(_make_calls, target, ops, observe, timeout=10)]

    def close(self) -> None:
        if self.user.engine.running:
            self.user.engine.call(self.calls[0].close, timeout=5)


async def _make_calls(target: KubeTarget, ops: OperatorsSection, observe: Callable[..., None]) -> KubeCalls:
    return KubeCalls(target, ops, observe)


class KubeOperatorUser(LoopUser):
    """Closed model: a call, its answer, a think time, the next call, on the load engine (``LoopUser``)."""

    weight = 1
    needs_channel = False
    loop_request_type = REQUEST_TYPE
    loop_name = "operator"
    idle_after_loop = True

    def resolve_target(self) -> str:
        return target_for(self.environment).server

    def on_start(self) -> None:
        super().on_start()
        self.controls = _KubeControls(self)
        self._keys, self._weights = call_mix(self.settings.profile.operators)
        self.start_loop()

    def on_stop(self) -> None:
        super().on_stop()  # the loop first: its calls use the session
        if hasattr(self, "controls"):
            self.controls.close()

    async def client_loop(self) -> None:
        w, ops = self.window, self.settings.profile.operators
        calls = self.controls.calls[0]
        devices: list[str] = []
        listed_at = float("-inf")
        while True:
            if not w.open:
                await asyncio.sleep(CLOSED_POLL_S)  # the run is ending: no new calls
                continue
            if time.monotonic() - listed_at > DEVICE_LIST_TTL_S:
                if not w.start_on_loop():
                    continue
                listed = await self.timed(REQUEST_TYPE, LIST_NAME, calls.list_devices)
                listed_at = time.monotonic()
                devices = listed if listed is not None else devices
            if devices and w.start_on_loop():
                key = random.choices(self._keys, self._weights)[0]
                await self.timed(REQUEST_TYPE, CALL_NAMES[key], calls.make(key, random.choice(devices)))
            await asyncio.sleep(random.uniform(ops.think_min_s, ops.think_max_s))


class KubeArrivalUser(ArrivalUser):
    """Open model: the run's arrival schedule (``operators.ArrivalScheduler``) making Kubernetes calls."""

    needs_channel = False

    def resolve_target(self) -> str:
        return target_for(self.environment).server

    def make_controls(self) -> _KubeControls:  # type: ignore[override]
        return _KubeControls(self)
