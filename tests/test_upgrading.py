"""docs/upgrading.md's promise: a results directory of an older schema is read; a newer one is refused.

A real run (schema 2) is turned into the schema 1 layout (no protocol, shape or window in meta.json;
none of the files schema 2 added) and read through ``aranya-perf report`` and the run catalogue.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from aranya_perf.analysis import run_catalogue

from aranya_perf.results import META_SCHEMA_VERSION
from tests.helpers import run_cli

pytestmark = pytest.mark.integration
SCHEMA_2_FILES = (
    "profile.toml",
    "events.jsonl",
    "timeline.csv",
    "latency_intervals.jsonl",
    "slo.json",
    "slo.xml",
    "workers.csv",
)
REPORT_FILES = ("report.md", "report.html", "plots")


@pytest.fixture(scope="module")
def schema_2_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    proc = run_cli("run", "--devices", "5", "--operators", "1", "--duration", "3s", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = out.iterdir()
    return run_dir


def _as_schema_1(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest)
    for name in (*SCHEMA_2_FILES, *REPORT_FILES):
        path = dest / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    meta = json.loads((dest / "meta.json").read_text())
    for key in ("protocol", "shape", "window"):
        meta.pop(key, None)
    meta["schema_version"] = 1
    meta["run_id"] = dest.name  # the catalogue keys runs by it
    (dest / "meta.json").write_text(json.dumps(meta))
    return dest


def test_the_current_schema_is_the_one_documented() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "upgrading.md").read_text()
    assert f"| {META_SCHEMA_VERSION} | since " in text
    assert f"| {META_SCHEMA_VERSION + 1} |" not in text


def test_a_schema_1_directory_is_reported_and_catalogued(schema_2_run: Path, tmp_path: Path) -> None:
    old = _as_schema_1(schema_2_run, tmp_path / "20261101T000000Z-smoke")
    proc = run_cli("report", str(old), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (old / "report.md").exists() and (old / "report.html").exists()
    warnings: list[str] = []
    cat = run_catalogue.catalogue([old, schema_2_run], warnings.append)
    assert warnings == []
    assert len(cat) == 2
    assert cat.set_index("run_id").loc[old.name, "protocol"] == "unknown"


def test_a_newer_schema_is_refused_in_one_line(schema_2_run: Path, tmp_path: Path) -> None:
    new = tmp_path / "20271201T000000Z-smoke"
    shutil.copytree(schema_2_run, new)
    meta = json.loads((new / "meta.json").read_text())
    meta["schema_version"] = META_SCHEMA_VERSION + 1
    (new / "meta.json").write_text(json.dumps(meta))
    proc = run_cli("report", str(new), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "upgrade aranya-perf" in proc.stderr
    warnings: list[str] = []
    assert run_catalogue.catalogue([new], warnings.append).empty
    assert len(warnings) == 1 and f"schema_version {META_SCHEMA_VERSION + 1}" in warnings[0]
