"""Short-lived helper commands (etcdctl, the key-space writer) started with ``posix_spawn``, not fork.

The run's process has grpc.aio threads alive by the time it calls etcdctl, and a child forked
from it runs gRPC's fork handlers before it execs: they log "skipping fork() handlers" and can
abort the child ("epoll_wait error: Bad file descriptor", the crash ``tests/conftest.py`` works
around). ``posix_spawn`` creates the child without fork handlers. Output is read with ``select``,
which gevent makes cooperative in the run's process, so other greenlets keep running meanwhile.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence


def run(
    cmd: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (stdin from /dev/null), capturing stdout and stderr as text; ``TimeoutExpired``
    (the child killed) after ``timeout`` seconds, ``FileNotFoundError`` for a missing program."""
    program = shutil.which(cmd[0]) or cmd[0]
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawn(
            program,
            list(cmd),
            dict(os.environ if env is None else env),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ],
        )
    except BaseException:
        for fd in (out_r, err_r):
            os.close(fd)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    open_fds = [out_r, err_r]
    deadline = time.monotonic() + timeout
    try:
        while open_fds:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(list(cmd), timeout)
            readable, _, _ = select.select(open_fds, [], [], min(remaining, 1.0))
            for fd in readable:
                data = os.read(fd, 65536)
                if data:
                    chunks[fd].append(data)
                else:
                    open_fds.remove(fd)
    finally:
        for fd in (out_r, err_r):
            os.close(fd)
        _, status = os.waitpid(pid, 0)  # both pipes closed: the child has exited or is exiting
    out, err = (b"".join(chunks[fd]).decode(errors="replace") for fd in (out_r, err_r))
    return subprocess.CompletedProcess(list(cmd), os.waitstatus_to_exitcode(status), out, err)
