"""Device -> address maps: where each simulated device of a fleet connects.

aranya runs one gRPC listener per EdgeDevice and publishes them all as the ports of one
Kubernetes Service (``edgedevice-connectivity``, one port per device, named after it), so a
fleet against a real aranya needs a map, not one address. Forms a map can be given in:

- ``HOST:PORT``: every device connects there (the reference gateway's shared listener);
- ``HOST:PORT,HOST:PORT,...``: several shared listeners (gateway processes), each owning the
  devices whose id hashes to it (CRC-32 of the id, modulo the count), so every process of a
  run routes a device to the same one;
- ``HOST:LO-HI``: device *i* connects to port ``LO + i``, ids ``<prefix>-00000``, ... (a
  gateway started with a listener per device on consecutive ports);
- a file, ``.csv`` (``device_id,address[,tls_server_name]``, header optional) or ``.toml``
  (``[[device]]`` tables with ``id``, ``address`` and optional ``tls_server_name``);
- ``k8s:NAMESPACE/SERVICE[?host=H&kubeconfig=PATH&context=NAME]``: the ports of a Service
  read through the Kubernetes API (kubeconfig, or in-cluster config inside a pod). Devices
  reach the Service's cluster IP, or ``host`` (e.g. a node address: aranya runs on the host
  network with each Service port equal to its listener port).

Every address goes through the loopback rule of ``targets.check_target``.
"""

from __future__ import annotations

import csv
import io
import os
import tomllib
import urllib.parse
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aranya_perf.extras import hint
from aranya_perf.results import atomic_write_text
from aranya_perf.targets import TargetError, check_target, format_address, parse_address

DEFAULT_PREFIX = "dev"


def device_ids(prefix: str, count: int, start: int = 0) -> list[str]:
    """The suite's device naming: ``<prefix>-00000``, ``<prefix>-00001``, ..."""
    return [f"{prefix}-{i:05d}" for i in range(start, start + count)]


@dataclass(frozen=True, slots=True)
class DeviceAddress:
    device_id: str
    address: str  # HOST:PORT
    tls_server_name: str | None = None


@dataclass(frozen=True)
class AddressMap:
    """Shared listeners (``shards``: any device id, routed by ``address_for``) or one entry per device
    (``entries``)."""

    source: str
    entries: tuple[DeviceAddress, ...] = ()
    shards: tuple[str, ...] = ()

    @property
    def per_device(self) -> bool:
        return not self.shards

    @property
    def shared(self) -> str | None:
        """The one shared address, when there is exactly one."""
        return self.shards[0] if len(self.shards) == 1 else None

    def address_for(self, device_id: str) -> str:
        """The shared listener that owns ``device_id`` (a stable hash, the same in every process)."""
        if len(self.shards) == 1:
            return self.shards[0]
        return self.shards[zlib.crc32(device_id.encode()) % len(self.shards)]

    def assign(self, count: int, prefix: str = DEFAULT_PREFIX) -> list[DeviceAddress]:
        """Addresses for a fleet of ``count`` devices: the first ``count`` entries, or generated ids at
        the shared address. Raises ``TargetError`` when the map has fewer devices."""
        if self.shards:
            return [DeviceAddress(d, self.address_for(d)) for d in device_ids(prefix, count)]
        if count > len(self.entries):
            raise TargetError(
                f"address map {self.source} has {len(self.entries)} devices, the fleet needs {count}"
            )
        return list(self.entries[:count])


def parse(spec: str, *, allow_remote: bool = False, prefix: str = DEFAULT_PREFIX) -> AddressMap:
    """An address map from any of the forms above; ``TargetError`` (one line) if it is not usable."""
    spec = spec.strip()
    if spec.startswith("k8s:"):
        return _checked(from_kubernetes(spec), allow_remote)
    path = Path(spec)
    if path.suffix in (".csv", ".toml") or path.is_file():
        return _checked(read_file(path), allow_remote)
    host, sep, ports = spec.rpartition(":")
    if sep and "-" in ports and not ports.startswith("-"):
        lo_text, _, hi_text = ports.partition("-")
        if not (lo_text.isdigit() and hi_text.isdigit()) or not 0 < int(lo_text) <= int(hi_text) <= 65535:
            raise TargetError(f"not a HOST:LO-HI port range: {spec!r}")
        lo, hi = int(lo_text), int(hi_text)
        host = host[1:-1] if host.startswith("[") else host
        ids = device_ids(prefix, hi - lo + 1)
        entries = tuple(DeviceAddress(d, format_address(host, lo + i)) for i, d in enumerate(ids))
        return _checked(AddressMap(spec, entries), allow_remote)
    shards = tuple(
        format_address(*check_target(a.strip(), allow_remote=allow_remote)) for a in spec.split(",")
    )
    return AddressMap(spec, shards=shards)


def _checked(amap: AddressMap, allow_remote: bool) -> AddressMap:
    if not amap.entries:
        raise TargetError(f"address map {amap.source} lists no devices")
    seen: set[str] = set()
    for entry in amap.entries:
        if entry.device_id in seen:
            raise TargetError(f"address map {amap.source}: device {entry.device_id} appears twice")
        seen.add(entry.device_id)
        try:
            check_target(entry.address, allow_remote=allow_remote)
        except TargetError as exc:
            raise TargetError(f"address map {amap.source}, device {entry.device_id}: {exc}") from None
    return amap


# -- files -----------------------------------------------------------------------------------------


