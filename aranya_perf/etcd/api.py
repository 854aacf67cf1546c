"""etcd v3's gRPC API as this suite speaks it: messages, stubs on a grpc.aio channel, key ranges.

The messages and stubs are generated from our own ``protocol/proto/etcd/rpc.proto`` (``make gen``);
its package ``etcdserverpb`` makes the method paths a real etcd serves (``/etcdserverpb.KV/Put``).
"""

from __future__ import annotations

from dataclasses import dataclass

from grpc import aio

from aranya_perf.protocol.proto.etcd import rpc_pb2 as pb
from aranya_perf.protocol.proto.etcd import rpc_pb2_grpc as rpc

__all__ = ["Stubs", "pb", "prefix_end", "rpc"]


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that makes ``[prefix, range_end)`` every key starting with ``prefix``.

    etcd's rule: the prefix with its last byte below 0xff incremented and what follows dropped;
    an all-0xff (or empty) prefix means "every key from here", written ``b"\\0"``.
    """
    for i in range(len(prefix) - 1, -1, -1):
        if prefix[i] < 0xFF:
            return prefix[:i] + bytes([prefix[i] + 1])
    return b"\0"


@dataclass(frozen=True)
class Stubs:
    """The four services the suite calls, on one channel."""

    kv: rpc.KVStub
    watch: rpc.WatchStub
    lease: rpc.LeaseStub
    maintenance: rpc.MaintenanceStub

    @classmethod
    def on(cls, channel: aio.Channel) -> Stubs:
        return cls(
            rpc.KVStub(channel), rpc.WatchStub(channel), rpc.LeaseStub(channel), rpc.MaintenanceStub(channel)
        )
