"""The embedded gateway's processes on ``auto``: the rule that wins in each case, the estimate behind the
CPU rule, and a run that says its choice at start-up, under its summary and in ``meta.json``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from aranya_perf import profiles
from aranya_perf.run.gateway_processes import PLANNED_SHARE, choose, estimate, resolved
from tests.helpers import run_cli

NO_OPERATORS = {"operators.count": 0}
BIG = {**NO_OPERATORS, "fleet.devices": 10_000, "gateway.node_info_interval_s": 1.0}
"""10,000 devices answering node info every second and metrics every 10 s: about 11 cores of work."""


@pytest.mark.parametrize(
    ("overrides", "cores", "generators", "count", "reason"),
    [
        # given counts are kept, whatever else holds
        ({"gateway.processes": 1, **BIG}, 16, 1, 1, ""),
        ({"gateway.processes": 3}, 2, 1, 3, ""),
        # no embedded gateway, or no fleet: nothing to choose, nothing said
        ({"target.address": "127.0.0.1:1"}, 16, 1, 1, ""),
        # the CPU estimate: as many as the work needs, at most the cores left beside the generators
        (NO_OPERATORS, 16, 1, 1, "at most 60 % of a core each"),
        (BIG, 16, 1, 15, "15 core(s) left beside 1 generator process(es) of 16"),
        (BIG, 8, 2, 6, "wants 21; 6 core(s) left beside 2 generator process(es) of 8"),
        (BIG, 2, 1, 1, "wants 21; 1 core(s) left"),
        (BIG, 2, 4, 1, "wants 21; 1 core(s) left beside 4"),  # no core left: still one
        ({**BIG, "fleet.devices": 3}, 16, 1, 1, "at most 60 %"),  # never more processes than devices
        # one process only: these win over the CPU estimate
        ({**BIG, "target.transport": "mqtt"}, 16, 1, 1, "devices over MQTT"),
        ({**BIG, "target.link": "lan"}, 16, 1, 1, "the link goes in front of one shared listener"),
        ({**BIG, "operators.api": "kubernetes"}, 16, 1, 1, "the Kubernetes face is served by one process"),
        ({**BIG, "gateway.kubeconfig_out": "k.yaml"}, 16, 1, 1, "the Kubernetes face"),
        ({**BIG, "operators.count": 3}, 16, 1, 1, "the operators' Kubernetes face"),  # auto route
        ({**BIG, "operators.api": "control"}, 16, 1, 15, "cores of work"),  # no face: spread
        # the file-descriptor bound wins over the auto route's face, which then falls back
        ({**BIG, "fleet.devices": 30_000, "operators.count": 3}, 2, 1, 2, "at most 20,000 per process"),
        # ...but not over a one-process rule: that run is refused before it starts (test_bad_input)
        ({**BIG, "fleet.devices": 30_000, "target.transport": "mqtt"}, 16, 1, 1, "devices over MQTT"),
    ],
)
def test_the_rule_that_wins(
    overrides: dict[str, object], cores: int, generators: int, count: int, reason: str
) -> None:
    chosen = choose(profiles.resolve("smoke", overrides), cores, generators)
    assert chosen.count == count
    assert (reason in chosen.reason) if reason else chosen.reason == "" and chosen.line() == ""


def test_the_estimate_counts_the_schedule_status_and_operators() -> None:
    # load-test schedule: node info and metrics every 10 s; status every 10 s; 3 operators thinking 0.1 s
    work = estimate(profiles.resolve("smoke", {"fleet.devices": 1000}))
    assert (work.commands, work.status, work.operator_calls) == pytest.approx((200.0, 100.0, 30.0))
    assert 0 < work.cores < PLANNED_SHARE
    quiet = estimate(
        profiles.resolve("smoke", {"gateway.schedule": "aranya-defaults", "fleet.status_interval_s": 0})
    )
    assert quiet.commands == quiet.status == 0
    open_model = estimate(profiles.resolve("smoke", {"operators.arrival_rate": 50.0}))
    assert open_model.operator_calls == 50.0


def test_the_resolved_profile_records_the_count() -> None:
    p = profiles.resolve("smoke", NO_OPERATORS)
    assert p.gateway.processes == "auto"
    with pytest.raises(ValueError, match="auto"):
        _ = p.gateway.process_count
    decided, line = resolved(p, workers=0, cores=2)
    assert decided.gateway.process_count == 1 and line.startswith("gateway processes: 1 (auto: ")
    assert "\n" not in line and tomllib.loads(profiles.render(decided))["gateway"]["processes"] == 1


def test_a_flag_and_a_profile_key_take_auto_or_a_count(tmp_path: Path) -> None:
    assert profiles.resolve("smoke", {"gateway.processes": "auto"}).gateway.processes == "auto"
    path = tmp_path / "two.toml"
    path.write_text("[gateway]\nprocesses = 2\n")
    assert profiles.resolve(str(path)).gateway.processes == 2
    path.write_text('[gateway]\nprocesses = "many"\n')
    with pytest.raises(profiles.ProfileError, match=r"gateway\.processes"):
        profiles.resolve(str(path))


def test_a_run_says_its_choice(tmp_path: Path) -> None:
    proc = run_cli(
        "run", "--devices", "5", "--operators", "0", "--duration", "3s", "--out", str(tmp_path), timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [
        line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("gateway processes:")
    ]
    assert len(lines) == 2 and lines[0] == lines[1], proc.stdout  # at start-up and under the summary
    assert lines[0].startswith("gateway processes: 1 (auto: about 0.00 cores of work: 1 commands/s")
    (run_dir,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    config = json.loads((run_dir / "meta.json").read_text())["config"]
    assert config["gateway_processes"] == 1 and config["gateway_processes_reason"] == lines[0]
