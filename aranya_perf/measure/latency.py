"""Exact request latency per request kind, recorded in HDR histograms next to Locust's own stats.

Locust keeps response times rounded to whole milliseconds (coarser above 100 ms),
which hides everything interesting about sub-millisecond gRPC calls. ``LatencyRecorder``
listens to the same ``request`` event and keeps one microsecond HdrHistogram per
``(request_type, name)``, 3 significant figures from 1 µs to 60 s. ``write`` produces
``latency.csv`` (percentiles in ms) and ``latency_hdr.json`` (the encoded histograms,
mergeable across runs and Locust workers with ``load_histograms`` + ``merge``).

This module does not import locust (importing it monkey-patches the process with gevent);
it only needs an object with ``environment.events.request``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from hdrh.histogram import HdrHistogram

from aranya_perf.results import ResultsError, atomic_write_json, atomic_write_text

LATENCY_CSV = "latency.csv"
LATENCY_HDR = "latency_hdr.json"
LATENCY_HDR_SCHEMA_VERSION = 1
LATENCY_COLUMNS = (
    "request_type",
    "name",
    "count",
    "failures",
    "min_ms",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
)

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_FIGURES = 3
_PERCENTILES = {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0, "p999_ms": 99.9}


def new_histogram() -> HdrHistogram:
    """An empty histogram with the range and precision every latency file uses (µs)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def histogram_key(request_type: str, name: str) -> str:
    """``"<type> <name>"``: the key in latency_hdr.json; split back with ``split_key``."""
    return f"{request_type} {name}"


def split_key(key: str) -> tuple[str, str]:
    """Inverse of ``histogram_key``; request types never contain spaces, names may."""
    request_type, _, name = key.partition(" ")
    return request_type, name


class LatencyRecorder:
    """Records every Locust ``request`` event into a per-kind HdrHistogram (µs) and counts failures.

    Like Locust's stats, failed requests are recorded in the histogram too and counted
    in ``failures``. With ``follow_resets`` the recorder clears itself whenever Locust
    resets its stats (``--reset-stats`` after spawning, the web UI button), so both
    sources describe the same requests.
    """

    def __init__(self, environment: Any, follow_resets: bool = True) -> None:
        self.environment = environment
        self._hists: dict[tuple[str, str], HdrHistogram] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self._clamped = 0
        # Under gevent this is a cooperative lock; it only matters when write() runs in a real thread.
        self._lock = threading.Lock()
        self._attached = False
        self._listeners: list[tuple[Any, Any]] = [(environment.events.request, self._on_request)]
        if follow_resets:
            self._listeners.append((environment.events.reset_stats, self.reset))
            self._listeners.append((environment.events.spawning_complete, self._on_spawning_complete))
        for hook, handler in self._listeners:
            hook.add_listener(handler)
        self._attached = True

    def _on_request(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        response_length: int = 0,
        exception: BaseException | None = None,
        context: Any = None,
        **_kwargs: Any,
    ) -> None:
        self.record(request_type, name, response_time, failed=exception is not None)

    def _on_spawning_complete(self, **_kwargs: Any) -> None:
        if getattr(self.environment, "reset_stats", False):
            self.reset()

    def record(
        self, request_type: str, name: str, response_time_ms: float | None, failed: bool = False
    ) -> None:
        """Record one request; ``response_time_ms`` None (Locust allows it) counts but is not timed."""
        key = (request_type, name)
        with self._lock:
            hist = self._hists.get(key)
            if hist is None:
                hist = self._hists[key] = new_histogram()
                self._failures[key] = 0
            if failed:
                self._failures[key] += 1
            if response_time_ms is None:
                return
            us = round(response_time_ms * 1000.0)
            # Out-of-range values would be silently dropped by HdrHistogram; clamp so counts stay exact.
            if us < LOWEST_US:
                us = LOWEST_US
                self._clamped += 1
            elif us > HIGHEST_US:
                us = HIGHEST_US
                self._clamped += 1
            hist.record_value(us)

    @property
    def clamped(self) -> int:
        """How many response times fell outside 1 µs..60 s and were clamped to the range."""
        return self._clamped

    def reset(self, **_kwargs: Any) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._hists.clear()
            self._failures.clear()
            self._clamped = 0

    def _snapshot(self) -> tuple[dict[str, HdrHistogram], dict[str, int]]:
        with self._lock:
            hists = {histogram_key(*k): merge([h]) for k, h in self._hists.items()}
            failures = {histogram_key(*k): n for k, n in self._failures.items()}
        return hists, failures

    def histograms(self) -> dict[str, HdrHistogram]:
        """Copies of the histograms keyed ``"<type> <name>"`` (safe to keep while recording goes on)."""
        return self._snapshot()[0]

    def frame(self) -> pd.DataFrame:
        """One row per request kind with the latency.csv columns, sorted by type and name."""
        return latency_frame(*self._snapshot())

    def write(self, run_dir: Path) -> tuple[Path, Path]:
        """Atomically write ``latency.csv`` and ``latency_hdr.json`` into ``run_dir``; returns both paths.

        Both files come from one snapshot, so they agree even while requests are still recorded.
        """
        run_dir = Path(run_dir)
        csv_path, hdr_path = run_dir / LATENCY_CSV, run_dir / LATENCY_HDR
        hists, failures = self._snapshot()
        frame = latency_frame(hists, failures)
        atomic_write_text(csv_path, frame.to_csv(index=False, float_format="%.4f", lineterminator="\n"))
        atomic_write_json(
            hdr_path,
            {
                "schema_version": LATENCY_HDR_SCHEMA_VERSION,
                "unit": "us",
                "lowest": LOWEST_US,
                "highest": HIGHEST_US,
                "significant_figures": SIGNIFICANT_FIGURES,
                "histograms": {key: hist.encode().decode("ascii") for key, hist in sorted(hists.items())},
                "failures": dict(sorted(failures.items())),
            },
        )
        return csv_path, hdr_path

    def detach(self) -> None:
        """Stop listening to the environment's events; recorded data stays available."""
        if not self._attached:
            return
        for hook, handler in self._listeners:
            with contextlib.suppress(ValueError):  # someone else already removed it
                hook.remove_listener(handler)
        self._attached = False


