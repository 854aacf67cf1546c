"""The kernel link: a network namespace and a veth pair whose ends are shaped with ``tbf``; needs root.

Run it in a process of its own (``aranya-perf link --method netns``): it calls ip(8) and tc(8)
and setns(2) on the thread it runs on, which a gevent-patched process cannot do from a loop thread.

Connections take this path (all addresses the devices and the target see stay loopback)::

    device -> relay A (127.0.0.1, this namespace)
           -> A's upstream socket, made inside the link's namespace
           -> veth: namespace end, tbf at up_kbit  (device -> target)
           -> relay B (198.18.x.1, this namespace) -> target
    and back through the host end of the veth, tbf at down_kbit (target -> device)

What the kernel does here: bandwidth with a real queue (tbf drops what waits longer
than its latency bound, so a saturated link loses packets and TCP's own congestion
control, retransmissions and window limits take over), and partitions as the veth going
down (packets are dropped: open connections stall and retransmit with TCP's backoff, and
survive a short outage unless the application gives up; new connections fail). What it
cannot do on this kernel, which has no ``netem``: delay, jitter and random loss, so relay A
still adds those in user space (``aranya_perf.link.proxy``), and a ``reset`` partition also
resets A's connections. Addresses come from 198.18.0.0/15 (RFC 2544's benchmarking range)
and never leave the veth pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import os
import socket
import subprocess
import time
from collections.abc import Sequence
from typing import IO, Any

from aranya_perf.link.profiles import BUILTIN, LinkProfile
from aranya_perf.link.proxy import LinkProxy, Route

CLONE_NEWNET = 0x40000000
IP_TIMEOUT_S = 10.0
TBF_LATENCY_MS = 200
"""Longest a packet may queue in tbf before it is dropped."""

_counter = iter(range(1, 1 << 30))


class NetnsError(RuntimeError):
    """The namespace or the veth pair could not be set up (not root, no iproute2, no tbf)."""


def _run(tool: str, *args: str) -> None:
    try:
        proc = subprocess.run([tool, *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"{tool} {' '.join(args)}: {exc}") from None
    if proc.returncode:
        reason = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise NetnsError(f"{tool} {' '.join(args)}: {reason}")


def _ip(*args: str) -> None:
    _run("ip", *args)


def _tc(*args: str) -> None:
    _run("tc", *args)


def _tbf(dev: str, kbit: float, netns: str | None = None) -> None:
    rate_bytes = kbit * 125.0
    burst = max(int(rate_bytes * 0.01), 3028)  # 10 ms of traffic, at least two full frames
    prefix = ("-n", netns) if netns else ()
    _tc(*prefix, "qdisc", "add", "dev", dev, "root", "tbf",
        "rate", f"{kbit:g}kbit", "burst", str(burst), "latency", f"{TBF_LATENCY_MS}ms")  # fmt: skip


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


_libc = ctypes.CDLL(None, use_errno=True)


def socket_in(netns: str, family: int) -> socket.socket:
    """A TCP socket that belongs to ``netns``: made there, with this thread back home at once.

    setns() moves only the calling thread, and a socket keeps the namespace it was made in; doing
    it inline (microseconds) needs no helper thread, which under gevent would not be a real one.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            return socket.socket(family, socket.SOCK_STREAM)
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


