"""Regenerates the Python modules for the .proto files in this folder.

Run ``python -m aranya_perf.proto.generate``; ``tests/test_proto_generated.py``
fails when the checked-in modules differ from a fresh generation. grpcio-tools
is pinned to the same version as grpcio in pyproject.toml because generated
stubs refuse a grpcio older than the tools that made them.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
PROTOS = ("aranya.proto", "control.proto")
# Protos are compiled relative to the repository root so generated imports read
# ``from aranya_perf.proto import aranya_pb2``.
INCLUDE_ROOT = PROTO_DIR.parent.parent


def generate(out_dir: Path = INCLUDE_ROOT) -> list[Path]:
    """Compile every proto into ``out_dir`` (laid out like the repo) and return the files written."""
    from grpc_tools import protoc

    well_known = str(resources.files("grpc_tools") / "_proto")
    rel = [str((PROTO_DIR / p).relative_to(INCLUDE_ROOT)) for p in PROTOS]
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{INCLUDE_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *rel,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed: " + " ".join(args))
    stems = [Path(r).with_suffix("") for r in rel]
    return sorted(
        out_dir / f"{s}{suffix}" for s in stems for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
    )


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(INCLUDE_ROOT))
    sys.exit(0)
