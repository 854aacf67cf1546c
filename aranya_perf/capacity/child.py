"""The child-process side of the capacity benchmark: one measured variant per process.

``python -m aranya_perf.capacity.child SPEC_JSON`` runs the variant ``SPEC["variant"]`` and
talks to the parent in lines on stdout: ``PHASE {"name", "budget_s"}`` when a phase starts
(the parent kills a child that overruns the budget it announced), ``READY {...}`` when a
long-lived helper is ready, and ``RESULT {...}`` once, at the end. The parent steers
barriers with lines on stdin (``go``). Logging goes to stderr.

Only the standard library is imported here: a variant's module decides the process's set-up
(``ours`` and ``engines`` import Locust first, so gevent patches the process before grpc
loads; ``bare`` never imports gevent).
"""

from __future__ import annotations

import importlib
import json
import os
import select
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

Spec = dict[str, Any]
Result = dict[str, Any]

VARIANTS: dict[str, str] = {
    "ours_operators": "aranya_perf.capacity.ours:operators",
    "ours_fleet": "aranya_perf.capacity.ours:fleet",
    "ours_hold": "aranya_perf.capacity.ours:hold",
    "bare_operators": "aranya_perf.capacity.bare:operators",
    "bare_fleet": "aranya_perf.capacity.bare:fleet",
    "device_host": "aranya_perf.capacity.bare:device_host",
    "bare_server": "aranya_perf.capacity.bare:server",
    "gateway_fleet": "aranya_perf.capacity.bare:gateway_fleet",
    "ours_etcd_kv": "aranya_perf.capacity.ours:etcd_kv",
    "bare_etcd_kv": "aranya_perf.capacity.bare:etcd_kv",
    "ours_grpc_unary": "aranya_perf.capacity.ours:grpc_unary",
    "bare_grpc_unary": "aranya_perf.capacity.bare:grpc_unary",
    "echo_server": "aranya_perf.capacity.echo:serve",
    "stall_grpcio": "aranya_perf.capacity.engines:stall_grpcio",
    "stall_engine": "aranya_perf.capacity.engines:stall_engine",
    "unary_grpcio": "aranya_perf.capacity.engines:unary_grpcio",
    "unary_engine_call": "aranya_perf.capacity.engines:unary_engine_call",
    "unary_aio": "aranya_perf.capacity.engines:unary_aio",
    "unary_engine_loop": "aranya_perf.capacity.engines:unary_engine_loop",
}


def emit(tag: str, payload: Any) -> None:
    sys.stdout.write(f"{tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


def phase(name: str, budget_s: float) -> None:
    """Tell the parent a phase starts and how long it may take before the child counts as stalled."""
    emit("PHASE", {"name": name, "budget_s": budget_s})


def wait_go(sleep: Callable[[float], Any], timeout: float) -> bool:
    """Wait (polling, so a gevent hub keeps running) for the parent's ``go`` line; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select([0], [], [], 0)
        if readable:
            line = os.read(0, 64)
            return line.startswith(b"go")
        sleep(0.05)
    return False


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def main(argv: list[str]) -> None:
    spec: Spec = json.loads(argv[1])
    module_name, _, function = VARIANTS[spec["variant"]].partition(":")
    try:
        result = getattr(importlib.import_module(module_name), function)(spec)
    except BaseException as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    emit("RESULT", result)
    # Skip interpreter shutdown: streams, channels and the engine thread may still be live.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
