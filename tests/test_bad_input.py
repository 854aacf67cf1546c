"""Bad input is refused before anything starts: exit 2, one line naming the flag or key and where it came
from, no traceback, nothing written. One table of cases, run in-process (``aranya_perf.cli.main``) with a
guard that fails the test if a run got as far as starting; a few of them again as real subprocesses."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from aranya_perf.cli import main
from aranya_perf.cli.run import FLAG_SCOPES, PROFILE_FLAGS
from aranya_perf.targets import TargetNotGrpc, parse_address, probe_grpc
from tests.helpers import REPO, gateway_process, make_pki, run_cli

# Files each case may name: {tmp} is the case's own directory, {pki} a test PKI (ca.pem, client.pem,
# client.key, server.pem, server.key). "ENV:NAME=VALUE" in a case's argv sets an environment variable.
FILES: dict[str, str | bytes] = {
    "latin1.toml": b'description = "caf\xe9"\n',
    "latin1.csv": b"dev-00000,127.0.0.1:1\ncaf\xe9,127.0.0.1:2\n",
    "file": "x\n",
    "garbage.pem": "not a certificate\n",
    "badmeta/meta.json": b"\xff\xfe{}",
    "nan-spawn.toml": "[fleet]\nspawn_rate = nan\n",
    "inf-arrival.toml": "[operators]\narrival_rate = inf\n",
    "long.toml": '[run]\nduration = "9999h"\n',
    "inf-duration.toml": "[run]\nduration = inf\n",
    "nan-interval.toml": "[fleet]\nstatus_interval = nan\n",
    "huge-fleet.toml": "[fleet]\ndevices = 1000000000\n",
    "nan-slo.toml": '[[slo]]\nmetric = "p99"\nmax = nan\n',
    "no-gateway.toml": "[gateway]\nprocesses = 0\n",
    "storm.toml": "[shape]\nstorm_fraction = 2.0\n",
    "huge-payload.toml": "[fleet]\nmetrics_bytes = 100000000000\n",
    "tls-missing.toml": '[target]\naddress = "127.0.0.1:1"\ntls_ca = "{tmp}/missing.pem"\n',
    "tls-garbage.toml": '[target]\naddress = "127.0.0.1:1"\ntls_ca = "{tmp}/garbage.pem"\n',
    "tls-no-key.toml": (
        '[target]\naddress = "127.0.0.1:1"\ntls_ca = "{pki}/ca.pem"\ntls_cert = "{pki}/client.pem"\n'
    ),
    "tls-mismatch.toml": (
        '[target]\naddress = "127.0.0.1:1"\ntls_ca = "{pki}/ca.pem"\n'
        'tls_cert = "{pki}/client.pem"\ntls_key = "{pki}/server.key"\n'
    ),
    "tls-embedded.toml": '[target]\ntls_ca = "{pki}/ca.pem"\n',
}

GIVEN = ["--target", "127.0.0.1:1"]  # a given target: refused before it would be reached
GRPC = ["--scenario", "grpc", *GIVEN, "--call", "pkg.Svc/Get"]

CASES: list[tuple[str, list[str], str]] = [
    # numbers: finite, in range
    ("spawn-rate-inf", ["run", "--spawn-rate", "inf"], "--spawn-rate: not a finite number"),
    ("spawn-rate-nan", ["run", "--spawn-rate", "nan"], "--spawn-rate: not a finite number"),
    ("spawn-rate-zero", ["run", "--spawn-rate", "0"], "--spawn-rate: must be positive"),
    ("spawn-rate-negative", ["run", "--spawn-rate=-1"], "--spawn-rate: must be positive"),
    ("arrival-rate-nan", ["run", "--arrival-rate", "nan"], "--arrival-rate: not a finite number"),
    ("arrival-rate-inf", ["run", "--arrival-rate", "inf"], "--arrival-rate: not a finite number"),
    ("arrival-rate-negative", ["run", "--arrival-rate=-1"], "--arrival-rate: must not be negative"),
    ("duration-absurd", ["run", "--duration", "999999999999999999999h"], "longer than 7 days"),
    ("duration-8-days", ["run", "--duration", "192h"], "longer than 7 days"),
    ("duration-zero", ["run", "--duration", "0s"], "--duration: duration must be positive"),
    ("duration-word", ["run", "--duration", "soon"], "--duration: invalid duration"),
    ("devices-negative", ["run", "--devices=-3"], "--devices: must not be negative"),
    (
        "devices-billion",
        ["run", "--devices", "1000000000"],
        "--devices: 1,000,000,000 is more than 1 generator",
    ),
    (
        "devices-need-remote-workers",
        ["run", "--devices", "1000000000"],
        "use 50000 workers (--remote-workers)",
    ),
    ("devices-need-workers", ["run", "--devices", "30000"], "use --workers 2"),
    ("workers-absurd", ["run", "--workers", "100000"], "--workers 100000: more than this machine's"),
    (
        "devices-need-gateways",
        ["run", "--devices", "30000", "--workers", "2", "--gateway-processes", "1"],
        "use --gateway-processes 2",
    ),
    (
        "devices-over-mqtt-need-gateways",  # auto keeps one process for MQTT; the bound still refuses
        ["run", "--devices", "30000", "--workers", "2", "--transport", "mqtt"],
        "more than 1 embedded gateway process(es) serve",
    ),
    (
        "operators-million",
        ["run", "--operators", "1000000"],
        "--operators: 1,000,000 is more than 1 generator",
    ),
    ("devices-zero", ["run", "--devices", "0"], "--devices: fleet.devices = 0 with the embedded gateway"),
    (
        "nothing-to-run",
        ["run", "--devices", "0", "--operators", "0"],
        "--devices, --operators: nothing to run",
    ),
    ("gateway-processes-zero", ["run", "--gateway-processes", "0"], "--gateway-processes: gateway.processes"),
    # flags outside their scenario or target
    ("users-aranya", ["run", "--users", "5"], "--users applies to scenario grpc, etcd, not to aranya"),
    ("check-perf-aranya", ["run", "--check-perf", "m"], "--check-perf applies to scenario etcd"),
    ("proto-aranya", ["run", "--proto", "x.proto"], "--proto applies to scenario grpc"),
    ("call-aranya", ["run", "--call", "pkg.Svc/Get"], "--call applies to scenario grpc"),
    ("devices-etcd", ["run", "--profile", "etcd", "--devices", "5"], "--devices applies to scenario aranya"),
    (
        "schedule-etcd",
        ["run", "--scenario", "etcd", "--schedule", "load-test"],
        "not to etcd (set by --scenario)",
    ),
    ("control-embedded", ["run", "--control", "127.0.0.1:2"], "--control applies to a given target"),
    (
        "target-metrics-embedded",
        ["run", "--target-metrics", "127.0.0.1:2"],
        "--target-metrics applies to a given",
    ),
    ("target-pid-embedded", ["run", "--target-pid", "1"], "--target-pid applies to a given target"),
    # Above the kernel's largest pid_max: no process has it.
    ("target-pid-gone", ["run", *GIVEN, "--target-pid", "4194304"], "target.pid 4194304: no such process"),
    (
        "gateway-processes-given",
        ["run", *GIVEN, "--gateway-processes", "2"],
        "applies to the embedded gateway",
    ),
    (
        "listener-per-device-given",
        ["run", *GIVEN, "--listener-per-device"],
        "applies to the embedded gateway",
    ),
    # files: readable, decodable
    ("profile-not-utf8", ["run", "--profile", "{tmp}/latin1.toml"], "latin1.toml: not UTF-8 text"),
    ("profile-missing", ["run", "--profile", "{tmp}/nope.toml"], "cannot read profile"),
    ("profile-directory", ["run", "--profile", "{tmp}/"], "Is a directory"),
    ("address-map-not-utf8", ["run", "--target", "{tmp}/latin1.csv"], "latin1.csv: not UTF-8 text"),
    ("address-map-missing", ["run", "--target", "{tmp}/none.csv"], "cannot read address map"),
    (
        "proto-directory",
        ["run", *GRPC, "--proto", "{tmp}"],
        "--proto: {tmp} is a directory, not a .proto file",
    ),
    (
        "import-path-a-file",
        ["run", *GRPC, "--proto", "{tmp}/file", "--import-path", "{tmp}/file"],
        "--import-path",
    ),
    (
        "proto-missing",
        ["run", *GRPC, "--proto", "{tmp}/none.proto"],
        "--proto: cannot read {tmp}/none.proto: No such file",
    ),
    # profile keys with the same problems name the key and the file
    ("key-spawn-rate-nan", ["run", "--profile", "{tmp}/nan-spawn.toml"], "nan-spawn.toml: fleet.spawn_rate"),
    ("key-arrival-rate-inf", ["run", "--profile", "{tmp}/inf-arrival.toml"], "operators.arrival_rate"),
    ("key-duration-long", ["run", "--profile", "{tmp}/long.toml"], "run.duration: '9999h' is longer than 7"),
    (
        "key-duration-inf",
        ["run", "--profile", "{tmp}/inf-duration.toml"],
        "run.duration: expected a positive",
    ),
    ("key-interval-nan", ["run", "--profile", "{tmp}/nan-interval.toml"], "fleet.status_interval: expected"),
    (
        "key-devices-huge",
        ["run", "--profile", "{tmp}/huge-fleet.toml"],
        "fleet.devices in {tmp}/huge-fleet.toml",
    ),
    ("key-slo-nan", ["run", "--profile", "{tmp}/nan-slo.toml"], "nan-slo.toml: slo #1.max"),
    (
        "key-gateway-processes",
        ["run", "--profile", "{tmp}/no-gateway.toml"],
        "no-gateway.toml: gateway.processes",
    ),
    (
        "key-payload-huge",
        ["run", "--profile", "{tmp}/huge-payload.toml"],
        "fleet.metrics_bytes: 100,000,000,000",
    ),
    ("key-storm-fraction", ["run", "--profile", "{tmp}/storm.toml"], "storm.toml: shape.storm_fraction"),
    # --out
    ("out-under-proc", ["run", "--out", "/proc/aranya-perf"], "--out /proc/aranya-perf: /proc is a kernel"),
    ("out-is-a-file", ["run", "--out", "{tmp}/file"], "file is a file, not a directory"),
    ("out-under-a-file", ["run", "--out", "{tmp}/file/results"], "file is a file, not a directory"),
    # TLS material, from the profile and from the environment
    (
        "tls-ca-missing",
        ["run", "--profile", "{tmp}/tls-missing.toml"],
        "target.tls_ca in {tmp}/tls-missing.toml",
    ),
    ("tls-ca-garbage", ["run", "--profile", "{tmp}/tls-garbage.toml"], "holds no usable PEM certificate"),
    ("tls-cert-without-key", ["run", "--profile", "{tmp}/tls-no-key.toml"], "a cert needs a key too"),
    ("tls-key-mismatch", ["run", "--profile", "{tmp}/tls-mismatch.toml"], "KEY_VALUES_MISMATCH"),
    ("tls-embedded", ["run", "--profile", "{tmp}/tls-embedded.toml"], "the embedded target is plaintext"),
    (
        "tls-env-ca-missing",
        ["ENV:ARANYA_PERF_TLS_CA={tmp}/missing.pem", "run", *GIVEN],
        "environment ARANYA_PERF_TLS_CA: cannot read",
    ),
    (
        "tls-env-cert-without-key",
        ["ENV:ARANYA_PERF_TLS_CERT={pki}/client.pem", "run", *GIVEN],
        "environment ARANYA_PERF_TLS_CERT: a cert needs a key",
    ),
    # addresses
    ("master-bind-remote", ["run", "--workers", "2", "--master-bind", "10.0.0.1:0"], "not loopback"),
    ("metrics-listen-garbage", ["run", "--metrics-listen", "nowhere"], "HOST:PORT"),
    # other verbs
    ("report-missing", ["report", "{tmp}/nope"], "no such directory"),
    ("report-a-file", ["report", "{tmp}/file"], "not a directory"),
    ("report-meta-not-utf8", ["report", "{tmp}/badmeta"], "meta.json is not UTF-8 text"),
    ("compare-missing", ["compare", "{tmp}/a", "{tmp}/b"], "no such directory"),
    (
        "compare-out-a-file",
        ["compare", "{tmp}/a", "{tmp}/b", "--out", "{tmp}/file"],
        "--out {tmp}/file: {tmp}/file is",
    ),
    ("profile-show-not-utf8", ["profile", "show", "{tmp}/latin1.toml"], "not UTF-8 text"),
    (
        "link-file-not-utf8",
        ["link", "--link-file", "{tmp}/latin1.toml", "--target", "127.0.0.1:1", "--run-time", "1s"],
        "latin1.toml: not UTF-8 text",
    ),
    (
        "gateway-devices-absurd",
        ["gateway", "--listener-per-device", "--devices", "1000000000", "--run-time", "1s"],
        "--devices 1,000,000,000: more listeners than one gateway process holds",
    ),
    (
        "gateway-run-time-absurd",
        ["gateway", "--run-time", "99999h"],
        "--run-time: duration '99999h' is longer",
    ),
    (
        "gateway-tls-garbage",
        ["gateway", "--tls-cert", "{tmp}/garbage.pem", "--tls-key", "{tmp}/garbage.pem", "--run-time", "1s"],
        "not a usable PEM certificate and key",
    ),
    (
        "gateway-tls-mismatch",
        ["gateway", "--tls-cert", "{pki}/server.pem", "--tls-key", "{pki}/client.key", "--run-time", "1s"],
        "--tls-cert: {pki}/server.pem and {pki}/client.key are not a usable",
    ),
    (
        "worker-port-out-of-range",
        ["worker", "--master-host", "127.0.0.1", "--master-port", "70000"],
        "not a port",
    ),
    (
        "worker-connect-timeout-zero",
        ["worker", "--master-host", "h", "--connect-timeout", "0"],
        "must be positive",
    ),
    (
        "worker-metrics-listen-remote",
        ["worker", "--master-host", "h", "--metrics-listen", "10.0.0.1:9646"],
        "10.0.0.1:9646: not loopback; pass --allow-remote",
    ),
    (
        "worker-address-map-remote",
        ["worker", "--master-host", "h", "--address-map", "10.0.0.1:50051"],
        "--address-map: refusing non-loopback target",
    ),
    ("run-workers-wait-zero", ["run", "--remote-workers", "1", "--workers-wait", "0"], "must be positive"),
]
IDS = [case[0] for case in CASES]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    make_pki(directory)
    return directory


def _prepare(tmp: Path, pki: Path, argv: list[str], expect: str) -> tuple[list[str], dict[str, str], str]:
    """The case's files written under ``tmp``; its argv (``--out`` appended for ``run``), environment and
    expected text with the placeholders filled in."""

    def fill(text: str) -> str:
        return text.replace("{tmp}", str(tmp)).replace("{pki}", str(pki))

    for name, body in FILES.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(fill(body))
    env = dict(a[4:].split("=", 1) for a in argv if a.startswith("ENV:"))
    args = [fill(a) for a in argv if not a.startswith("ENV:")]
    if args[0] == "run" and "--out" not in args:
        args += ["--out", str(tmp / "out")]
    return args, {k: fill(v) for k, v in env.items()}, fill(expect)


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that passed every check would import the orchestrator: here that fails the test instead."""
    guard = types.ModuleType("aranya_perf.run.orchestrate")

    def __getattr__(name: str) -> object:
        raise AssertionError(f"a refused run got as far as the orchestrator ({name})")

    guard.__getattr__ = __getattr__  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "aranya_perf.run.orchestrate", guard)
    monkeypatch.setitem(sys.modules, "aranya_perf.run.workers", guard)


