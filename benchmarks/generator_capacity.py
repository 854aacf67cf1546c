"""Guards the load generator's own capacity: CPU per operator request and per unit of device work,
each also as a ratio to a bare grpc.aio client measured side by side, memory per held device,
status latency while holding a fleet, and what our instrumentation adds to p50.

``setup_cache`` runs the capacity benchmark once (``python -m aranya_perf.capacity``, sizes
below: smaller than its defaults, so asv stays within minutes) in a subprocess and every
``track_`` reads its ``capacity.json``. A subprocess because half of the variants import Locust,
which would monkey-patch asv's benchmark process with gevent; the capacity benchmark starts
its own gateway and a child process per variant anyway, all on loopback.

asv treats every figure as "lower is better", so the ratios are tracked as costs: our CPU per
request over the bare client's (1.0 = as cheap as bare grpc.aio; the target is <= 1/0.95).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ARGS = [
    "--modes", "operators,device_work,instrumentation,hold",
    "--repeats", "1",
    "--fleet-devices", "300",
    "--devices", "2000",
    "--workers", "2",
    "--worker-devices", "2000",
    "--hold", "10s",
]  # fmt: skip
RUN_TIMEOUT_S = 420


def _figure(doc: dict[str, Any], *path: str) -> float:
    value: Any = doc["modes"]
    for key in path:
        if not isinstance(value, dict) or value.get(key) is None:
            mode = doc["modes"].get(path[0], {})
            raise RuntimeError(f"no {'.'.join(path)} in the capacity result: {mode.get('error', 'missing')}")
        value = value[key]
    return round(float(value), 3)


class GeneratorCapacity:
    timeout = float(RUN_TIMEOUT_S + 30)
    rounds = 1
    repeat = 1
    number = 1

    def setup_cache(self) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, "-m", "aranya_perf.capacity", *ARGS, "--out", tmp],
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
            files = sorted(Path(tmp).glob("capacity/*/capacity.json"))
            if not files:
                raise RuntimeError(
                    f"capacity run wrote no result (exit {proc.returncode}): {proc.stderr[-500:]}"
                )
            return json.loads(files[-1].read_text(encoding="utf-8"))

    def track_operator_cpu_per_request(self, doc: dict[str, Any]) -> float:
        runs = doc["modes"].get("operators", {}).get("runs", {}).get("ours", [])
        costs = sorted(r["us_per_req"] for r in runs if r.get("us_per_req") is not None)
        if not costs:
            raise RuntimeError("no operator run with figures")
        return round(costs[len(costs) // 2], 1)

    track_operator_cpu_per_request.unit = "us"  # type: ignore[attr-defined]

    def track_operator_cost_vs_bare(self, doc: dict[str, Any]) -> float:
        return round(1 / _figure(doc, "operators", "ratio"), 3)

    track_operator_cost_vs_bare.unit = "x bare"  # type: ignore[attr-defined]

    def track_device_cpu_per_work(self, doc: dict[str, Any]) -> float:
        return round(1e6 / _figure(doc, "device_work", "median", "ours"), 1)

    track_device_cpu_per_work.unit = "us"  # type: ignore[attr-defined]

    def track_device_cost_vs_bare(self, doc: dict[str, Any]) -> float:
        return round(1 / _figure(doc, "device_work", "ratio"), 3)

    track_device_cost_vs_bare.unit = "x bare"  # type: ignore[attr-defined]

    def track_rss_per_held_device(self, doc: dict[str, Any]) -> float:
        return _figure(doc, "hold", "single", "rss_kib_per_device")

    track_rss_per_held_device.unit = "KiB"  # type: ignore[attr-defined]

    def track_status_p99_held(self, doc: dict[str, Any]) -> float:
        return _figure(doc, "hold", "single", "status_p99_ms")

    track_status_p99_held.unit = "ms"  # type: ignore[attr-defined]

    def track_instrumentation_p50_added(self, doc: dict[str, Any]) -> float:
        return _figure(doc, "instrumentation", "overhead_pct")

    track_instrumentation_p50_added.unit = "%"  # type: ignore[attr-defined]
