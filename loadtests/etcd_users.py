"""The etcd scenario's Locust users: KV clients (the shape's level), Watch streams and lease streams.

Every request is reported with request type ``etcd`` (``[[slo]] kind = "etcd Put"`` etc.):

* ``EtcdKvUser``: one call after another (think times from ``[service]``, or paced to a share
  of ``[etcd] rate``), each a Put, a
  linearizable Range or a serializable Range of one key of the key space, chosen by
  ``[etcd] mix``; its loop runs on the load engine and the window counts its calls and waits for them.
* ``EtcdWatchUser``: one Watch stream with one watch on the prefix; ``Watch create`` is the time
  from the create request to its ``created`` answer, and every Put event it receives is a
  ``Watch event`` whose response time is from the put's stamp (the first 8 bytes of the value,
  taken on the generator right before sending) to its arrival: exact when the Put came from the
  same host's clock, as in a run on one machine.
* ``EtcdLeaseUser``: ``LeaseGrant``, then a ``LeaseKeepAlive`` stream with one keep-alive per
  ``[etcd] keepalive_interval`` (each round trip reported), ``LeaseRevoke`` when the user stops.

Users spread over the target's endpoints round-robin, each on its own connection to one member.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from typing import Any

import gevent
from aranya_perf.loadtests.engine import TaskHandle
from aranya_perf.loadtests.grpc_user import GrpcUser, RpcFailure, service_endpoint
from aranya_perf.loadtests.loop_user import CLOSED_POLL_S, LoopUser
from grpc import aio
from locust import task

from aranya_perf.etcd.api import Stubs, pb, prefix_end
from aranya_perf.etcd.keyspace import key_of, stamp_of, stamped_value

REQUEST_TYPE = "etcd"
CALL_NAMES = {"put": "Put", "range": "Range", "range_serializable": "Range serializable"}
_IDLE_S = 1.0


class _EtcdUser(GrpcUser):
    abstract = True
    _order = itertools.count()  # per process: spreads users of every class over the endpoints

    def resolve_target(self) -> str:
        return service_endpoint(self, _EtcdUser._order)[1]

    def on_start(self) -> None:
        super().on_start()
        p = self.settings.profile
        self.etcd, self.deadline = p.etcd, p.service.deadline_s
        self.prefix = p.etcd.prefix.encode()
        self.stubs: Stubs = self.engine.call(self._stubs, timeout=10)

    async def _stubs(self) -> Stubs:
        assert self.channel is not None
        return Stubs.on(self.channel)


class EtcdKvUser(LoopUser, _EtcdUser):
    """A KV client: Put / Range / serializable Range of random keys, one after another, its loop on the
    load engine as ``ServiceUser``'s is (``LoopUser``)."""

    weight = 1
    loop_request_type = REQUEST_TYPE

    def on_start(self) -> None:
        super().on_start()
        mix = self.etcd.mix
        self._calls = [c for c, w in mix.items() if w > 0]
        self._weights = [mix[c] for c in self._calls]
        self.start_loop()

    # -- on the loop -------------------------------------------------------------------------------

    async def client_loop(self) -> None:
        e, s, w = self.etcd, self.settings.profile.service, self.window
        kv, deadline, prefix = self.stubs.kv, self.deadline, self.prefix
        calls, weights = self._calls, self._weights
        period = s.users / e.rate if e.rate > 0 else 0.0
        if period:
            # A random phase per client: clients started together would otherwise call together, in
            # bursts of up to all of them (measured: 50 clients at 3 calls/s each made bursts of 21
            # on average, and their Put p50 was 10x that of the same load spread evenly).
            await asyncio.sleep(random.uniform(0, period))
        next_start = time.perf_counter()
        while True:
            if not w.start_on_loop():  # counted in flight first, so a closing window waits for it
                await asyncio.sleep(CLOSED_POLL_S)  # the run is ending: no new calls
                continue
            which = random.choices(calls, weights)[0] if len(calls) > 1 else calls[0]
            key = key_of(prefix, random.randrange(e.keys), e.key_size)
            start = time.perf_counter()
            length, error = 0, None
            try:
                if which == "put":
                    # The value is made right before it is sent: its stamp is what a watcher
                    # measures the event's latency from.
                    put = pb.PutRequest(key=key, value=stamped_value(e.value_size))
                    length = _put_ok(await kv.Put(put, timeout=deadline))
                else:
                    req = pb.RangeRequest(key=key, serializable=which == "range_serializable")
                    length = _range_length(await kv.Range(req, timeout=deadline))
            except asyncio.CancelledError:
                w.abandoned_open += 1  # stopped mid-call: never reported, so no longer in flight
                raise
            except aio.AioRpcError as exc:
                error = RpcFailure.of(exc)
            except Exception as exc:  # a wrong answer
                error = exc
            now = time.perf_counter()
            self.report_done(REQUEST_TYPE, CALL_NAMES[which], (now - start) * 1000, length, error)
            if period:
                # Each call starts one period after the previous one was due; one that ran late starts
                # the next period from now rather than catching up with a burst (as check perf's limiter).
                next_start = max(next_start + period, now)
                await asyncio.sleep(next_start - now)
            elif s.think_max_s:
                await asyncio.sleep(random.uniform(s.think_min_s, s.think_max_s))
            elif error is not None:
                await asyncio.sleep(0)  # a target refusing at once must not starve the loop


