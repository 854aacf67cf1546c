"""A service's descriptors as one serialized ``FileDescriptorSet``: from .proto files (grpcio-tools'
protoc, in a child process so its errors are ours to report) or from the target's server reflection.

Every failure is a ``ServiceError`` with a one-line message: protoc's first error, the reflection
service missing, no such method (naming those that exist).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import MethodDescriptor

PROTOC_TIMEOUT_S = 60.0
REFLECTION_TIMEOUT_S = 10.0
REFLECTION_SERVICES = ("grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection")


class ServiceError(ValueError):
    """The service cannot be described or a call does not fit it; the message is one line."""


def _well_known_include() -> str:
    import grpc_tools

    return str(Path(grpc_tools.__file__).resolve().parent / "_proto")


def compile_protos(protos: Sequence[str], import_paths: Sequence[str] = ()) -> bytes:
    """The ``FileDescriptorSet`` (imports included) of ``protos``, compiled by protoc."""
    files = [Path(p) for p in protos]
    for f in files:
        if not f.is_file():
            raise ServiceError(f"grpc.proto: no such file {f}")
    for d in import_paths:
        if not Path(d).is_dir():
            raise ServiceError(f"grpc.import_paths: no such directory {d}")
    # Each file's own directory is an include path unless an import path already holds it, so a file is
    # named the way its imports name it.
    includes = [str(Path(d).resolve()) for d in import_paths]
    for f in files:
        parent = str(f.resolve().parent)
        if not any(parent == d or parent.startswith(d + os.sep) for d in includes):
            includes.append(parent)
    includes.append(_well_known_include())
    with tempfile.TemporaryDirectory(prefix="aranya-perf-protoc-") as tmp:
        out = Path(tmp) / "set.binpb"
        cmd = [sys.executable, "-m", "grpc_tools.protoc", *(f"-I{d}" for d in includes)]
        cmd += [f"--descriptor_set_out={out}", "--include_imports", *(str(f.resolve()) for f in files)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PROTOC_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ServiceError(f"protoc did not finish within {PROTOC_TIMEOUT_S:g}s") from None
        if proc.returncode != 0 or not out.is_file():
            lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
            first = lines[0] if lines else f"exit code {proc.returncode}"
            raise ServiceError(f"protoc: {_relative(first)}")
        return out.read_bytes()


def _relative(line: str) -> str:
    # protoc names files by their absolute path; the user knows them relative to where they ran.
    cwd = str(Path.cwd())
    return line.replace(cwd + os.sep, "")


@dataclass(frozen=True)
class Tls:
    """The target's TLS, as the profile's ``[target]`` gives it (PEM contents)."""

    ca: bytes | None
    cert: bytes | None
    key: bytes | None
    server_name: str | None


def from_reflection(address: str, *, tls: Tls | None = None, timeout: float = REFLECTION_TIMEOUT_S) -> bytes:
    """The ``FileDescriptorSet`` of every service ``address`` lists through server reflection.

    A sync channel: call this only in a process gevent has not patched (the run verb, before Locust).
    """
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    if tls is None:
        channel = grpc.insecure_channel(address)
    else:
        creds = grpc.ssl_channel_credentials(tls.ca, tls.key, tls.cert)
        options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
        channel = grpc.secure_channel(address, creds, options=options)
    try:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ServiceError(f"{address}: no gRPC server answered within {timeout:g}s") from None
        db = ProtoReflectionDescriptorDatabase(channel)
        try:
            services = [s for s in db.get_services() if s not in REFLECTION_SERVICES]
            files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
            for service in services:
                _collect(db, db.FindFileContainingSymbol(service), files)
        except grpc.RpcError as exc:
            code = exc.code().name if hasattr(exc, "code") else "error"
            if code == "UNIMPLEMENTED":
                raise ServiceError(
                    f"{address} does not serve gRPC server reflection (UNIMPLEMENTED); give .proto files "
                    "(grpc.proto, --proto) instead"
                ) from None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise ServiceError(f"{address}: server reflection failed: {code}: {details}") from None
        except KeyError as exc:  # the reflection service could not find a file or symbol it listed
            raise ServiceError(f"{address}: server reflection is incomplete: {exc.args[0]}") from None
    finally:
        channel.close()
    if not services:
        raise ServiceError(f"{address}: server reflection lists no service besides itself")
    return descriptor_pb2.FileDescriptorSet(file=list(files.values())).SerializeToString()


def _collect(db: object, fd: descriptor_pb2.FileDescriptorProto, files: dict) -> None:
    """``fd`` and its dependencies, dependencies first (a pool needs them added in that order)."""
    if fd.name in files:
        return
    for dep in fd.dependency:
        if dep not in files:
            _collect(db, db.FindFileByName(dep), files)  # type: ignore[attr-defined]
    files[fd.name] = fd


@dataclass(frozen=True)
class Services:
    """A descriptor set loaded into its own pool: the methods it offers, by ``package.Service/Method``."""

    pool: descriptor_pool.DescriptorPool
    methods: dict[str, MethodDescriptor]

    def method(self, name: str) -> MethodDescriptor:
        try:
            return self.methods[name]
        except KeyError:
            pass
        service = name.partition("/")[0]
        ours = sorted(m for m in self.methods if m.partition("/")[0] == service)
        if ours:
            raise ServiceError(f"no method {name}; {service} has {', '.join(ours)}")
        names = sorted({m.partition("/")[0] for m in self.methods})
        raise ServiceError(f"no service {service}; the descriptors have {', '.join(names) or 'none'}")


def load(data: bytes) -> Services:
    """The services of a serialized ``FileDescriptorSet``."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    pool = descriptor_pool.DescriptorPool()
    methods: dict[str, MethodDescriptor] = {}
    for fd in fds.file:
        try:
            pool.Add(fd)
        except (TypeError, ValueError) as exc:
            raise ServiceError(f"descriptor set: {fd.name}: {exc}") from None
    for fd in fds.file:
        for service in pool.FindFileByName(fd.name).services_by_name.values():
            for m in service.methods:
                methods[f"{service.full_name}/{m.name}"] = m
    return Services(pool, methods)


def method_kind(m: MethodDescriptor) -> str:
    """``unary``, ``server_stream``, ``client_stream`` or ``bidi_stream``."""
    return {
        (False, False): "unary",
        (False, True): "server_stream",
        (True, False): "client_stream",
        (True, True): "bidi_stream",
    }[(m.client_streaming, m.server_streaming)]
