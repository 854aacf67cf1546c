"""``notebooks/capacity_planning.ipynb`` runs top to bottom on the stored sweep (nbclient, a real kernel)."""

from __future__ import annotations

import math

import nbformat
from nbclient import NotebookClient

from tests.helpers import REPO


def test_capacity_notebook_executes_and_rebuilds_the_model() -> None:
    nb = nbformat.read(REPO / "notebooks" / "capacity_planning.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(REPO / "notebooks")}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "alpha" in text and "held-out last step" in text and "replicas" in text
    held_out = float(text.split("held-out last step:")[1].split("(")[1].split("%")[0])
    assert math.isfinite(held_out)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # throughput and latency plots