def _put_ok(resp: pb.PutResponse) -> int:
    if resp.header.revision <= 0:
        raise ValueError(f"Put answered without a revision: {resp.header}")
    return 0


def _range_length(resp: pb.RangeResponse) -> int:
    return sum(len(kv.key) + len(kv.value) for kv in resp.kvs)


class _StreamUser(_EtcdUser):
    """A user whose work is one coroutine on the loop, started in on_start and cancelled on stop."""

    abstract = True
    lazy_reports = True  # events and keep-alives: reported in batches, nobody waits on them
    _handle: TaskHandle | None = None

    def wait_time(self) -> float:
        return 0.0

    def start_stream(self) -> None:
        self._handle = self.engine.spawn(self.stream, on_done=self._stream_done)

    async def stream(self) -> None:
        raise NotImplementedError

    def _stream_done(self, _result: Any, error: BaseException | None) -> None:
        if error is not None and not isinstance(error, asyncio.CancelledError):
            exc = RpcFailure.of(error) if isinstance(error, aio.AioRpcError) else error
            self.environment.events.request.fire(
                request_type=REQUEST_TYPE, name=self.stream_name, response_time=0, response_length=0,
                exception=exc, context={},
            )  # fmt: skip

    stream_name = "stream"

    @task
    def hold(self) -> None:
        gevent.sleep(_IDLE_S)

    def on_stop(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()
        super().on_stop()


class EtcdWatchUser(_StreamUser):
    """One Watch stream holding one watch on the key prefix; reports its events' latency."""

    weight = 1
    stream_name = "Watch"

    def on_start(self) -> None:
        super().on_start()
        self.start_stream()

    async def stream(self) -> None:
        requests: asyncio.Queue[pb.WatchRequest] = asyncio.Queue()

        async def outgoing() -> Any:
            while True:
                yield await requests.get()

        create = pb.WatchCreateRequest(key=self.prefix, range_end=prefix_end(self.prefix))
        call = self.stubs.watch.Watch(outgoing())
        start = time.perf_counter()
        await requests.put(pb.WatchRequest(create_request=create))
        try:
            first = await call.read()
            if first is aio.EOF or not first.created:
                raise RuntimeError(f"Watch not created: {first}")
            self.report(REQUEST_TYPE, "Watch create", (time.perf_counter() - start) * 1000)
            while (resp := await call.read()) is not aio.EOF:
                if resp.canceled or resp.compact_revision:
                    raise RuntimeError(f"watch cancelled by etcd: {resp.cancel_reason or 'compacted'}")
                now = time.time_ns()
                for ev in resp.events:
                    stamp = stamp_of(ev.kv.value) if ev.type == pb.Event.PUT else None
                    if stamp is not None and self.window.open:
                        self.report(
                            REQUEST_TYPE, "Watch event", max(0.0, (now - stamp) / 1e6), len(ev.kv.value)
                        )
            raise RuntimeError("etcd ended the Watch stream")
        finally:
            call.cancel()


class EtcdLeaseUser(_StreamUser):
    """A lease kept alive over one LeaseKeepAlive stream, revoked when the user stops."""

    weight = 1
    stream_name = "LeaseKeepAlive"
    lease_id = 0

    def on_start(self) -> None:
        super().on_start()
        lease, deadline = self.stubs.lease, self.deadline
        ttl = max(1, round(self.etcd.lease_ttl_s))
        req = pb.LeaseGrantRequest(TTL=ttl)
        grant = self.timed_call(
            REQUEST_TYPE, "LeaseGrant", lambda: lease.LeaseGrant(req, timeout=deadline), _grant_ok
        )
        if grant is not None:
            self.lease_id = grant.ID
            self.start_stream()

    async def stream(self) -> None:
        call = self.stubs.lease.LeaseKeepAlive()
        interval = self.etcd.keepalive_interval_s
        try:
            while True:
                start = time.perf_counter()
                await call.write(pb.LeaseKeepAliveRequest(ID=self.lease_id))
                resp = await asyncio.wait_for(call.read(), self.deadline)
                elapsed = time.perf_counter() - start
                if resp is aio.EOF:
                    raise RuntimeError("etcd ended the LeaseKeepAlive stream")
                error = None if resp.TTL > 0 else RuntimeError(f"lease {self.lease_id:x} expired")
                if self.window.open:
                    self.report(REQUEST_TYPE, "LeaseKeepAlive", elapsed * 1000, 0, error)
                if error is not None:
                    return
                await asyncio.sleep(max(0.0, interval - elapsed))
        finally:
            call.cancel()

    def on_stop(self) -> None:
        lease_id, self.lease_id = self.lease_id, 0
        if lease_id and self.engine.running and self.channel is not None:
            lease, deadline = self.stubs.lease, self.deadline
            self.timed_call(
                REQUEST_TYPE, "LeaseRevoke",
                lambda: lease.LeaseRevoke(pb.LeaseRevokeRequest(ID=lease_id), timeout=deadline),
            )  # fmt: skip
        super().on_stop()


def _grant_ok(resp: pb.LeaseGrantResponse) -> int:
    if resp.error or resp.ID == 0:
        raise ValueError(f"LeaseGrant refused: {resp.error or 'no lease id'}")
    return 0
