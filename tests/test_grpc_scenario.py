"""``aranya-perf run --scenario grpc`` end to end against a real gRPC server in its own process
(``tests/grpc_echo_server.py``): .proto mode with every method kind, per-method SLOs passing and failing,
reflection mode through a Locust worker, and the one-line errors. Our counts are checked against the
server's."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aranya_perf.grpc_service.descriptors import load
from tests.helpers import REPO, run_cli

SERVER = REPO / "tests" / "grpc_echo_server.py"
ECHO_PROTO = "tests/data/echo.proto"
START_TIMEOUT_S = 20.0


class EchoServer:
    """The test server as a child process on a free loopback port; ``stop`` returns what it served."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--port", "0", *args],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        line = self._line(START_TIMEOUT_S)
        self.address = f"127.0.0.1:{json.loads(line)['port']}"

    def _line(self, timeout: float) -> str:
        import selectors

        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise TimeoutError(f"{SERVER.name} printed nothing within {timeout:g}s")
        return self.proc.stdout.readline()

    def stop(self) -> dict:
        if self.proc.poll() is not None:
            return {}
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=20)
        return json.loads(out.strip().splitlines()[-1])["stats"]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def plain_server() -> Iterator[EchoServer]:
    """A server without reflection, for the runs refused before any load."""
    server = EchoServer("--no-reflection")
    try:
        yield server
    finally:
        server.kill()


