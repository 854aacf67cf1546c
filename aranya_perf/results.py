"""The results directory of one load-test run: its layout, ``meta.json``, crash-safe file writes.

A run lives in ``results/<YYYYmmddTHHMMSSZ>-<profile>/``; ``RunFiles`` names every file in
it, and ``META_SCHEMA_VERSION`` versions the layout (meta.json carries it). Whole files
(meta.json, latency.csv, reports) are replaced atomically so a reader never sees half a
file; row-by-row logs (resources.csv, timeline.csv, events.jsonl) go through
``CsvAppender`` and ``EventLog``, which flush every row so a crash leaves a readable
prefix. This module is the only writer and reader of ``meta.json``.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata
import io
import json
import os
import platform
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

META_SCHEMA_VERSION = 3
"""2: meta.json gains ``protocol``, ``shape`` and ``window``; profile.toml, events.jsonl, timeline.csv,
latency_intervals.jsonl, slo.json, slo.xml and (distributed runs) workers.csv join the run directory.
3: meta.json is the run's record (``aranya_perf.run.record``), written once per phase: it gains ``phases``,
``reason`` always and ``window.workers_lost``; every key of 2 stays."""
META_FILE = "meta.json"


class RunFiles:
    """Every file of a run directory, by what it holds (one place names them all)."""

    META = META_FILE
    PROFILE = "profile.toml"  # the resolved profile the run ran
    EVENTS = "events.jsonl"  # phases, outages, SLO verdicts, workers joining and leaving
    STATS = "locust_stats.csv"
    HISTORY = "locust_stats_history.csv"
    FAILURES = "locust_failures.csv"
    EXCEPTIONS = "locust_exceptions.csv"
    LATENCY = "latency.csv"
    LATENCY_HDR = "latency_hdr.json"
    LATENCY_INTERVALS = "latency_intervals.jsonl"
    TIMELINE = "timeline.csv"  # per second: users, devices online, connects, missed starts
    SAMPLES = "samples.csv"  # every raw response time, when the profile keeps them
    WORKERS = "workers.csv"  # what each Locust worker reported, per request kind
    OBSERVATIONS = "observations.jsonl"  # what devices and operators saw that the invariants judge
    FINDINGS = "findings.json"  # the invariants broken (aranya_perf.findings)
    FINDINGS_JUNIT = "findings.xml"  # the same, one JUnit testcase per invariant
    DRIFT = "drift.json"  # the target's cost per request and memory over time (aranya_perf.judge.drift)
    RESOURCES = "resources.csv"
    GATEWAY_METRICS = "gateway_metrics.prom"
    ADDRESS_MAP = "address_map.csv"
    KUBECONFIG = "kubeconfig"  # the embedded gateway's Kubernetes face (a bearer token, mode 0600)
    GATEWAY_LOG = "gateway.log"
    BROKER_LOG = "broker.log"  # the embedded MQTT broker's stderr (transport mqtt)
    BROKER_SYS = "broker_sys.json"  # the MQTT broker's $SYS counters after the window (transport mqtt)
    LINKS = "links.toml"  # the profile's custom link tables, as the link process reads them
    LINK_MAP = "link_map.csv"  # where devices connect through the link
    LINK_EVENTS = "link_events.jsonl"  # the link's partitions and resets
    LINK_LOG = "link.log"
    ETCD_LOG = "etcd-cluster.log"  # scenario etcd: the run's own cluster (its members log into its data dir)
    ETCD_CHECK_PERF = "etcd_check_perf.json"  # scenario etcd: etcdctl check perf against the same cluster
    PROMETHEUS = "prometheus"  # one JSON per [[query]] of the profile
    GRPC_DESCRIPTORS = "grpc_descriptors.binpb"  # scenario grpc: the service's FileDescriptorSet
    SLO = "slo.json"
    SLO_JUNIT = "slo.xml"
    REPORT_MD = "report.md"
    REPORT_HTML = "report.html"
    PLOTS = "plots"


TIMELINE_COLUMNS = (
    "timestamp", "elapsed_s", "phase", "devices_target", "users", "devices", "online", "connects",
    "reconnects", "arrivals", "missed_starts", "queued_starts", "calls_in_flight", "workers", "target_up",
)  # fmt: skip
"""timeline.csv, one row per second of the window: the shape's phase and target, users, devices held and
online, streams opened (and reopened), open-model arrivals (missed and queued starts), operator calls in
flight, workers reporting, whether the target answered."""
RUN_STATUSES = ("running", "ok", "failed", "interrupted")

# Versions recorded in meta.json so a result can be tied to the stack that produced it.
RECORDED_PACKAGES = (
    "locust",
    "grpcio",
    "protobuf",
    "gevent",
    "pandas",
    "numpy",
    "matplotlib",
    "psutil",
    "prometheus-client",
    "hdrhistogram",
    "aranya-perf",
)

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RUN_DIR_STAMP = "%Y%m%dT%H%M%SZ"
_MAX_COLLISIONS = 1000


class ResultsError(ValueError):
    """A results directory or file that is missing, corrupt, or from an incompatible version."""


# --- atomic whole-file writes -------------------------------------------------------------------


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see either the old or the new file, never a mix.

    The temporary file lives in the same directory because ``os.replace`` is only
    atomic within one filesystem.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; results are meant to be shared like any other output file.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path | str, text: str, encoding: str = "utf-8") -> None:
    """``atomic_write_bytes`` for text; newlines are written as given (no platform translation)."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: Path | str, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON (stable diffs) with a trailing newline."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform (e.g. Windows), hence best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- run directories ----------------------------------------------------------------------------