class NetnsLink:
    """``profile`` over a namespace and veth pair for ``routes``; ``await start()``, ``await stop()``."""

    kernel = ("bandwidth", "partitions")
    """What this method leaves to the kernel; the rest of the profile is done by relay A."""

    def __init__(
        self,
        profile: LinkProfile,
        routes: Sequence[Route],
        *,
        seed: int | None = None,
        events: IO[str] | None = None,
    ) -> None:
        self.profile = profile
        self.routes = list(routes)
        self._seed, self._events = seed, events
        n = next(_counter)
        self.netns = f"aranya-link-{os.getpid()}-{n}"
        tag = f"{os.getpid() % 100000}{n}"[-9:]
        self.host_dev, self.ns_dev = f"alh{tag}", f"aln{tag}"
        self.host_ip, self.ns_ip = "", ""
        self.addresses: list[str] = []
        self._inner: LinkProxy | None = None
        self._outer: LinkProxy | None = None
        self._schedule: asyncio.Task[None] | None = None
        self._created = False

    @property
    def stats(self) -> Any:
        assert self._outer is not None, "not started"
        return self._outer.stats

    async def start(self) -> list[str]:
        try:
            self._setup()  # a few ip(8) calls of milliseconds each
            # Relay B: the target side, reached through the veth.
            self._inner = LinkProxy(
                BUILTIN["lan"], [Route(r.upstream, r.device_id, f"{self.host_ip}:0") for r in self.routes]
            )
            inner = await self._inner.start()
            # Relay A: where devices connect; its upstream sockets live in the namespace.
            user_space = dataclasses.replace(self.profile, down_kbit=0, up_kbit=0, partition_every_s=0)
            self._outer = LinkProxy(
                user_space,
                [Route(b, r.device_id, r.listen) for r, b in zip(self.routes, inner, strict=True)],
                seed=self._seed,
                socket_factory=self._ns_socket,
                events=self._events,
            )
            self.addresses = await self._outer.start()
            if self.profile.partition_every_s:
                self._schedule = asyncio.ensure_future(self._partitions())
        except BaseException:
            await self.stop()
            raise
        return self.addresses

    async def _ns_socket(self, family: int) -> socket.socket:
        return socket_in(self.netns, family)

    def _setup(self) -> None:
        _ip("netns", "add", self.netns)
        self._created = True
        subnet = 4 * ((os.getpid() * 131 + next(_counter)) % 16384)  # a /30 of 198.18.0.0/16
        a, b = divmod(subnet, 256)
        self.host_ip, self.ns_ip = f"198.18.{a}.{b + 1}", f"198.18.{a}.{b + 2}"
        _ip("link", "add", self.host_dev, "type", "veth", "peer", "name", self.ns_dev)
        _ip("link", "set", self.ns_dev, "netns", self.netns)
        _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_dev)
        _ip("-n", self.netns, "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_dev)
        _ip("link", "set", self.host_dev, "up")
        _ip("-n", self.netns, "link", "set", self.ns_dev, "up")
        _ip("-n", self.netns, "link", "set", "lo", "up")
        if self.profile.down_kbit:
            _tbf(self.host_dev, self.profile.down_kbit)
        if self.profile.up_kbit:
            _tbf(self.ns_dev, self.profile.up_kbit, self.netns)

    async def _partitions(self) -> None:
        p = self.profile
        loop = asyncio.get_running_loop()
        next_start = loop.time() + p.first_partition_s
        assert self._outer is not None
        while True:  # cancelled by stop(); each turn sleeps a whole period
            await asyncio.sleep(max(0.0, next_start - loop.time()))
            _ip("link", "set", self.host_dev, "down")
            self._outer.record_event("partition_start", mode=p.partition_mode, method="netns")
            self._outer.stats.partitions.append({"start": time.time(), "end": float("nan")})
            if p.partition_mode == "reset":
                self._outer.reset_connections()
            await asyncio.sleep(p.partition_s)
            _ip("link", "set", self.host_dev, "up")
            self._outer.record_event("partition_end", method="netns")
            self._outer.stats.partitions[-1]["end"] = time.time()
            next_start += p.partition_every_s

    async def stop(self) -> None:
        if self._schedule is not None:
            self._schedule.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._schedule
        for relay in (self._outer, self._inner):
            if relay is not None:
                await relay.stop()
        if self._created:  # deleting the namespace deletes both ends of the veth
            with contextlib.suppress(NetnsError):
                _ip("netns", "del", self.netns)
            with contextlib.suppress(NetnsError):
                _ip("link", "del", self.host_dev)
            self._created = False
