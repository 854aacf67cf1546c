"""A local etcd cluster on loopback: N members on free ports, data on tmpfs, gone afterwards.

``EtcdCluster`` starts the members as child processes of the calling process (the
``aranya-perf etcd-cluster`` verb); ``EtcdClusterProcess`` runs that verb as a child of its own
and reads its one JSON ready line, as ``GatewayProcess`` does for the gateway. The layering is
what keeps orphans away: each member gets ``PR_SET_PDEATHSIG`` (SIGKILL) so it dies with the
verb however the verb ends, and the verb treats EOF on its stdin (its parent gone, even by
SIGKILL) as a stop, so it still removes the data. A data directory left by a verb that was
itself SIGKILLed is removed by the next start (its owner pid is written inside it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aranya_perf import child_process

DEFAULT_MEMBERS = 3
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
MEMBER_STOP_TIMEOUT_S = 2.0
"""A member's grace after SIGTERM before SIGKILL. Members stopped together spend seconds handing
leadership to each other (7-8 s measured for 3); the data is thrown away, so nothing is lost."""
_TMPFS = Path("/dev/shm")
_DIR_PREFIX = "aranya-perf-etcd-"
_OWNER_FILE = "owner.pid"
_PORT_ATTEMPTS = 3


class EtcdClusterError(RuntimeError):
    """etcd is missing, a member failed to start, or the cluster did not become healthy."""


@dataclass(frozen=True)
class Member:
    """One member: its name, client address (``host:port``), peer URL, pid and log file."""

    name: str
    client: str
    peer_url: str
    pid: int
    log: str

    @property
    def client_url(self) -> str:
        return f"http://{self.client}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "client": self.client,
            "peer_url": self.peer_url,
            "pid": self.pid,
            "log": self.log,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Member:
        return cls(
            str(obj["name"]), str(obj["client"]), str(obj["peer_url"]), int(obj["pid"]), str(obj["log"])
        )


def find_etcd(binary: str = "etcd") -> str:
    """The etcd executable's path, or an EtcdClusterError saying how to install it."""
    path = shutil.which(binary)
    if path is None:
        raise EtcdClusterError(
            f"{binary!r} not found: install etcd (Debian: apt-get install etcd-server) or pass --etcd"
        )
    return path


def data_root() -> Path:
    """Where member data goes: tmpfs when there is one (fsync is then free, as the suite measures
    etcd's request path rather than this machine's disk), else the system temp directory."""
    if _TMPFS.is_dir() and os.access(_TMPFS, os.W_OK):
        return _TMPFS
    return Path(tempfile.gettempdir())