def new_run_dir(root: Path, profile: str, now: datetime | None = None) -> Path:
    """Create and return ``root/<YYYYmmddTHHMMSSZ>-<profile>`` (``-2``, ``-3``... if taken).

    ``mkdir`` without ``exist_ok`` is the atomic claim, so two runs starting in the
    same second never share a directory.
    """
    if not _PROFILE_NAME.match(profile):
        raise ResultsError(f"profile name not usable in a directory name: {profile!r}")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ResultsError("new_run_dir needs a timezone-aware time")
    base = f"{now.astimezone(UTC).strftime(_RUN_DIR_STAMP)}-{profile}"
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, _MAX_COLLISIONS + 1):
        candidate = root / (base if n == 1 else f"{base}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise ResultsError(f"more than {_MAX_COLLISIONS} run directories named {base} in {root}")


# --- meta.json ----------------------------------------------------------------------------------


def utc_now_iso() -> str:
    """Current UTC time as ISO 8601 with millisecond precision and a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def collect_meta(
    argv: Sequence[str],
    config: Mapping[str, Any],
    target: Mapping[str, Any],
    profile: str,
    run_id: str,
) -> dict[str, Any]:
    """The initial ``meta.json`` of a run: status ``running``, provenance filled, summary empty."""
    return {
        "schema_version": META_SCHEMA_VERSION,
        "run_id": run_id,
        "profile": profile,
        "status": "running",
        "started_at": utc_now_iso(),
        "finished_at": None,
        "argv": list(argv),
        "config": dict(config),
        "target": dict(target),
        **provenance(),
        "summary": {},
    }


def provenance() -> dict[str, dict[str, Any]]:
    """What ties a result to the stack that produced it: ``git``, ``host``, ``packages``."""
    return {"git": _git_info(), "host": _host_info(), "packages": _package_versions()}


def write_meta(run_dir: Path, meta: Mapping[str, Any]) -> None:
    """Atomically (re)write ``run_dir/meta.json``."""
    status = meta.get("status")
    if status not in RUN_STATUSES:
        raise ResultsError(f"meta status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
    atomic_write_json(Path(run_dir) / META_FILE, dict(meta))


def read_meta(run_dir: Path) -> dict[str, Any]:
    """Load ``run_dir/meta.json``; ResultsError if missing, corrupt, or from a newer schema."""
    path = Path(run_dir) / META_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path} not found: not a run directory") from None
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(meta, dict):
        raise ResultsError(f"{path} does not hold a JSON object")
    version = meta.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultsError(f"{path} has no valid schema_version (got {version!r})")
    if version > META_SCHEMA_VERSION:
        raise ResultsError(
            f"{path} has schema_version {version}, newer than the {META_SCHEMA_VERSION} this "
            "aranya-perf understands: upgrade aranya-perf to read it"
        )
    return meta


def finish_meta(
    run_dir: Path,
    status: str,
    summary: Mapping[str, Any] | None = None,
    finished_at: str | None = None,
) -> dict[str, Any]:
    """Set the final status, ``finished_at`` and (merged) summary of a run's meta.json; returns it."""
    meta = read_meta(run_dir)
    meta["status"] = status
    meta["finished_at"] = finished_at or utc_now_iso()
    if summary:
        meta["summary"] = {**(meta.get("summary") or {}), **summary}
    write_meta(run_dir, meta)
    return meta


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(_repo_root()), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _git_info() -> dict[str, Any]:
    """sha and dirty flag of the checkout this package runs from; nulls when unknown.

    The top-level check keeps an installed (non-editable) copy inside some unrelated
    repository, e.g. a venv under another project, from reporting that project's sha.
    """
    top = _git("rev-parse", "--show-toplevel")
    if top is None or Path(top.strip()).resolve() != _repo_root():
        return {"sha": None, "dirty": None}
    sha = _git("rev-parse", "--verify", "--quiet", "HEAD")  # fails before the first commit
    status = _git("status", "--porcelain")
    return {
        "sha": (sha.strip() or None) if sha is not None else None,
        "dirty": bool(status.strip()) if status is not None else None,
    }


def _host_info() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# --- append-only CSV ----------------------------------------------------------------------------


class CsvAppender:
    """Appends rows to a CSV, flushing each one, so a crashed run leaves a readable file.

    The header is written once, when the file is new or empty; reopening an existing
    file continues it (and refuses one with a different header). Rows are dicts keyed
    by the field names (missing keys are written empty) or sequences in field order.
    Safe to share between threads.
    """

    def __init__(self, path: Path | str, fieldnames: Sequence[str]) -> None:
        self.path = Path(path)
        self.fieldnames = list(fieldnames)
        self._lock = threading.Lock()
        new = not self.path.exists() or self.path.stat().st_size == 0
        if not new:
            self._check_existing()
        # buffering=1 (line-buffered) plus explicit flushes: each row reaches the OS as one write.
        self._fh: io.TextIOWrapper | None = open(  # noqa: SIM115 - lives as long as the appender
            self.path, "a", newline="", encoding="utf-8", buffering=1
        )
        self._writer = csv.writer(self._fh, lineterminator="\n")
        if new:
            self._writer.writerow(self.fieldnames)
            self._fh.flush()

    def _check_existing(self) -> None:
        with open(self.path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        if header != self.fieldnames:
            raise ResultsError(f"{self.path} has columns {header}, expected {self.fieldnames}")
        with open(self.path, "rb+") as fh:
            # A crash mid-row leaves no trailing newline; end that row so ours starts on a fresh line.
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")

    def append(self, row: Mapping[str, Any] | Sequence[Any]) -> None:
        """Write one row and flush it."""
        self.append_many([row])

    def append_many(self, rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> None:
        """Write several rows, then flush once."""
        values = [self._values(row) for row in rows]
        with self._lock:
            if self._fh is None:
                raise ResultsError(f"{self.path}: appender is closed")
            self._writer.writerows(values)
            self._fh.flush()

    def _values(self, row: Mapping[str, Any] | Sequence[Any]) -> list[Any]:
        if isinstance(row, Mapping):
            unknown = set(row) - set(self.fieldnames)
            if unknown:
                raise ValueError(f"{self.path}: unknown columns {sorted(unknown)}")
            return ["" if row.get(k) is None else row.get(k) for k in self.fieldnames]
        values = list(row)
        if len(values) != len(self.fieldnames):
            raise ValueError(f"{self.path}: row has {len(values)} values, expected {len(self.fieldnames)}")
        return ["" if v is None else v for v in values]

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    @property
    def closed(self) -> bool:
        return self._fh is None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventLog:
    """``events.jsonl``: one JSON object per line (``t`` unix seconds, ``event``, details), flushed each.

    What happened during a run, in order: phases of the shape, outages, SLO verdicts, workers
    joining and leaving, the target going away. A crash leaves every line written before it.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh: io.TextIOWrapper | None = open(  # noqa: SIM115 - lives as long as the log
            self.path, "a", encoding="utf-8", buffering=1
        )

    def write(self, event: str, t: float | None = None, **details: Any) -> dict[str, Any]:
        """Append one event; returns it as written."""
        record = {"t": round(time.time() if t is None else t, 3), "event": event, **details}
        line = json.dumps(record, sort_keys=True, default=str)
        with self._lock:
            if self._fh is not None:
                self._fh.write(line + "\n")
                self._fh.flush()
        return json.loads(line)

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def read_events(path: Path | str) -> list[dict[str, Any]]:
    """The events of an ``events.jsonl``, skipping a torn last line (a crash mid-write) and blank ones."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return []
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict) and "event" in item and isinstance(item.get("t"), int | float):
            out.append(item)
    return out
