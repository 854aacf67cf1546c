"""The generator capacity benchmark end to end in its quick size, and its targets logic on small documents.

The quick run is real: the reference gateway as a child process on a free loopback port, each
variant in a process of its own. Only what it saved is checked (schema, counts, that ratios and
verdicts follow from the saved figures), never how fast anything was: the machine is shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aranya_perf.capacity import targets
from aranya_perf.capacity.bench import KIND, MODES, SCHEMA_VERSION
from aranya_perf.capacity.report import format_report, load
from aranya_perf.results import ResultsError
from tests.helpers import REPO

QUICK_TIMEOUT_S = 290


def _capacity(*args: str, timeout: float = QUICK_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aranya_perf.capacity", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )


def assert_pair_ratios(m: dict[str, Any]) -> None:
    """The ratio is the median of the interleaved pairs' ratios, run i of ours over run i of bare."""
    key, runs = m["key"], m["runs"]
    pairs = [o[key] / b[key] for o, b in zip(runs["ours"], runs["bare"], strict=True)]
    assert m["pair_ratios"] == pytest.approx(pairs)
    assert m["ratio"] == pytest.approx(targets.median(pairs))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("capacity")
    proc = _capacity("--quick", "--out", str(out))
    files = sorted(out.glob("capacity/*/capacity.json"))
    assert files, proc.stdout + proc.stderr
    return proc, files[0]