def test_the_table_has_at_least_40_distinct_cases() -> None:
    assert len(CASES) >= 40 and len(set(IDS)) == len(IDS)


@pytest.mark.parametrize(("case", "argv", "expect"), CASES, ids=IDS)
def test_bad_input_in_process(
    case: str,
    argv: list[str],
    expect: str,
    tmp_path: Path,
    pki: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    nothing_starts: None,
) -> None:
    args, env, expect = _prepare(tmp_path, pki, argv, expect)
    for name in ("ARANYA_PERF_TLS_CA", "ARANYA_PERF_TLS_CERT", "ARANYA_PERF_TLS_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = _listing(tmp_path)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert out == ""
    assert expect in _one_line(err)
    assert "Traceback" not in err
    assert _listing(tmp_path) == before, "a refused command wrote files"


SUBPROCESS_CASES = [
    "spawn-rate-inf",
    "profile-not-utf8",
    "out-under-proc",
    "tls-env-ca-missing",
    "devices-zero",
]


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_bad_input_as_a_subprocess(case: str, tmp_path: Path, pki: Path) -> None:
    _, argv, expect = CASES[IDS.index(case)]
    args, env, expect = _prepare(tmp_path, pki, argv, expect)
    before = _listing(tmp_path)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARANYA_PERF_TLS_")}
    proc = subprocess.run(
        [sys.executable, "-m", "aranya_perf", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**clean, **env},
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expect in _one_line(proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert _listing(tmp_path) == before


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody may write into: mode 555, and immutable (chattr +i) for root, who writes through
    any mode."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    immutable = os.geteuid() == 0
    if immutable and subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr +i: no directory here is read-only to us")
    try:
        yield locked
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
        locked.chmod(0o755)


def test_read_only_out_is_refused(read_only_dir: Path) -> None:
    proc = run_cli("run", "--out", str(read_only_dir / "results"), timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{read_only_dir} is not writable" in _one_line(proc.stderr)
    assert not any(read_only_dir.iterdir())


def test_every_profile_flag_has_a_scope() -> None:
    flags = {flag for flag, _keys, _kw in PROFILE_FLAGS}
    assert set(FLAG_SCOPES) == flags | {"--call"}


def test_worker_without_a_master_gives_up(tmp_path: Path) -> None:
    proc = run_cli(
        "worker", "--master-host", "127.0.0.1", "--master-port", "1", "--connect-timeout", "2s", timeout=60
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Locust master 127.0.0.1:1 unreachable after 2s" in _one_line(proc.stderr)
    assert "Traceback" not in proc.stderr


@pytest.fixture
def http_server() -> Iterator[tuple[str, int]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_server_is_named_as_not_grpc(tmp_path: Path, http_server: tuple[str, int]) -> None:
    host, port = http_server
    out = tmp_path / "out"
    proc = run_cli("run", "--target", f"{host}:{port}", "--out", str(out), timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"target does not speak gRPC: {host}:{port}" in _one_line(proc.stderr)
    assert not out.exists()


def test_the_grpc_probe_passes_a_grpc_server(http_server: tuple[str, int]) -> None:
    with gateway_process() as gw:
        probe_grpc(*parse_address(gw.address), timeout=5)  # no false alarm on the reference gateway
    with pytest.raises(TargetNotGrpc, match="does not speak gRPC"):
        probe_grpc(*http_server, timeout=5)


def test_good_tls_material_passes(pki: Path) -> None:
    """The checks refuse what gRPC would fail on, not what it loads: a CA, and a client cert with its key."""
    from aranya_perf import profiles
    from aranya_perf.cli.preflight import check_pem, check_tls

    given = {
        "target.address": "127.0.0.1:1",
        "target.tls_ca": str(pki / "ca.pem"),
        "target.tls_cert": str(pki / "client.pem"),
        "target.tls_key": str(pki / "client.key"),
    }
    check_tls(profiles.resolve("smoke", given), environ={})
    check_tls(profiles.resolve("smoke", {"target.address": "127.0.0.1:1"}), environ={})
    check_pem(
        {"ca": str(pki / "ca.pem"), "cert": str(pki / "server.pem"), "key": str(pki / "server.key")}, {}
    )
