"""PromQL range queries against a Prometheus server's HTTP API, stored in a run directory.

A run (or anyone with a run directory) names its queries, e.g. from a profile's
``[[prometheus.query]]`` tables (``name``, ``expr``, optional ``step_s``), and after the
measured window calls ``store_series(run_dir, url, queries, start, end)``. Each query's answer
lands in ``prometheus/<name>.json``: Prometheus' own ``/api/v1/query_range`` JSON (``status``,
``data``) plus ``schema_version`` and the ``query`` that produced it, so
``aranya_perf.analysis.prometheus.read_range_queries`` reads the files as they are. A query Prometheus
refuses is stored with ``status: "error"`` and its reason, so the run keeps a record of it.
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aranya_perf.results import RunFiles, atomic_write_json
from aranya_perf.targets import TargetError, check_target

PROMETHEUS_DIR = RunFiles.PROMETHEUS
SCHEMA_VERSION = 1
MAX_POINTS = 11_000  # Prometheus refuses range queries of more than 11,000 points per series
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


TARGET_COST = {
    "target_cpu_seconds": "process_cpu_seconds_total",
    "target_rss_bytes": "process_resident_memory_bytes",
    "target_heap_bytes": "go_memstats_heap_alloc_bytes",
    "target_goroutines": "go_goroutines",
}
"""Stored name -> the metric a Go program such as aranya exports of its process, for its cost over time."""


class PrometheusError(RuntimeError):
    """Prometheus could not be reached or refused a query; the message is one line."""


@dataclass(frozen=True)
class Query:
    name: str
    expr: str
    step_s: float = 5.0

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"query name {self.name!r}: letters, digits, '.', '-', '_' only")
        if not self.expr.strip():
            raise ValueError(f"query {self.name}: empty expr")
        if not self.step_s > 0:
            raise ValueError(f"query {self.name}: step_s must be > 0")


def parse_queries(items: Iterable[Mapping[str, Any]], where: str) -> list[Query]:
    """Queries from a profile's tables; ``ValueError`` naming the key and ``where`` for bad ones."""
    out: list[Query] = []
    for i, item in enumerate(items, start=1):
        unknown = sorted(set(item) - {"name", "expr", "step_s"})
        if unknown:
            raise ValueError(f"{where}: query #{i}: unknown key(s) {', '.join(unknown)}")
        if not isinstance(item.get("name"), str) or not isinstance(item.get("expr"), str):
            raise ValueError(f"{where}: query #{i}: needs string keys name and expr")
        step = item.get("step_s", 5.0)
        if isinstance(step, bool) or not isinstance(step, int | float):
            raise ValueError(f"{where}: query #{i}: step_s must be a number")
        try:
            out.append(Query(item["name"], item["expr"], float(step)))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    names = [q.name for q in out]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: query names must be unique")
    return out


def target_cost_queries(instance: str | None, step_s: float = 5.0) -> list[Query]:
    """``TARGET_COST``'s metrics, each summed over the series of ``instance`` (the target's ``HOST:PORT`` as
    Prometheus scrapes it), or over every series Prometheus has of it when None."""
    selector = f'{{instance="{instance}"}}' if instance else ""
    return [Query(name, f"sum({metric}{selector})", step_s) for name, metric in TARGET_COST.items()]


def check_url(url: str, *, allow_remote: bool = False) -> str:
    """``http(s)://HOST:PORT[/prefix]`` with the loopback rule applied; returned without a trailing /."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TargetError(f"not a Prometheus URL (http://HOST:PORT): {url!r}")
    netloc = parts.netloc if parts.port else f"{parts.netloc}:{443 if parts.scheme == 'https' else 80}"
    check_target(netloc, allow_remote=allow_remote)
    return url.rstrip("/")


def query_range(url: str, expr: str, start: float, end: float, step_s: float, timeout: float = 10.0) -> Any:
    """The decoded answer of one ``/api/v1/query_range``; ``PrometheusError`` when there is none."""
    step = max(step_s, (end - start) / MAX_POINTS)
    params = urllib.parse.urlencode(
        {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    )
    request = urllib.request.Request(f"{url}/api/v1/query_range", data=params.encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:  # 400/422 carry Prometheus' JSON error
        try:
            doc = json.load(exc)
        except ValueError:
            raise PrometheusError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        return doc
    except (OSError, ValueError) as exc:
        raise PrometheusError(f"{url}: {getattr(exc, 'reason', None) or exc}") from None


def store_series(
    run_dir: Path, url: str, queries: Sequence[Query], start: float, end: float, *, timeout: float = 10.0
) -> dict[str, Path]:
    """Run every query over [start, end] (unix seconds) and write ``prometheus/<name>.json`` for each.

    Raises ``PrometheusError`` only when the server cannot be reached at all; a refused query is
    stored with its error. Returns name -> file.
    """
    if not end > start or not all(math.isfinite(t) for t in (start, end)):
        raise ValueError(f"empty window: start {start}, end {end}")
    out_dir = Path(run_dir) / PROMETHEUS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for q in queries:
        doc = query_range(url, q.expr, start, end, q.step_s, timeout)
        if not isinstance(doc, dict):
            doc = {"status": "error", "error": f"not a Prometheus answer: {str(doc)[:80]}"}
        record = {
            "schema_version": SCHEMA_VERSION,
            "query": {
                "name": q.name,
                "expr": q.expr,
                "start": start,
                "end": end,
                "step_s": q.step_s,
                "url": url,
            },
            **doc,
        }
        path = written[q.name] = out_dir / f"{q.name}.json"
        atomic_write_json(path, record)
    return written


def last_values(path: Path) -> dict[str, float]:
    """A stored file's last sample per series, keyed by its sorted labels (``{k="v",...}``)."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if doc.get("schema_version") != SCHEMA_VERSION or doc.get("status") != "success":
        raise ValueError(
            f"{path}: not a stored successful answer (schema_version {doc.get('schema_version')!r})"
        )
    out: dict[str, float] = {}
    for series in doc["data"]["result"]:
        labels = series.get("metric", {})
        key = "{" + ",".join(f'{k}="{labels[k]}"' for k in sorted(labels)) + "}"
        points = series.get("values") or [series.get("value")]
        out[key] = float(points[-1][1])
    return out
