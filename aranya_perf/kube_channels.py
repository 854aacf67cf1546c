"""Kubernetes' websocket streaming protocols, as the gateway's Kubernetes face and its operators speak them.

Exec and attach (``v5.channel.k8s.io``, ``v4.channel.k8s.io``): every binary message starts with
one channel byte (0 stdin, 1 stdout, 2 stderr, 3 the final status as a ``metav1.Status`` JSON, 4
resize); v5 adds the close message ``[255, channel]`` (a half-close of stdin). Port-forward over
a websocket (``portforward.k8s.io`` / ``v4.channel.k8s.io``): port ``i`` of the request's list has
data channel ``2i`` and error channel ``2i+1``, and the server's first message on each carries the
port as two little-endian bytes. Only binary framing; the base64 variants are not spoken. SPDY is
not spoken at all (see docs/kubernetes.md).
"""

from __future__ import annotations

import json
from typing import Any

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
"""Preferred first, as kubectl 1.30+ offers them."""
PORT_FORWARD_PROTOCOLS = ("portforward.k8s.io", "v4.channel.k8s.io")
V5 = "v5.channel.k8s.io"

STDIN, STDOUT, STDERR, STATUS, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255
"""v5 only: ``[CLOSE, channel]`` says the sender will write no more on ``channel``."""


def frame(channel: int, data: bytes) -> bytes:
    return bytes((channel,)) + data


def port_header(channel: int, port: int) -> bytes:
    """The first message the server sends on a port-forward channel."""
    return bytes((channel, port & 0xFF, port >> 8))


def read_port_header(data: bytes) -> int:
    if len(data) != 3:
        raise ValueError(f"port-forward channel header of {len(data)} bytes, want 3")
    return data[1] | data[2] << 8


def exit_status(exit_code: int, message: str = "") -> bytes:
    """The status channel's message: Success, or a failure carrying the exit code as kubelet sends it."""
    if exit_code == 0 and not message:
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
    elif exit_code:
        status = {
            "metadata": {},
            "status": "Failure",
            "message": message or f"command terminated with non-zero exit code: exit code {exit_code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
        }
    else:
        status = {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError"}
    return frame(STATUS, json.dumps(status, separators=(",", ":")).encode())


def read_exit_status(body: bytes) -> int:
    """Exit code from a status message's JSON (without the channel byte); ValueError for a failure
    that is not a command's exit (the call itself failed)."""
    status = json.loads(body)
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in status.get("details", {}).get("causes", ()):
            if cause.get("reason") == "ExitCode":
                return int(cause["message"])
    raise ValueError(status.get("message") or "exec failed without a message")
