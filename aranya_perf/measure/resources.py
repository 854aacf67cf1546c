"""Per-second CPU / memory / thread / fd samples of the processes under test, into ``resources.csv``.

Runs both in plain Python and inside a gevent-monkey-patched Locust process: the
loop is a ``threading.Thread`` waiting on a ``threading.Event``, which gevent turns
into a greenlet and a cooperative wait. A sample only reads ``/proc`` (via psutil's
``oneshot``), so it never holds the loop for long.

``wait_percent`` is the time the process's threads were ready to run but waited for a CPU (Linux's
``/proc/<pid>/task/*/schedstat``), % of one core: with ``cpu_percent`` it tells how much CPU the process
wanted, which on a machine shared with other work is more than it got (empty where the OS would not tell).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from aranya_perf.results import CsvAppender

RESOURCE_COLUMNS = (
    "timestamp", "elapsed_s", "process", "pid", "cpu_percent", "rss_bytes", "threads", "fds", "wait_percent",
)  # fmt: skip

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Stats:
    samples: int = 0
    cpu_sum: float = 0.0
    cpu_max: float = 0.0
    rss_max: int = 0
    threads_max: int = 0
    fds_max: int | None = None

    def add(self, cpu: float, rss: int, threads: int, fds: int | None) -> None:
        self.samples += 1
        self.cpu_sum += cpu
        self.cpu_max = max(self.cpu_max, cpu)
        self.rss_max = max(self.rss_max, rss)
        self.threads_max = max(self.threads_max, threads)
        if fds is not None:
            self.fds_max = fds if self.fds_max is None else max(self.fds_max, fds)


class ResourceSampler:
    """Samples each ``role -> pid`` every ``interval`` seconds until ``stop()``.

    ``cpu_percent`` is of one core (may exceed 100) over the time since the previous
    sample; psutil needs a priming call to start that window, done when a process is
    added. A process that exits is dropped from sampling (logged once), never an error.
    ``t0`` is the unix time ``elapsed_s`` counts from (default: construction time).
    """

    def __init__(
        self,
        out_csv: Path,
        processes: dict[str, int],
        interval: float = 1.0,
        t0: float | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.out_csv = Path(out_csv)
        self.interval = interval
        self.t0 = time.time() if t0 is None else t0
        self._lock = threading.Lock()
        self._procs: dict[str, psutil.Process] = {}
        self._waited: dict[str, tuple[float, int]] = {}  # role -> (monotonic s, run-queue wait ns) last read
        self._stats: dict[str, _Stats] = {}
        self._exited: set[str] = set()
        self._appender: CsvAppender | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for role, pid in processes.items():
            self.add_process(role, pid)

    def add_process(self, role: str, pid: int) -> None:
        """Start sampling another process (e.g. a gateway spawned after the sampler)."""
        with self._lock:
            if role in self._procs:
                raise ValueError(f"role {role!r} is already sampled (pid {self._procs[role].pid})")
            self._stats.setdefault(role, _Stats())
            try:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)  # primes the window the first real sample measures
                if (waited := _run_queue_wait_ns(pid)) is not None:
                    self._waited[role] = (time.monotonic(), waited)
            except psutil.NoSuchProcess:
                log.warning("resource sampler: %s (pid %d) is not running; not sampling it", role, pid)
                self._exited.add(role)
                return
            self._exited.discard(role)
            self._procs[role] = proc

    @property
    def roles(self) -> list[str]:
        """Roles still being sampled."""
        with self._lock:
            return list(self._procs)

    def start(self) -> None:
        """Sample in the background every ``interval`` seconds (first sample one interval from now)."""
        if self._thread is not None:
            raise RuntimeError("ResourceSampler already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and close resources.csv; safe to call more than once."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._lock:
            if self._appender is not None:
                self._appender.close()
                self._appender = None

    def _loop(self) -> None:
        # Deadlines on a fixed grid so slow samples do not make the series drift.
        next_at = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            try:
                self.sample_once()
            except Exception:  # a sampler bug must not take the load test down with it
                log.exception("resource sampler: sample failed")
            next_at += self.interval
            now = time.monotonic()
            if next_at < now:  # fell behind (e.g. a suspended VM): skip the missed ticks
                next_at = now + self.interval

    def sample_once(self) -> list[dict[str, Any]]:
        """Take one sample of every live process, append it to resources.csv and return the rows."""
        now = time.time()
        rows: list[dict[str, Any]] = []
        with self._lock:
            for role, proc in list(self._procs.items()):
                row = self._sample(role, proc, now)
                if row is None:
                    del self._procs[role]
                    self._exited.add(role)
                    log.info("resource sampler: %s (pid %d) exited; no longer sampled", role, proc.pid)
                    continue
                rows.append(row)
                self._stats[role].add(row["cpu_percent"], row["rss_bytes"], row["threads"], row["fds"])
            if rows:
                if self._appender is None:
                    self._appender = CsvAppender(self.out_csv, RESOURCE_COLUMNS)
                self._appender.append_many(rows)
        return rows

    def _sample(self, role: str, proc: psutil.Process, now: float) -> dict[str, Any] | None:
        try:
            # is_running also compares create time, so a recycled pid counts as exited.
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            with proc.oneshot():
                cpu = proc.cpu_percent(None)
                rss = proc.memory_info().rss
                threads = proc.num_threads()
                try:
                    fds = proc.num_fds() if hasattr(proc, "num_fds") else proc.num_handles()
                except psutil.AccessDenied:
                    fds = None
        except psutil.NoSuchProcess:  # includes ZombieProcess
            return None
        return {
            "timestamp": round(now, 3),
            "elapsed_s": round(now - self.t0, 3),
            "process": role,
            "pid": proc.pid,
            "cpu_percent": round(cpu, 2),
            "rss_bytes": rss,
            "threads": threads,
            "fds": fds,
            "wait_percent": self._wait_percent(role, proc.pid),
        }

    def _wait_percent(self, role: str, pid: int) -> float | None:
        waited, at = _run_queue_wait_ns(pid), time.monotonic()
        before = self._waited.pop(role, None)
        if waited is None:
            return None
        self._waited[role] = (at, waited)
        if before is None or at <= before[0]:
            return None
        return round(max(0, waited - before[1]) / 1e9 / (at - before[0]) * 100.0, 2)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per role: mean/max CPU % (of one core), max RSS, threads and fds over all samples taken.

        Roles never sampled have a None mean and zero/None maxima, so the keys are stable;
        all values are JSON-safe for meta.json's summary.
        """
        with self._lock:
            out: dict[str, dict[str, Any]] = {}
            for role, st in self._stats.items():
                out[role] = {
                    "cpu_percent_mean": round(st.cpu_sum / st.samples, 2) if st.samples else None,
                    "cpu_percent_max": round(st.cpu_max, 2),
                    "rss_max_bytes": st.rss_max,
                    "threads_max": st.threads_max,
                    "fds_max": st.fds_max,
                    "samples": st.samples,
                    "exited": role in self._exited,
                }
            return out

    def __enter__(self) -> ResourceSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _run_queue_wait_ns(pid: int) -> int | None:
    """Nanoseconds the threads of ``pid`` (those alive now) spent runnable but not running; None off Linux."""
    total, found = 0, False
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])
            found = True
        except (OSError, IndexError, ValueError):  # a thread gone between the listing and the read
            continue
    return total if found else None


def read_samples(path: Path, t0: float) -> pd.DataFrame:
    """``resources.csv`` with ``elapsed_s`` counted from ``t0``; empty when absent or unreadable."""
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame(columns=list(RESOURCE_COLUMNS))
    if not set(RESOURCE_COLUMNS) <= set(frame.columns):
        return pd.DataFrame(columns=list(RESOURCE_COLUMNS))
    frame["timestamp"] = pd.to_numeric(frame["timestamp"], errors="coerce")
    frame = frame.dropna(subset=["timestamp"])
    frame["elapsed_s"] = frame["timestamp"] - t0
    return frame
