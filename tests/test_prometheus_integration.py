"""A real Prometheus (Debian's ``prometheus``, started here) scrapes the reference gateway and a real
``locust -f loadtests/locustfile.py --metrics-listen`` run; the figures it stores in a run
directory must equal the run's own counts, and every query of the Grafana dashboard must work.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from aranya_perf.analysis.prometheus import read_range_queries

from aranya_perf.measure import promql
from tests.helpers import REPO, free_port, gateway_process

DASHBOARD = REPO / "deploy" / "grafana" / "aranya-perf.json"
SCRAPE_S = 1


@pytest.fixture
def prometheus(tmp_path: Path):
    """Start ``prometheus`` on a free loopback port with a config the test writes; yield (url, config)."""
    binary = shutil.which("prometheus")
    assert binary, "the prometheus binary is missing (.ci/run installs Debian's prometheus)"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    proc: subprocess.Popen[bytes] | None = None

    def start(jobs: dict[str, str]) -> str:
        nonlocal proc
        scrape = [{"job_name": j, "static_configs": [{"targets": [a]}]} for j, a in jobs.items()]
        settings = {"global": {"scrape_interval": f"{SCRAPE_S}s"}, "scrape_configs": scrape}
        config.write_text(json.dumps(settings))
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return url
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "prometheus not ready in 30 s"
            time.sleep(0.2)

    yield start
    if proc is not None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _instant(url: str, expr: str, at: float | None = None) -> dict:
    query = urllib.parse.urlencode({"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as resp:
        return json.load(resp)


def _variables_all(expr: str) -> str:
    """A dashboard query as Grafana sends it with every run, job and instance picked ("All")."""
    for name in ("$run", "$job", "$instance"):
        expr = expr.replace(name, ".*")
    return expr.replace("$__rate_interval", "30s")


def test_prometheus_stores_the_run_figures_and_they_match_the_run(prometheus, tmp_path: Path) -> None:
    metrics_port = free_port()
    with gateway_process() as gw:
        url = prometheus({"gateway": gw.metrics_address, "generator": f"127.0.0.1:{metrics_port}"})
        start = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py"), "--headless",
             "--host", gw.address, "-u", "101", "-r", "101", "-t", "8s", "--stop-timeout", "5",
             "--metrics-listen", f"127.0.0.1:{metrics_port}", "--json-file", str(tmp_path / "stats"),
             "--only-summary"],
            capture_output=True, text=True, timeout=90, cwd=REPO,
        )  # fmt: skip
        end = time.time()
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"live metrics on http://127.0.0.1:{metrics_port}/metrics" in proc.stderr

        run_dir = tmp_path / "run"
        queries = [
            promql.Query("generator_requests", "aranya_perf_requests_total", step_s=1),
            promql.Query("generator_failures", "sum(aranya_perf_request_failures_total) or vector(0)", 1),
            promql.Query("devices_online", "aranya_perf_devices_online", step_s=1),
            promql.Query("gateway_control", 'aranya_gateway_control_requests_total{code="OK"}', step_s=1),
            promql.Query("bad", "sum(", step_s=1),
        ]
        dashboard = json.loads(DASHBOARD.read_text())
        exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
        exprs += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
        # At the generator's last scrape: on a busy machine a query can come after the next, failed,
        # scrape, when the exited generator's series are already stale.
        last = _instant(url, "max_over_time(timestamp(aranya_perf_generator_info)[1m:1s])")
        at = float(last["data"]["result"][0]["value"][1])
        dashboard_answers = {expr: _instant(url, _variables_all(expr), at) for expr in exprs}
        with urllib.request.urlopen(f"{url}/api/v1/label/__name__/values", timeout=10) as resp:
            names = set(json.load(resp)["data"])
        # The range ends two scrapes after the run: wait for them, or the gateway's last answers (made
        # after its last scrape so far) are not in Prometheus yet.
        time.sleep(2 * SCRAPE_S + 0.5)
        files = promql.store_series(run_dir, url, queries, start, end + 2 * SCRAPE_S)

    # The run's own counts: Locust's final stats (its CSV snapshot can be a second stale).
    stats = {(r["method"], r["name"]): r for r in json.loads((tmp_path / "stats.json").read_text())}
    requests = promql.last_values(files["generator_requests"])
    # Every request kind Locust counted, counted the same by the generator's exporter.
    kinds = {k: int(r["num_requests"]) for k, r in stats.items()}
    assert kinds and ("control", "Exec") in kinds
    exported = {
        tuple(re.search(r'name="([^"]*)",request_type="([^"]*)"', key).groups()[::-1]): int(v)
        for key, v in requests.items()
    }
    assert exported == kinds
    failures = sum(int(r["num_failures"]) for r in stats.values())
    assert promql.last_values(files["generator_failures"]) == {"{}": failures}
    assert max(promql.last_values(files["devices_online"]).values()) <= 100
    online = json.loads(files["devices_online"].read_text())["data"]["result"][0]["values"]
    assert max(float(v) for _, v in online) == 100  # the whole fleet was online at some scrape
    # The gateway answered every operator call that Locust saw succeed, as Prometheus scraped it;
    # at most the one operator's call in flight at the stop can have been answered and not seen.
    gateway = promql.last_values(files["gateway_control"])
    for method in ("Exec", "Logs", "PortForward", "CollectMetrics"):
        ok = kinds[("control", method)] - int(stats[("control", method)]["num_failures"])
        key = next(k for k in gateway if f'method="{method}"' in k)
        assert ok <= gateway[key] <= ok + 1, (method, gateway)
    # A query Prometheus refuses is kept with its reason; the files read back as analysis reads them.
    bad = json.loads(files["bad"].read_text())
    assert bad["status"] == "error" and bad["query"]["expr"] == "sum(" and bad["error"]
    frame = read_range_queries(sorted((run_dir / promql.PROMETHEUS_DIR).glob("*.json")))
    assert set(frame["metric"]) >= {"aranya_perf_requests_total", "aranya_gateway_control_requests_total"}

    # Every dashboard query is valid PromQL, and returns data whenever the series it reads exist.
    for expr, answer in dashboard_answers.items():
        assert answer["status"] == "success", (expr, answer)
        used = set(re.findall(r"\b(aranya_(?:perf|gateway)_\w+)", expr))
        present = {u for u in used if u in names}
        if present == used and "failures" not in expr:
            assert answer["data"]["result"], expr


def test_a_remote_target_s_cost_over_time_comes_from_prometheus(prometheus, tmp_path: Path) -> None:
    with gateway_process() as gw:
        url = prometheus({"gateway": gw.metrics_address})
        proc = subprocess.run(
            [sys.executable, "-m", "aranya_perf", "run", "--target", gw.address, "--control", gw.address,
             "--target-metrics", gw.metrics_address, "--prometheus", url, "--devices", "10",
             "--arrival-rate", "10", "--duration", "35s", "--shape", "soak", "--out", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=240, cwd=REPO,
        )  # fmt: skip
    out = proc.stdout[-4000:] + proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "out").iterdir()
    cpu = json.loads((run_dir / "prometheus" / "target_cpu_seconds.json").read_text())
    assert cpu["query"]["expr"] == f'sum(process_cpu_seconds_total{{instance="{gw.metrics_address}"}})', out
    assert cpu["status"] == "success" and cpu["data"]["result"], out
    doc = json.loads((run_dir / "drift.json").read_text())
    assert doc["source"] == f"prometheus {url}", out
    assert {s["series"] for s in doc["slopes"]} >= {"cpu_per_request", "rss"}, out
    assert "cost over time:\n  target CPU per request " in proc.stdout


def test_store_series_needs_a_reachable_loopback_prometheus(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="refusing non-loopback"):
        promql.check_url("http://10.0.0.1:9090")
    assert promql.check_url("http://127.0.0.1:9090/") == "http://127.0.0.1:9090"
    with pytest.raises(promql.PrometheusError):
        promql.store_series(tmp_path, f"http://127.0.0.1:{free_port()}", [promql.Query("q", "up")], 1.0, 2.0)
    with pytest.raises(ValueError, match="unknown key"):
        promql.parse_queries([{"name": "a", "expr": "up", "step": 1}], "profile.toml")
    assert promql.parse_queries([{"name": "a", "expr": "up"}], "p") == [promql.Query("a", "up", 5.0)]
