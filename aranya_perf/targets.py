"""Target addresses: parsing ``HOST:PORT``, the loopback-only rule, reachability.

Load goes only to loopback unless the user explicitly allows a remote target;
this module is the one place that decides.
"""

from __future__ import annotations

import ipaddress
import socket
import time


class TargetError(ValueError):
    """A target address that is malformed or refused by policy."""


class TargetUnreachable(TargetError):
    """Nothing accepts connections at the target address."""


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


def wait_reachable(host: str, port: int, timeout: float) -> None:
    """Return once a TCP connect to host:port succeeds; raise TargetUnreachable after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TargetUnreachable(
                f"target {format_address(host, port)} unreachable after {timeout:g}s: {last}"
            )
        try:
            with socket.create_connection((host, port), timeout=min(1.0, remaining)):
                return
        except OSError as exc:
            last = exc
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
