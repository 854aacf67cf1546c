"""aranya_perf.analysis.run_frames / run_summary / run_plots / run_report / ``aranya-perf report`` on real
Locust CSVs.

The complete run directory is produced the way a real run produces it: request
events fired into a Locust Environment with a local runner, Locust's own
StatsCSVFileWriter writing the CSVs, LatencyRecorder writing latency files,
CsvAppender writing resources.csv, prometheus_client rendering the gateway snapshot.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import time
from pathlib import Path

import gevent
import pandas as pd
import pytest
from aranya_perf.analysis import run_frames as rf
from aranya_perf.analysis import run_plots
from aranya_perf.analysis.run_data import load_run
from aranya_perf.analysis.run_report import write_run_report
from aranya_perf.analysis.run_summary import format_summary_table, gateway_metric_rows, summary_rows
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter
from PIL import Image
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from aranya_perf.cli import main
from aranya_perf.measure.latency import LatencyRecorder
from aranya_perf.measure.resources import RESOURCE_COLUMNS
from aranya_perf.results import CsvAppender, collect_meta, write_meta

AROUND = {"profile.toml", "events.jsonl", "timeline.csv", "slo.json", "slo.xml"}
"""Run files `aranya-perf run` writes around Locust; the fixtures here drive Locust and the recorder only."""
PLOTS = ("latency_over_time", "throughput", "latency", "errors", "resources")


def _fire(env: Environment, name: str, ms: float, times: int, error: str | None = None) -> None:
    for _ in range(times):
        env.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=ms,
            response_length=10,
            exception=RuntimeError(error) if error else None,
            context={},
        )


def _write_meta(run_dir: Path, status: str, **config) -> dict:
    meta = collect_meta(
        ["run", "--devices", "3"],
        config,
        {"address": "127.0.0.1:50051", "embedded": True},
        "fleet",
        run_dir.name,
    )
    meta["status"] = status
    write_meta(run_dir, meta)
    return meta


def _write_resources(run_dir: Path, t0: float, generator_cpu: float) -> None:
    with CsvAppender(run_dir / rf.RESOURCES_CSV, RESOURCE_COLUMNS) as app:
        for i in range(4):
            ts = t0 + i
            app.append([ts, float(i), "gateway", 101, 40.0 + i, (50 + i) * 2**20, 9, 30, 0.0])
            app.append([ts, float(i), "generator", 102, generator_cpu, 80 * 2**20, 4, None, None])


def _write_gateway_metrics(run_dir: Path) -> None:
    reg = CollectorRegistry()
    Gauge("aranya_gateway_devices_online", "devices with a live stream", registry=reg).set(3)
    sent = Counter("aranya_gateway_commands_sent", "commands sent", ["kind"], registry=reg)
    sent.labels("CMD_POD_CTR_EXEC").inc(1000)
    sent.labels("CMD_POD_CTR_LOGS").inc(200)
    rejects = Counter("aranya_gateway_rejects", "rejected commands", ["reason"], registry=reg)
    rejects.labels("busy").inc(2)
    rejects.labels("unknown_device").inc(3)
    Counter("aranya_gateway_session_timeouts", "sessions timed out", registry=reg).inc(4)
    (run_dir / rf.GATEWAY_METRICS).write_bytes(generate_latest(reg))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("results") / "20240501T123456Z-fleet"
    run_dir.mkdir()
    _write_meta(run_dir, "ok", duration_s=2, devices=3)
    env = Environment()
    env.create_local_runner()  # the runner is what turns request events into Locust stats
    recorder = LatencyRecorder(env)
    writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, str(run_dir / "locust"), full_history=True)
    t0 = time.time()
    greenlet = gevent.spawn(writer)
    try:
        _fire(env, "Exec", 0.25, 600)
        _fire(env, "Logs", 12.5, 100)
        gevent.sleep(1.0)
        _fire(env, "Exec", 0.25, 600)
        _fire(env, "Logs", 12.5, 100, error="DEADLINE_EXCEEDED")
        _fire(env, "PortForward", 150.0, 3)
        gevent.sleep(1.1)  # one more writer tick after the last request
    finally:
        greenlet.kill()
        writer.close_files()
    recorder.write(run_dir)
    _write_resources(run_dir, t0, generator_cpu=95.0)
    _write_gateway_metrics(run_dir)
    write_run_report(run_dir)
    return run_dir


def test_readers_on_real_locust_csvs(full_run: Path) -> None:
    stats = rf.read_stats(full_run)
    exec_ = stats[stats["Name"] == "Exec"].iloc[0]
    assert exec_["Request Count"] == 1200 and exec_["Failure Count"] == 0
    assert stats[stats["Name"] == rf.AGGREGATED]["Request Count"].iloc[0] == 1203 + 200
    history = rf.read_history(full_run)
    assert len(history) >= 2 * 4  # at least two ticks x (3 kinds + Aggregated)
    assert history["elapsed_s"].min() >= -1 and history["elapsed_s"].max() < 30
    assert history["Timestamp"].notna().all()
    failures = rf.read_failures(full_run)
    assert failures["Occurrences"].tolist() == [100]
    assert "DEADLINE_EXCEEDED" in failures["Error"].iloc[0]
    latency = rf.read_latency(full_run)
    assert latency["count"].sum() == 1403
    metrics = rf.read_gateway_metrics(full_run)
    assert {"name", "labels", "value"} <= set(metrics.columns)
    assert isinstance(metrics["labels"].iloc[0], dict)
    assert set(rf.missing_files(full_run)) == AROUND


def test_summary_numbers_match_inputs(full_run: Path) -> None:
    summary = summary_rows(load_run(full_run))
    assert summary.attrs["source"] == "latency.csv"
    by_name = summary.set_index("name")
    assert list(summary["name"]) == ["Exec", "Logs", "PortForward", rf.AGGREGATED]
    assert by_name.loc["Exec", "count"] == 1200 and by_name.loc["Exec", "failures"] == 0
    assert by_name.loc["Exec", "p50_ms"] == pytest.approx(0.25, rel=1e-3)
    assert by_name.loc["Logs", "failures"] == 100 and by_name.loc["Logs", "fail_pct"] == pytest.approx(50.0)
    assert by_name.loc["Logs", "p99_ms"] == pytest.approx(12.5, rel=1e-3)
    assert by_name.loc["PortForward", "max_ms"] == pytest.approx(150.0, rel=1e-3)
    assert by_name.loc[rf.AGGREGATED, "count"] == 1403
    assert by_name.loc[rf.AGGREGATED, "p50_ms"] == pytest.approx(0.25, rel=1e-3)  # from merged histograms
    assert (summary["rps"] > 0).all()

    text = format_summary_table(summary)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["Type", "Name", "Count"]
    exec_line = next(line for line in lines if " Exec " in line)
    assert "1200" in exec_line and "0.250" in exec_line
    assert len({len(line) for line in lines[:3]}) <= 2  # fixed width (last column may be right-trimmed)


def test_report_files_plots_and_html(full_run: Path) -> None:
    md = (full_run / "report.md").read_text()
    page = (full_run / "report.html").read_text()
    assert md.startswith(f"# Load-test run {full_run.name}")
    for plot in PLOTS:
        png = full_run / "plots" / f"{plot}.png"
        data = png.read_bytes()
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "PNG" and img.size[0] >= 600 and img.size[1] >= 200
        assert f"](plots/{plot}.png)" in md
        assert base64.b64encode(data).decode() in page  # embedded, self-contained
    assert 'src="plots/' not in page
    assert page.count("data:image/png;base64,") == len(PLOTS)

    # Summary numbers, warnings and gateway metrics made it into the report.
    assert re.search(r"\| grpc \| Exec \| 1200 \| 0 \|", md)
    assert "| 0.250 |" in md
    assert "The load generator may have limited the target's figures: generator wanted >= 90 %" in md
    assert "grpc PortForward: too few samples (n=3) for a p99 (needs 100)" in md
    assert "100 of 1403 requests failed" in md
    (throughput,) = [line for line in md.splitlines() if line.startswith("Throughput: ")]
    assert throughput.startswith("Throughput: 1403 requests, ") and "100 failed (7.13%)" in throughput
    assert md.index("Throughput: ") < md.index("## Warnings")  # near the top
    assert "DEADLINE_EXCEEDED" in md
    (missing_line,) = [line for line in md.splitlines() if "Missing, empty or unreadable" in line]
    assert "latency.csv" not in missing_line and "locust_stats.csv" not in missing_line  # only AROUND ones
    assert "| Devices online | - | 3 |" in md
    for expected in ("kind=CMD_POD_CTR_EXEC | 1000", "kind=CMD_POD_CTR_LOGS | 200", "| Rejects | - | 5 |"):
        assert expected in md
    assert "| Timeouts | - | 4 |" in md
    assert "<table>" in page and "generator wanted &gt;= 90 % of a core" in page
    assert "config.duration_s" in md


def test_gateway_metric_selection_sums_over_labels(full_run: Path) -> None:
    rows = {
        (label, by): value for label, by, value, _ in gateway_metric_rows(rf.read_gateway_metrics(full_run))
    }
    assert rows == {
        ("Devices online", ""): 3.0,
        ("Commands sent", "kind=CMD_POD_CTR_EXEC"): 1000.0,
        ("Commands sent", "kind=CMD_POD_CTR_LOGS"): 200.0,
        ("Rejects", ""): 5.0,
        ("Timeouts", ""): 4.0,
    }


def test_partial_run_with_only_meta(tmp_path: Path) -> None:
    run_dir = tmp_path / "20240501T000000Z-fleet"
    run_dir.mkdir()
    _write_meta(run_dir, "running", duration_s=60)
    md_path = write_run_report(run_dir)
    md = md_path.read_text()
    assert "Run status is 'running'" in md
    assert "Missing, empty or unreadable result files:" in md and "resources.csv (missing)" in md
    assert "No request data" in md and "No resource samples" in md
    assert (run_dir / "report.html").is_file()
    assert not list((run_dir / "plots").glob("*.png"))
    assert summary_rows(load_run(run_dir)).empty
    assert format_summary_table(summary_rows(load_run(run_dir))) == "no requests recorded"
    for reader in (rf.read_stats, rf.read_history, rf.read_failures, rf.read_resources, rf.read_latency):
        assert reader(run_dir).empty
    assert list(rf.read_gateway_metrics(run_dir).columns)[:3] == ["name", "labels", "value"]


def test_partial_run_with_torn_files(tmp_path: Path, full_run: Path) -> None:
    """A crash mid-run: Locust header-only stats, torn resources.csv, no latency files, stale plot."""
    run_dir = tmp_path / "20240501T000000Z-fleet"
    run_dir.mkdir()
    meta = _write_meta(run_dir, "interrupted", duration_s=600)
    meta["finished_at"] = meta["started_at"]
    write_meta(run_dir, meta)
    history = (full_run / rf.HISTORY_CSV).read_text()
    (run_dir / rf.HISTORY_CSV).write_text(history[: len(history) * 2 // 3])  # cut mid-row
    (run_dir / rf.STATS_CSV).write_text((full_run / rf.STATS_CSV).read_text().splitlines()[0] + "\n")
    (run_dir / rf.FAILURES_CSV).write_text("")
    resources = (full_run / rf.RESOURCES_CSV).read_text()
    (run_dir / rf.RESOURCES_CSV).write_text(resources[:-7])
    (run_dir / "plots").mkdir()
    (run_dir / "plots" / "latency.png").write_bytes(b"stale")

    md = write_run_report(run_dir).read_text()
    assert "Run was interrupted" in md and "Run ended early" in md
    assert "locust_failures.csv (empty)" in md and "latency.csv (missing)" in md
    assert (run_dir / "plots" / "throughput.png").stat().st_size > 1000
    assert (run_dir / "plots" / "resources.png").stat().st_size > 1000
    assert not (run_dir / "plots" / "latency.png").exists()  # no latency data now: stale plot removed
    resources_frame = rf.read_resources(run_dir)
    assert len(resources_frame) == 7 and resources_frame["process"].isin(["gateway", "generator"]).all()


def test_a_stop_while_the_report_is_drawn_leaves_the_plots_not_yet_drawn_out(
    tmp_path: Path, full_run: Path
) -> None:
    run_dir = tmp_path / full_run.name
    shutil.copytree(full_run, run_dir)
    shutil.rmtree(run_dir / "plots", ignore_errors=True)
    asked: list[bool] = []

    def stopped() -> bool:  # the signal comes once the first plot is drawn
        asked.append(len(asked) > 0)
        return asked[-1]

    md = write_run_report(run_dir, stopped=stopped).read_text()
    # The shape plot was asked for before the stop (this run has no timeline to draw it from).
    assert not list((run_dir / "plots").glob("*.png"))
    assert "Workload shape: not drawn" not in md and "No shape plot" in md
    for alt in ("Latency over time", "Throughput", "Latency", "Errors", "Resources"):
        assert f"{alt}: not drawn, the run was stopped" in md, alt
    assert md.count("not drawn") == 5
    assert "not drawn" in (run_dir / "report.html").read_text()


def test_latency_falls_back_to_locust_stats(tmp_path: Path, full_run: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("meta.json", rf.STATS_CSV, rf.HISTORY_CSV, rf.FAILURES_CSV):
        (run_dir / name).write_bytes((full_run / name).read_bytes())
    summary = summary_rows(load_run(run_dir))
    assert summary.attrs["source"] == rf.STATS_CSV
    by_name = summary.set_index("name")
    assert by_name.loc["Exec", "count"] == 1200
    assert by_name.loc["Exec", "p50_ms"] == 0  # Locust rounds 0.25 ms to whole ms
    assert by_name.loc["Logs", "p50_ms"] in (12, 13)
    md = write_run_report(run_dir).read_text()
    assert "Locust, rounded to whole ms" in md and "latency.csv (missing)" in md
    assert (run_dir / "plots" / "latency.png").stat().st_size > 1000


def test_cli_report(full_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(full_run)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(full_run / "report.md")
    assert "Exec" in err and "Aggregated" in err

    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such directory" in err

    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err

    bad = tmp_path / "future"
    bad.mkdir()
    (bad / "meta.json").write_text(json.dumps({"schema_version": 99}))
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "schema_version 99" in err


def test_history_reader_coerces_na(tmp_path: Path) -> None:
    header = ",".join(rf.HISTORY_COLUMNS[:-1])
    na = ",".join(["N/A"] * len(rf.PERCENTILE_COLUMNS))
    (tmp_path / rf.HISTORY_CSV).write_text(
        f"{header}\n1700000000,0,,Aggregated,0.000000,0.000000,{na},0,0,0,0.0,0,0,0.0\n"
        f"1700000003,5,grpc,Exec,2.0,0.0,{','.join(['1'] * len(rf.PERCENTILE_COLUMNS))},6,0,1,1.0,1,1,0\n"
    )
    frame = rf.read_history(tmp_path)
    assert frame["elapsed_s"].tolist() == [0.0, 3.0]  # no meta.json: origin is the first sample
    assert frame["50%"].isna().tolist() == [True, False]
    assert frame["Type"].tolist() == ["", "grpc"]
    assert pd.api.types.is_float_dtype(frame["99%"])


def test_history_rates_from_cumulative_counts(full_run: Path) -> None:
    history = pd.DataFrame(
        {
            "Timestamp": [100, 100, 101, 101, 103, 103, 104, 104],
            "Type": ["grpc", "", "grpc", "", "grpc", "", "grpc", ""],
            "Name": ["Exec", "Aggregated"] * 4,
            "Total Request Count": [0, 0, 50, 50, 250, 250, 10, 10],  # stats reset before the last row
            "Total Failure Count": [0, 0, 0, 0, 20, 20, 0, 0],
        }
    )
    rates = rf.history_rates(history)
    exec_ = rates[rates["Name"] == "Exec"]
    assert exec_["req_per_s"].tolist()[:3] == [0.0, 50.0, 100.0]
    assert exec_["fail_per_s"].tolist()[:3] == [0.0, 0.0, 10.0]
    assert pd.isna(exec_["req_per_s"].iloc[3])
    real = rf.history_rates(rf.read_history(full_run))
    assert real["req_per_s"].max() > 0


def test_history_rates_kind_appearing_late() -> None:
    history = pd.DataFrame(
        {
            "Timestamp": [10, 12, 12],
            "Type": ["", "", "grpc"],
            "Name": ["Aggregated", "Aggregated", "Late"],
            "Total Request Count": [4, 10, 6],
            "Total Failure Count": [0, 0, 0],
        }
    )
    rates = rf.history_rates(history).set_index(["Name", "Timestamp"])
    assert pd.isna(rates.loc[("Aggregated", 10), "req_per_s"])  # first tick: interval start unknown
    assert rates.loc[("Aggregated", 12), "req_per_s"] == 3.0
    assert rates.loc[("Late", 12), "req_per_s"] == 3.0  # 0 at tick 10, 6 at tick 12


def test_throughput_plot_splits_operator_and_device_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Operator calls, device side without the connect ramp, and cumulative connects each get a panel."""
    rows = []
    for i, t in enumerate(range(100, 106)):
        rows.append([t, 52 if i else 0, "", rf.AGGREGATED, 0, 0])
        if i:
            rows.append([t, 52, "control", "Exec", 10 * i, 0])
            rows.append([t, 52, "device", "CMD_POD_CTR_EXEC", 60 + 5 * (i - 1), 0])  # 60/s during the ramp
            rows.append([t, 52, "device", "connect", 50, 0])
            rows.append([t, 52, "device", "first_cmd", 50, 0])
    history = pd.DataFrame(
        rows,
        columns=["Timestamp", "User Count", "Type", "Name", "Total Request Count", "Total Failure Count"],
    )
    history["elapsed_s"] = history["Timestamp"] - 100
    panels = []
    save_png = run_plots._save_png

    def record(fig, path: Path) -> bytes:
        for ax in fig.axes:
            legend = [t.get_text() for t in ax.get_legend().get_texts()]
            panels.append(
                (ax.get_title(loc="left"), legend, ax.get_ylim()[1], [t.get_text() for t in ax.texts])
            )
        return save_png(fig, path)

    monkeypatch.setattr(run_plots, "_save_png", record)
    assert run_plots.plot_throughput(history, tmp_path / "throughput.png") is not None
    titles = [title for title, *_ in panels]
    assert titles == [
        "operator calls (control)",
        "device side (device, connect-ramp peaks clipped)",
        "devices connected",
    ]
    (_, control, _, _), (_, device, device_top, device_notes), (_, connects, _, _) = panels
    assert control == ["Exec"]
    assert device == ["CMD_POD_CTR_EXEC"]  # no connect / first_cmd among the rates
    assert device_top < 60 and device_notes == ["clipped: 60 at 1 s"]  # the ramp peak is clipped and named
    assert connects == ["connects (cumulative)", "users"]


