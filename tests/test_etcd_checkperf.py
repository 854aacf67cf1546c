"""``etcdctl check perf``'s output read into figures.

Running it for real against a cluster, and its clean-up, is part of ``test_etcd_run`` (check perf
lasts 60 s whatever the load, so the suite runs it once).
"""

from __future__ import annotations

import pytest

from aranya_perf.etcd.checkperf import CheckPerfError, parse

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
    workload = (r.clients, r.writes_per_s_limit, r.run_time_s, r.key_size, r.value_size)
    assert workload == (50, 150, 60, 256, 1024)


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


def test_the_report_says_why_a_paced_comparison_cannot_show_the_generators_limit(tmp_path) -> None:
    import json
    from types import SimpleNamespace

    from aranya_perf.analysis.etcd_report import notes

    from aranya_perf import profiles

    (tmp_path / "etcd_check_perf.json").write_text(json.dumps({"clients": 50, "passed": True}))
    paced = notes(SimpleNamespace(run_dir=tmp_path, profile=profiles.resolve("etcd-check-perf")))
    assert any("paced to their rate" in n and "--modes service" in n for n in paced)
    closed = profiles.resolve("etcd-check-perf", {"etcd.rate": 0.0})
    assert any(
        "closed-loop while check perf is paced" in n
        for n in notes(SimpleNamespace(run_dir=tmp_path, profile=closed))
    )
    (tmp_path / "etcd_check_perf.json").unlink()
    assert not any("--modes service" in n for n in notes(SimpleNamespace(run_dir=tmp_path, profile=closed)))
