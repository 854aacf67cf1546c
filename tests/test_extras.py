"""A lean install: verbs whose extra is missing say which one in one line; the catalogue works without
pyarrow. A missing package is simulated by a ``None`` entry in ``sys.modules`` (import then fails)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aranya_perf import address_map
from aranya_perf.cli import main
from aranya_perf.extras import MissingExtra, require
from aranya_perf.targets import TargetError

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parent.parent


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_require_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    assert require("json", "evaluate", "x").__name__ == "json"
    _hide(monkeypatch, "otava", "otava.analysis")
    with pytest.raises(
        MissingExtra, match=r"^--x needs the evaluate extra: pip install 'aranya-perf\[evaluate\]'$"
    ):
        require("otava.analysis", "evaluate", "--x")


def test_k8s_map_without_the_kubernetes_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "kubernetes")
    with pytest.raises(
        TargetError, match=r"k8s: address map needs the kubernetes extra.*aranya-perf\[kubernetes\]"
    ):
        address_map.parse("k8s:aranya/edgedevice-connectivity")


def test_run_with_a_k8s_map_exits_2_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _hide(monkeypatch, "kubernetes")
    code = main(["run", "--target", "k8s:aranya/edgedevice-connectivity", "--duration", "1s"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "pip install 'aranya-perf[kubernetes]'" in err


@pytest.mark.parametrize("detector, hidden", [("otava", "otava.analysis"), ("asv", "asv.step_detect")])
def test_evaluate_without_the_evaluate_extra(
    monkeypatch: pytest.MonkeyPatch, capsys, detector: str, hidden: str
) -> None:
    _hide(monkeypatch, hidden.split(".")[0], hidden)
    assert main(["evaluate", "--detectors", f"ours,{detector}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"aranya-perf evaluate: error: --detectors {detector} needs the evaluate extra: "
        "pip install 'aranya-perf[evaluate]'"
    )


# pandas decides at import whether pyarrow backs its strings, so pyarrow is hidden before pandas loads.
_CATALOGUE_WITHOUT_PYARROW = """
import sys
sys.modules["pyarrow"] = None
from pathlib import Path
import pandas as pd
from aranya_perf.analysis import run_catalogue
frame = pd.DataFrame({
    "run_id": ["a", "b"],
    "started_at": pd.to_datetime(["2026-12-01T00:00:00Z", "2026-12-01T00:01:00Z"], utc=True),
    "finished_at": pd.to_datetime(["2026-12-01T00:00:30Z", "2026-12-01T00:01:30Z"], utc=True),
    "slo": ["", "failed"],
})
out = Path(sys.argv[1])
written = run_catalogue.write_catalogue(frame, out / run_catalogue.CATALOGUE_FILE)
back = run_catalogue.read_catalogue(written)
assert back["run_id"].tolist() == ["a", "b"] and back["slo"].tolist() == ["", "failed"], back
assert (back["started_at"] == frame["started_at"]).all(), back
print(written.name)
"""


def test_catalogue_without_pyarrow_is_csv(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CATALOGUE_WITHOUT_PYARROW, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "runs.csv"
    assert (tmp_path / "runs.csv").exists() and not (tmp_path / "runs.parquet").exists()
