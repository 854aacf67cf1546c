"""Test helpers: the gateway as a real child process, free ports, the CLI as a subprocess, a test PKI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from aranya_perf.gateway.process import GatewayProcess

REPO = Path(__file__).resolve().parent.parent


def gateway_process(*args: str) -> GatewayProcess:
    """The gateway as a child process on free loopback ports; its log goes to the test's stderr."""
    return GatewayProcess(args, stderr=None)


def free_port() -> int:
    """A loopback port free right now (another process may take it; good enough for tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, timeout: float = 300.0, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """``aranya-perf ARGS`` as a subprocess with a hard timeout (a guard against a hang: a run of a few
    seconds can take minutes on a loaded 2-core machine under coverage, beside other xdist workers)."""
    return subprocess.run(
        [sys.executable, "-m", "aranya_perf", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=_traced_env(args, cwd),
    )


# Verbs whose work is analysis in their own process, with no children: under `make test`'s coverage
# their process is measured too, so analysis/ counts what the tests of these verbs run. Verbs that
# start runs, gateways or Locust stay untraced: tracing those doubled a run's CPU.
TRACED_VERBS = frozenset({"alerts", "compare", "detect", "evaluate", "publish", "report"})


def _traced_env(args: tuple[str, ...], cwd: Path) -> dict[str, str] | None:
    """The environment that has coverage's start-up hook (its .pth file) measure the child into this
    process's data file, when this process is measured, the verb is traced and the child runs in the
    repository (where the configuration's source folders are); None (inherit) otherwise."""
    import coverage

    current = coverage.Coverage.current()
    if current is None or not args or args[0] not in TRACED_VERBS or Path(cwd).resolve() != REPO:
        return None
    return {
        **os.environ,
        "COVERAGE_PROCESS_START": str(REPO / "pyproject.toml"),
        "COVERAGE_FILE": os.path.abspath(current.config.data_file),
    }


def end_as_a_run(runner: Any, gw: GatewayProcess, stop: dict[str, int]) -> dict[str, float]:
    """The end of an in-process fleet run against ``gw``, in ``aranya-perf run``'s order once its window is
    closed (the caller's part: no new calls, those in flight answered and reported): the ``stop`` users
    stop, the gateway's schedule drains until every session has ended, its metrics are read, and the
    runner quits. Returns the gateway's metrics."""
    from aranya_perf.gateway.metrics import parse_metrics
    from aranya_perf.run.target import drain_gateway

    runner.stop_users(stop)
    assert drain_gateway(gw.address, 10.0) == 0
    metrics = parse_metrics(gw.metrics_text())
    runner.quit()
    return metrics


def make_pki(tmp: Path) -> dict[str, Path]:
    """A CA, a server cert for 127.0.0.1 and a client cert, made with the openssl CLI (see .ci/run)."""

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True, timeout=20)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=test-ca", "-days", "1")
    (tmp / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        ssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        ext = ["-extfile", "san.ext"] if name == "server" else []
        ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "1", *ext)  # fmt: skip
    return {n: tmp / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}
