"""Target addresses: parsing ``HOST:PORT``, the loopback-only rule, reachability.

Load goes only to loopback unless the user explicitly allows a remote target;
this module is the one place that decides.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Mapping


class TargetError(ValueError):
    """A target address that is malformed or refused by policy."""


class TargetUnreachable(TargetError):
    """Nothing accepts connections at the target address."""


class TargetNotGrpc(TargetUnreachable):
    """Something accepts connections at the target address, but it does not speak gRPC (HTTP/2)."""


def parse_address(text: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[v6]:PORT`` for IPv6) into host and port."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise TargetError(f"not a HOST:PORT address: {text!r}")
    return host, int(port)


def strip_scheme(target: str) -> str:
    """``grpc://h:p/`` (or grpcs, http, https, mqtt) as ``h:p``: Locust's --host often carries a scheme."""
    for prefix in ("grpc://", "grpcs://", "http://", "https://", "mqtt://"):
        if target.startswith(prefix):
            return target[len(prefix) :].rstrip("/")
    return target


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and names that resolve only to those."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_target(text: str, *, allow_remote: bool = False) -> tuple[str, int]:
    """Parse ``text`` and enforce the loopback rule; return (host, port)."""
    host, port = parse_address(text)
    if port == 0:
        raise TargetError(f"target port must not be 0: {text!r}")
    if not allow_remote and not is_loopback(host):
        raise TargetError(
            f"refusing non-loopback target {text!r}: "
            "load goes only to loopback unless --allow-remote is given"
        )
    return host, port


def wait_reachable(host: str, port: int, timeout: float, what: str = "target") -> None:
    """Return once a TCP connect to host:port succeeds; raise TargetUnreachable (naming ``what`` is
    unreachable) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TargetUnreachable(
                f"{what} {format_address(host, port)} unreachable after {timeout:g}s: {last}"
            )
        try:
            with socket.create_connection((host, port), timeout=min(1.0, remaining)):
                return
        except OSError as exc:
            last = exc
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


TLS_ENVIRONMENT = {"ca": "ARANYA_PERF_TLS_CA", "cert": "ARANYA_PERF_TLS_CERT", "key": "ARANYA_PERF_TLS_KEY"}
"""TLS material a run's gRPC users read from the environment when the profile names none
(``aranya_perf.loadtests.grpc_user.GrpcUser``)."""


def tls_in_use(ca: str | None, cert: str | None, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a run's gRPC users speak TLS: the profile names a CA or a client certificate, or the
    environment does."""
    return bool(ca or cert or environ.get(TLS_ENVIRONMENT["ca"]) or environ.get(TLS_ENVIRONMENT["cert"]))


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # + empty SETTINGS
_SETTINGS = 4


def probe_grpc(host: str, port: int, timeout: float) -> None:
    """Raise ``TargetNotGrpc`` when the plaintext server at host:port answers HTTP/2's connection preface
    with anything but HTTP/2 (an HTTP/1 server's "400 Bad Request", a TLS alert) or closes at once; gRPC
    clients only report that as "Failed parsing HTTP/2" on every call. A server that stays silent for
    ``timeout`` s passes: silence proves nothing (a frozen gRPC server is silent too)."""
    address = format_address(host, port)
    answer = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_H2_PREFACE)
            while len(answer) < 9:
                chunk = sock.recv(9 - len(answer))
                if not chunk:
                    break
                answer += chunk
            if len(answer) == 9 and answer[3] == _SETTINGS:
                return
            if len(answer) == 9:
                answer += sock.recv(120)  # enough of the answer to show what it is
    except TimeoutError:
        if not answer:
            return
    except OSError as exc:
        if not answer:
            raise TargetUnreachable(f"target {address} unreachable: {exc.strerror or exc}") from None
    if answer[:1] in (b"\x15", b"\x16"):
        raise TargetNotGrpc(
            f"target does not speak gRPC in plaintext: {address} answered with TLS (set target.tls_ca)"
        )
    lines = [line for line in answer.decode("latin-1").splitlines() if line.strip()]
    said = repr(lines[0][:60]) if lines else "nothing (closed)"
    raise TargetNotGrpc(f"target does not speak gRPC: {address} answered HTTP/2's preface with {said}")
