"""``aranya-perf run --scenario etcd`` end to end: our counts checked against etcd's own.

One run against a cluster of its own, with ``etcdctl check perf`` after the window (its 60 s are
fixed by etcdctl: the longest test here), and one short run against the session's cluster given
with ``--target``, without check perf.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from aranya_perf.etcd.cluster import EtcdClusterProcess
from aranya_perf.etcd.ctl import Etcdctl
from aranya_perf.results import RunFiles
from tests.helpers import run_cli
from tests.test_etcd_cluster import _gone

PRELOADED = 1000  # [etcd] keys of the shipped profile: written once through gRPC before the window
_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$")


def _run_dir(out: Path) -> Path:
    (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
    return run_dir


def _ours(run_dir: Path) -> dict[str, int]:
    """Successful requests per etcd request name, from the run's exact latency file."""
    with open(run_dir / "latency.csv", newline="") as fh:
        return {
            r["name"]: int(r["count"]) - int(r["failures"])
            for r in csv.DictReader(fh)
            if r["request_type"] == "etcd"
        }


def _samples(run_dir: Path, metric: str, **labels: str) -> list[float]:
    """Every member's value of ``metric`` with ``labels`` in the run's metrics snapshot."""
    out = []
    for line in (run_dir / "gateway_metrics.prom").read_text().splitlines():
        m = _SAMPLE.match(line)
        if not m or m.group(1) != metric:
            continue
        have = dict(kv.split("=", 1) for kv in m.group(2).split(","))
        if all(have.get(k) == f'"{v}"' for k, v in labels.items()):
            out.append(float(m.group(3)))
    return out


@pytest.mark.timeout(240)
def test_run_against_its_own_cluster_counts_match_etcd_and_sit_beside_check_perf(tmp_path: Path) -> None:
    proc = run_cli("run", "--profile", "etcd", "--duration", "6s", "--out", str(tmp_path), timeout=220)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "status: ok" in proc.stdout
    run_dir = _run_dir(tmp_path)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "ok" and meta["config"]["scenario"] == "etcd"
    ours, etcd = _ours(run_dir), meta["etcd"]
    assert ours["Put"] > 0 and ours["Range"] > 0 and ours["Range serializable"] > 0
    assert ours["Watch event"] > 0 and ours["LeaseKeepAlive"] > 0

    # Every successful Put is one revision; nothing else wrote during the window.
    assert etcd["puts_applied"] == ours["Put"]
    # The members apply every Put: the key space written before the window, then ours. A follower
    # may still be applying the last ones when the snapshot is taken; the leader has them all.
    puts = _samples(run_dir, "etcd_mvcc_put_total")
    assert len(puts) == 3 and max(puts) == PRELOADED + ours["Put"]
    # The members' gRPC servers handled our calls (Put also the preload; Range also etcdctl's two
    # revision reads before the window: the compaction's and the recorded one).
    handled = {
        method: sum(_samples(run_dir, "grpc_server_handled_total", grpc_method=method, grpc_code="OK"))
        for method in ("Put", "Range", "LeaseGrant")
    }
    assert handled["Put"] == PRELOADED + ours["Put"]
    assert handled["Range"] == ours["Range"] + ours["Range serializable"] + 2
    assert handled["LeaseGrant"] == ours["LeaseGrant"] == 4

    result = json.loads((run_dir / "etcd_check_perf.json").read_text())
    assert result["load"] == "s" and result["clients"] == 50 and result["throughput_wps"] > 0
    assert result["passed"] and result["leftover_keys"] == 0
    where = [c["where"] for c in etcd["compactions"]]
    assert where == ["before the window", "after the window", "after check perf", "at the end"]
    assert etcd["deleted_at_end"] == PRELOADED

    report = (run_dir / "report.md").read_text()
    assert "## etcd beside etcdctl check perf" in report and "| ours: Put | 50 |" in report
    assert "etcd beside etcdctl check perf" in proc.stdout

    with open(run_dir / "resources.csv", newline="") as fh:
        sampled = {r["process"] for r in csv.DictReader(fh)}
    assert {"generator", "m0", "m1", "m2"} <= sampled
    # The cluster went with the run: members gone, data removed.
    assert all(_gone(pid) for pid in etcd["cluster"]["members"].values())
    assert not Path(etcd["cluster"]["data_dir"]).exists()


def test_run_against_a_given_cluster(tmp_path: Path, etcd_cluster: EtcdClusterProcess) -> None:
    target = ",".join(etcd_cluster.endpoints)
    args = [
        "--profile",
        "etcd",
        "--duration",
        "3s",
        "--check-perf",
        "off",
        "--users",
        "8",
        "--out",
        str(tmp_path),
    ]
    proc = run_cli("run", *args, "--target", target, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run_dir = _run_dir(tmp_path)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["target"]["embedded"] is False and meta["target"]["metrics"] == etcd_cluster.endpoints
    assert "cluster" not in meta["etcd"] and not (run_dir / "etcd-cluster.log").exists()
    assert meta["etcd"]["puts_applied"] == _ours(run_dir)["Put"] > 0
    assert not (run_dir / RunFiles.ETCD_CHECK_PERF).exists()
    assert "No check perf result" in (run_dir / "report.md").read_text()
    # The run left the cluster as it found it: none of its keys.
    assert Etcdctl(etcd_cluster.endpoints).count("/aranya-perf/") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "10.0.0.1:2379,10.0.0.2:2379"], "refusing non-loopback target"),
        (["--users", "0"], "nothing to run: scenario etcd with service.users = 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run_cli("run", "--profile", "etcd", "--out", str(tmp_path), *args, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_an_etcd_profile_with_bad_values_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[run]\nscenario = "etcd"\n[etcd]\nvalue_size = 4\n')
    proc = run_cli("run", "--profile", str(bad), "--out", str(tmp_path / "out"), timeout=60)
    assert proc.returncode == 2
    assert "etcd.value_size must be at least 8" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
