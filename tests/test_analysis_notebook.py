"""``notebooks/capacity_planning.ipynb`` runs top to bottom on the stored sweep (nbclient, a real kernel).

The kernel is started from a fresh interpreter: the pytest process has imported Locust, whose
gevent patches break jupyter_client's process launch.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import nbformat

from tests.helpers import REPO

EXECUTE = """
import sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
resources = {"metadata": {"path": sys.argv[2]}}
NotebookClient(nb, timeout=120, kernel_name="python3", resources=resources).execute()
nbformat.write(nb, sys.argv[3])
"""


def test_capacity_notebook_executes_and_rebuilds_the_model(tmp_path: Path) -> None:
    executed = tmp_path / "executed.ipynb"
    notebooks = REPO / "notebooks"
    source = notebooks / "capacity_planning.ipynb"
    proc = subprocess.run(
        [sys.executable, "-c", EXECUTE, str(source), str(notebooks), str(executed)],
        capture_output=True, text=True, timeout=180, cwd=REPO, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = nbformat.read(executed, as_version=4)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "alpha" in text and "held-out last step" in text and "replicas" in text
    held_out = float(text.split("held-out last step:")[1].split("(")[1].split("%")[0])
    assert math.isfinite(held_out)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # throughput and latency plots
