"""Secrets stay out of results, and the dependency audit never passes silently (SECURITY.md)."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO, gateway_process, make_pki, run_cli

AUDIT = REPO / "scripts" / "audit_deps.py"


def test_a_tls_run_writes_no_key_material(tmp_path: Path) -> None:
    """An mTLS run against a gateway that requires client certificates: no file of its results (nor
    its output) holds a key or certificate, in PEM or DER; profile.toml records the paths."""
    pki = make_pki(tmp_path)
    out = tmp_path / "out"
    server = ("--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"]))
    with gateway_process(*server, "--tls-client-ca", str(pki["ca.pem"])) as gw:
        profile = tmp_path / "tls.toml"
        profile.write_text(
            '[run]\nduration = "4s"\n[fleet]\ndevices = 5\n[operators]\ncount = 1\n'
            f'[target]\naddress = "{gw.address}"\ntls_ca = "{pki["ca.pem"]}"\n'
            f'tls_cert = "{pki["client.pem"]}"\ntls_key = "{pki["client.key"]}"\n'
        )
        done = run_cli("run", "--profile", str(profile), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr  # mTLS worked: the gateway refuses anything else
    (run_dir,) = out.iterdir()

    secrets: dict[str, bytes] = {}
    for pem in [*tmp_path.glob("*.key"), *tmp_path.glob("*.pem")]:
        body = [line for line in pem.read_text().splitlines() if line and not line.startswith("-----")]
        secrets[f"{pem.name} DER"] = base64.b64decode("".join(body))[-48:]
        secrets.update(
            {f"{pem.name} line {i}": line.encode() for i, line in enumerate(body) if len(line) >= 32}
        )
    secrets.update({"PEM armour": b"-----BEGIN", "private key": b"PRIVATE KEY"})
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"meta.json", "profile.toml", "report.md", "report.html", "latency_hdr.json"} <= {
        p.name for p in files
    }
    outputs = {p.name: p.read_bytes() for p in files}
    outputs.update({"stdout": done.stdout.encode(), "stderr": done.stderr.encode()})
    leaks = [
        (name, what) for name, data in outputs.items() for what, secret in secrets.items() if secret in data
    ]
    assert not leaks
    assert f'tls_key = "{pki["client.key"]}"' in (run_dir / "profile.toml").read_text()
    assert "client.key" not in (run_dir / "meta.json").read_text()  # meta.json names the profile only


def _audit_module():
    spec = importlib.util.spec_from_file_location("audit_deps", AUDIT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_audit_verdicts() -> None:
    verdict = _audit_module().verdict
    vulnerable = {
        "dependencies": [
            {"name": "requests", "version": "2.19.0", "vulns": [
                {"id": "PYSEC-2018-28", "fix_versions": ["2.20.0"], "aliases": ["CVE-2018-18074"]}]},
            {"name": "idna", "version": "3.10", "vulns": []},
        ],
        "fixes": [],
    }  # fmt: skip
    code, lines = verdict(1, json.dumps(vulnerable), "")
    assert code == 1
    assert lines == [
        "dependency audit failed: known vulnerabilities: 1",
        "requests 2.19.0: PYSEC-2018-28 (CVE-2018-18074; fixed in 2.20.0)",
    ]

    clean = {"dependencies": [{"name": "idna", "version": "3.10", "vulns": []}], "fixes": []}
    assert verdict(0, json.dumps(clean), "") == (
        0,
        ["dependency audit: no known vulnerabilities (1 packages audited)"],
    )

    # What pip-audit prints behind a package mirror: every package skipped, "No known vulnerabilities found".
    unknown = {
        "name": "idna",
        "skip_reason": "Dependency not found on PyPI and could not be audited: idna (3.10)",
    }
    code, lines = verdict(0, json.dumps({"dependencies": [unknown, unknown], "fixes": []}), "")
    assert code == 0 and len(lines) == 1
    assert lines[0].startswith("dependency audit could not run: the vulnerability service knew none of the 2")
    partly = json.dumps({"dependencies": [unknown, clean["dependencies"][0]], "fixes": []})
    assert verdict(0, partly, "")[1] == [
        "dependency audit: no known vulnerabilities (1 packages audited, 1 not known to the service)"
    ]

    traceback = "Traceback (most recent call last):\n  ...\nrequests.exceptions.ConnectionError: no route\n"
    assert verdict(1, "", traceback) == (
        0,
        ["dependency audit could not run: requests.exceptions.ConnectionError: no route"],
    )


def test_audit_without_its_service_says_so_in_one_line(tmp_path: Path) -> None:
    """pip-audit really run, its service behind a proxy that refuses connections (nothing leaves loopback)."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("idna==3.10\n")
    env = {
        **os.environ,
        **{name: "http://127.0.0.1:9" for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")},
        "NO_PROXY": "",
        "no_proxy": "",
    }
    done = subprocess.run(
        [sys.executable, str(AUDIT), "-r", str(requirements), "--no-deps", "--disable-pip"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("dependency audit could not run: ")
    assert "Proxy" in done.stdout and done.stderr == ""