def read_file(path: Path) -> AddressMap:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TargetError(f"cannot read address map {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TargetError(f"address map {path}: not UTF-8 text (byte {exc.start})") from None
    if path.suffix == ".toml":
        return AddressMap(str(path), tuple(_toml_entries(path, text)))
    return AddressMap(str(path), tuple(_csv_entries(path, text)))


def _csv_entries(path: Path, text: str) -> Iterable[DeviceAddress]:
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if lineno == 1 and row[0].strip() == "device_id":
            continue
        if len(row) not in (2, 3):
            raise TargetError(
                f"{path}:{lineno}: expected device_id,address[,tls_server_name], got {len(row)} fields"
            )
        device_id, address = row[0].strip(), row[1].strip()
        name = row[2].strip() if len(row) == 3 and row[2].strip() else None
        yield _entry(f"{path}:{lineno}", device_id, address, name)


def _toml_entries(path: Path, text: str) -> Iterable[DeviceAddress]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - {"device"})
    if unknown:
        raise TargetError(f"{path}: unknown key(s) {', '.join(unknown)}; expected [[device]] tables")
    for i, table in enumerate(doc.get("device", []), start=1):
        where = f"{path}: device #{i}"
        if not isinstance(table, dict):
            raise TargetError(f"{where}: expected a [[device]] table")
        extra = sorted(set(table) - {"id", "address", "tls_server_name"})
        if extra:
            raise TargetError(f"{where}: unknown key(s) {', '.join(extra)}")
        if not isinstance(table.get("id"), str) or not isinstance(table.get("address"), str):
            raise TargetError(f"{where}: needs string keys id and address")
        name = table.get("tls_server_name")
        if name is not None and not isinstance(name, str):
            raise TargetError(f"{where}: tls_server_name must be a string")
        yield _entry(where, table["id"], table["address"], name)


def _entry(where: str, device_id: str, address: str, tls_server_name: str | None) -> DeviceAddress:
    if not device_id:
        raise TargetError(f"{where}: empty device id")
    try:
        host, port = parse_address(address)
    except TargetError as exc:
        raise TargetError(f"{where}: {exc}") from None
    return DeviceAddress(device_id, format_address(host, port), tls_server_name)


def write_csv(path: Path, entries: Sequence[DeviceAddress]) -> None:
    """Write a map as CSV with a header, atomically (the form ``read_file`` and ``--target`` read)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["device_id", "address", "tls_server_name"])
    for e in entries:
        writer.writerow([e.device_id, e.address, e.tls_server_name or ""])
    atomic_write_text(path, buf.getvalue())


# -- Kubernetes ------------------------------------------------------------------------------------


def from_kubernetes(spec: str) -> AddressMap:
    """``k8s:NAMESPACE/SERVICE[?host=...&kubeconfig=...&context=...]`` through the Kubernetes API."""
    parsed = urllib.parse.urlsplit(spec)
    namespace, _, name = parsed.path.strip("/").partition("/")
    if not namespace or not name or "/" in name:
        raise TargetError(f"not a k8s:NAMESPACE/SERVICE address map: {spec!r}")
    query = dict(urllib.parse.parse_qsl(parsed.query))
    unknown = sorted(set(query) - {"host", "kubeconfig", "context"})
    if unknown:
        raise TargetError(f"{spec}: unknown option(s) {', '.join(unknown)}; known: host, kubeconfig, context")
    service = read_service(namespace, name, kubeconfig=query.get("kubeconfig"), context=query.get("context"))
    return AddressMap(spec, tuple(service_entries(service, host=query.get("host"))))


def read_service(
    namespace: str, name: str, *, kubeconfig: str | None = None, context: str | None = None
) -> Any:
    """The Service object, read with the kubernetes client (kubeconfig, else in-cluster config)."""
    try:
        from kubernetes import client, config
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config.config_exception import ConfigException
    except ImportError:
        raise TargetError(hint("kubernetes", "a k8s: address map")) from None
    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
            api_client = client.ApiClient()
        else:
            api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
    except (ConfigException, OSError) as exc:
        raise TargetError(f"k8s:{namespace}/{name}: no usable Kubernetes configuration: {exc}") from None
    try:
        with api_client:
            return client.CoreV1Api(api_client).read_namespaced_service(name, namespace, _request_timeout=10)
    except ApiException as exc:
        raise TargetError(
            f"k8s:{namespace}/{name}: Kubernetes API answered {exc.status} {exc.reason}"
        ) from None
    except Exception as exc:  # connection refused, DNS, TLS: urllib3 raises many kinds
        raise TargetError(
            f"k8s:{namespace}/{name}: cannot reach the Kubernetes API: {exc.__class__.__name__}"
        ) from None


def service_entries(service: Any, *, host: str | None = None) -> list[DeviceAddress]:
    """One entry per Service port, named after its device (aranya names each port after the EdgeDevice)."""
    meta, spec = service.metadata, service.spec
    where = f"Service {meta.namespace}/{meta.name}"
    target = host
    if target is None:
        ip = spec.cluster_ip
        target = ip if ip and ip != "None" else f"{meta.name}.{meta.namespace}.svc"
    entries = []
    for port in spec.ports or ():
        if not port.name:
            raise TargetError(f"{where}: a port without a name cannot be mapped to a device")
        # Through the cluster IP the Service port; straight to a node, the listener's own port.
        number = port.target_port if host is not None and isinstance(port.target_port, int) else port.port
        entries.append(DeviceAddress(port.name, format_address(target, int(number))))
    if not entries:
        raise TargetError(f"{where} has no ports (no EdgeDevice with a gRPC listener?)")
    return entries
