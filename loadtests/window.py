"""The measured window of one Locust process, and what its users count besides requests.

A run measures from the start of the load until its window closes. Closing is how both
sides' counts come to agree exactly: operators stop issuing calls and wait for those in
flight, devices stop pushing status, and only then does the gateway drain and do the
generator's numbers get reported (``distributed`` sends the close to every worker). The
open-model scheduler counts here how many arrivals it started late.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gevent

CLOSE_POLL_S = 0.02


@dataclass
class Window:
    open: bool = True
    opened_at: float | None = None
    """``time.perf_counter()`` when this process's test started (Locust's test_start): the shape's origin."""
    # Calls in flight = started - finished. Each counter has one writer thread (closed-model calls
    # start in greenlets, open-model ones on the loop, every report fires in a greenlet), so no
    # increment is lost between threads.
    started_closed: int = 0
    started_open: int = 0
    abandoned_open: int = 0
    """Loop-side starts that found the window closed (``start_on_loop``) and made no call."""
    finished: int = 0
    missed_starts: int = 0
    """Open-model arrivals the generator started later than ``MISSED_START_MS`` with a free slot:
    the generator could not keep the schedule."""
    queued_starts: int = 0
    """Open-model arrivals that waited for a free in-flight slot (the target was slow)."""
    arrivals: int = 0
    messages_sent: int = 0
    """Scenario grpc: request messages written (loop thread only), every method kind."""
    messages_received: int = 0
    """Scenario grpc: response messages read (loop thread only)."""

    def counts(self) -> dict[str, int]:
        return {
            "missed_starts": self.missed_starts,
            "queued_starts": self.queued_starts,
            "arrivals": self.arrivals,
            "calls_in_flight": self.calls_in_flight,
            "messages_sent": self.messages_sent,
            "messages_received": self.messages_received,
        }

    @property
    def calls_in_flight(self) -> int:
        return self.started_closed + self.started_open - self.abandoned_open - self.finished

    def start_on_loop(self) -> bool:
        """From the loop thread, before an operator call: count it in flight and say whether to make it.

        Counted first, checked second: ``close`` (in another thread) clears ``open`` first and reads
        the count second, so either it waits for this call or this call sees the window closed.
        """
        self.started_open += 1
        if self.open:
            return True
        self.abandoned_open += 1
        return False

    def reopen(self) -> None:
        """A test starts (again, from the web UI): measure from now."""
        self.open = True
        self.opened_at = time.perf_counter()

    def close(self, timeout: float) -> int:
        """Stop new operator calls; wait (gevent) up to ``timeout`` for those in flight. Returns how many
        were still in flight."""
        self.open = False
        deadline = time.monotonic() + timeout
        while self.calls_in_flight > 0 and time.monotonic() < deadline:
            gevent.sleep(CLOSE_POLL_S)
        return self.calls_in_flight


_ATTR = "_aranya_perf_window"


def window_for(environment: Any) -> Window:
    window = getattr(environment, _ATTR, None)
    if window is None:
        window = Window()
        setattr(environment, _ATTR, window)
    return window
