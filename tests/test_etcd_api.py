"""Our etcd .proto against a real 3-member etcd: the method paths and field numbers a real etcd answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from aranya_perf.loadtests.engine import Engine, get_engine
from grpc import aio

from aranya_perf.etcd.api import Stubs, pb, prefix_end
from aranya_perf.etcd.cluster import EtcdClusterProcess


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    # grpc.aio runs on the load engine's loop: with Locust imported in this process, a plain
    # thread is a greenlet and grpc.aio would deadlock in it (docs/architecture.md).
    yield get_engine()


@pytest.fixture()
def prefix() -> bytes:
    return f"/test-api/{uuid.uuid4().hex}/".encode()


def _on(engine: Engine, endpoint: str, body):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        async with aio.insecure_channel(endpoint) as channel:
            return await asyncio.wait_for(body(Stubs.on(channel)), 15)

    return engine.call(run, timeout=20)


def test_prefix_end_follows_etcds_rule() -> None:
    assert prefix_end(b"/a/") == b"/a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\0"
    assert prefix_end(b"") == b"\0"


def test_put_then_range_linearizable_and_serializable_on_another_member(
    engine: Engine, etcd_cluster: EtcdClusterProcess, prefix: bytes
) -> None:
    a, b = etcd_cluster.endpoints[0], etcd_cluster.endpoints[1]

    async def put(s: Stubs):  # type: ignore[no-untyped-def]
        first = await s.kv.Put(pb.PutRequest(key=prefix + b"k1", value=b"v1"))
        second = await s.kv.Put(pb.PutRequest(key=prefix + b"k2", value=b"v2", prev_kv=True))
        return first.header.revision, second.header.revision

    r1, r2 = _on(engine, a, put)
    assert r2 == r1 + 1  # one revision per Put

    async def read(s: Stubs):  # type: ignore[no-untyped-def]
        lin = await s.kv.Range(pb.RangeRequest(key=prefix, range_end=prefix_end(prefix)))
        one = await s.kv.Range(pb.RangeRequest(key=prefix + b"k2", serializable=True))
        count = await s.kv.Range(pb.RangeRequest(key=prefix, range_end=prefix_end(prefix), count_only=True))
        return lin, one, count

    lin, one, count = _on(engine, b, read)
    assert [(kv.key, kv.value) for kv in lin.kvs] == [(prefix + b"k1", b"v1"), (prefix + b"k2", b"v2")]
    assert lin.kvs[1].mod_revision == r2 and lin.header.revision >= r2
    assert lin.header.cluster_id != 0 and lin.header.member_id != 0
    assert one.kvs[0].value == b"v2"
    assert count.count == 2 and not count.kvs

    async def delete(s: Stubs):  # type: ignore[no-untyped-def]
        return await s.kv.DeleteRange(pb.DeleteRangeRequest(key=prefix, range_end=prefix_end(prefix)))

    assert _on(engine, a, delete).deleted == 2


def test_watch_sees_puts_on_its_prefix_made_through_another_member(
    engine: Engine, etcd_cluster: EtcdClusterProcess, prefix: bytes
) -> None:
    writer = etcd_cluster.endpoints[2]

    async def watch(s: Stubs):  # type: ignore[no-untyped-def]
        requests: asyncio.Queue[pb.WatchRequest | None] = asyncio.Queue()

        async def outgoing():  # type: ignore[no-untyped-def]
            while (r := await requests.get()) is not None:
                yield r

        create = pb.WatchCreateRequest(key=prefix, range_end=prefix_end(prefix))
        await requests.put(pb.WatchRequest(create_request=create))
        call = s.watch.Watch(outgoing())
        created = await call.read()
        async with aio.insecure_channel(writer) as ch:
            other = Stubs.on(ch)
            for i in range(3):
                await other.kv.Put(pb.PutRequest(key=prefix + b"w%d" % i, value=b"x"))
            await other.kv.Put(pb.PutRequest(key=b"/elsewhere/" + prefix, value=b"x"))
            await other.kv.DeleteRange(pb.DeleteRangeRequest(key=prefix + b"w0"))
        events = []
        while len(events) < 4:
            resp = await call.read()
            events += [(e.type, e.kv.key) for e in resp.events]
        await requests.put(pb.WatchRequest(cancel_request=pb.WatchCancelRequest(watch_id=created.watch_id)))
        canceled = await call.read()
        await requests.put(None)
        call.cancel()
        return created, events, canceled

    created, events, canceled = _on(engine, etcd_cluster.endpoints[0], watch)
    assert created.created
    put, delete = pb.Event.PUT, pb.Event.DELETE
    expected = [(put, prefix + b"w0"), (put, prefix + b"w1"), (put, prefix + b"w2"), (delete, prefix + b"w0")]
    assert events == expected
    assert canceled.canceled and canceled.watch_id == created.watch_id


def test_lease_grant_keepalive_revoke_and_the_keys_it_held(
    engine: Engine, etcd_cluster: EtcdClusterProcess, prefix: bytes
) -> None:
    async def lease(s: Stubs):  # type: ignore[no-untyped-def]
        grant = await s.lease.LeaseGrant(pb.LeaseGrantRequest(TTL=30))
        await s.kv.Put(pb.PutRequest(key=prefix + b"leased", value=b"x", lease=grant.ID))
        call = s.lease.LeaseKeepAlive()
        answers = []
        for _ in range(2):
            await call.write(pb.LeaseKeepAliveRequest(ID=grant.ID))
            answers.append(await call.read())
        await call.done_writing()
        await s.lease.LeaseRevoke(pb.LeaseRevokeRequest(ID=grant.ID))
        after = await s.kv.Range(pb.RangeRequest(key=prefix + b"leased"))
        return grant, answers, after

    grant, answers, after = _on(engine, etcd_cluster.endpoints[1], lease)
    assert grant.ID != 0 and grant.TTL == 30 and not grant.error
    assert [(a.ID, a.TTL) for a in answers] == [(grant.ID, 30), (grant.ID, 30)]
    assert not after.kvs  # revoking the lease deleted its key


def test_status_and_compact(engine: Engine, etcd_cluster: EtcdClusterProcess, prefix: bytes) -> None:
    async def body(s: Stubs):  # type: ignore[no-untyped-def]
        status = await s.maintenance.Status(pb.StatusRequest())
        put = await s.kv.Put(pb.PutRequest(key=prefix + b"c", value=b"1"))
        await s.kv.Put(pb.PutRequest(key=prefix + b"c", value=b"2"))
        await s.kv.Compact(pb.CompactionRequest(revision=put.header.revision + 1, physical=True))
        try:
            await s.kv.Range(pb.RangeRequest(key=prefix + b"c", revision=put.header.revision))
        except aio.AioRpcError as exc:
            return status, exc.details()
        return status, None

    status, error = _on(engine, etcd_cluster.endpoints[0], body)
    assert status.version.startswith("3.") and status.leader != 0 and status.raftIndex > 0
    assert error is not None and "compacted" in error  # the old revision is gone
