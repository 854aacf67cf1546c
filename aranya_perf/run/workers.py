"""Locust workers of a run: local worker processes the master starts, and the worker side itself.

A worker is ``aranya-perf worker --master-host H --master-port P``: a Locust ``WorkerRunner``
with the suite's user classes and nothing else configured. Everything about the run (the
resolved profile, the target, the worker count) comes from the master in Locust's spawn
messages, so the same command joins a run from another machine. A worker stops when its
master quits, or when it has not heard from it for Locust's heartbeat timeout; it gives up
(``MasterUnreachable``) when it cannot reach the master within its connect timeout.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO

from aranya_perf import child_process

STOP_TIMEOUT_S = 10.0
WORKERS_WAIT_S = 60.0
"""How long a master waits for all its workers to connect, unless told (``run --workers-wait``). A local
worker starting beside a run on a busy 2-core machine (Locust, gevent and grpc imports) took over 30 s;
one that died is seen at once (``LocalWorkers.exited``)."""


class MasterUnreachable(RuntimeError):
    """No Locust master answered within the worker's connect timeout."""


class LocalWorkers:
    """``count`` worker processes on this machine, each logging to ``<run dir>/worker-<n>.log``."""

    def __init__(self, count: int, master_port: int, run_dir: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        cmd = [sys.executable, "-m", "aranya_perf", "worker", "--master-host", "127.0.0.1"]
        for n in range(count):
            log = (run_dir / f"worker-{n}.log").open("wb")
            self._logs.append(log)
            self.procs.append(
                subprocess.Popen(
                    [*cmd, "--master-port", str(master_port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    **child_process.dies_with_parent(),
                )
            )

    @property
    def pids(self) -> dict[str, int]:
        return {f"worker-{n}": p.pid for n, p in enumerate(self.procs)}

    def exited(self) -> list[str]:
        return [
            f"worker-{n} exited with code {p.returncode}"
            for n, p in enumerate(self.procs)
            if p.poll() is not None
        ]

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Wait for workers that the master told to quit; terminate, then kill, the rest."""
        for p in self.procs:
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for log in self._logs:
            log.close()


def run_worker(
    master_host: str,
    master_port: int,
    connect_timeout: float = 30.0,
    *,
    address_map: str | None = None,
    metrics_listen: tuple[str, int] | None = None,
) -> int:
    """The worker side (imports Locust, which patches the process with gevent); returns an exit code.
    ``MasterUnreachable`` when nothing accepts a connection at the master's address, or the master does
    not answer Locust's handshake, within ``connect_timeout`` seconds. ``address_map``: where this
    worker's devices connect instead of the master's target; ``metrics_listen``: serve its live metrics."""
    import time

    from aranya_perf.targets import TargetUnreachable, format_address, wait_reachable

    address = format_address(master_host, master_port)
    started = time.monotonic()
    try:  # before Locust is imported: its import alone takes seconds
        wait_reachable(master_host, master_port, timeout=connect_timeout, what="Locust master")
    except TargetUnreachable as exc:
        raise MasterUnreachable(str(exc)) from None

    import gevent
    from locust.env import Environment

    from aranya_perf.gc_policy import collect_and_freeze
    from aranya_perf.loadtests import distributed
    from aranya_perf.loadtests.engine import shutdown_engine
    from aranya_perf.loadtests.scenarios import all_user_classes
    from aranya_perf.loadtests.settings import remember_worker_options, settings_for

    env = Environment(user_classes=all_user_classes())
    remember_worker_options(env, address_map)
    # Locust retries its handshake for minutes; a port that accepts but is no master ends here.
    remaining = max(1.0, connect_timeout - (time.monotonic() - started))
    try:
        with gevent.Timeout(remaining):
            runner = env.create_worker_runner(master_host, master_port)
    except gevent.Timeout:
        raise MasterUnreachable(f"{address} accepts connections but no Locust master answered") from None
    distributed.install_worker(env)
    live = None
    if metrics_listen is not None:
        from aranya_perf.loadtests.live_metrics import LiveMetrics

        live = LiveMetrics(env)
        print(f"aranya-perf worker: live metrics on http://{live.serve(*metrics_listen)}/metrics", flush=True)

    def freeze(**_kw: object) -> None:
        if settings_for(env).profile.fleet.gc_freeze:
            collect_and_freeze()

    env.events.spawning_complete.add_listener(freeze)
    try:
        runner.greenlet.join()
    except KeyboardInterrupt:
        runner.quit()
    finally:
        if live is not None:
            live.linger()  # the last counts reach a Prometheus that scrapes us
            live.stop()
        shutdown_engine()
    return 0
