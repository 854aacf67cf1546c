"""Exact request latency per request kind, recorded in HDR histograms next to Locust's own stats.

Locust keeps response times rounded to whole milliseconds (coarser above 100 ms),
which hides everything interesting about sub-millisecond gRPC calls. ``LatencyRecorder``
listens to the same ``request`` event and keeps one microsecond HdrHistogram per
``(request_type, name)``, 3 significant figures from 1 µs to 60 s, plus one coarser
histogram per kind and interval (2 figures) for percentiles over time. A request whose
``context`` carries ``service_ms`` (an open-model call timed from its intended start) is
also recorded, under ``"<name> (service time)"``, with its time from the actual send.

``write`` produces ``latency.csv`` (percentiles in ms), ``latency_hdr.json`` (the encoded
histograms, mergeable across runs and Locust workers with ``load_histograms`` + ``merge``)
and ``latency_intervals.jsonl`` (one line per interval). ``export_delta`` and ``import_delta``
carry what a worker recorded to its master, exactly: histograms add without loss.

This module does not import locust (importing it monkey-patches the process with gevent);
it only needs an object with ``environment.events.request``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hdrh.histogram import HdrHistogram

from aranya_perf.results import ResultsError, RunFiles, atomic_write_json, atomic_write_text

LATENCY_CSV = RunFiles.LATENCY
LATENCY_HDR = RunFiles.LATENCY_HDR
LATENCY_INTERVALS = RunFiles.LATENCY_INTERVALS
LATENCY_HDR_SCHEMA_VERSION = 1
SERVICE_SUFFIX = " (service time)"
"""Name suffix of the service-time twin of an open-model request kind."""
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
INTERVAL_FIGURES = 2  # 1 % is enough over time, and a histogram is 20 KiB instead of 140 KiB
Interval = tuple[float, dict[str, str], dict[str, int]]
"""One interval: its start (unix s), key -> encoded histogram, key -> failures."""
_PERCENTILES = {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0, "p999_ms": 99.9}


def new_histogram(figures: int = SIGNIFICANT_FIGURES) -> HdrHistogram:
    """An empty histogram with the range and precision every latency file uses (µs)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, figures)


