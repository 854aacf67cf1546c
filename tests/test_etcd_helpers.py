"""The etcd scenario's small helpers: key and value layout, and child processes started without fork."""

from __future__ import annotations

import subprocess
import time

import pytest

from aranya_perf.etcd import spawn
from aranya_perf.etcd.keyspace import key_of, stamp_of, stamped_value


def test_keys_have_the_size_check_perf_uses_after_the_prefix() -> None:
    assert key_of(b"/p/", 7, 256) == b"/p/" + b"0" * 255 + b"7"
    assert len({key_of(b"/p/", i, 4) for i in range(1000)}) == 1000


def test_values_carry_their_put_time() -> None:
    before = time.time_ns()
    value = stamped_value(1024)
    assert len(value) == 1024 and before <= stamp_of(value) <= time.time_ns()
    assert stamp_of(stamped_value(8, now_ns=42)) == 42
    assert stamp_of(b"short") is None


def test_spawn_captures_both_streams_and_the_exit_code() -> None:
    done = spawn.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")


def test_spawn_kills_a_child_that_outlives_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        spawn.run(["sleep", "30"], timeout=0.3)
    assert time.monotonic() - started < 5


def test_spawn_of_a_missing_program_is_an_oserror() -> None:
    with pytest.raises(OSError):
        spawn.run(["/nonexistent/etcdctl"], timeout=5)


def test_bare_clients_put_at_the_rate_and_leave_no_key(etcd_cluster) -> None:  # type: ignore[no-untyped-def]
    import json
    import sys

    from aranya_perf.etcd.ctl import Etcdctl

    cmd = [sys.executable, "-m", "aranya_perf.etcd.bare", "--endpoints", ",".join(etcd_cluster.endpoints)]
    cmd += ["--clients", "5", "--rate", "50", "--duration", "1s", "--prefix", "/test-bare/"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert 45 <= result["puts"] <= 51 and result["p50_ms"] > 0 and result["max_ms"] >= result["p99_ms"]
    assert Etcdctl(etcd_cluster.endpoints).count("/test-bare/") == 0


def test_bare_clients_refuse_a_remote_cluster() -> None:
    import sys

    cmd = [sys.executable, "-m", "aranya_perf.etcd.bare", "--endpoints", "10.0.0.1:2379"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "refusing non-loopback target" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
