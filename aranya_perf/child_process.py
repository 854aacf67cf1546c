"""Child processes the suite starts (the gateway, the link, the etcd cluster, the broker, workers): how they
are spawned so none outlives its parent, the one JSON ready line a verb prints, and a stop that always
ends the child.

Every spawn passes ``**dies_with_parent()`` to ``Popen``: the orderly stop (``stop``, ``terminate``)
runs on every normal exit, and the parent-death signal covers the rest (the parent SIGKILLed, or
leaving at once on a second stop signal). The child also gets its own process group, so a Ctrl-C
typed at a terminal reaches the parent alone, and the parent stops its children in order.

The ready line is read with raw reads on the pipe's fd, so no buffered file object (gevent's or the
stdlib's) can hold half a line while ``select()`` says there is nothing left to read.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from typing import Any

_PR_SET_PDEATHSIG = 1
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)  # loaded before any fork, never after
except OSError:
    _LIBC = None


def dies_with_parent(
    sig: int = signal.SIGKILL, before_exec: Callable[[], None] | None = None, *, own_group: bool = True
) -> dict[str, Any]:
    """``Popen`` keywords that make the child get ``sig`` when this process (strictly: the thread that
    spawns it, so spawn from the main thread or one that outlives the child) dies, and put it in its
    own process group unless ``own_group`` is False.

    SIGKILL, the default, also ends a child that is stopped (a frozen gateway). ``before_exec`` runs in
    the child too, after the rest."""
    return {"preexec_fn": functools.partial(_in_child, os.getpid(), sig, before_exec, own_group)}


def _in_child(parent: int, sig: int, before_exec: Callable[[], None] | None, own_group: bool) -> None:
    # Between fork and exec: only async-signal-safe work, no locks, no imports.
    if own_group:
        with contextlib.suppress(OSError):  # already a session leader (start_new_session)
            os.setpgid(0, 0)
    if _LIBC is not None and hasattr(_LIBC, "prctl"):
        _LIBC.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(1)
    if before_exec is not None:
        before_exec()


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
