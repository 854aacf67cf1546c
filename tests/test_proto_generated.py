"""The checked-in protobuf modules must equal a fresh generation from the .proto files."""

from __future__ import annotations

from pathlib import Path

from aranya_perf.protocol import generate


def test_checked_in_modules_match_a_fresh_generation(tmp_path: Path) -> None:
    written = generate.generate(tmp_path)
    assert written, "generate() wrote nothing"
    stale = []
    for path in written:
        rel = path.relative_to(tmp_path)
        checked_in = generate.INCLUDE_ROOT / rel
        if not checked_in.is_file() or checked_in.read_bytes() != path.read_bytes():
            stale.append(str(rel))
    assert not stale, f"stale generated files, run `make gen`: {stale}"


def test_every_proto_has_its_modules_checked_in(tmp_path: Path) -> None:
    # Guards the comparison above against generate() silently writing fewer files.
    written = {p.relative_to(tmp_path) for p in generate.generate(tmp_path)}
    protos = generate.protos()
    # Four versions (two of them with a runtime.proto), the control service and etcd's API.
    assert len(protos) == 8
    for proto in protos:
        assert set(generate.outputs(proto)) <= written
        assert (generate.INCLUDE_ROOT / proto.with_suffix("").parent / "__init__.py").is_file()
