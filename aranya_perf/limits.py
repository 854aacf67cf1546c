"""The upper bounds a run's numbers are held to before anything starts, and where their figures come from.

A bound here is not a performance target: it stops a typo (``--duration 9999999h``,
``--devices 1000000000``) from starting a run that cannot end or cannot be held, with a
message that says what to do instead.
"""

from __future__ import annotations

import os

MAX_DURATION_S = 7 * 86400.0
"""Longest duration any flag or profile key accepts: a week, longer than any soak we run."""

MAX_PAYLOAD_BYTES = 256 * 1024 * 1024
"""Largest payload size (``*_bytes``, ``*_size`` keys) a profile may ask for. Payloads are built in memory,
per call and per device; 16 times the largest gRPC message (``codec.MAX_MESSAGE_BYTES``; larger ones
travel in frames) is past any test we run, and below what would exhaust a machine by a typo."""

CONNECTIONS_PER_PROCESS = 20_000
"""Devices (or service clients) one generator process may hold, each on its own connection: one process's
file-descriptor limit on the machines we measured on (docs/benchmarks.md, "Generator capacity": 15,000
devices held in one process, 30,000 over two workers). Above it, a run needs ``--workers``."""

GATEWAY_DEVICES_PER_PROCESS = CONNECTIONS_PER_PROCESS
"""Devices one embedded gateway process may serve (the same file-descriptor limit on its side); above it,
``--gateway-processes``."""


def max_local_workers() -> int:
    """Local Locust worker processes a run may start: 4 per CPU core. Each is a whole Python process
    with its own event loop; more than that only shares the same cores."""
    return 4 * (os.cpu_count() or 1)


def format_duration(seconds: float) -> str:
    """``604800`` as ``7 days`` for messages."""
    days = seconds / 86400
    return f"{days:g} days" if days >= 1 else f"{seconds:g}s"
