"""``GrpcUser``: the reusable Locust User base for gRPC targets, on the load engine.

Each user owns one grpc.aio channel (by default its own TCP connection, as a
real device or kubectl client has), created in ``on_start`` so nothing exists
before ``locust --processes`` forks. Calls run on the engine's loop; every call
and stream event is reported through ``report`` as a Locust request event with
the exact (un-rounded) response time in milliseconds. TLS files come from the run's
profile (``[target]``), else from the ``ARANYA_PERF_TLS_*`` environment variables.
Calls made through ``timed_call`` count as in flight in the process's ``Window`` until
their event has fired, so a closing window can wait for them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
from aranya_perf.loadtests.engine import Engine, get_engine
from aranya_perf.loadtests.settings import RunSettings, settings_for
from aranya_perf.loadtests.window import Window, window_for
from grpc import aio
from locust import User
from locust.exception import StopUser

from aranya_perf.codec import MAX_MESSAGE_BYTES
from aranya_perf.targets import TargetError, check_target, format_address, strip_scheme

ALLOW_REMOTE_ENV = "ARANYA_PERF_ALLOW_REMOTE"


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def target_from_host(host: str | None, *, allow_remote: bool) -> str:
    """Locust's ``--host`` as a gRPC ``host:port`` (a ``grpc://`` or ``http://`` prefix is dropped)."""
    if not host:
        raise TargetError("no target: pass --host HOST:PORT")
    return format_address(*check_target(strip_scheme(host), allow_remote=allow_remote))


def service_endpoint(user: User, order: Iterator[int]) -> tuple[int, str]:
    """A service scenario's client: its number in the run and the endpoint it connects to, round-robin
    over the target's endpoints (``[target] address``, else ``--host``).

    ``order`` counts this process's clients; workers interleave (worker index + workers x count), so
    numbers are unique across processes.
    """
    s = user.settings
    number = s.worker_index + s.workers * next(order)
    endpoints = s.address_map.shards or ((user.host,) if user.host else ())
    if not endpoints:
        return number, target_from_host(None, allow_remote=False)  # raises the one-line "no target"
    return number, target_from_host(endpoints[number % len(endpoints)], allow_remote=allow_remote_for(user))


def allow_remote_for(user: User) -> bool:
    """``aranya-perf run --allow-remote``, ``locust --allow-remote`` or ARANYA_PERF_ALLOW_REMOTE=1."""
    settings = getattr(user, "settings", None)
    return (
        bool(getattr(user, "allow_remote", False))
        or bool(settings is not None and settings.allow_remote)
        or bool(getattr(user.environment.parsed_options, "allow_remote", False))
        or os.environ.get(ALLOW_REMOTE_ENV) == "1"
    )


