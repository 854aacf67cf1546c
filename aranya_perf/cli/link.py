"""``aranya-perf link``: an edge network link between devices and a target, until signalled.

Prints exactly one JSON ready line on stdout once every listener is bound (see
``aranya_perf.link.process``); logs go to stderr; SIGINT/SIGTERM (or ``--run-time``) stop it
with exit code 0. Point ``aranya-perf run --target`` at the ``listen`` address (shared
target) or at the ``--address-map-out`` file (a listener per device).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import count, duration
from aranya_perf.cli.serving import serve_until_stopped


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "link",
        help="relay devices to a target through an edge network link profile (lan, lte, satellite, ...)",
        description="Relay every device connection to --target through a link profile: added round-trip "
        "time, jitter, bandwidth, loss (as stalls), resets and periodic partitions. One listener for a "
        "shared target, one per device for a per-device address map. Prints one JSON ready line.",
    )
    p.add_argument(
        "--link", default="lan", metavar="NAME", help="link profile (default lan; --list shows all)"
    )
    p.add_argument("--link-file", type=Path, metavar="TOML", help="custom profiles in [link.NAME] tables")
    p.add_argument("--list", action="store_true", help="print the known profiles as JSON lines and exit")
    p.add_argument(
        "--target",
        metavar="SPEC",
        help="where connections go: HOST:PORT, HOST:LO-HI, a .csv/.toml device map, or k8s:NAMESPACE/SERVICE",
    )
    p.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="HOST[:PORT]",
        help="address to listen on (default 127.0.0.1, free ports); a port only for a shared target",
    )
    p.add_argument(
        "--method",
        choices=("proxy", "netns"),
        default="proxy",
        help="proxy: all in user space, no privileges (default); netns: bandwidth and partitions by the "
        "kernel (network namespace, veth, tbf; needs root), the rest by the relay",
    )
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback target or --listen")
    p.add_argument("--address-map-out", type=Path, metavar="FILE", help="write the proxied device map (CSV)")
    p.add_argument("--events-out", type=Path, metavar="FILE", help="append link events (JSON lines) there")
    p.add_argument("--seed", type=count, help="seed for jitter, loss and resets (default: random)")
    p.add_argument("--run-time", type=duration, metavar="DURATION", help="stop by itself after this long")


def run(args: argparse.Namespace) -> int:
    from aranya_perf import address_map, link
    from aranya_perf.targets import TargetError, is_loopback, parse_address

    try:
        custom = link.load_file(args.link_file) if args.link_file else {}
        if args.list:
            for profile in {**link.BUILTIN, **custom}.values():
                print(json.dumps(profile.as_dict()))
            return 0
        profile = link.get(args.link, custom)
    except link.LinkProfileError as exc:
        raise UsageError(str(exc)) from None
    if not args.target:
        raise UsageError("--target is required")
    try:
        # HOST, [V6]:PORT or HOST:PORT; a bare IPv6 address has more than one colon and no port.
        bracketed_or_port = args.listen.startswith("[") or args.listen.count(":") == 1
        host, port = parse_address(args.listen) if bracketed_or_port else (args.listen, 0)
        amap = address_map.parse(args.target, allow_remote=args.allow_remote)
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    if not args.allow_remote and not is_loopback(host):
        raise UsageError(f"--listen {args.listen!r} is not loopback; pass --allow-remote to listen there")
    if port and amap.per_device:
        raise UsageError(
            "--listen with a port needs a shared target; a device map gets a free port per device"
        )
    args.listen_host, args.listen_port = host, port
    events = args.events_out.open("a", encoding="utf-8", buffering=1) if args.events_out else None
    try:
        return asyncio.run(_serve(args, profile, amap, events))
    finally:
        if events is not None:
            events.close()


async def _serve(args: argparse.Namespace, profile: Any, amap: Any, events: IO[str] | None) -> int:
    from aranya_perf import link
    from aranya_perf.address_map import write_csv
    from aranya_perf.link.netns import NetnsError, NetnsLink

    routes = link.routes_for(amap, args.listen_host, args.listen_port)
    relay: Any
    if args.method == "netns":
        relay, kernel = NetnsLink(profile, routes, seed=args.seed, events=events), list(NetnsLink.kernel)
    else:
        relay, kernel = link.LinkProxy(profile, routes, seed=args.seed, events=events), []
    try:
        addresses = await relay.start()
    except (OSError, NetnsError) as exc:
        raise UsageError(f"cannot start the link: {exc}") from None

    proxied = link.proxied_map(amap, addresses)
    try:
        if args.address_map_out is not None and proxied.per_device:
            write_csv(args.address_map_out, list(proxied.entries))
    except OSError as exc:
        await relay.stop()
        raise UsageError(f"cannot write {args.address_map_out}: {exc.strerror or exc}") from None
    ready = {
        "event": "ready",
        "listen": proxied.shared,
        "devices": {e.device_id: e.address for e in proxied.entries},
        "address_map": str(args.address_map_out) if args.address_map_out and proxied.per_device else None,
        "link": profile.as_dict(),
        "method": args.method,
        "kernel": kernel,
        "pid": os.getpid(),
    }
    try:
        await serve_until_stopped(args.run_time, ready)
    finally:
        await relay.stop()
    summary = json.dumps({"event": "stopped", "time": time.time(), **relay.stats.as_dict()})
    print(summary, file=sys.stderr)
    if events is not None:
        events.write(summary + "\n")
    return 0
