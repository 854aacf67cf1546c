"""``aranya-perf run --profile`` end to end: shapes, open model, SLOs, ground truth, workers, a dead target.

Every run is a subprocess against real gateways on loopback, with Locust (and its workers) as
users run it. Profiles sized to finish in seconds live in ``tests/data/profiles/``. What is
asserted is what the issue promises: the stall shows in corrected latency and not in service
time; an answer delay of D is measured as D; counts agree exactly between Locust, the HDR
histograms, each worker and the gateway; a dead target and a failed SLO both exit 1.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest
from hdrh.histogram import HdrHistogram

from aranya_perf.measure.kinds import neutral_key
from aranya_perf.measure.latency import load_histograms, new_histogram
from aranya_perf.results import read_events
from tests.helpers import REPO, gateway_process, run_cli

PROFILES = REPO / "tests" / "data" / "profiles"


def _run(tmp_path: Path, *args: str, timeout: float = 150) -> tuple[subprocess.CompletedProcess[str], Path]:
    proc = run_cli("run", *args, "--out", str(tmp_path), timeout=timeout)
    dirs = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(dirs) == 1, (dirs, proc.stdout, proc.stderr)
    return proc, dirs[0]


def _latency(run_dir: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (run_dir / "latency.csv").open() as fh:
        return {(r["request_type"], r["name"]): r for r in csv.DictReader(fh)}


def _operator_row(run_dir: Path, kind: str) -> dict[str, str]:
    """latency.csv's row of a route-neutral kind (``operator exec``), whichever route the operators took."""
    rows = {neutral_key(f"{t} {n}"): row for (t, n), row in _latency(run_dir).items()}
    return rows[kind]


def _both_sides(report: str) -> list[tuple[str, str, int, int]]:
    rows = re.findall(r"^\| (control|kube|device) \| ([\w:]+) \| (\d+) \| (\d+) \| (-?\d+) \|$", report, re.M)
    return [(side, name, int(gw), int(gen)) for side, name, gw, gen, _ in rows]


