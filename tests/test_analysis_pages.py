"""The HTML pages' Jinja2 templates: found where the package is installed, escaping every value."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from aranya_perf.analysis import pages
from aranya_perf.analysis.report_io import write_markdown_page
from aranya_perf.analysis.run_report import _Doc, _Table

from tests.helpers import REPO

TEMPLATES = sorted(p.name for p in (REPO / "analysis" / "templates").glob("*.html.j2"))


def test_values_are_escaped_never_markup(tmp_path: Path) -> None:
    doc = _Doc()
    doc.h1("run <b>1</b>")
    doc.p('error: "<script>alert(1)</script>"')
    doc.table(_Table(["Name", "Count"], [["a & b", "3"]], ["l", "r"]))
    page = doc.to_html("t<i>", {})
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<h1>run &lt;b&gt;1&lt;/b&gt;</h1>" in page and "<title>t&lt;i&gt;</title>" in page
    assert '<td>a &amp; b</td><td class="num">3</td>' in page
    write_markdown_page(tmp_path / "x.html", "A/B", "| a <b> |", {"p<1>": b"\x89PNG"})
    text = (tmp_path / "x.html").read_text()
    assert "<pre>| a &lt;b&gt; |</pre>" in text and 'alt="p&lt;1&gt;"' in text


def test_a_missing_value_is_an_error_not_an_empty_cell() -> None:
    with pytest.raises(Exception, match="'images' is undefined"):
        pages.render("report.html.j2", title="t", blocks=[("img", ("plots/x.png", "x"))])


@pytest.mark.integration
def test_the_wheel_ships_every_template(tmp_path: Path) -> None:
    assert TEMPLATES == ["markdown_page.html.j2", "report.html.j2", "site.html.j2"]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
         str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("aranya_perf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"aranya_perf/analysis/templates/{t}" for t in TEMPLATES} <= names
