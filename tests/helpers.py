"""Test helpers: the gateway as a real child process on a free loopback port, always stopped."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class GatewayProcess:
    proc: subprocess.Popen[str]
    address: str
    metrics_address: str

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://{self.metrics_address}/metrics", timeout=5) as resp:
            return resp.read().decode()


@contextlib.contextmanager
def gateway_process(
    *extra: str, listen: str = "127.0.0.1:0", timeout: float = 20.0
) -> Iterator[GatewayProcess]:
    cmd = [sys.executable, "-m", "aranya_perf", "gateway", "--listen", listen, *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"gateway did not start: {proc.stderr.read() if proc.stderr else ''}")
        ready = json.loads(line)
        yield GatewayProcess(proc, ready["listen"], ready["metrics"])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def free_port() -> int:
    """A loopback port free right now (another process may take it; good enough for tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, timeout: float = 120.0, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """``aranya-perf ARGS`` as a subprocess with a hard timeout."""
    return subprocess.run(
        [sys.executable, "-m", "aranya_perf", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


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