def _summary_row(request_type: str, name: str, hist: HdrHistogram, failures: int) -> dict[str, Any]:
    count = hist.get_total_count()
    row: dict[str, Any] = {"request_type": request_type, "name": name, "count": count, "failures": failures}
    if count == 0:  # only untimed requests: no latency to report
        row.update({c: float("nan") for c in LATENCY_COLUMNS[4:]})
        return row
    pct = hist.get_percentile_to_value_dict(list(_PERCENTILES.values()))
    row["min_ms"] = hist.get_min_value() / 1000.0
    row["mean_ms"] = hist.get_mean_value() / 1000.0
    for column, p in _PERCENTILES.items():
        row[column] = pct[p] / 1000.0
    row["max_ms"] = hist.get_max_value() / 1000.0
    return row


def latency_frame(
    hists: Mapping[str, HdrHistogram], failures: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """latency.csv-shaped frame from histograms keyed ``"<type> <name>"`` (e.g. from ``load_histograms``)."""
    failures = failures or {}
    rows = [_summary_row(*split_key(k), hists[k], int(failures.get(k, 0))) for k in sorted(hists)]
    return pd.DataFrame(rows, columns=list(LATENCY_COLUMNS))


def load_histograms(path: Path) -> dict[str, HdrHistogram]:
    """Decode ``latency_hdr.json`` (a file, or a run dir containing one) into histograms by key."""
    return _load(path)[0]


def load_failures(path: Path) -> dict[str, int]:
    """The per-key failure counts stored next to the histograms in ``latency_hdr.json``."""
    return _load(path)[1]


def _load(path: Path) -> tuple[dict[str, HdrHistogram], dict[str, int]]:
    path = Path(path)
    if path.is_dir():
        path = path / LATENCY_HDR
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path} not found") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("histograms"), dict):
        raise ResultsError(f"{path} has no histograms object")
    version = doc.get("schema_version")
    if version != LATENCY_HDR_SCHEMA_VERSION:
        raise ResultsError(
            f"{path} has schema_version {version!r}; this aranya-perf reads {LATENCY_HDR_SCHEMA_VERSION}"
        )
    if doc.get("unit", "us") != "us":
        raise ResultsError(f"{path} records unit {doc.get('unit')!r}, expected 'us'")
    hists: dict[str, HdrHistogram] = {}
    for key, blob in doc["histograms"].items():
        try:
            hists[key] = HdrHistogram.decode(blob)
        except Exception as exc:  # hdrh raises assorted types (TypeError, zlib.error, its own)
            raise ResultsError(f"{path}: histogram {key!r} does not decode: {exc}") from None
    failures = {k: int(v) for k, v in (doc.get("failures") or {}).items()}
    return hists, failures


def merge(hists: Iterable[HdrHistogram]) -> HdrHistogram:
    """A new histogram holding the sum of ``hists`` (an empty one for none); inputs are untouched."""
    out = new_histogram()
    for hist in hists:
        # HdrHistogram.add resets min to 0 when the added histogram is empty.
        if hist.get_total_count():
            out.add(hist)
    return out


def merge_by_key(*groups: Mapping[str, HdrHistogram]) -> dict[str, HdrHistogram]:
    """Merge several ``load_histograms`` results (runs or workers) key by key."""
    keys = sorted({k for g in groups for k in g})
    return {k: merge(g[k] for g in groups if k in g) for k in keys}
