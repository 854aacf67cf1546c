#!/usr/bin/env python3
"""Checks the relative links and anchors of the repository's own Markdown (no network).

Every ``[text](target)`` outside code in a git-tracked ``*.md`` file whose target is not a URL must
name an existing file or directory (relative to the file), and a ``#fragment`` must be a heading's
anchor (GitHub's rule: lower case, punctuation dropped, spaces to hyphens, ``-1``... for repeats)
or an explicit ``id``/``name`` in that Markdown file. Prints one line per broken link; exit 1 if any.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

LINK = re.compile(r"(?<!\\)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")
HTML_ID = re.compile(r"""\b(?:id|name)=["']([^"']+)["']""")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
INLINE_CODE = re.compile(r"(`+).*?\1")


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) for every line outside fenced code."""
    out, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            continue
        if fence is None:
            out.append((number, line))
    return out


def slug(heading: str) -> str:
    text = re.sub(r"<[^>]+>", "", heading)  # inline HTML
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text stays
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        found.update(HTML_ID.findall(line))
        m = HEADING.match(line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(root: Path, files: list[Path]) -> list[str]:
    problems = []
    cache: dict[Path, set[str]] = {}
    for md in files:
        for number, line in _prose_lines(md.read_text(encoding="utf-8")):
            for target in LINK.findall(INLINE_CODE.sub("", line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto: ...: not ours
                    continue
                path_part, _, fragment = target.partition("#")
                dest = (md.parent / path_part).resolve() if path_part else md.resolve()
                where = f"{md.relative_to(root)}:{number}"
                if not dest.exists():
                    problems.append(f"{where}: {target}: no such file")
                elif fragment and dest.suffix == ".md":
                    if dest not in cache:
                        cache[dest] = anchors(dest)
                    if fragment not in cache[dest]:
                        problems.append(f"{where}: {target}: no heading or id #{fragment}")
    return problems


def tracked_markdown(root: Path) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return [root / name for name in sorted(set(out.split("\0"))) if name and (root / name).exists()]


def main(argv: list[str] | None = None) -> int:
    root = Path(argv[0] if argv else Path(__file__).resolve().parent.parent).resolve()
    files = tracked_markdown(root)
    problems = broken_links(root, files)
    for p in problems:
        print(f"check_links: {p}", file=sys.stderr)
    if problems:
        print(f"check_links: {len(problems)} broken link(s) in {len(files)} Markdown files", file=sys.stderr)
        return 1
    print(f"check_links: {len(files)} Markdown files, every relative link and anchor resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
