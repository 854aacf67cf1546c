"""``aranya-perf gateway``: run the reference gateway as its own process until signalled.

Prints exactly one JSON line on stdout once both endpoints are bound:
``{"event": "ready", "listen": "HOST:PORT", "metrics": "HOST:PORT", "pid": N}``;
everything else goes to stderr. SIGINT/SIGTERM (or ``--run-time``) stop it
gracefully with exit code 0. The process stays free of Locust and gevent: it is
measured on its own as "the gateway process", so heavy imports happen in ``run``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
from typing import TYPE_CHECKING

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import duration
from aranya_perf.targets import TargetError, is_loopback, parse_address

if TYPE_CHECKING:
    from aranya_perf.gateway.config import GatewayConfig

_ZERO = re.compile(r"^\s*0+(?:\.0*)?\s*(ms|s|m|h)?\s*$")


def interval(text: str) -> float:
    """A duration like ``args.duration``, but ``0`` (with or without a unit) is allowed and means "off"."""
    if _ZERO.match(text):
        return 0.0
    return duration(text)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gateway",
        help="run the reference gateway (the embedded load target) until interrupted",
        description="Run the reference gateway: devices connect to aranya.EdgeDevice/Sync, operators use "
        "aranyaperf.control.Control on the same port, Prometheus metrics on --metrics-listen. Prints one "
        "JSON ready line on stdout, logs on stderr; SIGINT/SIGTERM stop it with exit code 0.",
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default="127.0.0.1:0",
        help="gRPC address; port 0 picks a free one (default 127.0.0.1:0)",
    )
    p.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        default="127.0.0.1:0",
        help="Prometheus HTTP address (default 127.0.0.1:0)",
    )
    p.add_argument("--allow-remote", action="store_true", help="allow listening on a non-loopback address")
    p.add_argument(
        "--node-info-interval",
        type=interval,
        default=10.0,
        metavar="DURATION",
        help="CMD_NODE_INFO_GET period per device, 0 = off (default 10s)",
    )
    p.add_argument(
        "--metrics-interval",
        type=interval,
        default=10.0,
        metavar="DURATION",
        help="CMD_METRICS_COLLECT period per device, 0 = off (default 10s)",
    )
    p.add_argument(
        "--session-timeout",
        type=interval,
        default=10.0,
        metavar="DURATION",
        help="default session deadline, 0 = none (default 10s)",
    )
    p.add_argument("--tls-cert", metavar="PEM", help="server certificate chain; enables TLS with --tls-key")
    p.add_argument("--tls-key", metavar="PEM", help="server private key")
    p.add_argument("--tls-client-ca", metavar="PEM", help="CA for client certificates; requires mTLS")
    p.add_argument("--run-time", type=duration, metavar="DURATION", help="stop by itself after this long")
    p.add_argument(
        "--gc-freeze",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="freeze long-lived objects out of the garbage collector once the fleet settles (default on)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="stderr log level (default info)",
    )


def _check_listen(option: str, text: str, allow_remote: bool) -> None:
    # Decided before anything binds, so a refused address never sees a packet from us.
    try:
        host, _ = parse_address(text)
    except TargetError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if not allow_remote and not is_loopback(host):
        raise UsageError(f"{option} {text!r} is not loopback; pass --allow-remote to listen there")


def run(args: argparse.Namespace) -> int:
    _check_listen("--listen", args.listen, args.allow_remote)
    _check_listen("--metrics-listen", args.metrics_listen, args.allow_remote)
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.tls_client_ca is not None and args.tls_cert is None:
        raise UsageError("--tls-client-ca needs --tls-cert and --tls-key")

    from aranya_perf.gateway.config import GatewayConfig

    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = GatewayConfig(
            node_info_interval_s=args.node_info_interval,
            gc_freeze=args.gc_freeze,
            metrics_collect_interval_s=args.metrics_interval,
            session_timeout_s=args.session_timeout,
            tls_cert_file=args.tls_cert,
            tls_key_file=args.tls_key,
            tls_client_ca_file=args.tls_client_ca,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return asyncio.run(_serve(args, config))


async def _serve(args: argparse.Namespace, config: GatewayConfig) -> int:
    # Imported here, not at module level: ``aranya-perf run`` builds this verb's parser too,
    # and must not load grpc before Locust has monkey-patched the process.
    from aranya_perf.gateway.server import Gateway, GatewayError

    gateway = Gateway(config)
    try:
        await gateway.start(args.listen, args.metrics_listen)
    except GatewayError as exc:
        raise UsageError(str(exc)) from None

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ready = {
        "event": "ready",
        "listen": gateway.address,
        "metrics": gateway.metrics_address,
        "pid": os.getpid(),
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    try:
        await asyncio.wait_for(stop.wait(), args.run_time)
    except TimeoutError:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await gateway.stop(grace=1.0)
    return 0
