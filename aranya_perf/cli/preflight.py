"""Checks of a run's inputs that need the file system or more than one setting, made before anything starts.

Each raises ``UsageError`` with one line naming the flag or key and where it came from (a flag,
the profile file, the environment): the results root (``--out``), TLS material, a device address
map's file, ``.proto`` files, and sizes one process cannot hold (``limits``). Single values are
checked where they are read (``cli.args``, ``profiles.parse``); rules across profile keys in
``profiles.validate``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path

from aranya_perf import address_map
from aranya_perf.cli import UsageError
from aranya_perf.limits import CONNECTIONS_PER_PROCESS, GATEWAY_DEVICES_PER_PROCESS, max_local_workers
from aranya_perf.profiles import Profile
from aranya_perf.targets import TLS_ENVIRONMENT, TargetError

KERNEL_FILE_SYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))


def check_out(root: Path, flag: str = "--out") -> None:
    """``root`` can hold run directories: not a file, not a kernel file system, writable where it exists."""
    path = Path(os.path.abspath(root))
    for kernel in KERNEL_FILE_SYSTEMS:
        if path == kernel or kernel in path.parents:
            raise UsageError(f"{flag} {root}: {kernel} is a kernel file system, not a place for results")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {root}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK) or os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise UsageError(f"{flag} {root}: {existing} is not writable")


def _origin(key: str, origins: Mapping[str, str], p: Profile) -> str:
    return origins.get(key) or f"{key} in {p.source}"


def check_workers(workers: int) -> None:
    """Local worker processes within ``limits.max_local_workers``."""
    if workers > max_local_workers():
        raise UsageError(
            f"--workers {workers}: more than this machine's {os.cpu_count()} cores run (at most "
            f"{max_local_workers()}); add workers on other machines with --remote-workers"
        )


def check_fleet(p: Profile, origins: Mapping[str, str]) -> None:
    """A run of scenario aranya against the embedded gateway has devices: operators call devices through
    the gateway, and it would have none. A given target may hold another run's devices, so operators alone
    are allowed there (and a library caller, like ``capacity``, may point operators anywhere)."""
    if p.fleet_run and p.embedded and p.fleet.devices == 0:
        raise UsageError(
            f"{_origin('fleet.devices', origins, p)}: fleet.devices = 0 with the embedded gateway: operators "
            "would have no device to call"
        )


def check_sizes(p: Profile, generators: int, origins: Mapping[str, str]) -> None:
    """Devices, operators or service clients within what ``generators`` generator processes hold, and
    devices within what the embedded gateway's processes serve (``limits``); the message says which flag
    adds processes."""
    if p.fleet_run:
        sizes = {
            "fleet.devices": p.fleet.devices,
            "shape.spike_devices": p.shape.spike_devices,
            "operators.count": p.operators.count,
        }
    else:
        sizes = {"service.users": p.service.users}
    room = CONNECTIONS_PER_PROCESS * generators
    for key, held in sizes.items():
        if held > room:
            need = -(-held // CONNECTIONS_PER_PROCESS)
            more = (
                f"--workers {need}" if need <= max_local_workers() else f"{need} workers (--remote-workers)"
            )
            raise UsageError(
                f"{_origin(key, origins, p)}: {held:,} is more than {generators} generator process(es) hold "
                f"(about {CONNECTIONS_PER_PROCESS:,} connections each, docs/benchmarks.md): use {more}"
            )
    devices = max(p.fleet.devices, p.shape.spike_devices)
    gateways = p.gateway.process_count if p.fleet_run and p.embedded else 0
    if gateways and devices > GATEWAY_DEVICES_PER_PROCESS * gateways:
        key = "fleet.devices" if devices == p.fleet.devices else "shape.spike_devices"
        raise UsageError(
            f"{_origin(key, origins, p)}: {devices:,} devices are more than {gateways} embedded "
            f"gateway process(es) serve (about {GATEWAY_DEVICES_PER_PROCESS:,} each): use "
            f"--gateway-processes {-(-devices // GATEWAY_DEVICES_PER_PROCESS)}"
        )


def check_tls(p: Profile, environ: Mapping[str, str] = os.environ) -> None:
    """The TLS material the devices and clients will use, loaded once as they would load it: the profile's
    ``target.tls_*`` when it names a CA or a certificate, else the environment's (``TLS_ENVIRONMENT``)."""
    t = p.target
    if t.tls_ca or t.tls_cert or t.tls_key:
        files = {"ca": t.tls_ca, "cert": t.tls_cert, "key": t.tls_key}
        where = {name: f"target.tls_{name} in {p.source}" for name in files}
    else:
        files = {name: environ.get(var) or None for name, var in TLS_ENVIRONMENT.items()}
        where = {name: f"environment {var}" for name, var in TLS_ENVIRONMENT.items()}
    given = [name for name, path in files.items() if path]
    if not given:
        return
    if p.embedded:
        raise UsageError(
            f"{where[given[0]]}: TLS applies to a given --target; the embedded target is plaintext"
        )
    check_pem(files, where)


def check_pem(files: Mapping[str, str | None], where: Mapping[str, str]) -> None:
    """PEM files (``ca``, ``cert``, ``key``, each optional) loaded once with ``ssl``, as gRPC will load them:
    readable, certificates where certificates belong, a key that matches its certificate. ``where`` names
    each one's flag or key for the message."""
    given = [name for name, path in files.items() if path]
    if bool(files.get("cert")) != bool(files.get("key")):
        have, lack = ("cert", "key") if files.get("cert") else ("key", "cert")
        raise UsageError(f"{where[have]}: a {have} needs a {lack} too ({where[lack]})")
    for name in given:
        path = Path(str(files[name]))
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise UsageError(f"{where[name]}: cannot read {path}: {exc.strerror or exc}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if files.get("ca"):
            context.load_verify_locations(cafile=files["ca"])
    except ssl.SSLError as exc:
        raise UsageError(
            f"{where['ca']}: {files['ca']} holds no usable PEM certificate ({exc.reason or exc.args[-1]})"
        ) from None
    try:
        if files.get("cert"):
            context.load_cert_chain(str(files["cert"]), files["key"])
    except ssl.SSLError as exc:
        raise UsageError(
            f"{where['cert']}: {files['cert']} and {files['key']} are not a usable PEM certificate and key "
            f"({exc.reason or exc.args[-1]})"
        ) from None


def check_address_map(p: Profile, allow_remote: bool) -> None:
    """A device address map given as a file (``--target X.csv|X.toml``): readable, decodable, every address
    allowed, enough devices for the fleet. The run reads it again when it reaches the target."""
    spec = p.target.address
    if not p.fleet_run or p.target.transport != "grpc" or spec is None or spec.startswith("k8s:"):
        return
    try:
        address_map.parse(spec, allow_remote=allow_remote, prefix=p.fleet.prefix).assign(p.fleet.devices)
    except TargetError as exc:
        raise UsageError(str(exc)) from None


def check_protos(p: Profile, origins: Mapping[str, str]) -> None:
    """Scenario grpc's ``.proto`` files readable files and its import paths directories, named by the flag
    or key that gave them (protoc compiles them later)."""
    for path in map(Path, p.grpc.proto):
        where = _origin("grpc.proto", origins, p)
        if path.is_dir():
            raise UsageError(f"{where}: {path} is a directory, not a .proto file")
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise UsageError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    for path in map(Path, p.grpc.import_paths):
        if not path.is_dir():
            raise UsageError(f"{_origin('grpc.import_paths', origins, p)}: {path} is not a directory")