def record_one(hist: HdrHistogram, us: int) -> None:
    """``hist.record_value(us)`` for an int already within the histogram's range, at a third of its cost.

    Every request of a run is recorded twice (whole run and interval), on the same thread as the
    load, so hdrh's general path (bucket index through ``bin()``, ``min``/``max`` calls) was a
    measurable share of the generator's CPU per call. Same index arithmetic as hdrh's
    ``_counts_index_for``: ``64 - clz(v | mask)`` is ``(v | mask).bit_length()``. The encoded
    histogram is byte-identical (tests/test_latency.py).
    """
    shift = hist.sub_bucket_half_count_magnitude
    bucket = (us | hist.sub_bucket_mask).bit_length() - hist.unit_magnitude - shift - 1
    index = ((bucket + 1) << shift) + (us >> (bucket + hist.unit_magnitude)) - hist.sub_bucket_half_count
    hist.counts[index] += 1
    hist.total_count += 1
    if us < hist.min_value:
        hist.min_value = us
    if us > hist.max_value:
        hist.max_value = us


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

    def __init__(
        self,
        environment: Any,
        follow_resets: bool = True,
        interval_s: float = 1.0,
        keep_samples: bool = False,
    ) -> None:
        self.environment = environment
        self.keep_samples = keep_samples
        self._samples: list[tuple[str, int, bool]] = []  # (key, µs, failed), with keep_samples
        self._hists: dict[tuple[str, str], HdrHistogram] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self._keys: dict[tuple[str, str], str] = {}  # histogram_key of each, made once
        self._clamped = 0
        self.interval_s = interval_s
        self._interval_start = 0.0
        self._interval: dict[str, HdrHistogram] = {}
        self._interval_failures: dict[str, int] = {}
        self._closed: list[Interval] = []  # oldest first
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
        if context and (service_ms := context.get("service_ms")) is not None:
            self.record(request_type, name + SERVICE_SUFFIX, service_ms, failed=exception is not None)

    def _on_spawning_complete(self, **_kwargs: Any) -> None:
        if getattr(self.environment, "reset_stats", False):
            self.reset()

    def record(
        self,
        request_type: str,
        name: str,
        response_time_ms: float | None,
        failed: bool = False,
        now: float | None = None,
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
            record_one(hist, us)
            key_text = self._keys.get(key)
            if key_text is None:
                key_text = self._keys[key] = histogram_key(request_type, name)
            self._record_interval(key_text, us, failed, time.time() if now is None else now)
            if self.keep_samples:
                self._samples.append((key_text, us, failed))

    def _record_interval(self, key: str, us: int, failed: bool, now: float) -> None:
        start = now - now % self.interval_s
        if start != self._interval_start:
            if start < self._interval_start:  # a late event (clock step): keep it in the open interval
                start = self._interval_start
            else:
                self._close_interval()
                self._interval_start = start
        hist = self._interval.get(key)
        if hist is None:
            hist = self._interval[key] = new_histogram(INTERVAL_FIGURES)
        record_one(hist, us)
        if failed:
            self._interval_failures[key] = self._interval_failures.get(key, 0) + 1

    def _open_interval(self) -> Interval:
        encoded = {k: h.encode().decode("ascii") for k, h in sorted(self._interval.items())}
        return (self._interval_start, encoded, dict(self._interval_failures))

    def _close_interval(self) -> None:
        if self._interval:
            self._closed.append(self._open_interval())
            self._interval, self._interval_failures = {}, {}

    def intervals(self) -> list[Interval]:
        """Every interval so far, the open one included (``Interval`` tuples)."""
        with self._lock:
            return [*self._closed, *([self._open_interval()] if self._interval else [])]

    def samples(self) -> list[tuple[str, int, bool]]:
        """Every recorded response time, with ``keep_samples``: (key, µs, failed), in recording order."""
        with self._lock:
            return list(self._samples)

    def export_delta(self) -> dict[str, Any]:
        """What was recorded since the last export, encoded, and forget it: a worker's report to its master.

        Closed intervals go with it; the open one stays until it closes.
        """
        with self._lock:
            out = {
                "histograms": {histogram_key(*k): h.encode().decode("ascii") for k, h in self._hists.items()},
                "failures": {histogram_key(*k): n for k, n in self._failures.items()},
                "clamped": self._clamped,
                "intervals": self._closed,
                "samples": self._samples,
            }
            self._hists, self._failures, self._clamped, self._closed, self._samples = {}, {}, 0, [], []
        return out

    def finish_intervals(self) -> None:
        """Close the open interval (end of the run), so the next ``export_delta`` carries it too."""
        with self._lock:
            self._close_interval()

    def import_delta(self, delta: dict[str, Any]) -> None:
        """Add a worker's ``export_delta``: histograms and failures sum, intervals merge by start."""
        with self._lock:
            for key, blob in delta.get("histograms", {}).items():
                k = split_key(key)
                hist = self._hists.get(k)
                if hist is None:
                    hist = self._hists[k] = new_histogram()
                    self._failures.setdefault(k, 0)
                incoming = HdrHistogram.decode(blob)
                if incoming.get_total_count():
                    hist.add(incoming)
            for key, n in delta.get("failures", {}).items():
                k = split_key(key)
                self._failures[k] = self._failures.get(k, 0) + int(n)
            self._clamped += int(delta.get("clamped", 0))
            for start, hists, *rest in delta.get("intervals", []):
                self._closed.append((float(start), dict(hists), dict(rest[0]) if rest else {}))
            self._samples.extend((str(k), int(us), bool(f)) for k, us, f in delta.get("samples", []))

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
            self._interval, self._interval_failures, self._closed, self._samples = {}, {}, [], []

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
        """Atomically write ``latency.csv``, ``latency_hdr.json`` and ``latency_intervals.jsonl`` into
        ``run_dir``; returns the first two paths.

        The totals come from one snapshot, so they agree even while requests are still recorded.
        """
        run_dir = Path(run_dir)
        csv_path, hdr_path = run_dir / LATENCY_CSV, run_dir / LATENCY_HDR
        write_intervals(run_dir / LATENCY_INTERVALS, self.intervals(), self.interval_s)
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


def write_intervals(path: Path, intervals: Iterable[Interval], interval_s: float) -> None:
    """``latency_intervals.jsonl``: a header line, then one line per interval start (merged when workers
    reported the same interval), oldest first, with histograms and failure counts by kind."""
    merged: dict[float, dict[str, HdrHistogram]] = {}
    failed: dict[float, dict[str, int]] = {}
    for start, hists, failures in intervals:
        slot = merged.setdefault(start, {})
        for key, blob in hists.items():
            incoming = HdrHistogram.decode(blob)
            if key in slot:
                slot[key].add(incoming)
            else:
                slot[key] = incoming
        counts = failed.setdefault(start, {})
        for key, n in failures.items():
            counts[key] = counts.get(key, 0) + n
    lines = [
        json.dumps({"schema_version": LATENCY_HDR_SCHEMA_VERSION, "interval_s": interval_s, "unit": "us"})
    ]
    for start in sorted(merged):
        hists = {k: h.encode().decode("ascii") for k, h in sorted(merged[start].items())}
        fails = dict(sorted(failed[start].items()))
        lines.append(json.dumps({"t": start, "histograms": hists, "failures": fails}))
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_samples(path: Path, samples: Iterable[tuple[str, int, bool]]) -> None:
    """``samples.csv``: every raw response time a run kept (``[run] keep_samples``), µs."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["request_type", "name", "us", "failed"])
    for key, us, failed in samples:
        out.writerow([*split_key(key), us, int(failed)])
    atomic_write_text(path, buf.getvalue())


INTERVAL_COLUMNS = ("t", "request_type", "name", "count", "failures", "p50_ms", "p99_ms", "max_ms")


def load_intervals(path: Path) -> list[tuple[float, dict[str, HdrHistogram], dict[str, int]]]:
    """``latency_intervals.jsonl`` decoded: (start, key -> histogram, key -> failures), oldest first.
    A missing file gives nothing; a torn line or a histogram that does not decode is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return []
    out = []
    for line in text.splitlines()[1:]:
        try:
            item = json.loads(line)
            hists = {key: HdrHistogram.decode(blob) for key, blob in item["histograms"].items()}
            failures = {key: int(n) for key, n in (item.get("failures") or {}).items()}
            out.append((float(item["t"]), hists, failures))
        except Exception:
            continue
    return out


def read_intervals(path: Path) -> pd.DataFrame:
    """``latency_intervals.jsonl`` as rows (``INTERVAL_COLUMNS``; t is the interval start, unix s)."""
    return intervals_frame(load_intervals(path))


def intervals_frame(
    intervals: Iterable[tuple[float, Mapping[str, HdrHistogram], Mapping[str, int]]],
) -> pd.DataFrame:
    """Decoded intervals (``load_intervals``) as rows: count, failures, p50/p99/max (ms) per kind, second."""
    rows = []
    for start, hists, failures in intervals:
        for key, hist in hists.items():
            request_type, name = split_key(key)
            pct = hist.get_percentile_to_value_dict([50.0, 99.0])
            rows.append(
                (
                    start, request_type, name, hist.get_total_count(), failures.get(key, 0),
                    pct[50.0] / 1000, pct[99.0] / 1000, hist.get_max_value() / 1000,
                )
            )  # fmt: skip
    return pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))


