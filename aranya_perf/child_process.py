"""Child processes the suite starts (the gateway, the link, the etcd cluster, the broker): the one JSON
ready line a verb prints, and a stop that always ends the child.

The ready line is read with raw reads on the pipe's fd, so no buffered file object (gevent's or the
stdlib's) can hold half a line while ``select()`` says there is nothing left to read.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterable
from typing import Any


class NotReady(RuntimeError):
    """The child exited, or printed no whole line in time; the message is one line."""


def read_ready_line(proc: subprocess.Popen[bytes], timeout: float, what: str) -> str:
    """The first line ``proc`` writes to its stdout pipe; ``NotReady`` naming ``what`` otherwise."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NotReady(f"no ready line within {timeout:g}s")
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise NotReady(f"{what} exited before it was ready")
            data += chunk
    return data.decode()


def terminate(procs: Iterable[subprocess.Popen[Any]], timeout: float) -> None:
    """SIGTERM to every one still running, then SIGKILL to those not gone within ``timeout`` in all."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen[Any] | None, timeout: float) -> int | None:
    """``terminate`` one child and close its pipes; its exit code (None if it never started)."""
    if proc is None:
        return None
    terminate([proc], timeout)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    return proc.returncode
