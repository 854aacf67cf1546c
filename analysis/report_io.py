"""Writing helpers shared by the cross-run reporters: a figure as PNG, NaN-free JSON, a plain
HTML page around a Markdown text with its plots inlined (so one file can be mailed or attached)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
from aranya_perf.analysis import pages

from aranya_perf.results import atomic_write_bytes, atomic_write_text

matplotlib.use("Agg")  # reports are rendered headless
import matplotlib.pyplot as plt  # after use(): pyplot picks its backend on import


def save_png(fig: Any, path: Path, dpi: int = 100) -> bytes:
    """Lay out, render and close ``fig``; write the PNG atomically and return its bytes."""
    buf = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return buf.getvalue()


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has neither), through dicts, lists and tuples."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_markdown_page(path: Path, title: str, markdown: str, images: Mapping[str, bytes]) -> None:
    """An HTML page showing ``markdown`` as preformatted text, each image after it, inlined
    (``templates/markdown_page.html.j2``)."""
    atomic_write_text(
        path, pages.render("markdown_page.html.j2", title=title, markdown=markdown, images=images)
    )
