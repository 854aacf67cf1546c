"""The Helm chart, validated offline: rendered by Helm's own template engine (helm-python-sdk binds
Helm's Go SDK), checked with yamllint and kubernetes-validate (strict, Kubernetes 1.19 and
1.37), linted by Helm, its values checked by values.schema.json; the Dockerfile by hadolint. Then
the rendered master and worker commands run here, against a real gateway, through a link, as they
would in their pods: the master is `aranya-perf run`, and its results directory and exit code are
a run's verdict.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from aranya_perf.cli.run import EXIT_CODES
from tests.helpers import REPO, free_port, gateway_process

CHART = REPO / "deploy" / "helm" / "aranya-perf"
VENV_BIN = Path(sys.executable).parent
# kubernetes-validate dropped Kubernetes 1.19's schemas after 1.24.0; the Makefile installs that
# release apart from the venv (it needs its own setuptools).
OLD_VALIDATOR = VENV_BIN.parent / "kubernetes-validate-1.24"
YAMLLINT = YamlLintConfig(
    "extends: default\nrules:\n  document-start: disable\n  line-length: {max: 160}\n"
    "  comments: {min-spaces-from-content: 1}\n  indentation: {indent-sequences: consistent}\n"
)

SHARED_TARGET = {
    "mode": "ui",
    "target": {"address": "gateway.perf.svc:50051"},
    "load": {"devices": 300, "operators": 3},
    "link": {"profile": "rural"},
    "linkProfiles": '[link.rural]\nbase = "lte"\nrtt_ms = 150\n',
    "tls": {"secretName": "aranya-tls", "serverName": "aranya.example"},
    "profile": "[fleet]\ndevices = 300\n",
    "imagePullSecrets": [{"name": "regcred"}],
    "workers": {"nodeSelector": {"pool": "load"}, "tolerations": [{"key": "load", "operator": "Exists"}]},
}
PER_DEVICE_LINK = {"link": {"profile": "satellite", "method": "netns"}, "results": {"uploadCommand": "true"}}
PLAIN_JOB = {"workers": {"indexedJob": False}, "results": {"persistence": {"existingClaim": "runs"}}}
KUBE_OPERATORS = {"kubernetesOperators": {"enabled": True}}
VALUE_SETS = {
    "defaults": {},
    "ui-shared-link-tls": SHARED_TARGET,
    "per-device-netns": PER_DEVICE_LINK,
    "kubernetes-operators": KUBE_OPERATORS,
}


def render(values: dict, name: str = "perf") -> dict[str, list[dict]]:
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values, name=name, namespace="load")
    return {path: [d for d in yaml.safe_load_all(text) if d] for path, text in files.items()}


def render_text(values: dict) -> dict[str, str]:
    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values, name="perf", namespace="load")


def _manifests(values: dict) -> list[dict]:
    return [d for path, docs in render(values).items() if path.endswith(".yaml") for d in docs]


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_chart_renders_lints_and_validates_strictly(values: dict) -> None:
    texts = render_text(values)
    for path, text in texts.items():
        if path.endswith(".yaml") and text.strip():
            problems = [str(p) for p in linter.run(text, YAMLLINT)]
            assert not problems, (path, problems, text)
    docs = _manifests(values)
    kinds = sorted(d["kind"] for d in docs)
    assert {"ConfigMap", "Service", "ServiceAccount"} <= set(kinds)
    for doc in docs:
        assert kubernetes_validate.validate(doc, "1.37.0", strict=True) == "1.37"
    result = helm.lint(str(CHART), values, strict=True, namespace="load", kube_version="1.37.0")
    assert not result["errors"], result
    assert not [m for m in result["messages"] if m["severity"] > 1], result  # info only, no warnings


def test_chart_validates_against_kubernetes_1_19(tmp_path: Path) -> None:
    assert (OLD_VALIDATOR / "kubernetes_validate").is_dir(), "make installs kubernetes-validate 1.24.0"
    files = []
    for name, values in {"ui": SHARED_TARGET, "plain-job": PLAIN_JOB}.items():
        for i, doc in enumerate(_manifests(values)):
            path = tmp_path / f"{name}-{i}.yaml"
            path.write_text(yaml.safe_dump(doc))
            files.append(str(path))
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "kubernetes_validate", "--strict", "-k", "1.19.0", *files],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(OLD_VALIDATOR)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    passed = [line for line in proc.stdout.splitlines() if "passed for resource" in line]
    assert len(passed) == len(files) and all(line.endswith("against version 1.19") for line in passed)


def test_chart_wires_target_link_tls_metrics_and_results() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _manifests(SHARED_TARGET)}
    worker = docs[("Deployment", "perf-aranya-perf-workers")]["spec"]["template"]["spec"]
    script = worker["containers"][0]["args"][0]
    assert "aranya-perf link --link='rural'" in script and "--listen=127.0.0.1:15051" in script
    assert "--address-map='127.0.0.1:15051'" in script  # devices go through the link
    assert "--link-file=/etc/aranya-perf/links.toml" in script
    assert "--metrics-listen=0.0.0.0:9646" in script
    env = {e["name"]: e["value"] for e in worker["containers"][0]["env"]}
    assert env["ARANYA_PERF_TLS_CA"] == "/etc/aranya-perf/tls/ca.crt"
    assert env["ARANYA_PERF_TLS_SERVER_NAME"] == "aranya.example"
    assert env["ARANYA_PERF_DEVICES"] == "300" and env["ARANYA_PERF_OPERATORS"] == "3"
    assert worker["nodeSelector"] == {"pool": "load"} and worker["imagePullSecrets"] == [{"name": "regcred"}]
    master = docs[("Deployment", "perf-aranya-perf-master")]["spec"]["template"]["spec"]["containers"][0]
    assert "--host=gateway.perf.svc:50051" in master["args"] and "--web-host=0.0.0.0" in master["args"]
    assert "--profile=/etc/aranya-perf/profile.toml" in master["args"]
    config = docs[("ConfigMap", "perf-aranya-perf")]["data"]
    assert "rtt_ms = 150" in config["links.toml"] and "devices = 300" in config["profile.toml"]

    default = {(d["kind"], d["metadata"]["name"]): d for d in _manifests(PER_DEVICE_LINK)}
    job = default[("Job", "perf-aranya-perf-workers")]["spec"]
    assert job["completionMode"] == "Indexed" and job["completions"] == job["parallelism"] == 2
    container = job["template"]["spec"]["containers"][0]
    assert "--address-map-out=/tmp/aranya-link/devices.csv" in container["args"][0]
    assert "--address-map='/tmp/aranya-link/devices.csv'" in container["args"][0]
    assert "NET_ADMIN" in container["securityContext"]["capabilities"]["add"]
    role = default[("Role", "perf-aranya-perf-read-connectivity")]
    assert role["metadata"]["namespace"] == "aranya" and role["rules"][0]["verbs"] == ["get"]
    master = default[("Job", "perf-aranya-perf-master")]["spec"]["template"]["spec"]
    assert master["volumes"][-1]["persistentVolumeClaim"]["claimName"] == "perf-aranya-perf-results"
    assert "\nexport RESULTS_DIR\ntrue\nexit $rc" in master["containers"][0]["args"][0]  # the upload command
    assert ("PersistentVolumeClaim", "perf-aranya-perf-results") in default

    with pytest.raises(helm.HelmError, match=r"needs target\.control"):
        render({"load": {"operators": 2}})


def test_kubernetes_operators_rbac_grants_exactly_what_they_use() -> None:
    assert not any("operators" in d["metadata"]["name"] for d in _manifests({}))
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _manifests(KUBE_OPERATORS)}
    role = docs[("Role", "perf-aranya-perf-operators")]
    assert role["metadata"]["namespace"] == "aranya"
    grants = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert grants == {
        ("pods", "get"), ("pods", "list"), ("pods/exec", "create"), ("pods/exec", "get"),
        ("pods/portforward", "create"), ("pods/portforward", "get"), ("pods/log", "get"),
    }  # fmt: skip
    nodes = docs[("ClusterRole", "perf-aranya-perf-load-node-metrics")]
    assert {(r, v) for rule in nodes["rules"] for r in rule["resources"] for v in rule["verbs"]} == {
        ("nodes", "get"), ("nodes", "list"), ("nodes/proxy", "get"), ("nodes/proxy", "create"),
    }  # fmt: skip
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        name = "perf-aranya-perf-operators" if kind == "RoleBinding" else "perf-aranya-perf-load-node-metrics"
        (subject,) = docs[(kind, name)]["subjects"]
        assert subject["kind"] == "ServiceAccount" and subject["namespace"] == "load"


def _containers(values: dict) -> dict[str, dict]:
    return {
        c["name"]: c
        for d in _manifests(values)
        if d["kind"] in ("Job", "Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
    }


def test_containers_run_read_only_without_privileges_unless_the_netns_link_is_chosen() -> None:
    for values in ({}, SHARED_TARGET, {"link": {"profile": "lte", "method": "proxy"}}):
        for name, container in _containers(values).items():
            sc = container["securityContext"]
            assert sc == {
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            }, name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name  # writable
    netns = _containers(PER_DEVICE_LINK)
    assert netns["worker"]["securityContext"]["capabilities"] == {
        "drop": ["ALL"],
        "add": ["NET_ADMIN", "SYS_ADMIN"],
    }
    assert netns["worker"]["securityContext"]["runAsUser"] == 0
    assert {"name": "netns", "mountPath": "/run/netns"} in netns["worker"]["volumeMounts"]
    assert "add" not in netns["master"]["securityContext"]["capabilities"]


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"mode": "batch"}, "/mode"),
        ({"workers": {"replicas": 0}}, "/workers/replicas"),
        ({"load": {"runTime": "ten minutes"}}, "/load/runTime"),
        ({"link": {"profile": "lte", "method": "tc"}}, "/link/method"),
        ({"load": {"stopTimeout": 10}}, "additional properties 'stopTimeout'"),
    ],
    ids=["mode", "replicas", "run-time", "link-method", "unknown-key"],
)
def test_values_schema_refuses_bad_values(values: dict, where: str) -> None:
    with pytest.raises(helm.HelmError, match="schema") as raised:
        render(values)
    assert where in str(raised.value)


def _helm_sets(doc: str) -> list[dict]:
    """The values of every `helm install` command of ``doc``, from its --set flags."""
    from tests.test_readme_commands import commands

    found = []
    for _number, cmds in commands(doc):
        for text in cmds:
            tokens = shlex.split(text)
            if tokens[:2] != ["helm", "install"]:
                continue
            values: dict = {}
            for flag, pair in itertools.pairwise(tokens):
                if flag == "--set":
                    path, _, value = pair.partition("=")
                    *parents, leaf = path.split(".")
                    node = values
                    for key in parents:
                        node = node.setdefault(key, {})
                    node[leaf] = (
                        int(value) if value.isdigit() else {"true": True, "false": False}.get(value, value)
                    )
            found.append(values)
    return found


@pytest.mark.parametrize("doc", ["README.md", "docs/kubernetes.md"])
def test_the_docs_helm_install_lines_render_and_validate(doc: str) -> None:
    [values] = _helm_sets(doc)
    assert values["image"]["repository"] and values["image"]["tag"]  # no image is published
    for manifest in _manifests(values):
        assert kubernetes_validate.validate(manifest, "1.37.0", strict=True) == "1.37"


def test_dockerfile_passes_hadolint() -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "hadolint"), str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


PASSING_SLO = '[[slo]]\nname = "connects"\nmetric = "p99"\nkind = "device connect"\nmax = "10s"\n'
FAILING_SLO = (
    '[[slo]]\nname = "impossible throughput"\nmetric = "throughput"\nkind = "control *"\nmin = 1000000\n'
)


def _rendered_jobs(tmp_path: Path, values: dict) -> dict[str, tuple[str, dict[str, str]]]:
    """The headless master's and worker's shell scripts and environments, as rendered, with the pod's
    paths (the ConfigMap, /results, the /tmp emptyDir) and addresses made this machine's."""
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _manifests(values)}
    config = tmp_path / "etc"
    for key, content in docs[("ConfigMap", "perf-aranya-perf")]["data"].items():
        name = key.removeprefix("locustfile-")
        target = config / (f"locustfiles/{name}" if name != key else key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    (tmp_path / "tmp").mkdir()

    def here(text: str) -> str:
        for old, new in (("/tmp", str(tmp_path / "tmp")), ("/etc/aranya-perf", str(config)),
                         ("/results", str(tmp_path / "results")), ("0.0.0.0:", "127.0.0.1:"),
                         ("'perf-aranya-perf-master'", "127.0.0.1")):  # fmt: skip
            text = text.replace(old, new)
        return text

    jobs = {}
    for role in ("master", "workers"):
        container = docs[("Job", f"perf-aranya-perf-{role}")]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: here(e["value"]) for e in container["env"]}
        path = f"{VENV_BIN}:{os.environ['PATH']}"
        jobs[role] = (here(container["args"][0]), {**os.environ, **env, "PATH": path})
    return jobs


