"""The asv suite stays runnable: config sane, every benchmark importable and checked, one benchmark run.

Everything runs in this interpreter's environment (``-E existing``) against a temporary
copy of asv.conf.json whose results, html and env dirs are under tmp_path, with HOME
pointed there too (asv keeps its machine file in ``~``), so nothing is written into
the repository's results/asv. Seconds, not minutes: the gateway benchmarks are only
imported and checked here, not run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

ASV_TIMEOUT_S = 150
# A figure as asv prints a timing: "5.66±0μs", "1.09±0.01μs", "962±30ns", "2.23±0.01ms".
TIMING = re.compile(r"\d+(?:\.\d+)?±\d+(?:\.\d+)?(?:ns|μs|us|ms|s)\b")


@pytest.fixture(scope="module")
def asv_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("asv")
    conf = json.loads((REPO / "asv.conf.json").read_text(encoding="utf-8"))
    conf.update(
        repo=str(REPO),
        benchmark_dir=str(REPO / "benchmarks"),
        env_dir=str(tmp / "env"),
        results_dir=str(tmp / "results"),
        html_dir=str(tmp / "html"),
    )
    conf_path = tmp / "asv.conf.json"
    conf_path.write_text(json.dumps(conf, indent=2), encoding="utf-8")
    env = dict(os.environ, HOME=str(tmp))
    out = _asv(["machine", "--machine", "asv-test", "--yes"], env, tmp)
    assert out.returncode == 0, out.stdout + out.stderr
    return conf_path, env


def _asv(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asv", *args],
        capture_output=True,
        text=True,
        timeout=ASV_TIMEOUT_S,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def test_config_has_what_the_docs_promise() -> None:
    conf = json.loads((REPO / "asv.conf.json").read_text(encoding="utf-8"))
    assert conf["repo"] == "."
    assert conf["branches"] == ["main"]
    assert conf["results_dir"] == "results/asv"
    assert conf["html_dir"] == "results/asv/html"
    assert conf["environment_type"] == "virtualenv"
    assert conf["pythons"] == ["3.11"]
    assert conf["regressions_thresholds"][".*"] > 0
    # Only the project wheel goes into the build cache: asv refuses a cache dir holding two wheels.
    assert any("--no-deps" in c for c in conf["build_command"])


def test_benchmark_modules_keep_locust_and_grpc_out_of_import() -> None:
    # asv forks every benchmark from one process that imported all benchmark modules: gRPC core must
    # not be initialised there, and Locust would monkey-patch the process with gevent.
    code = (
        "import sys, pkgutil, importlib, benchmarks\n"
        "for m in pkgutil.iter_modules(benchmarks.__path__, 'benchmarks.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('locust', 'gevent', 'grpc'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr


def test_asv_check_finds_no_problems(asv_setup: tuple[Path, dict[str, str]]) -> None:
    conf_path, env = asv_setup
    out = _asv(
        ["check", "--config", str(conf_path), "-E", f"existing:{sys.executable}"], env, conf_path.parent
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No problems found" in out.stdout, out.stdout + out.stderr


def test_quick_codec_benchmark_runs(asv_setup: tuple[Path, dict[str, str]]) -> None:
    conf_path, env = asv_setup
    name = "codec.DataFrames.time_encode"
    args = [
        "run",
        "--config",
        str(conf_path),
        "-E",
        f"existing:{sys.executable}",
        "--machine",
        "asv-test",
        "--quick",
        "--dry-run",
        "--show-stderr",
        "--bench",
        f"^{re.escape(name)}",  # no "$": parameterised names are matched with their "(params)"
    ]
    out = _asv(args, env, conf_path.parent)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert re.search(rf"{re.escape(name)}\s+ok", out.stdout), text
    assert "failed" not in out.stdout, text
    # One timing per parameter combination: 4 protocol versions x 3 kinds x 3 sizes.
    assert len(TIMING.findall(out.stdout)) == 36, text
    # asv always writes machine.json and benchmarks.json; a results file would be <commit>-<env>.json.
    saved = [p for p in (conf_path.parent / "results").glob("*/*.json") if p.name != "machine.json"]
    assert not saved, f"--dry-run saved results: {saved}"
