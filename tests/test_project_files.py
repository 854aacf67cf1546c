"""Project files: ``--version``, the Markdown link check (scripts/check_links.py) on the repository and
on a small tree of broken links."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli

pytestmark = pytest.mark.unit
CHECK_LINKS = REPO / "scripts" / "check_links.py"


def test_version_is_the_installed_distributions() -> None:
    proc = run_cli("--version", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"aranya-perf {importlib.metadata.version('aranya-perf')}"


def _check_links(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK_LINKS), str(root)], capture_output=True, text=True, timeout=60
    )


def test_the_repositorys_markdown_links_resolve() -> None:
    proc = _check_links(REPO)
    assert proc.returncode == 0, proc.stderr


def test_broken_links_and_anchors_are_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "# Top\n\n## Two words, and `code`\n\n## Two words, and code\n\n"
        "[ok](docs/a.md#the-a) [ok](#two-words-and-code) [repeat](#two-words-and-code-1)\n"
        "[ok](https://example.com/x.md) [dir](docs) [named](docs/a.md#here)\n"
        "[missing](docs/none.md) [bad anchor](docs/a.md#nowhere) [self](#no-such)\n"
        "`[in code](nowhere.md)`\n\n```sh\n[in a fence](nowhere.md)\n```\n"
    )
    (tmp_path / "docs" / "a.md").write_text('# The A\n\n<a id="here"></a>\n')
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    proc = _check_links(tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "check_links: README.md:9: docs/none.md: no such file",
        "check_links: README.md:9: docs/a.md#nowhere: no heading or id #nowhere",
        "check_links: README.md:9: #no-such: no heading or id #no-such",
        "check_links: 3 broken link(s) in 2 Markdown files",
    ]


def test_docs_index_links_every_doc() -> None:
    index = (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    docs = sorted(p.name for p in (REPO / "docs").glob("*.md") if p.name != "index.md")
    assert [name for name in docs if f"]({name})" not in index] == []
