"""``aranya-perf report DIR`` as a pure function of a real run's files, and what it does with damaged ones.

One small real run (``aranya-perf run`` as a subprocess, about 15 s) is made once for the module; each
case works on its own copy.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from aranya_perf.analysis import run_frames as rf
from aranya_perf.analysis.run_inputs import csv_problem, recorded_states, rerender

from aranya_perf.cli import main
from aranya_perf.results import RunFiles
from tests.helpers import run_cli

REPORTS = ("report.md", "report.html")
Render = Callable[[Path], tuple[int, str, str]]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    done = run_cli("run", "--devices", "10", "--operators", "1", "--duration", "8s", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = out.iterdir()
    return run_dir


@pytest.fixture
def run_copy(real_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / real_run.name
    shutil.copytree(real_run, copy)
    return copy


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Render:
    """``aranya-perf report --quiet DIR`` in this process (a subprocess would import pandas each time)."""

    def render(run_dir: Path) -> tuple[int, str, str]:
        code = main(["report", "--quiet", str(run_dir)])
        out, err = capsys.readouterr()
        return code, out, err

    return render


def _bytes(run_dir: Path) -> dict[str, bytes]:
    files = [run_dir / n for n in REPORTS] + sorted((run_dir / "plots").glob("*.png"))
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in files}


def test_rendering_again_gives_the_runs_own_report_byte_for_byte(
    real_run: Path, run_copy: Path, report: Render
) -> None:
    own = _bytes(real_run)
    assert len(own) > len(REPORTS)  # plots too
    for _ in range(2):
        code, out, err = report(run_copy)
        assert (code, err) == (0, "")
        assert out.strip() == str(run_copy / "report.md")
        assert _bytes(run_copy) == own


def _random(name: str) -> Callable[[Path], None]:
    return lambda d: (d / name).write_bytes(os.urandom(1500))


def _set(name: str, text: str) -> Callable[[Path], None]:
    return lambda d: (d / name).write_text(text)


def _insert_row(name: str, row: str) -> Callable[[Path], None]:
    def damage(d: Path) -> None:
        lines = (d / name).read_text().splitlines(keepends=True)
        (d / name).write_text("".join([*lines[:2], row + "\n", *lines[2:]]))

    return damage


def _append(name: str, text: str) -> Callable[[Path], None]:
    return lambda d: (d / name).write_text((d / name).read_text() + text)


HDR = RunFiles.LATENCY_HDR
BAD_BLOB = json.dumps({"schema_version": 1, "histograms": {"x": "?"}})
BAD_COUNTS = json.dumps({"schema_version": 1, "histograms": {}, "failures": 3})
TEXT_ROW = "grpc,x" + ",abc" * 9
DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "hdr not JSON": (HDR, _set(HDR, '{"schema_version": 1, "histograms": {')),
    "hdr histogram not decodable": (HDR, _set(HDR, BAD_BLOB)),
    "hdr failures not counts": (HDR, _set(HDR, BAD_COUNTS)),
    "latency.csv random bytes": (rf.LATENCY_CSV, _random(rf.LATENCY_CSV)),
    "latency.csv a text where a number goes": (rf.LATENCY_CSV, _insert_row(rf.LATENCY_CSV, TEXT_ROW)),
    "locust_stats.csv random bytes": (rf.STATS_CSV, _random(rf.STATS_CSV)),
    "locust_stats.csv a short row": (rf.STATS_CSV, _insert_row(rf.STATS_CSV, "grpc,Exec,1")),
    "history missing": (rf.HISTORY_CSV, lambda d: (d / rf.HISTORY_CSV).unlink()),
    "timeline.csv emptied": (RunFiles.TIMELINE, _set(RunFiles.TIMELINE, "")),
    "resources.csv a garbage header": (rf.RESOURCES_CSV, _set(rf.RESOURCES_CSV, "a,b\n1,2\n")),
    "gateway metrics not Prometheus text": (rf.GATEWAY_METRICS, _append(rf.GATEWAY_METRICS, "x{{{ 1 2\n")),
    "intervals a bad line": (RunFiles.LATENCY_INTERVALS, _append(RunFiles.LATENCY_INTERVALS, '{"t": 1}\n')),
    "events a bad line": (RunFiles.EVENTS, _append(RunFiles.EVENTS, "not json\n")),
    "slo.json not JSON": (RunFiles.SLO, _set(RunFiles.SLO, "[1")),
    "profile.toml not TOML": (RunFiles.PROFILE, _append(RunFiles.PROFILE, "[[[\n")),
}  # fmt: skip


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_input_warns_once_and_keeps_the_better_report(
    run_copy: Path, case: str, report: Render
) -> None:
    name, damage = DAMAGE[case]
    before = _bytes(run_copy)
    damage(run_copy)
    code, out, err = report(run_copy)
    lines = err.splitlines()
    warnings = [line for line in lines if "warning:" in line]
    assert len(warnings) == 1 and f"{run_copy / name}:" in warnings[0], err
    assert "Traceback" not in err and out == ""
    assert code == 2
    assert (
        len(lines) == 2
        and lines[1].startswith("aranya-perf report: error: kept the existing")
        and name in lines[1]
    )
    assert _bytes(run_copy) == before  # report.md, report.html and the plots untouched


def test_without_a_report_a_damaged_input_is_rendered_and_named(run_copy: Path, report: Render) -> None:
    for name in REPORTS:
        (run_copy / name).unlink()
    (run_copy / rf.LATENCY_CSV).write_bytes(os.urandom(1500))
    code, out, err = report(run_copy)
    assert code == 0 and out.strip() == str(run_copy / "report.md")
    assert len(err.splitlines()) == 1 and f"{run_copy / rf.LATENCY_CSV}: unreadable: not UTF-8" in err
    md = (run_copy / "report.md").read_text()
    assert "- latency.csv: unreadable (exact latency per request kind): not UTF-8" in md
    assert "latency.csv (unreadable)" in md  # in the warnings too
    assert recorded_states(run_copy / "report.md")[rf.LATENCY_CSV] == "unreadable"
    # The damage was already there: rendering again loses nothing, and gives the same report.
    first = _bytes(run_copy)
    assert report(run_copy)[0] == 0 and _bytes(run_copy) == first


def test_rerender_rules() -> None:
    assert rerender(None, {"a": "missing"}).write
    assert rerender({"a": "ok", "b": "missing"}, {"a": "ok", "b": "ok"}).write
    assert rerender({"a": "unreadable"}, {"a": "unreadable"}).write
    kept = rerender({"a": "ok", "b": "ok"}, {"a": "empty"})
    assert not kept.write and kept.lost == ("a (ok before, empty now)", "b (ok before, missing now)")


def test_csv_problem(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    columns, text = ("name", "n"), ("name",)
    cases = {
        "name,n\na,1\nb,N/A\nc,\n": None,
        "name,n\na,1\nb,2": None,  # a torn last row is a crash, not damage
        "name,n\na,1,2\n": "row 2 has 3 fields, its header 2",
        "name,n\na,one\n": "row 2: n is 'one', not a number",
        "x,n\na,1\n": "its header has no column name",
    }
    for content, problem in cases.items():
        path.write_text(content)
        assert csv_problem(path, columns, text) == problem, content
    path.write_bytes(b"name,n\n\xff,1\n")
    assert csv_problem(path, columns, text) == "not UTF-8 text (byte 7)"
