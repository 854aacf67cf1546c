"""The local etcd cluster (``aranya-perf etcd-cluster``): members healthy on loopback, nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from aranya_perf.etcd import cluster as etcd_cluster
from aranya_perf.etcd.cluster import EtcdClusterProcess
from aranya_perf.etcd.ctl import Etcdctl
from tests.helpers import run_cli


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie still answers kill(0); its state in /proc says it has exited.
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


def test_three_members_on_loopback_form_one_healthy_cluster(etcd_cluster: EtcdClusterProcess) -> None:
    assert len(etcd_cluster.endpoints) == 3 and len(set(etcd_cluster.endpoints)) == 3
    assert all(e.startswith("127.0.0.1:") for e in etcd_cluster.endpoints)
    if Path("/dev/shm").is_dir():
        assert etcd_cluster.data_dir.startswith("/dev/shm/")
    health = Etcdctl(etcd_cluster.endpoints).json("endpoint", "health")
    assert sorted(h["endpoint"] for h in health) == sorted(etcd_cluster.endpoints)
    assert all(h["health"] for h in health)
    # One cluster, not three: every member reports the same cluster id and the same leader.
    status = Etcdctl(etcd_cluster.endpoints).json("endpoint", "status")
    assert len({s["Status"]["header"]["cluster_id"] for s in status}) == 1
    assert len({s["Status"]["leader"] for s in status}) == 1
    members = Etcdctl(etcd_cluster.endpoints[:1]).json("member", "list")["members"]
    assert sorted(m["name"] for m in members) == ["m0", "m1", "m2"]


def test_stop_ends_every_member_and_removes_the_data() -> None:
    proc = EtcdClusterProcess(["--members", "1"]).start()
    pids, data = proc.member_pids, Path(proc.data_dir)
    assert data.is_dir() and all(not _gone(p, 0.1) for p in pids)
    assert proc.stop() == 0
    assert all(_gone(p) for p in pids)
    assert not data.exists()


def test_a_parent_that_dies_takes_the_cluster_with_it() -> None:
    # The verb's stdin closing is what it sees when its parent dies, however the parent died.
    proc = EtcdClusterProcess(["--members", "1"]).start()
    pids, data = proc.member_pids, Path(proc.data_dir)
    assert proc.proc is not None and proc.proc.stdin is not None
    proc.proc.stdin.close()
    assert proc.proc.wait(timeout=15) == 0
    assert all(_gone(p) for p in pids)
    assert not data.exists()
    proc.stop()


def test_a_killed_verb_leaves_no_member_and_its_data_goes_at_the_next_start(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "aranya_perf", "etcd-cluster", "--members", "1"]
    cmd += ["--data-root", str(tmp_path)]
    verb = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        assert verb.stdout is not None
        ready = json.loads(verb.stdout.readline())
    finally:
        verb.send_signal(signal.SIGKILL)
        verb.wait(timeout=10)
    assert all(_gone(m["pid"]) for m in ready["members"])  # PR_SET_PDEATHSIG
    left = Path(ready["data_dir"])
    assert left.is_dir()  # nobody was left to remove it ...
    assert etcd_cluster.remove_stale_dirs(tmp_path) == [left]  # ... which every start does first
    assert not left.exists()


def test_members_serve_metrics_on_their_client_urls(etcd_cluster: EtcdClusterProcess) -> None:
    with urllib.request.urlopen(f"http://{etcd_cluster.endpoints[0]}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    assert "etcd_server_has_leader 1" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--etcd", "/nonexistent/etcd"], "not found: install etcd"),
        (["--members", "0"], "members must be between 1 and 7"),
        (["--host", "10.1.2.3"], "is not a loopback address"),
        (["--data-root", "/nonexistent/dir"], "is not a directory"),
        (["--duration", "soon"], "invalid duration"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args: list[str], message: str) -> None:
    proc = run_cli("etcd-cluster", *args, timeout=30)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert proc.stdout == ""
