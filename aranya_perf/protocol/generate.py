"""Regenerates the Python modules of every .proto file under ``aranya_perf/protocol/proto``.

Run ``make gen`` (``python -m aranya_perf.protocol.generate``);
``tests/test_proto_generated.py`` fails when a checked-in module differs from a fresh
generation. grpcio-tools is pinned to the same version as grpcio in pyproject.toml
because generated stubs refuse a grpcio older than the tools that made them. gRPC stubs
are generated for the control service and etcd's API only: the device protocols declare no
service, since their proto packages are our own and aranya's method paths are set by ``Protocol``;
etcd's method paths come from its file's package (``etcdserverpb``), as a real etcd expects.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent / "proto"
# Compiled relative to the repository root so generated imports read
# ``from aranya_perf.protocol.proto.aranya_v0_3 import aranya_pb2``.
INCLUDE_ROOT = PROTO_DIR.parent.parent.parent
SERVICES = ("control.proto", "etcd/rpc.proto")
"""The protos, relative to ``PROTO_DIR``, that get gRPC stubs too."""


def protos() -> list[Path]:
    """Every .proto file, relative to the include root, in a stable order."""
    return sorted(p.relative_to(INCLUDE_ROOT) for p in PROTO_DIR.rglob("*.proto"))


def outputs(proto: Path) -> list[Path]:
    """The modules generated for one .proto file (relative paths)."""
    stem = proto.with_suffix("")
    suffixes = ["_pb2.py", "_pb2.pyi"] + (["_pb2_grpc.py"] if _has_services(proto) else [])
    return [stem.parent / f"{stem.name}{s}" for s in suffixes]


def _has_services(proto: Path) -> bool:
    return (INCLUDE_ROOT / proto).relative_to(PROTO_DIR).as_posix() in SERVICES


def generate(out_dir: Path = INCLUDE_ROOT) -> list[Path]:
    """Compile every proto into ``out_dir`` (laid out like the repo) and return the files written."""
    from grpc_tools import protoc

    well_known = str(resources.files("grpc_tools") / "_proto")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for proto in protos():
        args = ["grpc_tools.protoc", f"-I{INCLUDE_ROOT}", f"-I{well_known}"]
        args += [f"--python_out={out_dir}", f"--pyi_out={out_dir}"]
        if _has_services(proto):
            args.append(f"--grpc_python_out={out_dir}")
        if protoc.main([*args, str(proto)]) != 0:
            raise RuntimeError("protoc failed: " + " ".join(args))
        written += [out_dir / p for p in outputs(proto)]
    return sorted(written)


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(INCLUDE_ROOT))
    sys.exit(0)
