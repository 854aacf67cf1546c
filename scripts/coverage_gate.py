#!/usr/bin/env python3
"""The coverage gate of ``make test``: line coverage per package, and the floor of the gated ones.

Reads the data ``pytest --cov`` left in ``.coverage`` (the unit half, or what the last ``--cov``
run measured), prints one line per package of ``[tool.coverage.run]
source`` and one for the gated packages together (``[tool.aranya-perf.coverage-gate]`` in
pyproject.toml), and exits 1 when that figure is below the gate's floor.
"""

from __future__ import annotations

import io
import sys
import tomllib
from pathlib import Path

import coverage

REPO = Path(__file__).resolve().parent.parent


def percent(cov: coverage.Coverage, packages: list[str]) -> float:
    """Line coverage of the files under ``packages`` (folders of the repository), in percent."""
    return cov.report(include=[f"{REPO / p}/*" for p in packages], file=io.StringIO())


def main() -> int:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    gate = config["aranya-perf"]["coverage-gate"]
    cov = coverage.Coverage(config_file=str(REPO / "pyproject.toml"))
    cov.load()
    for package in config["coverage"]["run"]["source"]:
        print(f"coverage {package + '/':<14} {percent(cov, [package]):5.1f} %")
    gated = percent(cov, gate["packages"])
    names = " + ".join(f"{p}/" for p in gate["packages"])
    print(f"coverage {names}: {gated:.1f} % (floor {gate['floor']} %)")
    if gated < gate["floor"]:
        print(f"coverage of {names} is {gated:.1f} %, below the floor of {gate['floor']} %")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
