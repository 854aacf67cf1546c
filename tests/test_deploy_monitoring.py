"""The Prometheus alerting rules (promtool check and unit tests) and the Grafana dashboard's shape;
the dashboard's queries run against a real Prometheus in test_prometheus_integration."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess

import yaml
from aranya_perf.loadtests import live_metrics

from aranya_perf.gateway import metrics as gateway_metrics
from tests.helpers import REPO

PROMETHEUS = REPO / "deploy" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing (.ci/run installs Debian's prometheus)"
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, cwd=PROMETHEUS)


def test_rules_pass_promtool_check_and_their_unit_tests() -> None:
    check = _promtool("check", "rules", "rules.yml")
    assert check.returncode == 0 and "SUCCESS: 9 rules found" in check.stdout, check.stdout + check.stderr
    tested = _promtool("test", "rules", "rules_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_runbook_section_that_exists() -> None:
    """``runbook_url`` of each alerting rule names a section of docs/troubleshooting.md that is there."""
    spec = importlib.util.spec_from_file_location("check_links", REPO / "scripts" / "check_links.py")
    assert spec is not None and spec.loader is not None
    check_links = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_links)
    sections = check_links.anchors(REPO / "docs" / "troubleshooting.md")
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert {"AranyaPerfGeneratorCpuSaturated", "AranyaPerfEventLoopLagHigh", "AranyaPerfWorkersMissing"} <= {
        r["alert"] for r in alerts
    }
    for rule in alerts:
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert path == "docs/troubleshooting.md" and anchor in sections, rule["alert"]


def test_dashboard_reads_only_series_that_exist() -> None:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "aranya-perf.json").read_text())
    assert dashboard["uid"] == "aranya-perf" and dashboard["panels"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    known = {
        module.PREFIX + name
        for module in (gateway_metrics, live_metrics)
        for name in re.findall(r"^(\w+)\s+(?:counter|gauge|histogram)", module.__doc__, re.M)
    }
    exprs = [(panel["title"], t["expr"]) for panel in dashboard["panels"] for t in panel["targets"]]
    assert all(panel["targets"] for panel in dashboard["panels"])
    exprs += [(a["name"], a["expr"]) for a in dashboard["annotations"]["list"] if "expr" in a]
    for title, expr in exprs:
        for name in re.findall(r"\b(aranya_(?:perf|gateway)_\w+)", expr):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert base in known, (title, name)


def test_every_dashboard_query_is_scoped_by_run_job_and_instance() -> None:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "aranya-perf.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert {"datasource", "run", "job", "instance"} <= set(variables)
    assert "$job" in variables["instance"]["query"]["query"]  # instances of the jobs picked
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            assert '{run=~"$run"}' in expr, (panel["title"], expr)
            # Every series the panel reads, not only the first, is filtered.
            selectors = re.findall(r"\b(aranya_(?:perf|gateway)_\w+)(\{[^}]*\})?", expr)
            for name, labels in selectors:
                if name != "aranya_perf_generator_info":
                    assert 'job=~"$job"' in labels and 'instance=~"$instance"' in labels, (
                        panel["title"],
                        name,
                    )
    phases = {a["name"]: a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a}
    assert "aranya_perf_window_open" in phases["Measured window"]
    assert "aranya_perf_phase" in phases["Shape phases (ramp, hold, steps, spike)"]
