"""``aranya-perf etcd-cluster``: a local etcd cluster on loopback until signalled or its run time ends.

Prints exactly one JSON line on stdout once every member is healthy:
``{"event": "ready", "endpoints": ["127.0.0.1:P", ...], "members": [{"name", "client", "peer_url",
"pid", "log"}, ...], "pid": N, "data_dir": PATH}``; everything else goes to stderr. SIGINT/SIGTERM
or ``--duration`` stop it with exit code 0 (members stopped, data removed); a member that dies on
its own ends it with exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from aranya_perf.cli import UsageError
from aranya_perf.cli.args import duration
from aranya_perf.targets import is_loopback

if TYPE_CHECKING:
    from aranya_perf.etcd.cluster import EtcdCluster

_POLL_S = 0.5


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "etcd-cluster",
        help="run a local etcd cluster (3 members on loopback, data on tmpfs) until interrupted",
        description="Start etcd members on free loopback ports (client and peer URLs on --host), data "
        "directories on tmpfs when there is one; print one JSON ready line with the client endpoints once "
        "all are healthy; SIGINT/SIGTERM or --duration stop them and remove the data.",
    )
    p.add_argument("--members", type=int, default=3, help="number of members, 1-7 (default 3)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--etcd", default="etcd", metavar="PATH", help="etcd executable (default: etcd on PATH)")
    p.add_argument(
        "--data-root",
        type=Path,
        metavar="DIR",
        help="where the data directory goes (default /dev/shm, else the temp directory)",
    )
    p.add_argument("--duration", type=duration, metavar="DURATION", help="stop by itself after this long")
    p.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="also stop when stdin closes (how a parent process makes sure the cluster dies with it)",
    )


def run(args: argparse.Namespace) -> int:
    from aranya_perf.etcd.cluster import EtcdCluster, EtcdClusterError

    if not is_loopback(args.host):
        raise UsageError(f"--host {args.host!r} is not a loopback address")
    if args.data_root is not None and not args.data_root.is_dir():
        raise UsageError(f"--data-root {args.data_root} is not a directory")
    stop = _StopFlag()
    try:
        cluster = EtcdCluster(args.members, etcd=args.etcd, host=args.host, root=args.data_root)
    except EtcdClusterError as exc:
        raise UsageError(str(exc)) from None
    try:
        try:
            cluster.start()
        except EtcdClusterError as exc:
            raise UsageError(str(exc)) from None
        sys.stdout.write(json.dumps(cluster.ready_line()) + "\n")
        sys.stdout.flush()
        return _serve(cluster, args, stop)
    finally:
        with _signals_ignored():  # a second Ctrl-C must not leave members or data behind
            cluster.stop()


def _serve(cluster: EtcdCluster, args: argparse.Namespace, stop: _StopFlag) -> int:
    deadline = None if args.duration is None else time.monotonic() + args.duration
    watch = [sys.stdin.fileno()] if args.stop_on_stdin_eof else []
    while not stop.set:
        if not cluster.alive():
            print("aranya-perf etcd-cluster: error: an etcd member exited", file=sys.stderr)
            return 1
        wait = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
        if wait <= 0:
            break
        try:
            readable, _, _ = select.select(watch, [], [], wait)
        except InterruptedError:
            continue
        if readable and not _drain(watch[0]):
            break  # EOF: whoever started us is gone
    return 0


def _drain(fd: int) -> bool:
    try:
        return bool(os.read(fd, 4096))
    except OSError:
        return False


class _StopFlag:
    def __init__(self) -> None:
        self.set = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, *_: object) -> None:
        self.set = True


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
