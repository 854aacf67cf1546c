"""Every command in the ```sh blocks of README.md (and the docs listed in DOCS) runs, at a small size.

A block is run as a script: its lines in order, ``&`` lines as servers that stay up until the block
ends (each must print its ready line, and exit 0 when stopped). Ports in the text are mapped to free
ones (a server given ``127.0.0.1:P`` gets a free port, and later lines of the block use it); a gateway
started by the module stands for ``127.0.0.1:50051`` in blocks that do not start their own. Sizes
shrink through ``small`` and the exact-text ``OVERRIDES``; a command that cannot run here is in
``EXCLUDED`` with the reason. A command in none of the tables fails the test that lists them all, so
a new command in the docs is either run or excluded on purpose.
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

from aranya_perf.child_process import NotReady, read_ready_line
from tests.helpers import REPO, free_port, gateway_process

pytestmark = [pytest.mark.docs, pytest.mark.integration]

DOCS = ("README.md",)
VENV_BIN = Path(sys.executable).parent
COMMAND_TIMEOUT_S = 150.0
READY_TIMEOUT_S = 30.0
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)

# Commands that cannot run here, with the reason.
EXCLUDED = {
    "make run": "the whole install; measured on a fresh clone (CONTRIBUTING.md), not inside pytest",
    "make test": "the suite this test is part of",
    "helm install run1 deploy/helm/aranya-perf -n perf --create-namespace --set "
    "image.repository=registry.example/aranya-perf --set load.devices=2000 --set link.profile=lte": (
        "needs a cluster and a pushed image; tests/test_deploy_chart.py renders the chart and runs its "
        "master's and a worker's commands"
    ),
    ".venv/bin/aranya-perf run --target mqtt://127.0.0.1:1883 --operators 0": (
        "needs an aranya behind an MQTT broker; tests/test_mqtt_fleet.py loads the gateway over mosquitto"
    ),
    ".venv/bin/aranya-perf capacity --quick": "tests/test_capacity.py runs the quick mode",
    ".venv/bin/aranya-perf sweep": "a step sweep of several runs; tests/test_analysis_sweep.py runs one",
    ".venv/bin/aranya-perf tune": "knob sweeps of several runs each; tests/test_analysis_tune.py runs them",
}

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
    ".venv/bin/aranya-perf compare RUN_A RUN_B": ".venv/bin/aranya-perf compare {run_a} {run_b}",
    ".venv/bin/aranya-perf publish": ".venv/bin/aranya-perf publish --runs {results} --out {tmp}/site",
    ".venv/bin/aranya-perf alerts": ".venv/bin/aranya-perf alerts --runs {results}",
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
    for number, block in enumerate(SH_BLOCK.findall(text)):
        joined = block.replace("\\\n", " ")
        out = []
        for line in joined.splitlines():
            tokens = shlex.split(line, comments=True)
            if tokens:
                out.append(shlex.join(tokens).replace(" '&'", " &"))
        yield number, out


def all_commands() -> list[tuple[str, int, list[str]]]:
    return [(doc, n, cmds) for doc in DOCS for n, cmds in commands(doc)]


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


def test_every_command_is_run_or_excluded() -> None:
    seen = {text for _doc, _n, cmds in all_commands() for text in cmds}
    listed = set(EXCLUDED) | set(OVERRIDES)
    assert not listed - seen, f"tables name commands no doc shows: {sorted(listed - seen)}"


@pytest.mark.parametrize("doc, number, cmds", all_commands(), ids=[f"{d}-{n}" for d, n, _ in all_commands()])
def test_block(doc: str, number: int, cmds: list[str], gateway: str, results: Path, tmp_path: Path) -> None:
    host, _, port = gateway.rpartition(":")
    assert host == "127.0.0.1"
    runs = sorted(p for p in (results / "results").glob("*-smoke") if p.is_dir())
    fields = {"tmp": str(tmp_path), "results": str(results / "results")}
    fields.update(run_a=str(runs[0]) if runs else "", run_b=str(runs[-1]) if runs else "")
    block = Block(results, {"50051": port}, fields)
    failures: list[str] = []
    try:
        for text in cmds:
            if text in EXCLUDED:
                continue
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