def _start(job: tuple[str, dict[str, str]], cwd: Path) -> subprocess.Popen[str]:
    script, env = job
    return subprocess.Popen(["sh", "-c", script], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def _finish(master: subprocess.Popen[str], worker: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        master_out, _ = master.communicate(timeout=180)
        worker_out, _ = worker.communicate(timeout=60)
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return master_out, worker_out


@pytest.mark.parametrize(
    ("slo", "verdict"), [(PASSING_SLO, "ok"), (FAILING_SLO, "failed")], ids=["ok", "failed"]
)
def test_rendered_master_and_worker_commands_run_and_judge(tmp_path: Path, slo: str, verdict: str) -> None:
    """The headless master Job's and a worker's shell commands, as rendered, run here: `aranya-perf run`
    waiting for one `aranya-perf worker` with an lte link beside it, devices and operators (their mix and
    an SLO from the chart's profile) against a real gateway. The master's results directory is a run's
    (verdict, SLOs, HDR latency, report), the upload command gets it, and the exit code is the verdict's."""
    with gateway_process() as gw:
        jobs = _rendered_jobs(tmp_path, {
            "target": {"address": gw.address},
            "load": {"devices": 10, "operators": 1, "runTime": "6s", "spawnRate": 20},
            "link": {"profile": "lte", "port": free_port()},
            "workers": {"replicas": 1},
            "master": {"service": {"workerPort": free_port()}, "workersWait": "60s"},
            "metrics": {"port": free_port()},
            "profile": "[operators]\nmix = { logs = 1.0 }\n" + slo,
            "results": {"uploadCommand": 'cp -r "$RESULTS_DIR" /tmp/uploaded'},
        })  # fmt: skip
        assert "aranya-perf run" in jobs["master"][0] and "aranya-perf worker" in jobs["workers"][0]
        master, worker = _start(jobs["master"], tmp_path), _start(jobs["workers"], tmp_path)
        master_out, worker_out = _finish(master, worker)
    assert master.returncode == EXIT_CODES[verdict], master_out  # after the upload, the run's
    assert worker.returncode == 0, worker_out  # the worker ends with the run, and so does its link
    assert "live metrics on http://127.0.0.1:" in worker_out
    [out] = (tmp_path / "results").iterdir()  # $RESULTS_DIR
    [run_dir] = out.iterdir()
    assert (tmp_path / "tmp" / "uploaded" / run_dir.name / "meta.json").is_file()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == verdict and meta["labels"] == {"release": "perf"}
    assert meta["config"]["workers"] == 1 and meta["config"]["devices"] == 10
    [result] = json.loads((run_dir / "slo.json").read_text())["results"]
    assert result["passed"] == (verdict == "ok")
    if verdict == "failed":
        [line] = [x for x in master_out.splitlines() if x.startswith("aranya-perf run: failed: ")]
        assert result["name"] in line
    assert (run_dir / "report.html").stat().st_size > 0 and (run_dir / "report.md").is_file()
    with (run_dir / "latency.csv").open() as fh:
        latency = {(r["request_type"], r["name"]): r for r in csv.DictReader(fh)}
    assert int(latency[("device", "connect")]["count"]) == 10
    assert int(latency[("control", "Logs")]["count"]) > 0 and ("control", "Exec") not in latency
    with (run_dir / "workers.csv").open() as fh:
        assert {r["worker"] for r in csv.DictReader(fh)} == {"0"}
    ready = json.loads((tmp_path / "tmp" / "aranya-link" / "ready").read_text())
    assert ready["link"]["name"] == "lte" and ready["listen"].startswith("127.0.0.1:")
    # Devices crossed the worker's link: an lte connect takes two of its 60 ms round trips, each
    # direction's half of one at most 10 ms shorter by jitter; without the link it takes a few ms.
    assert float(latency[("device", "connect")]["min_ms"]) >= 2 * (60 - 2 * 10)


def test_a_stopped_master_job_leaves_an_interrupted_run(tmp_path: Path) -> None:
    """SIGTERM to the master container's shell (what the kubelet sends when the Job is deleted) reaches
    the run, which ends its window and writes its result; the exit code is SIGTERM's (143)."""
    with gateway_process() as gw:
        jobs = _rendered_jobs(tmp_path, {
            "target": {"address": gw.address},
            "load": {"devices": 5, "operators": 0, "runTime": "90s", "spawnRate": 20},
            "workers": {"replicas": 1},
            "master": {"service": {"workerPort": free_port()}, "workersWait": "60s"},
            "metrics": {"enabled": False},
        })  # fmt: skip
        master, worker = _start(jobs["master"], tmp_path), _start(jobs["workers"], tmp_path)
        deadline = time.monotonic() + 90
        opened = False
        while not opened and time.monotonic() < deadline and master.poll() is None:
            time.sleep(0.5)
            opened = any(
                "window_open" in p.read_text() for p in (tmp_path / "results").glob("*/*/events.jsonl")
            )
        if opened:
            master.send_signal(signal.SIGTERM)
        master_out, worker_out = _finish(master, worker)
    assert opened, master_out
    assert master.returncode == 143, master_out
    assert worker.returncode == 0, worker_out
    [run_dir] = (tmp_path / "results").glob("*/*")
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted" and "SIGTERM" in meta["reason"]
