"""``etcdctl check perf``: its output read into figures, and the keys it leaves behind removed."""

from __future__ import annotations

import pytest

from aranya_perf.etcd import checkperf
from aranya_perf.etcd.checkperf import CheckPerfError, parse, run_check_perf
from aranya_perf.etcd.cluster import EtcdClusterProcess
from aranya_perf.etcd.ctl import Etcdctl

# etcdctl 3.4.23's stdout, shortened: the progress bar redraws with \r and the first result
# line follows its last frame without a newline.
PASSING = (
    "\r 0 / 60 B                                                   !   0.00%"
    "\r 1 / 60 Bo                                                  !   1.67% 00m59s"
    "\r 59 / 60 Booooooooooooooooooooooooooooooooooooooooooooooooooooo!  98.33%"
    "PASS: Throughput is 150 writes/s\n"
    "PASS: Slowest request took 0.013235s\n"
    "PASS: Stddev is 0.000529s\n"
    "PASS\n"
)
FAILING = (
    "\r 60 / 60 Boooooo! 100.00% 1m0s\n"
    "FAIL: too many errors\n"
    "FAIL: ERROR(context deadline exceeded) -> 12\n"
    "FAIL: Throughput too low: 97 writes/s\n"
    "Slowest request took too long: 0.612000s\n"
    "PASS: Stddev is 0.041000s\n"
    "FAIL\n"
)


def test_a_passing_run_is_read_with_its_workload() -> None:
    r = parse(PASSING, "s")
    assert (r.throughput_wps, r.slowest_s, r.stddev_s) == (150, 0.013235, 0.000529)
    assert r.passed and r.throughput_ok and r.slowest_ok and r.stddev_ok and not r.errors
    assert (r.clients, r.writes_per_s_limit, r.run_time_s, r.key_size, r.value_size) == (50, 150, 60, 256, 1024)


def test_a_failing_run_keeps_each_verdict_and_the_errors() -> None:
    r = parse(FAILING, "m", exit_code=1)
    assert (r.throughput_wps, r.slowest_s, r.stddev_s) == (97, 0.612, 0.041)
    assert (r.throughput_ok, r.slowest_ok, r.stddev_ok, r.passed) == (False, False, True, False)
    assert r.errors == {"context deadline exceeded": 12}
    assert r.clients == 200 and r.writes_per_s_limit == 1000


def test_output_without_a_result_is_an_error() -> None:
    with pytest.raises(CheckPerfError, match="printed no result"):
        parse("Error: context deadline exceeded\n", "s", exit_code=1)
    with pytest.raises(CheckPerfError, match="unknown check perf load"):
        parse(PASSING, "huge")


@pytest.mark.timeout(180)
def test_check_perf_against_the_cluster_leaves_no_key_and_compacts(etcd_cluster: EtcdClusterProcess) -> None:
    # The shortest check perf there is: 60 s of load s, which is fixed by etcdctl itself.
    ctl = Etcdctl(etcd_cluster.endpoints)
    # Keys an interrupted check perf would leave: check perf refuses to start on them.
    for i in range(3):
        assert ctl.run("put", f"{checkperf.PREFIX}left-{i}", "x").returncode == 0
    result = run_check_perf(etcd_cluster.endpoints, "s")
    assert result.throughput_wps is not None and result.throughput_wps > 0
    assert result.slowest_s is not None and result.slowest_s > 0
    assert result.stddev_s is not None and result.stddev_s >= 0
    assert result.exit_code == 0 and result.passed, result
    assert ctl.count(checkperf.PREFIX) == 0
    assert result.compacted_revision is not None
    # Compacted: the revision before its keys were deleted is gone.
    old = ctl.run("get", checkperf.PREFIX, "--prefix", "--rev", str(result.compacted_revision - 1))
    assert old.returncode != 0 and "compacted" in old.stderr