def _only_run_dir(root: Path) -> Path:
    dirs = [p for p in root.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def _stats(run_dir: Path) -> dict[str, dict[str, str]]:
    with (run_dir / "locust_stats.csv").open() as f:
        return {row["Name"]: row for row in csv.DictReader(f) if row["Type"] == "grpc"}


PROFILE = """
description = "every method kind of the echo service"
[run]
scenario = "grpc"
duration = "3s"
[service]
users = 4
spawn_rate = 50
[grpc]
proto = ["tests/data/echo.proto"]

[[call]]
method = "echo.v1.Echo/Unary"
name = "Unary"
weight = 4
request.text = "u{user}-s{seq}"
request.payload = "{bytes:16}"
request.seq = "{seq}"
request.kind = "{choice:KIND_SMALL|KIND_LARGE}"

[[call]]
method = "echo.v1.Echo/Unary"
name = "Unary fails"
weight = 0.5
request = '{"text": "fail", "fail_code": 9}'

[[call]]
method = "echo.v1.Echo/ServerStream"
request = { text = "{choice:a|b}", replies = 5 }

[[call]]
method = "echo.v1.Echo/ClientStream"
messages = 3
request = { text = "{rand:10}" }

[[call]]
method = "echo.v1.Echo/Bidi"
messages = 4
interval = "1ms"
request = { text = "b", payload = "{bytes:8}" }
metadata = { x-test = "yes" }

[[slo]]
kind = "grpc Unary"
metric = "error_rate"
max = 0

[[slo]]
kind = "grpc Unary fails"
metric = "error_rate"
max = 0.5
"""


def test_proto_mode_every_method_kind_counted_as_the_server_counted(
    tmp_path: Path, echo_server: EchoServer
) -> None:
    profile = tmp_path / "echo.toml"
    profile.write_text(PROFILE)
    out = tmp_path / "results"
    proc = run_cli("run", "--profile", str(profile), "--target", echo_server.address, "--out", str(out))
    served = echo_server.stop()
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the failing call's SLO fails the run
    run_dir = _only_run_dir(out)
    ours = _stats(run_dir)
    count = {name: int(row["Request Count"]) for name, row in ours.items()}
    fails = {name: int(row["Failure Count"]) for name, row in ours.items()}
    assert all(count.values()) and set(count) == {
        "Unary", "Unary fails", "echo.v1.Echo/ServerStream", "echo.v1.Echo/ClientStream", "echo.v1.Echo/Bidi",
    }  # fmt: skip

    unary, server_stream = served["echo.v1.Echo/Unary"], served["echo.v1.Echo/ServerStream"]
    client_stream, bidi = served["echo.v1.Echo/ClientStream"], served["echo.v1.Echo/Bidi"]
    assert unary["calls"] == count["Unary"] + count["Unary fails"]
    assert unary["codes"] == {"OK": count["Unary"], "FAILED_PRECONDITION": count["Unary fails"]}
    assert fails == {name: count["Unary fails"] if name == "Unary fails" else 0 for name in count}
    # Every unary text is unique ({user} differs per client, {seq} per request) but the failing call's one.
    assert unary["texts"] == count["Unary"] + 1 and unary["payloads"] == [0, 16]
    assert server_stream["calls"] == count["echo.v1.Echo/ServerStream"]
    assert server_stream["messages_out"] == 5 * server_stream["calls"]
    assert client_stream["calls"] == count["echo.v1.Echo/ClientStream"]
    assert client_stream["messages_in"] == 3 * client_stream["calls"] and client_stream["texts"] <= 10
    assert bidi["calls"] == count["echo.v1.Echo/Bidi"] and bidi["payloads"] == [8]
    assert bidi["messages_in"] == bidi["messages_out"] == 4 * bidi["calls"]
    meta = json.loads((run_dir / "meta.json").read_text())
    window = meta["window"]["window"]
    assert window["messages_sent"] == sum(m["messages_in"] for m in served.values())
    assert window["messages_received"] == sum(m["messages_out"] for m in served.values())
    # A server stream's length is every byte of its 5 replies: text (3 bytes) and seq 1..4 (2 bytes each).
    assert float(ours["echo.v1.Echo/ServerStream"]["Average Content Size"]) == 5 * 3 + 4 * 2

    failures = (run_dir / "locust_failures.csv").read_text()
    assert "FAILED_PRECONDITION: asked to fail with FAILED_PRECONDITION" in failures
    slo = {r["name"]: r["passed"] for r in json.loads((run_dir / "slo.json").read_text())["results"]}
    assert slo == {"error_rate grpc Unary <= 0": True, "error_rate grpc Unary fails <= 0.5": False}
    assert meta["grpc"]["source"] == "proto" and meta["grpc"]["calls"]["echo.v1.Echo/Bidi"] == "bidi_stream"
    assert "echo.v1.Echo/Bidi" in load((run_dir / "grpc_descriptors.binpb").read_bytes()).methods
    assert "Scenario: grpc" in (run_dir / "report.md").read_text()


def test_reflection_mode_through_a_worker(tmp_path: Path, echo_server: EchoServer) -> None:
    # The worker has neither .proto files nor a reflection round trip: the master hands it the descriptors.
    out = tmp_path / "results"
    proc = run_cli(
        "run", "--profile", "grpc-health", "--target", echo_server.address, "--users", "3",
        "--duration", "3s", "--workers", "1", "--out", str(out),
    )  # fmt: skip
    served = echo_server.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = _only_run_dir(out)
    ours = _stats(run_dir)
    assert set(ours) == {"Health/Check"} and ours["Health/Check"]["Failure Count"] == "0"
    assert served["grpc.health.v1.Health/Check"]["calls"] == int(ours["Health/Check"]["Request Count"]) > 0
    workers = (run_dir / "workers.csv").read_text()
    assert "grpc,Health/Check," in workers
    slo = json.loads((run_dir / "slo.json").read_text())["results"]
    assert [r["passed"] for r in slo] == [True, True]
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["grpc"] == {
        "descriptors": "grpc_descriptors.binpb", "source": "reflection", "calls": {"Health/Check": "unary"},
    }  # fmt: skip
    methods = load((run_dir / "grpc_descriptors.binpb").read_bytes()).methods
    assert {"grpc.health.v1.Health/Check", "echo.v1.Echo/Bidi"} <= set(methods)


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--proto", "tests/data/none.proto", "--call", "a.B/C"], "--proto: cannot read tests/data/none"),
        (["--proto", "BAD", "--call", "a.B/C"], 'protoc: bad.proto:3:25: Expected ";".'),
        (["--proto", ECHO_PROTO, "--call", "echo.v1.Echo/Nope"],
         "no method echo.v1.Echo/Nope; echo.v1.Echo has echo.v1.Echo/Bidi"),
        (["--proto", ECHO_PROTO, "--call", 'echo.v1.Echo/Unary={"txt": 1}'],
         "call #1 (echo.v1.Echo/Unary): request does not fit echo.v1.EchoRequest: Message type "
         '"echo.v1.EchoRequest" has no field named "txt"'),
        (["--reflection", "--call", "echo.v1.Echo/Unary"], "does not serve gRPC server reflection"),
        (["--call", "echo.v1.Echo/Unary"], "scenario grpc needs descriptors"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, plain_server: EchoServer, args: list[str], expect: str
) -> None:
    if "BAD" in args:
        (tmp_path / "bad.proto").write_text('syntax = "proto3";\npackage x;\nmessage A { int32 a = 1 }\n')
        args = [a if a != "BAD" else "bad.proto" for a in args]
    out = tmp_path / "results"
    proc = run_cli(
        "run", "--scenario", "grpc", "--target", plain_server.address, *args, "--out", str(out),
        timeout=60, cwd=tmp_path if "bad.proto" in args else REPO,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert expect in lines[0]
    assert not out.exists(), "a refused run must not leave a results directory"
