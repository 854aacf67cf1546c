"""Every command in the ```sh blocks of README.md (and the docs listed in DOCS) runs, at a small size.

A block is run as a script: its lines in order, ``&`` lines as servers that stay up until the block
ends (each must print its ready line, and exit 0 when stopped). Ports in the text are mapped to free
ones (a server given ``127.0.0.1:P`` gets a free port, and later lines of the block use it); a gateway
started by the module stands for ``127.0.0.1:50051`` in blocks that do not start their own. Sizes
shrink through ``small`` and the exact-text ``OVERRIDES``; a command that cannot run here is in
``EXCLUDED`` (or a kind of them in ``EXCLUDED_KINDS``) with the reason. Blocks share one results root
(one per xdist worker) and need no other block: one that reads the runs made before it (alerts,
compare, publish) first gets two small comparable runs there (once per worker), as a reader has made
some by then. A command in no table runs as written (at the test's size), so a new command in the docs
is run unless excluded on purpose; a table entry that no doc shows any more fails
``test_tables_name_commands_the_docs_show``.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aranya_perf.analysis import run_catalogue

from aranya_perf.child_process import NotReady, read_ready_line
from tests.helpers import REPO, free_port, gateway_process

pytestmark = [pytest.mark.docs, pytest.mark.integration]

DOCS = (
    "README.md",
    "docs/profiles.md",
    "docs/targets.md",
    "docs/kubernetes.md",
    "docs/analysis.md",
    "docs/benchmarks.md",
)
VENV_BIN = Path(sys.executable).parent
COMMAND_TIMEOUT_S = 300.0  # a hang guard: a small run can take minutes on a loaded machine under coverage
READY_TIMEOUT_S = 30.0
SH_BLOCK = re.compile(r"^([ \t]*)```sh\n(.*?)^[ \t]*```", re.M | re.S)

# Commands that cannot run here, with the reason.
EXCLUDED = {
    "make run": "the whole install; measured on a fresh clone (CONTRIBUTING.md), not inside pytest",
    "make test": "the suite this test is part of",
    "make chaos": "minutes of real runs; .ci/run runs it, tests/test_chaos.py runs two of its faults",
    "helm install run1 deploy/helm/aranya-perf -n perf --create-namespace --set "
    "image.repository=registry.example/aranya-perf --set image.tag=0.1.0 --set load.devices=2000 "
    "--set load.runTime=15m --set workers.replicas=4 --set link.profile=lte": (
        "needs a cluster and a pushed image; tests/test_deploy_chart.py renders the chart with this line's "
        "values and runs its master's and a worker's commands"
    ),
    ".venv/bin/aranya-perf run --target mqtt://127.0.0.1:1883 --operators 0": (
        "needs an aranya behind an MQTT broker; tests/test_mqtt_fleet.py loads the gateway over mosquitto"
    ),
    ".venv/bin/aranya-perf capacity --quick": "tests/test_capacity.py runs the quick mode",
    ".venv/bin/aranya-perf capacity --modes service --quick": (
        "tests/test_capacity.py runs this command and checks what it saved"
    ),
    ".venv/bin/aranya-perf chaos --faults sigterm-mid,target-killed": (
        "tests/test_chaos.py runs this command and checks its table"
    ),
    ".venv/bin/aranya-perf sweep": "a step sweep of several runs; tests/test_analysis_sweep.py runs one",
    ".venv/bin/aranya-perf tune": "knob sweeps of several runs each; tests/test_analysis_tune.py runs them",
}

# Whole kinds of commands that cannot run here, by their text: (test, reason).
EXCLUDED_KINDS = (
    (lambda t: " [--" in t or " '[--" in t, "a synopsis of the verb's flags, not a command"),
    (
        lambda t: t.split()[0] in ("helm", "kubectl", "docker") or "$(kubectl" in t,
        "needs a Kubernetes cluster or a Docker daemon",
    ),
    (lambda t: "k8s:" in t or "--remote-workers" in t, "needs a Kubernetes cluster or other machines"),
    (
        lambda t: any(w in t.split() or f":{w}" in t for w in ("GATEWAY", "RUN-MACHINE", "DIR_A")),
        "placeholders a reader fills in from an earlier output",
    ),
)
# Commands that cannot run here, or are run by another test, with the reason.
EXCLUDED.update(
    {
        ".venv/bin/aranya-perf capacity": "about 8 minutes; tests/test_capacity.py runs the quick mode",
        ".venv/bin/aranya-perf capacity --modes operators,device_work --repeats 5": (
            "minutes of benchmark; tests/test_capacity.py runs each mode quickly"
        ),
        ".venv/bin/aranya-perf capacity --modes operators,device_work,gateway --repeats 3": (
            "about 25 minutes of benchmark; tests/test_capacity.py runs each mode quickly"
        ),
        ".venv/bin/aranya-perf capacity --modes hold --devices 10000 --workers 3 --worker-devices 36000": (
            "36,000 streams; tests/test_capacity.py runs the hold mode quickly"
        ),
        ".venv/bin/aranya-perf capacity --show 'results/capacity/<stamp>-capacity/capacity.json'": (
            "a stored result of a capacity run; tests/test_capacity.py shows one"
        ),
        ".venv/bin/asv machine --machine aranya-ci --yes": (
            "writes ~/.asv-machine.json; tests/test_asv.py runs it"
        ),
        "aranya-perf run --operators 0 --allow-remote --target devices.csv": (
            "your device file; the README's address-map block runs a generated one"
        ),
        ".venv/bin/aranya-perf run --scenario grpc --target 127.0.0.1:50051 --proto api/echo.proto "
        '--import-path api/third_party --call \'echo.v1.Echo/Unary={"text": "hi {seq}"}\' --users 20 '
        "--duration 1m": "a layout of your own (api/); the next block runs tests/data/echo.proto",
        ".venv/bin/aranya-perf run --profile grpc-health --target 127.0.0.1:50051": (
            "needs a service with reflection there; the README runs it against the echo server"
        ),
        ".venv/bin/aranya-perf run --profile my-service.toml --target 127.0.0.1:50051 --workers 2": (
            "your profile; tests/test_grpc_scenario.py runs [[call]] profiles"
        ),
        ".venv/bin/aranya-perf evaluate --full --out evaluation.json": (
            "the published size, about 15 minutes; the small evaluation above runs the same code"
        ),
        ".venv/bin/aranya-perf detect SERIES.csv": (
            "your own history; tests/test_analysis_detect_cli.py runs the verb on generated series"
        ),
        ".venv/bin/aranya-perf run --repeat 5 --devices 30 ...": (
            "a sketch ('...'); the README's `run --repeat` line runs a labelled group"
        ),
        "aranya-perf run --profile etcd-check-perf": (
            "check perf's 60 s workload; tests/test_etcd_run.py runs it"
        ),
        ".venv/bin/aranya-perf run --target mqtt://127.0.0.1:1883 "
        "--mqtt-namespace 'perf.example.com/{device}' --operators 0 --devices 200": (
            "needs the cluster's broker, forwarded by the line above"
        ),
        "aranya-perf run --profile etcd --target 127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379": (
            "a cluster you run; tests/test_etcd_run.py runs against a given cluster"
        ),
        "aranya-perf run --profile etcd --users 200 --check-perf m --duration 2m": (
            "check perf m takes minutes; tests/test_etcd_run.py runs check perf"
        ),
        "aranya-perf etcd-cluster --members 3": "serves until Ctrl-C; tests/test_etcd_cluster.py runs it",
        ".venv/bin/aranya-perf run --profile release-gate --workers 2": (
            "a release's SLOs over a 3-minute ramp to 1,000 devices: shrunk, the ramp never ends and they "
            "cannot hold; README's step command runs --workers 2"
        ),
        ".venv/bin/aranya-perf gateway --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0": (
            "the first of a chain of placeholders; the block above runs the same chain"
        ),
    }
)

TINY_STEP = "tests/data/profiles/readme-step.toml"
TINY_STORM = "tests/data/profiles/readme-storm.toml"
LOCUST = ".venv/bin/locust -f loadtests/locustfile.py --host 127.0.0.1:50051"
# Exact command text -> the text run instead (the same verb and flags at a size that fits here).
OVERRIDES = {
    ".venv/bin/aranya-perf run --profile step --workers 2 --gateway-processes 2": (
        f".venv/bin/aranya-perf run --profile {TINY_STEP} --workers 2 --gateway-processes 2"
    ),
    f"{LOCUST} --headless --profile storm": f"{LOCUST} --headless --profile {TINY_STORM}",
    ".venv/bin/aranya-perf evaluate": (
        ".venv/bin/aranya-perf evaluate --per-cell 1 --calibration-per-cell 1 --cpu-series 0"
    ),
    ".venv/bin/aranya-perf compare A1 A2 -- B1 B2": ".venv/bin/aranya-perf compare {run_a} -- {run_b}",
    ".venv/bin/aranya-perf compare A1 A2 A3 -- B1 B2 B3": ".venv/bin/aranya-perf compare {run_a} -- {run_b}",
    ".venv/bin/aranya-perf publish": ".venv/bin/aranya-perf publish --runs {results} --out {tmp}/site",
    ".venv/bin/aranya-perf alerts": ".venv/bin/aranya-perf alerts --runs {results}",
    ".venv/bin/aranya-perf run --profile storm": f".venv/bin/aranya-perf run --profile {TINY_STORM}",
    ".venv/bin/aranya-perf run --profile my.toml --devices 300": (
        f".venv/bin/aranya-perf run --profile {TINY_STEP} --devices 300"
    ),
}
# Exit codes other than 0 that a command is meant to end with here.
EXPECTED_EXIT = {
    # Plain Locust exits 1 on any failed request, and a storm fails the operator calls that reach a
    # device between streams by design (whether one does is chance at this size); `aranya-perf run
    # --profile storm` judges the same load by the profile's SLOs.
    f"{LOCUST} --headless --profile storm": (0, 1),
}


def commands(doc: str) -> Iterator[tuple[int, list[str]]]:
    """(block number, commands of the block), each command its normalised text."""
    text = (REPO / doc).read_text(encoding="utf-8")
    for number, (indent, block) in enumerate(SH_BLOCK.findall(text)):
        block = "\n".join(line.removeprefix(indent) for line in block.splitlines())
        joined = block.replace("\\\n", " ")
        out = []
        for line in joined.splitlines():
            tokens = shlex.split(line, comments=True)
            if tokens:
                out.append(shlex.join(tokens).replace(" '&'", " &"))
        yield number, out


def excluded(text: str) -> str | None:
    """Why ``text`` is not run here, or None."""
    if text in EXCLUDED:
        return EXCLUDED[text]
    return next((reason for test, reason in EXCLUDED_KINDS if test(text)), None)


def all_commands() -> list[tuple[str, int, list[str]]]:
    return [(doc, n, cmds) for doc in DOCS for n, cmds in commands(doc)]


def reads_runs(cmds: list[str]) -> bool:
    """Whether a block reads runs made before it (its overrides name the results root or a pair)."""
    return any(f in OVERRIDES.get(text, "") for text in cmds for f in ("{results}", "{run_a}"))


@dataclass
class Block:
    """One block's run: the port map, its servers, where its files go."""

    tmp: Path
    ports: dict[str, str]
    fields: dict[str, str]
    servers: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        path = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"
        return {**os.environ, "PYTHONPATH": str(REPO), "PATH": path, "GRPC_ENABLE_FORK_SUPPORT": "false"}

    def argv(self, text: str) -> tuple[list[str], bool]:
        if text in OVERRIDES:
            text = OVERRIDES[text].format(**self.fields)
        background = text.endswith(" &")
        tokens = shlex.split(text.removesuffix(" &"))
        if tokens[0].startswith(".venv/bin/"):
            tokens[0] = str(VENV_BIN / tokens[0].removeprefix(".venv/bin/"))
        elif tokens[0] == "aranya-perf":
            tokens[0] = str(VENV_BIN / "aranya-perf")
        tokens = [self._file(self._port(t, background, tokens, i)) for i, t in enumerate(tokens)]
        return small(tokens, self.tmp), background

    def _port(self, token: str, background: bool, tokens: list[str], i: int) -> str:
        flag = tokens[i - 1] if i else ""
        m = re.fullmatch(r"(127\.0\.0\.1:)?(\d{4,5})", token)
        if not m or (m.group(1) is None and flag != "--port"):
            return token
        port = m.group(2)
        binds = flag in ("--listen", "--metrics-listen", "--port") and background
        if binds or port not in self.ports:
            self.ports[port] = str(free_port())
        return (m.group(1) or "") + self.ports[port]

    def _file(self, token: str) -> str:
        return str(self.tmp / token) if token == "devices.csv" else token

    def stop(self) -> list[str]:
        problems = []
        for text, proc in reversed(self.servers):
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = "killed after 30 s"
            if code != 0:
                problems.append(f"{text}: exit {code} when stopped")
        self.servers.clear()
        return problems