@pytest.mark.timeout(QUICK_TIMEOUT_S + 30)
def test_quick_run_saves_a_complete_result(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, path = quick_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = load(path)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["kind"] == KIND
    assert doc["status"] == "ok"
    assert set(doc["modes"]) == set(MODES)
    assert doc["meta"]["host"]["cpu_count"] and doc["meta"]["finished_at"]
    assert "Targets" in proc.stdout and str(path) in proc.stdout
    for line in format_report(doc).splitlines()[-12:]:  # the targets table, as saved
        assert line in proc.stdout
    assert not list(path.parent.glob(".*.tmp")), "a temporary file was left behind"

    modes = doc["modes"]
    for name, count in (("operators", "requests"), ("device_work", "work")):
        m = modes[name]
        for who in ("ours", "bare"):
            runs = m["runs"][who]
            assert runs and all(r[count] > 0 and r["cpu_s"] > 0 for r in runs), (name, who, runs)
            for r in runs:
                assert r[m["key"]] == pytest.approx(r[count] / r["cpu_s"])
            assert m["median"][who] == pytest.approx(targets.median(r[m["key"]] for r in runs))
        assert_pair_ratios(m)
    fleet = modes["device_work"]["runs"]
    assert all(r["errors"] == 0 and r["online"] == r["devices"] for rs in fleet.values() for r in rs)

    for which in ("single", "workers"):
        h = modes["hold"][which]
        assert h["held_online"] == h["devices"] > 0, h
        assert h["status_pushes"] > 0 and h["status_p99_ms"] is not None
        assert h["rss_kib_per_device"] > 0
    assert modes["hold"]["workers"]["workers"] == 2

    # The gateway mode: each server measured under the same fleet, every device online, every Exec right.
    cases = modes["gateway"]["cases"]
    assert [(c["devices"], c["exec_rate"] > 0) for c in cases] == [(20, False), (20, True)]
    for c in cases:
        for who in ("ours", "bare"):
            for r in c["runs"][who]:
                assert r["online"] == r["devices"] == 20 and r["errors"] == 0 and r["commands"] > 0, r
                assert r["ms_per_command"] == pytest.approx(r["server_cpu_s"] / r["commands"] * 1000)
                assert (r["execs"] > 0 and r["exec_failures"] == 0) if c["exec_rate"] else r["execs"] == 0
        assert_pair_ratios(c)
    assert "[gateway] server CPU per answered command" in proc.stdout

    instr = modes["instrumentation"]
    assert all(r["requests"] > 0 for runs in instr["runs"].values() for r in runs)
    med = instr["median_p50_ms"]
    assert instr["overhead_pct"] == pytest.approx((med["full"] / med["off"] - 1) * 100)
    # "off" fires no request events, "full" records every request in Locust's stats and HDR alike.
    assert all(r["locust_requests"] == 0 for r in instr["runs"]["off"])
    assert all(r["hdr_requests"] == r["locust_requests"] > 0 for r in instr["runs"]["full"])

    engines = modes["engines"]
    assert all(r["requests"] > 0 for runs in engines["unary"]["runs"].values() for r in runs)
    assert engines["unary"]["x_bare"]["unary_aio"] == pytest.approx(1.0)
    assert any(r["variant"] == "stall_engine" and r["ok"] for r in engines["stall"])

    # The saved verdicts are the ones the saved figures give, and quick sizes never claim a target.
    assert doc["targets"] == targets.evaluate(doc)
    verdicts = {row["key"]: row["verdict"] for row in doc["targets"]}
    assert set(verdicts) == {t.key for t in targets.TARGETS}
    for key in (
        "single_devices",
        "single_rss_per_device",
        "single_status_p99",
        "workers_devices",
        "etcd_ratio",
        "gateway_ms_per_command",
        "gateway_ratio",
        "device_rss_ratio",
    ):
        assert verdicts[key] == "not tried"
    for key in ("operator_ratio", "device_ratio", "instrumentation_p50"):
        assert verdicts[key] in ("met", "short")


@pytest.mark.timeout(QUICK_TIMEOUT_S)
def test_service_mode_sets_our_clients_beside_bare_ones(tmp_path: Path) -> None:
    proc = _capacity("--quick", "--modes", "service", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path,) = tmp_path.glob("capacity/*/capacity.json")
    service = load(path)["modes"]["service"]
    for name, count, key in (("etcd", "puts", "puts_per_s"), ("grpc", "calls", "calls_per_s")):
        m = service[name]
        assert m["key"] == key and m["clients"] == 4, m
        for who in ("ours", "bare"):
            (r,) = m["runs"][who]
            assert r[count] > 0 and r["failures"] == 0 and r["cpu_s"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0
            assert r[f"us_per_{count}"] == pytest.approx(r["cpu_s"] / r[count] * 1e6)
            assert m["median"][who] == r[key]
        assert_pair_ratios(m)
        assert f"[service {name}] " in proc.stdout and f"ours / bare: {m['ratio']:.2f}x" in proc.stdout


@pytest.mark.timeout(QUICK_TIMEOUT_S + 60)
def test_show_prints_a_saved_result(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, path = quick_run
    proc = _capacity("--show", str(path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Targets" in proc.stdout and "not tried" in proc.stdout


@pytest.mark.timeout(90)
def test_capacity_is_an_aranya_perf_verb(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, path = quick_run
    verb = subprocess.run(
        [sys.executable, "-m", "aranya_perf", "capacity", "--show", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    assert verb.returncode == 0, verb.stderr
    assert verb.stdout == _capacity("--show", str(path), timeout=60).stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--modes", "warp-drive"],
        ["--repeats", "-1"],
        ["--workers", "0", "--modes", "hold"],
        ["--devices", "500000", "--modes", "hold"],
        ["--show", "/nonexistent/capacity.json"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], tmp_path: Path) -> None:
    proc = _capacity(*args, "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "capacity").exists(), "bad input must not start a run"


def _doc(**modes: Any) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "kind": KIND, "modes": modes}


def test_targets_met_short_and_not_tried() -> None:
    hold_single = {"devices": 15_000, "held_online": 15_000, "rss_kib_per_device": 50.0, "status_p99_ms": 9.0}
    hold_workers = {"devices": 30_000, "held_online": 29_990, "workers": 2, "status_p99_ms": 12.0}
    doc = _doc(
        hold={"single": hold_single, "workers": hold_workers},
        operators={"ratio": 0.96, "median": {"ours": 960.0, "bare": 1000.0}},
        device_work={
            "ratio": 0.5,
            "median": {"ours": 500.0, "bare": 1000.0},
            "devices": 500,
            "runs": {"ours": [{"rss_kib_per_device": 70.0}], "bare": [{"rss_kib_per_device": 62.0}]},
        },
        instrumentation={"overhead_pct": 5.0, "median_p50_ms": {"full": 1.05, "off": 1.0}},
        service={"etcd": {"ratio": 0.85, "median": {"ours": 1700.0, "bare": 2000.0}, "clients": 50}},
        gateway={
            "cases": [
                {"devices": 100, "exec_rate": 0.0, "ratio": 1.0, "median": {"ours": 0.9, "bare": 0.9}},
                {"devices": 1_000, "exec_rate": 0.0, "ratio": 1.25, "median": {"ours": 0.25, "bare": 0.2}},
                {"devices": 1_000, "exec_rate": 50.0, "ratio": 1.0, "median": {"ours": 0.5, "bare": 0.5}},
            ]
        },
    )
    verdicts = {r["key"]: r["verdict"] for r in targets.evaluate(doc)}
    assert verdicts == {
        "single_devices": "met",
        "single_rss_per_device": "short",
        "single_status_p99": "met",
        "workers_devices": "short",
        "operator_ratio": "met",
        "device_ratio": "short",
        "device_rss_ratio": "met",  # 70 / 62 = 1.13x
        "instrumentation_p50": "met",
        "etcd_ratio": "short",
        "gateway_ms_per_command": "met",  # the 1,000-device case without Execs, not the others
        "gateway_ratio": "short",
    }
    small = _doc(
        hold={"single": {**hold_single, "devices": 100, "held_online": 100}, "workers": {"error": "x"}},
        gateway={
            "cases": [{"devices": 20, "exec_rate": 0.0, "ratio": 1.0, "median": {"ours": 0.9, "bare": 0.9}}]
        },
    )
    verdicts = {r["key"]: r["verdict"] for r in targets.evaluate(small)}
    assert verdicts["single_devices"] == verdicts["single_rss_per_device"] == "not tried"
    assert verdicts["gateway_ms_per_command"] == verdicts["gateway_ratio"] == "not tried"
    assert verdicts["workers_devices"] == verdicts["operator_ratio"] == verdicts["etcd_ratio"] == "no data"
    text = targets.format_targets(targets.evaluate(doc))
    assert "0.96x" in text and "short" in text and "met" in text


def test_load_refuses_newer_and_foreign_files(tmp_path: Path) -> None:
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**_doc(), "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(ResultsError, match="newer"):
        load(newer)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(ResultsError, match="not a generator capacity result"):
        load(foreign)


def test_variants_take_turns_at_running_first() -> None:
    rounds = [tuple(targets.counterbalanced(r, ("ours", "bare"))) for r in range(4)]
    assert rounds == [("ours", "bare"), ("bare", "ours"), ("ours", "bare"), ("bare", "ours")]
