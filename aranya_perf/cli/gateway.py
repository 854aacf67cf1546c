"""``aranya-perf gateway``: run the reference gateway as its own process until signalled.

Prints exactly one JSON line on stdout once every endpoint is bound:
``{"event": "ready", "listen": "HOST:PORT", "metrics": "HOST:PORT", "pid": N,
"protocol": NAME, "transport": "grpc"|"mqtt", "broker": "HOST:PORT"|null, "devices": {ID:
"HOST:PORT", ...}, "address_map": PATH|null, "kube": "HOST:PORT"|null, "kubeconfig": PATH|null,
"emulate": [NAME, ...]}`` (``devices`` is empty unless each device has a listener of its own; ``kube``
is the Kubernetes face's address with ``--kube-listen``; ``emulate`` names the aranya defects it
plays); everything else goes to stderr. With ``--transport mqtt`` devices reach the gateway through
``--broker``, one topic namespace each (``--mqtt-namespace``).
SIGINT/SIGTERM (or ``--run-time``) stop it gracefully with exit code 0; SIGUSR1 ends every device
stream once (``Gateway.reset_streams``, a fault the chaos suite plays). The process stays
free of Locust and gevent: it is measured on its own as "the gateway process", so heavy
imports happen in ``run``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aranya_perf import protocol
from aranya_perf.address_map import DEFAULT_PREFIX, DeviceAddress, device_ids, write_csv
from aranya_perf.cli import UsageError
from aranya_perf.cli.args import count, duration, interval, listen_address
from aranya_perf.cli.preflight import check_pem
from aranya_perf.cli.serving import serve_until_stopped
from aranya_perf.gateway.emulate import NAMES as EMULATIONS
from aranya_perf.gateway.schedule import DEFAULT_SCHEDULE, SCHEDULES
from aranya_perf.limits import GATEWAY_DEVICES_PER_PROCESS
from aranya_perf.targets import TargetError, check_target

if TYPE_CHECKING:
    from aranya_perf.gateway.config import GatewayConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gateway",
        help="run the reference gateway (the embedded load target) until interrupted",
        description="Run the reference gateway: devices connect to the Sync method of the chosen protocol "
        "version (aranya.EdgeDevice/Sync; aranya.Connectivity/Sync for aranya-2020-09), operators use "
        "aranyaperf.control.Control on --listen, Prometheus metrics on --metrics-listen. Prints one JSON "
        "ready line on stdout, logs on stderr; SIGINT/SIGTERM stop it with exit code 0.",
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default="127.0.0.1:0",
        help="gRPC address of the control service, and of every device stream unless "
        "--listener-per-device; port 0 picks a free one (default 127.0.0.1:0)",
    )
    p.add_argument(
        "--protocol",
        default=protocol.DEFAULT,
        choices=protocol.NAMES,
        help=f"protocol version spoken to devices (default {protocol.DEFAULT})",
    )
    p.add_argument(
        "--listener-per-device",
        action="store_true",
        help="one gRPC listener (port) per device, as aranya runs one per EdgeDevice; needs --devices",
    )
    p.add_argument(
        "--transport",
        default="grpc",
        choices=("grpc", "mqtt"),
        help="how devices reach the gateway: grpc Sync streams (default), or MQTT topics on --broker",
    )
    p.add_argument(
        "--broker",
        metavar="HOST:PORT",
        help="MQTT broker the devices use (--transport mqtt); the gateway subscribes every namespace",
    )
    p.add_argument(
        "--mqtt-namespace",
        default="aranya-perf/{device}",
        metavar="TEMPLATE",
        help="topic namespace of a device, {device} its id (default aranya-perf/{device}): "
        "NS/cmd, NS/msg, NS/status",
    )
    p.add_argument("--devices", type=count, default=0, help="devices that get a listener of their own")
    p.add_argument(
        "--device-prefix",
        default=DEFAULT_PREFIX,
        help=f"their ids: PREFIX-00000, PREFIX-00001, ... (default {DEFAULT_PREFIX})",
    )
    p.add_argument(
        "--device-offset",
        type=count,
        default=0,
        help="number of the first of them (several gateway processes own consecutive ranges; default 0)",
    )
    p.add_argument(
        "--address-map-out",
        type=Path,
        metavar="FILE",
        help="write the device -> address map (CSV) there once the listeners are bound",
    )
    p.add_argument(
        "--schedule",
        default=DEFAULT_SCHEDULE,
        choices=sorted(SCHEDULES),
        help="periodic commands: load-test (node info and metrics every 10s), aranya-defaults (none, as "
        "aranya ships), aranya-chart (node and pod force sync every 10m, jitter 0.2); the interval options "
        f"override it (default {DEFAULT_SCHEDULE})",
    )
    p.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        default="127.0.0.1:0",
        help="Prometheus HTTP address (default 127.0.0.1:0)",
    )
    p.add_argument(
        "--kube-listen",
        metavar="HOST:PORT",
        help="also serve the Kubernetes face there (API server and kubelet paths for kubectl and the "
        "Kubernetes operators; HTTPS with --tls-cert, else a self-signed certificate); port 0 picks "
        "a free one",
    )
    p.add_argument(
        "--kube-namespace",
        default="edge",
        help="namespace of the virtual pods on the Kubernetes face (default edge)",
    )
    p.add_argument(
        "--kubeconfig-out",
        type=Path,
        metavar="FILE",
        help="write a kubeconfig for the Kubernetes face there (bearer token, the namespace as its "
        "context's); needs --kube-listen",
    )
    p.add_argument("--allow-remote", action="store_true", help="allow listening on a non-loopback address")
    p.add_argument(
        "--node-info-interval",
        type=interval,
        metavar="DURATION",
        help="CMD_NODE_INFO_GET(DYN) period per device, 0 = off (default: the schedule's)",
    )
    p.add_argument(
        "--pod-list-interval",
        type=interval,
        metavar="DURATION",
        help="pod list period per device, 0 = off (default: the schedule's)",
    )
    p.add_argument(
        "--metrics-interval",
        type=interval,
        metavar="DURATION",
        help="CMD_METRICS_COLLECT period per device, 0 = off (default: the schedule's)",
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
        "--emulate",
        action="append",
        default=[],
        choices=EMULATIONS,
        metavar="NAME",
        help=f"play one of aranya's known defects (repeatable): {', '.join(EMULATIONS)}; docs/findings.md",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="stderr log level (default info)",
    )


def run(args: argparse.Namespace) -> int:
    listen_address(args.listen, args.allow_remote, "--listen")
    listen_address(args.metrics_listen, args.allow_remote, "--metrics-listen")
    if args.kube_listen is not None:
        listen_address(args.kube_listen, args.allow_remote, "--kube-listen")
    elif args.kubeconfig_out is not None:
        raise UsageError("--kubeconfig-out needs --kube-listen")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.tls_client_ca is not None and args.tls_cert is None:
        raise UsageError("--tls-client-ca needs --tls-cert and --tls-key")
    files = {"ca": args.tls_client_ca, "cert": args.tls_cert, "key": args.tls_key}
    check_pem(files, {"ca": "--tls-client-ca", "cert": "--tls-cert", "key": "--tls-key"})

    if args.transport == "mqtt":
        if args.listener_per_device:
            raise UsageError(
                "--listener-per-device is a gRPC topology; with --transport mqtt devices share the broker"
            )
        if args.broker is None:
            raise UsageError("--transport mqtt needs --broker HOST:PORT")
        from aranya_perf.transport.topics import MqttError, check_template

        try:
            check_target(args.broker, allow_remote=args.allow_remote)
            check_template(args.mqtt_namespace)
        except (TargetError, MqttError) as exc:
            raise UsageError(f"--broker/--mqtt-namespace: {exc}") from None
    elif args.broker is not None:
        raise UsageError("--broker needs --transport mqtt")
    if args.listener_per_device and not args.devices:
        raise UsageError("--listener-per-device needs --devices N")
    if args.devices > GATEWAY_DEVICES_PER_PROCESS:
        raise UsageError(
            f"--devices {args.devices:,}: more listeners than one gateway process holds (about "
            f"{GATEWAY_DEVICES_PER_PROCESS:,}); run several, each with its --device-offset"
        )
    if args.address_map_out is not None and not args.listener_per_device:
        raise UsageError("--address-map-out needs --listener-per-device")

    from aranya_perf.gateway.config import GatewayConfig

    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    schedule = SCHEDULES[args.schedule]

    def pick(value: float | None, default: float) -> float:
        return default if value is None else value

    try:
        config = GatewayConfig(
            protocol=args.protocol,
            node_info_interval_s=pick(args.node_info_interval, schedule.node_info_interval_s),
            pod_list_interval_s=pick(args.pod_list_interval, schedule.pod_list_interval_s),
            metrics_collect_interval_s=pick(args.metrics_interval, schedule.metrics_collect_interval_s),
            jitter=schedule.jitter,
            gc_freeze=args.gc_freeze,
            session_timeout_s=args.session_timeout,
            listener_per_device=args.listener_per_device,
            device_ids=tuple(device_ids(args.device_prefix, args.devices, args.device_offset))
            if args.listener_per_device
            else (),
            transport=args.transport,
            broker=args.broker,
            mqtt_namespace=args.mqtt_namespace,
            tls_cert_file=args.tls_cert,
            tls_key_file=args.tls_key,
            tls_client_ca_file=args.tls_client_ca,
            emulate=tuple(args.emulate),
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

    kube = None
    if args.kube_listen is not None:
        from aranya_perf.gateway.kube_face import KubeFaceError, start_face

        try:
            kube = await start_face(gateway, args.kube_listen, args.kube_namespace, args.kubeconfig_out)
        except KubeFaceError as exc:
            await gateway.stop(grace=0)
            raise UsageError(str(exc)) from None
    devices = gateway.device_addresses()
    if args.address_map_out is not None:
        try:
            write_csv(args.address_map_out, [DeviceAddress(d, a) for d, a in devices.items()])
        except OSError as exc:
            await gateway.stop(grace=0)
            raise UsageError(f"cannot write {args.address_map_out}: {exc.strerror or exc}") from None
    ready = {
        "event": "ready",
        "listen": gateway.address,
        "metrics": gateway.metrics_address,
        "pid": os.getpid(),
        "protocol": config.protocol,
        "transport": config.transport,
        "broker": config.broker,
        "devices": devices,
        "address_map": str(args.address_map_out) if args.address_map_out is not None else None,
        "kube": kube.address if kube is not None else None,
        "kubeconfig": str(args.kubeconfig_out) if args.kubeconfig_out is not None else None,
        "emulate": list(config.emulate),
    }
    loop = asyncio.get_running_loop()
    resets: set[asyncio.Task[int]] = set()  # held until done: the loop keeps only weak references

    def reset() -> None:
        task = loop.create_task(gateway.reset_streams())
        resets.add(task)
        task.add_done_callback(resets.discard)

    # Before the ready line, as the stop signals: SIGUSR1's default action would kill the gateway.
    loop.add_signal_handler(signal.SIGUSR1, reset)
    try:
        await serve_until_stopped(args.run_time, ready)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
        # Devices first: the face's open calls then end with UNAVAILABLE instead of holding its stop.
        await gateway.stop(grace=1.0)
        if kube is not None:
            await kube.stop()
    return 0