def small(tokens: list[str], tmp: Path) -> list[str]:
    """The command at the test's size: short windows, a few devices and users, results under tmp."""
    name = Path(tokens[0]).name
    verb = tokens[1] if len(tokens) > 1 else ""
    out = list(tokens)

    def setflag(flag: str, value: str, shrink: bool = False) -> None:
        if flag in out:
            i = out.index(flag) + 1
            out[i] = str(min(int(out[i]), int(value))) if shrink else value
        else:
            out.extend([flag, value])

    if name == "aranya-perf" and verb == "run":
        if not any(t.endswith(".toml") for t in out):
            setflag("--duration", "2s")
        if "--devices" in out or not {"--profile", "--scenario"} & set(out):
            setflag("--devices", "10", shrink=True)
        if "--users" in out:
            setflag("--users", "2", shrink=True)
        setflag("--out", str(tmp / "results"))
    elif name == "locust":
        if "-t" in out:
            out[out.index("-t") + 1] = "3s"
        if "-r" in out:
            out[out.index("-r") + 1] = "200"
        if "--headless" not in out:  # the web UI: on loopback, on a free port
            out += ["--web-host", "127.0.0.1", "--web-port", str(free_port())]
    return out


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with gateway_process() as gw:
        yield gw.address


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme-results")


