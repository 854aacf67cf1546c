"""The user-space link: an asyncio TCP relay that makes each connection behave like a profile's link.

Needs no privileges. Every accepted connection gets its own upstream connection and two
pipes (device -> target "up", target -> device "down"); each chunk read is released to
the other side at the time the link would deliver it:

- the TCP handshake: nothing reaches the target before one round trip after the connect
  and nothing reaches the device before one and a half (the device's kernel accepted at
  once, but a real server could only have answered after the handshake), so a gRPC
  connect, which waits for the server's HTTP/2 SETTINGS, takes two added round trips, as
  it does on a real link;
- bandwidth per direction as serialisation time (a chunk of n bytes takes n*8/rate);
- half the round-trip time plus jitter as propagation, never reordering;
- loss: each 1448-byte segment is lost with the profile's probability, and a chunk with a
  lost segment (and everything behind it) waits one retransmission timeout;
- resets: Poisson per connection, sent as TCP RST to both sides;
- partitions, link-wide: ``reset`` aborts every connection and refuses new ones until the
  link is back; ``stall`` holds all traffic (new connections too) until then.

What it cannot model: anything below TCP (the kernel on each side still sees a perfect
loopback: no real retransmissions, congestion control or window limits; a loss stall is
exactly one RTO, never a backoff series), and a partition is a clean cut at the relay.
``aranya_perf.link.netns`` leaves bandwidth and partitions to the kernel instead.

Routes are one listener each: one for a shared target (every device connects there), or
one per device of a per-device address map, so device identities and topology survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aranya_perf.link.profiles import LinkProfile
from aranya_perf.targets import format_address, parse_address

CHUNK = 65536
SEGMENT = 1448
QUEUE_CHUNKS = 32
"""Chunks held per direction before the relay stops reading (the link's buffer)."""
CONNECT_TIMEOUT_S = 10.0

SocketFactory = Callable[[int], Awaitable[socket.socket]]
"""Makes the unconnected upstream socket for an address family (netns: inside a namespace)."""


@dataclass(frozen=True)
class Route:
    """One listener of the link and where its connections go."""

    upstream: str  # HOST:PORT
    device_id: str | None = None  # None: a shared listener
    listen: str = "127.0.0.1:0"


@dataclass
class LinkStats:
    connections: int = 0
    active: int = 0
    upstream_failures: int = 0
    resets: int = 0
    refused: int = 0
    stalls: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    partitions: list[dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class _Pipe:
    """One direction of one connection: read, schedule, write in order."""

    def __init__(
        self,
        link: LinkProxy,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        rate_kbit: float,
        open_at: float,
        up: bool,
        on_reset: Callable[[], None],
    ) -> None:
        self.link, self.src, self.dst, self.up = link, src, dst, up
        self.on_reset = on_reset
        self.rate_bps = rate_kbit * 1000.0
        self.open_at = open_at
        self.tx_free = 0.0
        self.last = 0.0
        self.queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue(QUEUE_CHUNKS)

    def release_time(self, n: int, now: float) -> float:
        p, rng = self.link.profile, self.link.rng
        start = max(now, self.open_at)
        if self.rate_bps:
            self.tx_free = max(self.tx_free, start) + n * 8 / self.rate_bps
            start = self.tx_free
        delay = p.one_way_s
        if p.jitter_ms:
            delay = max(0.0, delay + rng.uniform(-p.jitter_ms, p.jitter_ms) / 1000.0)
        if p.loss and rng.random() < 1.0 - (1.0 - p.loss) ** math.ceil(n / SEGMENT):
            delay += p.stall_s
            self.link.stats.stalls += 1
        self.last = max(start + delay, self.last)
        return self.last

    async def read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await self.src.read(CHUNK):
                await self.queue.put((self.release_time(len(data), loop.time()), data))
        except OSError:  # a reset from one side discards what is in flight and resets the other
            self.on_reset()
            return
        await self.queue.put((self.last, None))

    async def write(self) -> None:
        loop = asyncio.get_running_loop()
        link = self.link
        while True:
            at, data = await self.queue.get()
            if (wait := at - loop.time()) > 0:
                await asyncio.sleep(wait)
            if link.stalled.is_set():
                await link.unstalled()
            if data is None:
                with contextlib.suppress(OSError):
                    if self.dst.can_write_eof():
                        self.dst.write_eof()
                return
            try:
                self.dst.write(data)
                await self.dst.drain()
            except OSError:
                self.on_reset()
                return
            if self.up:
                link.stats.bytes_up += len(data)
            else:
                link.stats.bytes_down += len(data)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST, as a link that lost the connection's state does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Connection:
    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        for w in (self.client, self.upstream):
            if w is not None:
                _abort(w)
        for t in self.tasks:
            t.cancel()


class LinkProxy:
    """Relays ``routes`` through ``profile``; ``await start()``, then ``addresses``; ``await stop()``."""

    def __init__(
        self,
        profile: LinkProfile,
        routes: Sequence[Route],
        *,
        seed: int | None = None,
        socket_factory: SocketFactory | None = None,
        events: IO[str] | None = None,
        partitions: bool = True,
    ) -> None:
        self.profile = profile
        self.routes = list(routes)
        self.rng = random.Random(seed)
        self.stats = LinkStats()
        self.addresses: list[str] = []
        """The listening address of each route, in route order."""
        self.stalled = asyncio.Event()
        self._unstalled = asyncio.Event()
        self._unstalled.set()
        self._socket_factory = socket_factory
        self._events = events
        self._partitions = partitions and profile.partition_every_s > 0
        self._partitioned = False
        self._servers: list[asyncio.base_events.Server] = []
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = 0.0

    async def start(self) -> list[str]:
        """Bind every route's listener (OSError if one cannot be bound); returns their addresses."""
        self._started = asyncio.get_running_loop().time()
        try:
            for route in self.routes:
                host, port = parse_address(route.listen)
                server = await asyncio.start_server(
                    lambda r, w, route=route: self._serve(r, w, route), host, port, backlog=1024
                )
                self._servers.append(server)
                bound = server.sockets[0].getsockname()
                self.addresses.append(format_address(bound[0], bound[1]))
        except BaseException:
            await self.stop()
            raise
        if self._partitions:
            self._spawn(self._partition_schedule())
        self.record_event("start", routes=len(self.routes), link=self.profile.name)
        return self.addresses

    async def stop(self) -> None:
        """Close the listeners and reset every open connection; returns within milliseconds."""
        for server in self._servers:
            server.close()
        for conn in list(self._connections):
            conn.reset()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self._servers.clear()

    def reset_connections(self) -> int:
        """Reset every open connection (TCP RST to both sides); returns how many."""
        conns = list(self._connections)
        for conn in conns:
            conn.reset()
        self.stats.resets += len(conns)
        return len(conns)

    async def unstalled(self) -> None:
        await self._unstalled.wait()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def record_event(self, kind: str, **fields: Any) -> None:
        if self._events is not None:
            self._events.write(json.dumps({"event": kind, "time": time.time(), **fields}) + "\n")
            self._events.flush()

    async def _partition_schedule(self) -> None:
        p = self.profile
        loop = asyncio.get_running_loop()
        next_start = self._started + p.first_partition_s
        while True:  # ends when stop() cancels it; every turn sleeps a whole period
            await asyncio.sleep(max(0.0, next_start - loop.time()))
            self._begin_partition()
            await asyncio.sleep(p.partition_s)
            self._end_partition()
            next_start += p.partition_every_s

    def _begin_partition(self) -> None:
        self._partitioned = True
        self.stats.partitions.append({"start": time.time(), "end": math.nan})
        if self.profile.partition_mode == "stall":
            self._unstalled.clear()
            self.stalled.set()
        else:
            self.reset_connections()
        self.record_event("partition_start", mode=self.profile.partition_mode)

    def _end_partition(self) -> None:
        self._partitioned = False
        self.stats.partitions[-1]["end"] = time.time()
        self.stalled.clear()
        self._unstalled.set()
        self.record_event("partition_end")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, route: Route) -> None:
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        self.stats.connections += 1
        if self._partitioned and self.profile.partition_mode == "reset":
            self.stats.refused += 1
            _abort(writer)
            return
        conn = _Connection(writer)
        self._connections.add(conn)
        self.stats.active += 1
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    self._connect(route.upstream), CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError):
                self.stats.upstream_failures += 1
                _abort(writer)
                return
            conn.upstream = up_writer
            rtt = self.profile.rtt_ms / 1000.0
            p = self.profile
            up = _Pipe(self, reader, up_writer, p.up_kbit, accepted + rtt, True, conn.reset)
            down = _Pipe(self, up_reader, writer, p.down_kbit, accepted + 1.5 * rtt, False, conn.reset)
            conn.tasks = [
                asyncio.ensure_future(c) for c in (up.read(), up.write(), down.read(), down.write())
            ]
            if p.resets_per_hour:
                conn.tasks.append(asyncio.ensure_future(self._reset_later(conn)))
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await asyncio.gather(*conn.tasks[:4])
        finally:
            self.stats.active -= 1
            self._connections.discard(conn)
            for task in conn.tasks:
                task.cancel()
            for w in (writer, conn.upstream):
                if w is not None:
                    w.close()

    async def _reset_later(self, conn: _Connection) -> None:
        await asyncio.sleep(self.rng.expovariate(self.profile.resets_per_hour / 3600.0))
        self.stats.resets += 1
        self.record_event("reset")
        conn.reset()

    async def _connect(self, upstream: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = parse_address(upstream)
        if self._socket_factory is None:
            return await asyncio.open_connection(host, port)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = await self._socket_factory(family)
        try:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)


def read_events(path: Path) -> list[dict[str, Any]]:
    """The JSON lines a link wrote with ``events`` (``--events-out``)."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