def remove_stale_dirs(root: Path) -> list[Path]:
    """Remove data directories under ``root`` whose owning process is gone; return them."""
    removed = []
    for d in root.glob(_DIR_PREFIX + "*"):
        try:
            pid = int((d / _OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue  # not ours to judge: no owner file, maybe still being created
        if _alive(pid):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_ports(host: str, n: int) -> list[int]:
    # Held open together so the n ports differ; etcd binds them a moment later, and a port
    # taken in between shows up as a member that exits, which start() retries.
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class EtcdCluster:
    """N etcd members on ``host`` (loopback), started as children of this process.

    ``start()`` returns once every member reports healthy; ``stop()`` (also the context
    manager's exit) terminates them and removes their data. Call both from the same thread:
    the members' death signal follows the thread that started them.
    """

    def __init__(
        self,
        members: int = DEFAULT_MEMBERS,
        *,
        etcd: str = "etcd",
        host: str = "127.0.0.1",
        root: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        if not 1 <= members <= 7:
            raise EtcdClusterError(f"members must be between 1 and 7, not {members}")
        self.size = members
        self.etcd = etcd
        self.host = host
        self.root = root
        self.extra_args = list(extra_args)
        self.dir: Path | None = None
        self.members: list[Member] = []
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def endpoints(self) -> list[str]:
        """Client addresses, ``host:port`` each."""
        return [m.client for m in self.members]

    def start(self, timeout: float = START_TIMEOUT_S) -> EtcdCluster:
        binary = find_etcd(self.etcd)
        root = self.root or data_root()
        remove_stale_dirs(root)
        self.dir = Path(tempfile.mkdtemp(prefix=_DIR_PREFIX, dir=root))
        (self.dir / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        try:
            for attempt in range(_PORT_ATTEMPTS):
                try:
                    self._launch(binary, attempt)
                    self._wait_healthy(timeout)
                    return self
                except _PortClash:
                    self._kill_members()
            raise EtcdClusterError(
                f"members kept losing their ports to other processes ({_PORT_ATTEMPTS} attempts)"
            )
        except BaseException:
            self.stop()
            raise

    def _launch(self, binary: str, attempt: int) -> None:
        assert self.dir is not None
        ports = _free_ports(self.host, 2 * self.size)
        names = [f"m{i}" for i in range(self.size)]
        peers = [f"http://{self.host}:{ports[2 * i + 1]}" for i in range(self.size)]
        initial = ",".join(f"{n}={p}" for n, p in zip(names, peers, strict=True))
        token = f"aranya-perf-{os.getpid()}-{self.dir.name}-{attempt}"
        self.members, self._procs = [], []
        for i, name in enumerate(names):
            client = f"{self.host}:{ports[2 * i]}"
            data = self.dir / f"{name}.{attempt}"
            log = self.dir / f"{name}.log"
            cmd = [
                binary,
                "--name", name,
                "--data-dir", str(data),
                "--listen-client-urls", f"http://{client}",
                "--advertise-client-urls", f"http://{client}",
                "--listen-peer-urls", peers[i],
                "--initial-advertise-peer-urls", peers[i],
                "--initial-cluster", initial,
                "--initial-cluster-token", token,
                "--initial-cluster-state", "new",
                "--logger", "zap",
                "--log-outputs", "stderr",
                *self.extra_args,
            ]  # fmt: skip
            with open(log, "ab") as fh:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=fh,
                    # SIGKILL when the verb dies; a Ctrl-C meant for it reaches them through stop() only.
                    **child_process.dies_with_parent(),
                )
            self._procs.append(proc)
            self.members.append(Member(name, client, peers[i], proc.pid, str(log)))

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(zip(self.members, self._procs, strict=True))
        while pending:
            for member, proc in list(pending):
                if proc.poll() is not None:
                    tail = _tail(Path(member.log))
                    if "address already in use" in tail:
                        raise _PortClash()
                    raise EtcdClusterError(
                        f"etcd member {member.name} exited with code {proc.returncode}: {tail}"
                    )
                if _healthy(member.client_url):
                    pending.remove((member, proc))
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(m.name for m, _ in pending)
                raise EtcdClusterError(f"etcd members not healthy within {timeout:g}s: {names}")
            time.sleep(0.1)

    def alive(self) -> bool:
        """Every member process still runs."""
        return bool(self._procs) and all(p.poll() is None for p in self._procs)

    def _kill_members(self, timeout: float = MEMBER_STOP_TIMEOUT_S) -> None:
        child_process.terminate(self._procs, timeout)
        self._procs = []

    def stop(self, timeout: float = MEMBER_STOP_TIMEOUT_S) -> None:
        """Stop every member (SIGTERM, then SIGKILL after ``timeout``) and remove the data."""
        self._kill_members(timeout)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def ready_line(self) -> dict[str, Any]:
        """The verb's ready line: endpoints, members (with pids) and the data directory."""
        return {
            "event": "ready",
            "endpoints": self.endpoints,
            "members": [m.as_json() for m in self.members],
            "pid": os.getpid(),
            "data_dir": str(self.dir),
        }

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _PortClash(Exception):
    pass


def _healthy(client_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{client_url}/health", timeout=1.0) as resp:
            return json.loads(resp.read()).get("health") in ("true", True)
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip()[:300] for line in text[-lines:]) or "(empty log)"


class EtcdClusterProcess:
    """``aranya-perf etcd-cluster ARGS`` as a child process: start, read its ready line, stop.

    The child stops itself when its stdin closes, so it also goes (and removes its data) when
    the process holding this object dies without calling ``stop()``.
    """

    def __init__(
        self, args: Sequence[str] = (), *, stderr: IO[Any] | int | None = subprocess.DEVNULL
    ) -> None:
        self.args = list(args)
        self._stderr = stderr
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoints: list[str] = []
        self.members: list[Member] = []
        self.data_dir = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def member_pids(self) -> list[int]:
        return [m.pid for m in self.members]

    def start(self, timeout: float = START_TIMEOUT_S + 10.0) -> EtcdClusterProcess:
        cmd = [sys.executable, "-m", "aranya_perf", "etcd-cluster", "--stop-on-stdin-eof", *self.args]
        # SIGTERM when we die: the verb then stops its members and removes the data (stdin EOF would too).
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            **child_process.dies_with_parent(signal.SIGTERM),
        )
        try:
            ready = json.loads(self._ready_line(timeout))
            if ready.get("event") != "ready":
                raise EtcdClusterError(f"unexpected first line from etcd-cluster: {ready}")
            self.endpoints = [str(e) for e in ready["endpoints"]]
            self.members = [Member.from_json(m) for m in ready["members"]]
            self.data_dir = str(ready["data_dir"])
        except (ValueError, KeyError, EtcdClusterError) as exc:
            code = self.stop()
            raise EtcdClusterError(f"etcd cluster did not start (exit code {code}): {exc}") from None
        except BaseException:
            self.stop()
            raise
        return self

    def _ready_line(self, timeout: float) -> str:
        assert self.proc is not None
        try:
            return child_process.read_ready_line(self.proc, timeout, "etcd-cluster")
        except child_process.NotReady as exc:
            raise EtcdClusterError(str(exc)) from None

    def stop(self, timeout: float = STOP_TIMEOUT_S + 5.0) -> int | None:
        """SIGTERM (the child stops its members and removes the data), SIGKILL after ``timeout``."""
        return child_process.stop(self.proc, timeout)

    def __enter__(self) -> EtcdClusterProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