def test_legends_fit_and_the_rest_is_grouped_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nine device kinds: five lines of their own, one grey "other" line summing the rest, named beside."""
    names = [f"CMD_{i}" for i in range(9)]
    rows = []
    for i, t in enumerate(range(100, 106)):
        rows.append([t, 9, "", rf.AGGREGATED, 0, 0])
        rows += [[t, 9, "device", name, (k + 1) * 10 * i, 0] for k, name in enumerate(names)]
    history = pd.DataFrame(
        rows,
        columns=["Timestamp", "User Count", "Type", "Name", "Total Request Count", "Total Failure Count"],
    )
    history["elapsed_s"] = history["Timestamp"] - 100
    legends, notes = [], []
    save_png = run_plots._save_png

    def record(fig, path: Path) -> bytes:
        for ax in fig.axes:
            legends.append([t.get_text() for t in ax.get_legend().get_texts()])
            notes.extend(t.get_text() for t in ax.texts)
        return save_png(fig, path)

    monkeypatch.setattr(run_plots, "_save_png", record)
    assert run_plots.plot_throughput(history, tmp_path / "throughput.png") is not None
    device = legends[0]
    assert len(device) == run_plots.LEGEND_MAX
    assert device == [*names[4:], "other 4 kinds (sum)"]  # the busiest five, in order
    (note,) = [n for n in notes if n.startswith("other kinds:")]
    assert note.splitlines()[1:] == names[:4]


def test_clipped_peaks_in_adjacent_intervals_are_one_label() -> None:
    runs = run_plots.clipped_runs({1.0: 50.0, 2.0: 80.0, 3.0: 40.0, 9.0: 60.0}, step=1.0)
    assert runs == [(1.0, 3.0, 80.0), (9.0, 9.0, 60.0)]


def test_no_errors_plot_without_failures(tmp_path: Path) -> None:
    history = pd.DataFrame(
        [[100, 1, "grpc", "Exec", 10, 0, 0.0], [101, 1, "grpc", "Exec", 20, 0, 1.0]],
        columns=["Timestamp", "User Count", "Type", "Name", "Total Request Count", "Total Failure Count",
                 "elapsed_s"],
    )  # fmt: skip
    failures = pd.DataFrame(columns=["Method", "Name", "Error", "Occurrences"])
    assert run_plots.plot_errors(history, failures, tmp_path / "errors.png") is None
    assert not (tmp_path / "errors.png").exists()


def test_device_costs_from_resources_timeline_and_counts() -> None:
    from aranya_perf.analysis.run_summary import device_costs

    # Generator and one worker sampled each second; the gateway's samples must not count.
    rows = []
    for t in range(6):
        at = {"timestamp": 100.0 + t, "elapsed_s": float(t)}
        rows.append(
            {**at, "process": "generator", "cpu_percent": 50.0, "rss_bytes": 2**27 + t * 1000 * 2**10}
        )
        rows.append({**at, "process": "worker-0", "cpu_percent": 30.0, "rss_bytes": 2**26})
        rows.append({**at, "process": "gateway", "cpu_percent": 90.0, "rss_bytes": 10**9})
    resources = pd.DataFrame(rows)
    timeline = pd.DataFrame({"timestamp": [100.0 + t for t in range(6)], "devices": [0, 2, 4, 6, 8, 10]})
    meta = {"window": {"started_at": 100.0, "ended_at": 104.0, "fleet": {"msgs_sent": 400}}}
    costs = device_costs(resources, timeline, meta)
    # Samples at 1..5 s (the last covers the window's last second): 5 s x (0.5 + 0.3) cores.
    assert costs["cpu_s"] == pytest.approx(4.0)
    assert costs["cpu_us_per_device_msg"] == pytest.approx(4.0 / 400 * 1e6)
    # RSS grew by 5 x 1000 KiB while 10 devices were added.
    assert costs["rss_per_device_kib"] == pytest.approx(500.0)
    assert costs["devices"] == 10
    empty = device_costs(resources.iloc[0:0], timeline, {})
    assert empty["cpu_us_per_device_msg"] is None and empty["rss_per_device_kib"] is None