def test_answer_delay_is_measured_as_the_delay(tmp_path: Path) -> None:
    proc, run_dir = _run(tmp_path, "--profile", str(PROFILES / "answer-delay.toml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = _operator_row(run_dir, "operator exec")
    delay_ms = 400.0
    assert int(row["count"]) >= 20 and int(row["failures"]) == 0
    # Everything on top of the device's own wait is the suite's and the gateway's overhead.
    assert abs(float(row["p50_ms"]) - delay_ms) <= 1.0 + 0.05 * delay_ms, row


def test_a_stall_shows_in_corrected_latency_not_in_service_time(tmp_path: Path) -> None:
    proc, run_dir = _run(tmp_path, "--profile", str(PROFILES / "stall.toml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    corrected = _operator_row(run_dir, "operator exec")
    service = _operator_row(run_dir, "operator exec (service time)")
    assert corrected["count"] == service["count"]
    stall_ms = 2000.0
    # Arrivals kept coming while the gateway was frozen: a second's worth and more waited for it.
    assert float(corrected["p99_ms"]) >= 0.75 * stall_ms, corrected
    # Only the two calls in flight at the freeze were slow to serve; everyone else was quick.
    assert float(service["p99_ms"]) < 0.25 * stall_ms, service
    assert float(service["max_ms"]) >= 0.75 * stall_ms, service
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["window"]["window"]["queued_starts"] > 0
    events = [e["event"] for e in read_events(run_dir / "events.jsonl")]
    assert "stall" in events and "stall_end" in events


def test_connect_storm_profile(tmp_path: Path) -> None:
    proc, run_dir = _run(tmp_path, "--profile", str(PROFILES / "storm-small.toml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = read_events(run_dir / "events.jsonl")
    storms = [e for e in events if e["event"] == "storm"]
    assert [e["at_s"] for e in storms] == [4.0, 8.0]
    meta = json.loads((run_dir / "meta.json").read_text())
    fleet = meta["window"]["fleet"]
    # Every device dropped twice and came back: three streams each, all of them online at the end.
    assert fleet["devices"] == 60 and fleet["online"] == 60
    assert fleet["reconnects"] >= 2 * 60, fleet
    rows = _latency(run_dir)
    duplicates = rows[("device", "duplicate_online")]
    assert int(duplicates["count"]) == 2 * 12  # a fifth of the fleet, twice
    # The drops are outages of the fleet, marked where they happened.
    outages = [e for e in events if e["event"] == "outage" and e["what"] == "devices online"]
    # (A storm can show as two dips: devices that came back as duplicates are refused and retry later.)
    assert outages and all(3.0 <= o["start_s"] <= 5.0 or 7.0 <= o["start_s"] <= 9.0 for o in outages), outages
    assert any(o["start_s"] <= 5.0 for o in outages) and any(o["start_s"] >= 7.0 for o in outages), outages
    slo = json.loads((run_dir / "slo.json").read_text())
    assert slo["status"] == "passed" and len(slo["results"]) == 4, slo
    report = (run_dir / "report.md").read_text()
    assert "![Workload shape](plots/shape.png)" in report and (run_dir / "plots" / "shape.png").exists()
    assert "after storm 2" in report and "devices online" in report
    # Two gateway processes, each a share of the fleet. Operator calls agree exactly; a command the
    # gateway sent just as its device dropped is never answered, so devices can only have answered fewer.
    assert meta["target"]["processes"] == 2
    # ...so the operators could not go through the Kubernetes face (one process serves it), and said so.
    fallback = "operators through the control service, not Kubernetes: the Kubernetes face is served by one"
    assert fallback in proc.stdout and meta["target"]["operators"] == "control"
    rows = _both_sides(report)
    assert all(gw == gen for side, _, gw, gen in rows if side != "device"), rows
    assert all(gen <= gw for side, _, gw, gen in rows if side == "device"), rows


def test_step_profile_and_a_failing_slo(tmp_path: Path) -> None:
    proc, run_dir = _run(tmp_path, "--profile", str(PROFILES / "step-small.toml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "impossible throughput" in proc.stderr.splitlines()[-1]
    slo = json.loads((run_dir / "slo.json").read_text())
    windows = [r["window"] for r in slo["results"] if r["metric"] == "p99"]
    assert windows == ["run", "step 1: 20 devices", "step 2: 40 devices", "step 3: 60 devices"]
    assert all(r["passed"] for r in slo["results"] if r["metric"] == "p99")
    (failed,) = [r for r in slo["results"] if not r["passed"]]
    assert failed["name"] == "impossible throughput" and 0 < failed["value"] < 1000
    # JUnit: one failure, naming the threshold and the measured value.
    suite = ET.parse(run_dir / "slo.xml").getroot()
    assert suite.get("tests") == str(len(slo["results"])) and suite.get("failures") == "1"
    (case,) = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    message = case.find("failure").get("message")
    assert case.get("name") == "impossible throughput"
    assert f"{failed['value']:.4g}" in message and ">= 1e+06" in message
    # The steps: the fleet followed the levels, and the open model followed the fleet.
    timeline = list(csv.DictReader((run_dir / "timeline.csv").open()))
    by_phase = {}
    for row in timeline:
        by_phase.setdefault(row["phase"], []).append(int(row["online"]))

    def typical(phase: str) -> int:  # the median sample: one at a step's very edge may see the next
        values = sorted(by_phase[phase])
        return values[len(values) // 2]

    assert [typical(f"step {i}: {n} devices") for i, n in ((1, 20), (2, 40), (3, 60))] == [20, 40, 60]
    report = (run_dir / "report.md").read_text()
    assert "| step 2: 40 devices | 4.0 | 8.0 | 40 |" in report
    assert "FAIL" in report and (run_dir / "plots" / "latency_over_time.png").exists()


def test_two_workers_add_up_exactly(tmp_path: Path) -> None:
    proc, run_dir = _run(tmp_path, "--profile", str(PROFILES / "workers.toml"), "--workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (run_dir / "locust_stats.csv").open() as fh:
        locust = {(r["Type"], r["Name"]): r for r in csv.DictReader(fh) if r["Name"] != "Aggregated"}
    lat = _latency(run_dir)
    with (run_dir / "workers.csv").open() as fh:
        per_worker = list(csv.DictReader(fh))
    assert {r["worker"] for r in per_worker} == {"0", "1"}
    summed: dict[tuple[str, str], list[int]] = {}
    for r in per_worker:
        acc = summed.setdefault((r["request_type"], r["name"]), [0, 0])
        acc[0] += int(r["requests"])
        acc[1] += int(r["failures"])
    assert set(lat) == set(summed)
    for key, row in lat.items():
        assert [int(row["count"]), int(row["failures"])] == summed[key], key
        if key in locust:  # service-time rows are ours only
            assert int(locust[key]["Request Count"]) == int(row["count"]), key
    # Merged HDR percentiles are those of every raw sample of every worker.
    samples: dict[str, list[int]] = {}
    with (run_dir / "samples.csv").open() as fh:
        for r in csv.DictReader(fh):
            samples.setdefault(f"{r['request_type']} {r['name']}", []).append(int(r["us"]))
    hists = load_histograms(run_dir)
    for key, values in samples.items():
        raw = new_histogram()
        for v in values:
            raw.record_value(v)
        merged: HdrHistogram = hists[key]
        assert merged.get_total_count() == len(values)
        for p in (50.0, 90.0, 99.0, 100.0):
            assert merged.get_value_at_percentile(p) == raw.get_value_at_percentile(p), (key, p)
        # ...and within HDR's resolution of the exact sample at the rank HdrHistogram uses (rounded).
        ordered = sorted(values)
        for p in (50.0, 99.0):
            exact = ordered[max(1, int(p / 100 * len(values) + 0.5)) - 1]
            value = merged.get_value_at_percentile(p)
            lo, hi = merged.get_lowest_equivalent_value(exact), merged.get_highest_equivalent_value(exact)
            assert lo <= value <= hi, (key, p, value, exact)
    # Devices were leased across workers once each: every device of the map online, nobody refused.
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["window"]["fleet"]["online"] == 40 and meta["config"]["workers"] == 2
    assert ("device", "reject") not in lat
    rows = _both_sides((run_dir / "report.md").read_text())
    assert rows and all(gw == gen for _, _, gw, gen in rows), rows
    roles = {line.split(",")[2] for line in (run_dir / "resources.csv").read_text().splitlines()[1:]}
    assert {"generator", "worker-0", "worker-1", "gateway-0", "gateway-1"} <= roles


def test_a_lost_worker_ends_on_time_fails_and_its_devices_count_offline(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "aranya_perf", "run", "--devices", "20", "--operators", "2"),
            *("--workers", "2", "--duration", "15s", "--out", str(tmp_path)),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "[   5s/" not in (line := proc.stdout.readline()):
            assert line or proc.poll() is None, proc.stderr.read()
        timeline = next(p for p in tmp_path.iterdir() if p.is_dir()) / "timeline.csv"
        while time.monotonic() < deadline and _last_online(timeline) < 20:  # every device reported
            time.sleep(0.2)
        assert _last_online(timeline) == 20, timeline.read_text()
        workers = [c for c in psutil.Process(proc.pid).children() if "worker" in c.cmdline()]
        assert len(workers) == 2, workers
        worker = workers[0]
        worker.kill()
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, out + err
    assert re.search(rf"worker lost: worker \d \(pid {worker.pid}\) exited", err.splitlines()[-1]), err
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "failed" and f"(pid {worker.pid}) exited" in meta["reason"]
    events = read_events(run_dir / "events.jsonl")
    at = {e["event"]: e for e in events}
    assert at["run_end"]["t"] - at["window_open"]["t"] <= 15 + 10  # the window did not wait for the dead
    lost_at = at["worker_lost"]["at_s"]
    assert _last_online(timeline) <= 10  # the lost worker's devices are offline from the loss on
    fleet = [e for e in events if e["event"] == "outage" and e["what"] == "devices online"]
    assert fleet and lost_at - 1 <= fleet[0]["start_s"] <= lost_at + 1, (fleet, lost_at)


def _last_online(timeline: Path) -> int:
    rows = list(csv.DictReader(timeline.open())) if timeline.exists() else []
    return int(rows[-1]["online"]) if rows else 0


def test_killed_target_fails_and_marks_the_outage(tmp_path: Path) -> None:
    with gateway_process() as gw:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "aranya_perf", "run", "--target", gw.address, "--devices", "30"),
                *("--duration", "20s", "--out", str(tmp_path)),
            ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "[   5s/" not in (line := proc.stdout.readline()):
                assert line or proc.poll() is None, proc.stderr.read()
            gw.proc.kill()  # the target dies 5 s into a 20 s run
            out, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 1, out + err
    assert "target went away" in err.splitlines()[-1]
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "failed" and "target went away" in meta["reason"]
    outages = [e for e in read_events(run_dir / "events.jsonl") if e["event"] == "outage"]
    target = [o for o in outages if o["what"] == "target"]
    assert target and 3.0 <= target[0]["start_s"] <= 8.0
    report = (run_dir / "report.md").read_text()
    assert "| target |" in report and "the target did not answer" in report
    assert "Status: failed" in report


def test_a_frozen_target_is_a_stall_and_fails_the_run(tmp_path: Path) -> None:
    proc, run_dir = _run(tmp_path, "--profile", str(PROFILES / "freeze.toml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "target stalled: no answer for" in proc.stderr.splitlines()[-1]
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "failed" and "target stalled" in meta["reason"]
    stalls = [
        e for e in read_events(run_dir / "events.jsonl")
        if e["event"] == "outage" and e["what"] == "target" and "no answer" in e["detail"]
    ]  # fmt: skip
    (stall,) = stalls
    assert 4.0 <= stall["end_s"] - stall["start_s"] <= 7.0 and 3.0 <= stall["start_s"] <= 7.0, stall
    report = (run_dir / "report.md").read_text()
    assert "the target always answered" not in report
    assert "| target |" in report and "no answer for" in report


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ("[fleet]\ndevises = 3\n", "unknown key fleet.devises"),
        ("[fleet]\ndevices = -1\n", "fleet.devices: expected a non-negative integer"),
        ('[run]\nduration = "soon"\n', "run.duration: expected a positive duration"),
        ('[shape]\nkind = "storm"\n', "shape.kind = 'storm' needs shape.storm_at"),
        ('[[slo]]\nmetric = "p99"\n', "slo #1: needs a max or a min"),
        ("[fleet\n", "not valid TOML"),
    ],
)
def test_bad_profile_is_one_line_naming_file_and_key(tmp_path: Path, body: str, expect: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(body)
    out = tmp_path / "out"
    proc = run_cli("run", "--profile", str(bad), "--out", str(out), timeout=30)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert expect in line and str(bad) in line, line
    assert not out.exists() or not any(out.iterdir())


def test_run_through_an_edge_link(tmp_path: Path) -> None:
    proc, run_dir = _run(
        tmp_path, "--link", "lte", "--devices", "20", "--operators", "2", "--duration", "6s", "--seed", "3"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["link"]["name"] == "lte" and meta["link"]["rtt_ms"] > 0
    exec_p50 = float(_operator_row(run_dir, "operator exec")["p50_ms"])
    assert exec_p50 >= meta["link"]["rtt_ms"]  # the command crosses the device's link once each way
    assert "through an edge network link: lte (" in (run_dir / "report.md").read_text()
