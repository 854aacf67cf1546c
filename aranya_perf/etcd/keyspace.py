"""The etcd scenario's keys and values, and writing the key space once before the window.

Key ``i`` is the prefix and ``i`` zero-padded to ``key_size`` bytes, so every key has the size
etcdctl check perf uses (256 bytes after its prefix); a value is ``value_size`` bytes whose first
8 are the put's wall-clock time in nanoseconds (big-endian), from which a watcher on the same
host measures the event's latency exactly. ``preload`` runs as its own process (``python -m
aranya_perf.etcd.keyspace``) because the run's process is gevent's, where a blocking gRPC client
must not run; it writes with the grpcio sync client, ``PRELOAD_CONCURRENCY`` Puts in flight.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import time
from collections.abc import Sequence

from aranya_perf.etcd import spawn

STAMP = struct.Struct(">q")
PRELOAD_CONCURRENCY = 64
PRELOAD_TIMEOUT_S = 120.0


def key_of(prefix: bytes, index: int, key_size: int) -> bytes:
    return prefix + str(index).zfill(key_size).encode()


def stamped_value(size: int, now_ns: int | None = None) -> bytes:
    """A value of ``size`` (>= 8) bytes starting with the time it is made (or ``now_ns``)."""
    return STAMP.pack(time.time_ns() if now_ns is None else now_ns) + bytes(size - STAMP.size)


def stamp_of(value: bytes) -> int | None:
    """The put time in a value made by ``stamped_value``; None for a value too short to hold one."""
    return STAMP.unpack_from(value)[0] if len(value) >= STAMP.size else None


def preload(endpoint: str, prefix: bytes, keys: int, key_size: int, value_size: int) -> int:
    """Put every key of the key space once through ``endpoint``; return the revision after the last."""
    import grpc

    from aranya_perf.etcd.api import pb, rpc

    with grpc.insecure_channel(endpoint) as channel:
        kv = rpc.KVStub(channel)
        revision, pending = 0, []
        for i in range(keys):
            req = pb.PutRequest(key=key_of(prefix, i, key_size), value=stamped_value(value_size))
            pending.append(kv.Put.future(req, timeout=30.0))
            if len(pending) >= PRELOAD_CONCURRENCY or i == keys - 1:
                revision = max([revision, *(f.result().header.revision for f in pending)])
                pending = []
    return revision


def preload_in_child(
    endpoint: str, prefix: str, keys: int, key_size: int, value_size: int, timeout: float = PRELOAD_TIMEOUT_S
) -> int:
    """``preload`` in a child process (safe from gevent's process); RuntimeError with its last line."""
    cmd = [sys.executable, "-m", "aranya_perf.etcd.keyspace", "--endpoint", endpoint, "--prefix", prefix]
    cmd += ["--keys", str(keys), "--key-size", str(key_size), "--value-size", str(value_size)]
    try:
        proc = spawn.run(cmd, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"writing {keys} keys to {endpoint} took more than {timeout:g}s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"writing the key space to {endpoint} failed: {last}")
    return int(json.loads(proc.stdout)["revision"])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m aranya_perf.etcd.keyspace", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--keys", type=int, required=True)
    ap.add_argument("--key-size", type=int, required=True)
    ap.add_argument("--value-size", type=int, required=True)
    args = ap.parse_args(argv)
    try:
        revision = preload(args.endpoint, args.prefix.encode(), args.keys, args.key_size, args.value_size)
    except Exception as exc:  # the parent shows this one line
        print(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    print(json.dumps({"revision": revision}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
