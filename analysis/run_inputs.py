"""What a report is rendered from, and whether rendering it again may replace the report there.

Owns the state of each run file as a report sees it (``ok``, ``empty``, ``missing``, or
``unreadable``: present but damaged, with why), the checks that find a damaged file which the
tolerant readers of ``run_frames`` would otherwise read as less data without a word, the line
in which a report records each state (its Files section) and reading those lines back, and the
rule for rendering again (``rerender``). A torn last line is not damage: it is how a run that
crashed mid-write leaves a file, and the readers drop it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aranya_perf.analysis import run_frames as rf

from aranya_perf.results import RunFiles

OK, MISSING, UNREADABLE = "ok", "missing", "unreadable"
_NOT_A_NUMBER = {"", "N/A", "NA", "NaN", "nan", "None", "null"}
_FILES_LINE = re.compile(r"^- (?P<name>[^:\s]+): (?P<state>ok|empty|missing|unreadable)\b", re.MULTILINE)


def file_states(run_dir: Path, names: Mapping[str, str], problems: Mapping[str, str]) -> dict[str, str]:
    """The state of each of ``names`` in ``run_dir``: ``unreadable`` for a present file with a problem."""
    states = {name: rf.file_state(run_dir, name) for name in names}
    return {name: UNREADABLE if state == OK and name in problems else state for name, state in states.items()}


def files_line(name: str, state: str, what: str, problem: str | None) -> str:
    """How a report's Files section records one input; ``recorded_states`` reads it back."""
    return f"{name}: {state} ({what})" + (f": {problem}" if problem else "")


def recorded_states(report_md: Path) -> dict[str, str] | None:
    """The input states an existing report.md records in its Files section; None without one."""
    try:
        text = report_md.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    _, _, files = text.partition("\n## Files\n")
    states = {m["name"]: m["state"] for m in _FILES_LINE.finditer(files)}
    return states or None


@dataclass(frozen=True)
class Rerender:
    """Whether a report may be rendered again over the one in place, and what it would lose."""

    lost: tuple[str, ...] = ()

    @property
    def write(self) -> bool:
        return not self.lost


def rerender(recorded: Mapping[str, str] | None, now: Mapping[str, str]) -> Rerender:
    """Decide whether to replace a report that recorded the input states ``recorded`` (None: no
    report) with one rendered from inputs in the states ``now``.

    Rules:
    - no report in place, or one whose Files section cannot be read: render;
    - an input the report read (``ok``) that is no longer ``ok`` (missing, empty, unreadable):
      keep the report, naming each such input as lost;
    - anything else (inputs that appeared, or were already missing or damaged): render.
    """
    if not recorded:
        return Rerender()
    lost = tuple(
        f"{name} ({OK} before, {now.get(name, MISSING)} now)"
        for name, state in recorded.items()
        if state == OK and now.get(name, MISSING) != OK
    )
    return Rerender(lost)


# --- checks a tolerant reader does not make -----------------------------------------------------


def text_problems(run_dir: Path) -> dict[str, str]:
    """Problems of the run's CSVs and gateway metrics snapshot."""
    run_dir = Path(run_dir)
    out = {}
    for name in (*rf.CSV_LAYOUTS, RunFiles.GATEWAY_METRICS):
        if rf.file_state(run_dir, name) != OK:
            continue
        path = run_dir / name
        layout = rf.CSV_LAYOUTS.get(name)
        if problem := csv_problem(path, *layout) if layout else metrics_problem(path):
            out[name] = problem
    return out


def _read_text(path: Path) -> str:
    """The file's complete lines (a torn last one dropped); ``UnicodeDecodeError`` for non-UTF-8."""
    text = path.read_bytes().decode("utf-8")
    return text if text.endswith("\n") else text[: text.rfind("\n") + 1]


def csv_problem(path: Path, columns: tuple[str, ...], text_columns: tuple[str, ...]) -> str | None:
    """Why a CSV with these documented columns is damaged, or None: not UTF-8, not CSV, a header
    without its text columns, a row with another number of fields than the header, or a field of a
    numeric column that is not a number."""
    try:
        rows = list(csv.reader(io.StringIO(_read_text(path))))
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start})"
    except csv.Error as exc:
        return f"not CSV ({exc})"
    if not rows:
        return None
    header = rows[0]
    if absent := [c for c in text_columns if c not in header]:
        return f"its header has no column {', '.join(absent)}"
    numeric = [(i, c) for i, c in enumerate(header) if c in columns and c not in text_columns]
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            return f"row {n} has {len(row)} fields, its header {len(header)}"
        for i, column in numeric:
            if not _is_number(row[i]):
                return f"row {n}: {column} is {row[i][:20]!r}, not a number"
    return None


def _is_number(text: str) -> bool:
    if text.strip() in _NOT_A_NUMBER:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def metrics_problem(path: Path) -> str | None:
    """Why a Prometheus text snapshot does not parse, or None."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        for family in text_string_to_metric_families(_read_text(path)):
            for sample in family.samples:
                float(sample.value)
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start})"
    except (ValueError, TypeError, IndexError) as exc:  # what the parser raises on malformed text
        return f"not Prometheus text ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    return None


def lines_problem(path: Path, parsed: int, *, header: int) -> str | None:
    """Why a JSON-lines file is damaged, or None: some of its complete lines gave no record."""
    try:
        lines = [line for line in _read_text(path).splitlines()[header:] if line.strip()]
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start})"
    if parsed < len(lines):
        return f"{len(lines) - parsed} of {len(lines)} lines are not readable records"
    return None