class GrpcUser(User):
    """Base for users that talk gRPC through the load engine.

    Settings are class attributes so a locustfile can override them; TLS is on
    when ``tls_ca_file`` is set, mTLS when a client cert and key are set too.
    """

    abstract = True

    tls_ca_file: str | None = os.environ.get("ARANYA_PERF_TLS_CA")
    tls_cert_file: str | None = os.environ.get("ARANYA_PERF_TLS_CERT")
    tls_key_file: str | None = os.environ.get("ARANYA_PERF_TLS_KEY")
    tls_server_name: str | None = os.environ.get("ARANYA_PERF_TLS_SERVER_NAME")
    metadata: tuple[tuple[str, str], ...] = ()
    deadline_s: float | None = 30.0
    own_connection: bool = True
    """One TCP connection per user; False lets channels with equal options share one."""
    channel_options: tuple[tuple[str, Any], ...] = ()
    allow_remote: bool = False
    """Set by ``aranya-perf run --allow-remote``; ``locust --allow-remote`` sets it through parsed options."""
    needs_channel: bool = True
    """False for users that speak something else on the engine (the Kubernetes operators' HTTP)."""
    lazy_reports: bool = False
    """``report`` may deliver its events in batches (``Engine.post_lazy``, flushed by the window's
    close), for users whose requests nobody waits on and who report thousands a second."""

    engine: Engine
    channel: aio.Channel | None
    target: str
    settings: RunSettings
    window: Window

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.channel = None
        self._fire = environment.events.request.fire
        self.window = window_for(environment)

    # -- lifecycle -----------------------------------------------------------------------------

    def on_start(self) -> None:
        try:
            self.settings = settings_for(self.environment)
            t = self.settings.profile.target
            if t.tls_ca or t.tls_cert:
                self.tls_ca_file, self.tls_cert_file, self.tls_key_file = t.tls_ca, t.tls_cert, t.tls_key
            if t.tls_server_name:
                self.tls_server_name = t.tls_server_name
            self.target = self.resolve_target()
        except TargetError as exc:
            self.environment.events.request.fire(
                request_type="setup", name="target", response_time=0, response_length=0, exception=exc
            )
            raise StopUser() from exc
        self.engine = get_engine()
        if self.needs_channel:
            self.channel = self.engine.call(self.open_channel, timeout=10)

    def on_stop(self) -> None:
        channel, self.channel = self.channel, None
        if channel is not None and self.engine.running:
            # Already closed or the engine is stopping: nothing left to release.
            with contextlib.suppress(Exception):
                self.engine.call(channel.close, 0, timeout=5)

    def resolve_target(self) -> str:
        """The ``host:port`` this user's channel connects to: Locust's host, checked for loopback."""
        return target_from_host(self.host, allow_remote=allow_remote_for(self))

    # -- helpers for subclasses ------------------------------------------------------------------

    async def open_channel(self, target: str | None = None) -> aio.Channel:
        """A new channel to ``target`` (default: the user's) with this user's options (on the loop)."""
        target = target or self.target
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            *self.channel_options,
        ]
        if self.own_connection:
            options.append(("grpc.use_local_subchannel_pool", 1))
        if self.tls_ca_file or self.tls_cert_file:
            creds = grpc.ssl_channel_credentials(
                root_certificates=_read(self.tls_ca_file),
                private_key=_read(self.tls_key_file),
                certificate_chain=_read(self.tls_cert_file),
            )
            server_name = self.server_name()
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
            return aio.secure_channel(target, creds, options=options)
        return aio.insecure_channel(target, options=options)

    def report(
        self,
        request_type: str,
        name: str,
        response_time_ms: float,
        response_length: int = 0,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        """Report one request from the loop thread; the event fires in the engine's drain greenlet."""
        post = self.engine.post_lazy if self.lazy_reports else self.engine.post
        post(self._fire_request, request_type, name, response_time_ms, response_length, exception, context)

    def report_call(
        self,
        request_type: str,
        name: str,
        response_time_ms: float,
        response_length: int = 0,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        """``report`` for a call counted in flight (``Window.started_*``): it leaves the count once fired."""
        self.engine.post(
            self._fire_call, request_type, name, response_time_ms, response_length, exception, context
        )

    def _fire_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        length: int,
        exc: BaseException | None,
        context: dict[str, Any] | None,
    ) -> None:
        self._fire(
            request_type=request_type,
            name=name,
            response_time=response_time,
            response_length=length,
            exception=exc,
            context=context or {},
        )

    def _fire_call(self, *args: Any) -> None:
        try:
            self._fire_request(*args)
        finally:
            self.window.finished += 1

    def server_name(self) -> str | None:
        """The TLS name to verify the target's certificate against, when it is not the target's host."""
        return self.tls_server_name

    def call_metadata(self) -> tuple[tuple[str, str], ...] | None:
        return self.metadata or None

    def timed_call(
        self,
        request_type: str,
        name: str,
        make_call: Callable[[], Awaitable[Any]],
        check: Callable[[Any], int] = lambda _r: 0,
    ) -> Any:
        """Run ``make_call()`` on the loop and report it as one request; return its result, None on failure.

        ``check(result)`` returns the response length and raises to mark a wrong answer as a failure.
        """
        self.window.started_closed += 1
        return self.engine.call(self._timed, request_type, name, make_call, check)

    async def _timed(
        self,
        request_type: str,
        name: str,
        make_call: Callable[[], Awaitable[Any]],
        check: Callable[[Any], int],
    ) -> Any:
        start = time.perf_counter()
        try:
            result = await make_call()
            elapsed_ms = (time.perf_counter() - start) * 1000
            length = check(result)
        except aio.AioRpcError as exc:
            self.report_call(request_type, name, (time.perf_counter() - start) * 1000, 0, RpcFailure.of(exc))
            return None
        except Exception as exc:
            self.report_call(request_type, name, (time.perf_counter() - start) * 1000, 0, exc)
            return None
        self.report_call(request_type, name, elapsed_ms, length)
        return result


class RpcFailure(Exception):
    """A failed RPC reduced to status code and details, so Locust groups failures by cause."""

    @classmethod
    def of(cls, exc: aio.AioRpcError) -> RpcFailure:
        return cls(f"{exc.code().name}: {exc.details()}")