@pytest.fixture(scope="module")
def earlier_runs(results: Path) -> None:
    """Two comparable runs under the results root, for the blocks that read the runs before them."""
    argv = small([str(VENV_BIN / "aranya-perf"), "run", "--repeat", "2"], results)
    env = Block(results, {}, {}).env()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    assert proc.returncode == 0, f"{shlex.join(argv)}: exit {proc.returncode}: {proc.stderr[-1500:]}"


def test_tables_name_commands_the_docs_show() -> None:
    seen = {text for _doc, _n, cmds in all_commands() for text in cmds}
    listed = set(EXCLUDED) | set(OVERRIDES)
    assert not listed - seen, f"tables name commands no doc shows: {sorted(listed - seen)}"


@pytest.mark.parametrize("doc, number, cmds", all_commands(), ids=[f"{d}-{n}" for d, n, _ in all_commands()])
def test_block(
    doc: str,
    number: int,
    cmds: list[str],
    gateway: str,
    results: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if reads_runs(cmds):
        request.getfixturevalue("earlier_runs")
    host, _, port = gateway.rpartition(":")
    assert host == "127.0.0.1"
    fields = {"tmp": str(tmp_path), "results": str(results / "results")}
    block = Block(results, {"50051": port}, fields)
    failures: list[str] = []
    try:
        for text in cmds:
            if excluded(text):
                continue
            # The runs so far, this block's earlier commands included (a compare follows its runs).
            fields.update(zip(("run_a", "run_b"), _comparable_pair(results / "results"), strict=True))
            argv, background = block.argv(text)
            if background:
                proc = subprocess.Popen(argv, cwd=REPO, env=block.env(), stdout=subprocess.PIPE)
                block.servers.append((text, proc))
                try:
                    read_ready_line(proc, READY_TIMEOUT_S, text)
                except NotReady as exc:
                    failures.append(f"{text}: {exc}")
                    break
                continue
            if "--web-port" in argv:
                failures += _web_ui(text, argv, block)
                continue
            proc = subprocess.run(
                argv, cwd=REPO, env=block.env(), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
            )
            if proc.returncode not in EXPECTED_EXIT.get(text, (0,)):
                failures.append(
                    f"{text}\n  ran: {shlex.join(argv)}\n  exit {proc.returncode}: {proc.stderr[-1500:]}"
                )
    finally:
        failures += block.stop()
    assert not failures, "\n".join(failures)


def _comparable_pair(root: Path) -> tuple[str, str]:
    """The last two runs so far that ``compare`` accepts side by side (same protocol, workload, ...)."""
    if not root.is_dir():
        return "", ""
    cat = run_catalogue.catalogue(run_catalogue.run_dirs([root]))
    groups = [g for _key, g in cat.groupby("comparable") if len(g) >= 2] if len(cat) else []
    if not groups:
        return "", ""
    latest = max(groups, key=lambda g: g["started_at"].max())
    return tuple(latest.sort_values("started_at")["path"].astype(str).iloc[-2:])  # type: ignore[return-value]


def _web_ui(text: str, argv: list[str], block: Block) -> list[str]:
    """Locust's web UI: up until its page answers, then stopped; it must exit by itself on SIGTERM."""
    url = f"http://127.0.0.1:{argv[argv.index('--web-port') + 1]}/"
    proc = subprocess.Popen(
        argv, cwd=REPO, env=block.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for _ in range(int(READY_TIMEOUT_S * 4)):
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    return [f"{text}: exited {proc.returncode} before its web UI answered"]
            time.sleep(0.25)
        else:
            return [f"{text}: no web UI at {url} within {READY_TIMEOUT_S:g}s"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return [f"{text}: still running 30 s after SIGTERM"]
    return []
