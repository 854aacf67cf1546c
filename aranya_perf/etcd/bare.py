"""Bare grpc.aio Put clients for etcd, without Locust: the yardstick for the etcd scenario's own figures.

``python -m aranya_perf.etcd.bare --endpoints H:P,... --clients 50 --rate 150 --duration 20s``
runs check perf's workload (its clients, its 256-byte keys after a prefix and 1 KiB values, a
global rate spread over the clients as its limiter does) on one plain asyncio loop, and prints
one JSON line: Puts/s, p50, p99, max and stddev in ms, and the CPU it spent per Put. Run beside
``aranya-perf run --profile etcd-check-perf --target ...`` against the same cluster, it shows what
the Locust users add; ``--rate 0`` is a closed loop (each client puts again as soon as it has an
answer), the one comparison where a generator's cost per call shows as throughput.
Loopback endpoints only unless ``--allow-remote``; its keys (under ``--prefix``) are deleted at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence

from aranya_perf.cli.args import duration
from aranya_perf.etcd.keyspace import key_of, stamped_value
from aranya_perf.targets import TargetError, check_target, format_address

KEYS = 1000


async def measure(
    endpoints: Sequence[str], clients: int, rate: float, seconds: float, prefix: bytes
) -> dict[str, float]:
    from grpc import aio

    from aranya_perf.etcd.api import pb, prefix_end, rpc

    latencies: list[float] = []
    tokens: asyncio.Queue[bool] = asyncio.Queue(maxsize=clients)
    channels = [
        aio.insecure_channel(endpoints[i % len(endpoints)], options=[("grpc.use_local_subchannel_pool", 1)])
        for i in range(clients)
    ]

    async def client(channel: aio.Channel) -> None:
        kv = rpc.KVStub(channel)
        # Paced: one Put per token; closed loop: one after another until the time is up.
        while await tokens.get() if rate else time.perf_counter() < started + seconds:
            key = key_of(prefix, random.randrange(KEYS), 256)
            start = time.perf_counter()
            await kv.Put(pb.PutRequest(key=key, value=stamped_value(1024)), timeout=10.0)
            latencies.append((time.perf_counter() - start) * 1000)

    started, sent, cpu = time.perf_counter(), 0, time.process_time()
    tasks = [asyncio.create_task(client(ch)) for ch in channels]
    try:
        while rate and time.perf_counter() - started < seconds:  # bounded: a token per 1/rate s
            sent += 1
            await asyncio.sleep(max(0.0, started + sent / rate - time.perf_counter()))
            await tokens.put(True)
        for _ in tasks if rate else ():
            await tokens.put(False)
        await asyncio.wait_for(asyncio.gather(*tasks), 30.0)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        kv = rpc.KVStub(channels[0])
        await kv.DeleteRange(pb.DeleteRangeRequest(key=prefix, range_end=prefix_end(prefix)), timeout=10.0)
    finally:
        for t in tasks:
            t.cancel()
        for ch in channels:
            await ch.close()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "clients": clients,
        "puts": len(latencies),
        "puts_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(q[49], 3),
        "p99_ms": round(q[98], 3),
        "max_ms": round(max(latencies), 3),
        "stddev_ms": round(statistics.pstdev(latencies), 3),
        "cpu_percent": round(cpu / elapsed * 100, 1),
        "cpu_us_per_put": round(cpu / len(latencies) * 1e6, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aranya_perf.etcd.bare", description=__doc__.splitlines()[0])
    ap.add_argument("--endpoints", required=True, help="HOST:PORT,... of the cluster's client URLs")
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients, one connection each (50)")
    ap.add_argument(
        "--rate", type=float, default=150.0, help="Puts per second of all clients (150; 0: closed loop)"
    )
    ap.add_argument("--duration", type=duration, default=20.0, help="how long to put (20s)")
    ap.add_argument("--prefix", default="/aranya-perf-bare/", help="key prefix, deleted at the end")
    ap.add_argument("--allow-remote", action="store_true", help="allow non-loopback endpoints")
    args = ap.parse_args(argv)
    try:
        endpoints = [
            format_address(*check_target(e.strip(), allow_remote=args.allow_remote))
            for e in args.endpoints.split(",")
        ]
    except TargetError as exc:
        print(f"{ap.prog}: error: {exc}", file=sys.stderr)
        return 2
    if args.rate < 0:
        print(f"{ap.prog}: error: --rate must be 0 (closed loop) or positive", file=sys.stderr)
        return 2
    if not 1 <= args.clients <= 10000:
        print(f"{ap.prog}: error: --clients must be between 1 and 10000", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(measure(endpoints, args.clients, args.rate, args.duration, args.prefix.encode()))
    except Exception as exc:  # an unreachable cluster, a refused call: one line, not a traceback
        print(
            f"{ap.prog}: error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
