"""The Prometheus alerting rules (promtool check and unit tests) and the Grafana dashboard's shape;
the dashboard's queries run against a real Prometheus in test_prometheus_integration."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

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
    assert check.returncode == 0 and "SUCCESS: 6 rules found" in check.stdout, check.stdout + check.stderr
    tested = _promtool("test", "rules", "rules_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


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
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            for name in re.findall(r"\b(aranya_(?:perf|gateway)_\w+)", target["expr"]):
                base = re.sub(r"_(bucket|count|sum)$", "", name)
                assert base in known, (panel["title"], name)
