"""The Makefile's installer step, offline: where uv cannot be had, or with ``INSTALLER=pip``, ``make``
says so in one line and leaves a ``.venv`` with pip (ensurepip's) and no uv, so the install goes on
with pip. The uv path itself needs the package index; it is measured on a fresh clone (CONTRIBUTING.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.integration


def _installer_step(tmp_path: Path, *make_args: str) -> subprocess.CompletedProcess[str]:
    for name in ("Makefile", "constraints.txt"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "pyproject.toml").touch()
    # No index, no links, no pip configuration of this machine's: pip can find nothing to install.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "MAKE"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1")
    return subprocess.run(
        ["make", "-s", ".venv/.installer", f"PYTHON={sys.executable}", *make_args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )


def _check_pip_venv(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    assert (venv / "bin" / "pip").exists(), sorted(p.name for p in (venv / "bin").iterdir())
    assert not (venv / "bin" / "uv").exists()
    assert (venv / ".installer").exists()


def test_without_uv_make_says_so_and_installs_with_pip(tmp_path: Path) -> None:
    done = _installer_step(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "make: installing the installer, uv " in done.stdout
    assert "make: uv could not be installed (above): installing with pip" in done.stdout
    _check_pip_venv(tmp_path)


def test_installer_pip_skips_uv(tmp_path: Path) -> None:
    done = _installer_step(tmp_path, "INSTALLER=pip")
    assert done.returncode == 0, done.stderr
    assert "make: INSTALLER=pip: installing with pip" in done.stdout
    assert "uv could not be installed" not in done.stdout
    _check_pip_venv(tmp_path)
