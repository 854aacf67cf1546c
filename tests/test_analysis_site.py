"""``aranya-perf publish`` builds the history site; headless Chromium renders it as a person sees it.

Chromium is Debian's ``chromium``, installed by ``.ci/run``. The page's own script counts the plots
the browser loaded into ``#plots-status``; ``--dump-dom`` gives the DOM after it ran.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.analysis_fixtures import commit_hashes, fake_run_dir, write_history
from tests.helpers import run_cli

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed (.ci/run installs Debian's chromium)"
    profile = tmp / f"chromium-profile-{len(list(tmp.glob('chromium-profile-*')))}"
    return subprocess.run(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("site")
    commits = commit_hashes(30)
    write_history(
        tmp / "asv",
        "aranya-ci",
        commits,
        {
            "codec.Encode.time_encode": lambda i: 2e-6 * (1.2 if i >= 18 else 1.0),
            "hdr.Record.time_record": lambda i: 1e-2,
        },
    )
    # 12 runs of one configuration whose Exec p99 steps from 4 to 6 ms at the 7th, and 3 of another.
    for i in range(12):
        p99 = (6.0 if i >= 6 else 4.0) * (1 + 0.003 * (i % 3))
        fake_run_dir(tmp / "results", f"20261201T00{i:02d}00Z-fleet-{i:02d}", p99_ms=p99, minute=i)
    for i in range(3):
        fake_run_dir(
            tmp / "results", f"20261201T01{i:02d}00Z-soak-{i:02d}", p99_ms=9.0, minute=60 + i, profile="soak"
        )
    proc = run_cli(
        "publish",
        "--asv",
        str(tmp / "asv"),
        "--runs",
        str(tmp / "results"),
        "--out",
        str(tmp / "out"),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp / "out" / "index.html")
    return tmp / "out"


def test_site_renders_in_chromium_with_every_plot(site: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", (site / "index.html").as_uri())
    assert dom.returncode == 0, dom.stderr
    # 2 asv benchmarks + 2 request kinds of each of two groups of runs.
    assert re.search(r'id="plots-status">6 of 6 plots loaded<', dom.stdout), dom.stdout[:2000]
    assert dom.stdout.count('data-loaded="yes"') == 6
    shot = tmp_path / "site.png"
    proc = _chromium(
        tmp_path, "--window-size=1200,1600", f"--screenshot={shot}", (site / "index.html").as_uri()
    )
    assert proc.returncode == 0, proc.stderr
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000


def test_site_links_every_run_to_its_report_and_marks_changes(site: Path) -> None:
    page = (site / "index.html").read_text()
    links = re.findall(r'<a class="run-report" href="([^"]+)">([^<]+)</a>', page)
    assert len(links) == 15
    for href, run_id in links:
        target = (site / href).resolve()
        assert target.read_text() == f"<html><body>report of {run_id}</body></html>"
    # The injected 20 % slow-down at commit 18 is listed and drawn as a change point.
    found = re.search(r'class="regression">value: regression \+(\d+\.\d) % at (\w+)\.\.(\w+)', page)
    assert found, page
    commits = commit_hashes(30)
    assert abs(float(found.group(1)) - 20.0) <= 1.0
    assert (found.group(2), found.group(3)) == (commits[17][:12], commits[18][:12])
    alerts = json.loads((site / "alerts.json").read_text())
    assert {a["series"] for a in alerts["regressions"]} == {"codec.Encode.time_encode", "control Exec p99"}
    # The run history's step is marked too, between its 6th and 7th run.
    run_step = re.search(r'class="regression">p99: regression \+(\d+\.\d) % at ([\w-]+)\.\.([\w-]+)', page)
    assert run_step, page
    assert run_step.group(2, 3) == ("20261201T000500Z-fleet-05", "20261201T000600Z-fleet-06")
    # The group of three runs is named too short to judge, in the page and in alerts.json.
    assert page.count('class="short">p50: insufficient history: n=3 &lt; 10, not judged') == 2
    assert "Insufficient history: 4 line(s)" in page
    assert len(alerts["insufficient_history"]) == 4
    import pandas as pd

    assert len(pd.read_parquet(site / "runs.parquet")) == 15


@pytest.mark.parametrize("verb", ["publish", "sweep", "tune", "compare"])
def test_out_that_is_a_file_is_refused(verb: str, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    extra = {"compare": [str(tmp_path), str(tmp_path)], "sweep": ["--from-runs", str(tmp_path)]}.get(verb, [])
    proc = run_cli(verb, *extra, "--out", str(target), timeout=60)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert "is a file, not a directory" in line
