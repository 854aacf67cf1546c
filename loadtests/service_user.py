"""``ServiceUser``: scenario grpc's client, one per level user, making the profile's ``[[call]]``\\ s against
any gRPC service, one after another with the ``[service]`` think time between.

The service's descriptors were resolved before Locust started (``aranya-perf run``: .proto files or
server reflection) and reach every process as a serialized ``FileDescriptorSet``: the local runner's
environment holds it (``provide_descriptors``), a worker reads it from the master's parsed options
(``DESCRIPTORS_OPTION``, copied into every spawn message), so a worker needs neither the files nor a
reflection round trip. Requests and responses cross the channel as bytes (no message classes on the
hot path): a request is built from its template on the gevent side, a response is only measured.

Each client's loop runs on the load engine (a call, its report, its think time), with no hand-off to
gevent per call; a report crosses over lazily, counted in flight in the window until it has fired
(``Window.start_on_loop``), so a closing window waits for it. Each call is one Locust request of type
``grpc`` named after the call: unary and client-streaming calls are timed to the response, server- and
bidi-streaming ones to their last message; the response length is the bytes received. Messages written
and read are counted in the window (``messages_sent``/``messages_received``), so a run's totals can be
set against the server's.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import time
from typing import Any

from aranya_perf.loadtests.grpc_user import RpcFailure, service_endpoint
from aranya_perf.loadtests.loop_user import CLOSED_POLL_S, LoopUser
from grpc import aio
from locust.exception import StopUser

from aranya_perf.grpc_service import ServiceError
from aranya_perf.grpc_service.calls import REQUEST_TYPE, ServiceCall, resolve_calls
from aranya_perf.grpc_service.templates import Context

DESCRIPTORS_OPTION = "aranya_perf_grpc_descriptors"
"""The master's parsed option: the ``FileDescriptorSet``, base64 (Locust's messages carry it as text)."""
_DESCRIPTORS_ATTR = "_aranya_perf_grpc_descriptors"
_CALLS_ATTR = "_aranya_perf_grpc_calls"


def provide_descriptors(environment: Any, descriptors: bytes) -> None:
    """This process's descriptors (the local runner); a master also sets ``DESCRIPTORS_OPTION``."""
    setattr(environment, _DESCRIPTORS_ATTR, descriptors)


def descriptors_option(descriptors: bytes) -> str:
    return base64.b64encode(descriptors).decode("ascii")


def _calls_for(user: ServiceUser) -> list[ServiceCall]:
    """The run's calls, resolved once per process from its descriptors."""
    env = user.environment
    calls = getattr(env, _CALLS_ATTR, None)
    if calls is None:
        data = getattr(env, _DESCRIPTORS_ATTR, None)
        if data is None:
            text = getattr(env.parsed_options, DESCRIPTORS_OPTION, None) if env.parsed_options else None
            if not text:
                raise ServiceError("scenario grpc has no descriptors: it runs through `aranya-perf run`")
            data = base64.b64decode(text)
        calls = resolve_calls(user.settings.profile.calls, data)
        setattr(env, _CALLS_ATTR, calls)
    return calls


class ServiceUser(LoopUser):
    """One client of the service: its own connection, its calls one at a time, on the load engine
    (``LoopUser``: this greenlet only starts the loop and cancels it when Locust stops the user)."""

    weight = 1
    loop_request_type = REQUEST_TYPE
    _numbers = itertools.count()

    def resolve_target(self) -> str:
        self.number, endpoint = service_endpoint(self, self._numbers)
        return endpoint

    def on_start(self) -> None:
        super().on_start()
        p = self.settings.profile
        self.deadline_s = p.service.deadline_s
        try:
            self.calls = _calls_for(self)
        except ServiceError as exc:
            self.environment.events.request.fire(
                request_type="setup", name="grpc", response_time=0, response_length=0, exception=exc
            )
            raise StopUser() from exc
        self._weights = [c.weight for c in self.calls]
        self.rng = random.Random(f"{p.run.seed}/{self.number}")
        self.context = Context(self.number, self.rng)
        self._stubs: dict[str, Any] = {}
        self.start_loop()

    # -- on the loop -------------------------------------------------------------------------------

    async def client_loop(self) -> None:
        w, s = self.window, self.settings.profile.service
        rng, calls, weights = self.rng, self.calls, self._weights
        while True:
            if not w.start_on_loop():  # counted in flight first, so a closing window waits for it
                await asyncio.sleep(CLOSED_POLL_S)  # the run is ending: no new calls
                continue
            c = rng.choices(calls, weights)[0]
            start = time.perf_counter()
            length, error = 0, None
            try:
                length = await self._invoke(c, c.requests(self.context))
            except asyncio.CancelledError:
                w.abandoned_open += 1  # stopped mid-call: never reported, so no longer in flight
                raise
            except aio.AioRpcError as exc:
                error = RpcFailure.of(exc)
            except Exception as exc:  # a template value the field refused, a broken stream
                error = exc
            elapsed_ms = (time.perf_counter() - start) * 1000
            self.report_done(REQUEST_TYPE, c.name, elapsed_ms, length, error)
            if s.think_max_s:
                await asyncio.sleep(rng.uniform(s.think_min_s, s.think_max_s))
            elif error is not None:
                await asyncio.sleep(0)  # a target refusing at once must not starve the loop

    def _stub(self, c: ServiceCall) -> Any:
        stub = self._stubs.get(c.path)
        if stub is None:
            assert self.channel is not None
            make = {
                "unary": self.channel.unary_unary,
                "server_stream": self.channel.unary_stream,
                "client_stream": self.channel.stream_unary,
                "bidi_stream": self.channel.stream_stream,
            }[c.kind]
            # No (de)serializers: requests are already bytes, responses are only measured.
            stub = self._stubs[c.path] = make(c.path, request_serializer=None, response_deserializer=None)
        return stub

    async def _invoke(self, c: ServiceCall, requests: list[bytes]) -> int:
        """One call; the bytes it received. Raises ``AioRpcError`` on a non-OK status."""
        w = self.window
        stub = self._stub(c)
        metadata = (*(self.call_metadata() or ()), *c.metadata) or None
        kw = {"timeout": self.deadline_s, "metadata": metadata}
        if c.kind == "unary":
            w.messages_sent += 1
            reply = await stub(requests[0], **kw)
            w.messages_received += 1
            return len(reply)
        if c.kind == "server_stream":
            call = stub(requests[0], **kw)
            w.messages_sent += 1
            return await self._read_all(call)
        call = stub(**kw)
        if c.kind == "client_stream":
            await self._write_all(call, c, requests)
            reply = await call
            w.messages_received += 1
            return len(reply)
        writer = asyncio.get_running_loop().create_task(self._write_all(call, c, requests))
        try:
            received = await self._read_all(call)
        finally:
            if not writer.done():
                writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        if not writer.cancelled() and (error := writer.exception()) is not None:
            raise error
        return received

    async def _write_all(self, call: Any, c: ServiceCall, requests: list[bytes]) -> None:
        for i, request in enumerate(requests):
            if i and c.interval_s:
                await asyncio.sleep(c.interval_s)
            await call.write(request)
            self.window.messages_sent += 1
        await call.done_writing()

    async def _read_all(self, call: aio.Call) -> int:
        received = 0
        async for reply in call:  # type: ignore[attr-defined]
            received += len(reply)
            self.window.messages_received += 1
        return received