def mean_us(hist: HdrHistogram) -> float:
    """``hist.get_mean_value()``, the same float, without the library's Python walk over every bucket up to
    the maximum: that took half a second of CPU per histogram, most of what a stopped run spent writing its
    files on a busy machine. Only buckets with counts are visited, each at its median-equivalent value."""
    if not hist.total_count:
        return 0.0
    # A decoded histogram's counts may stop short of counts_len: the rest are zeros.
    counts = np.ctypeslib.as_array(hist.counts)[: min(hist.counts_len, hist.encoder.payload.counts_len)]
    total = 0
    for index in np.flatnonzero(counts):
        total += int(counts[index]) * hist._hdr_median_equiv_value(hist.get_value_from_index(int(index)))
    return float(total) / hist.total_count


def _summary_row(request_type: str, name: str, hist: HdrHistogram, failures: int) -> dict[str, Any]:
    count = hist.get_total_count()
    row: dict[str, Any] = {"request_type": request_type, "name": name, "count": count, "failures": failures}
    if count == 0:  # only untimed requests: no latency to report
        row.update({c: float("nan") for c in LATENCY_COLUMNS[4:]})
        return row
    pct = hist.get_percentile_to_value_dict(list(_PERCENTILES.values()))
    row["min_ms"] = hist.get_min_value() / 1000.0
    row["mean_ms"] = mean_us(hist) / 1000.0
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
    try:
        failures = {k: int(v) for k, v in (doc.get("failures") or {}).items()}
    except (AttributeError, TypeError, ValueError):
        raise ResultsError(f"{path}: failures is not an object of counts") from None
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
