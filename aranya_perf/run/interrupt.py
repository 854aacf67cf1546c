"""Stop signals of a run: SIGINT (Ctrl-C), SIGTERM (CI time-outs, Kubernetes, systemd) and SIGHUP (a closed
terminal) take one path; a second signal forces a fast exit.

Rules (``StopSignals``, installed by ``run_profile`` from the main thread):

- while the run starts (``arm``), the first signal raises ``Interrupted`` in the main greenlet: a
  ``KeyboardInterrupt``, so it unwinds whatever was starting exactly as Ctrl-C always did;
- while the results directory is being created, and from the window's opening on (``defer``), the
  first signal is only noted (``received``): the window closes early at the next tick of the measure
  loop and every file is written as at a normal end, so a signal after the window closed, or while
  the report is written, loses nothing (``arm`` raises a signal noted before it);
- a second signal of any kind runs ``on_force`` (the partial result marked as such) and leaves at once
  with ``os._exit``: the children get their parent-death signal (``child_process.dies_with_parent``);
- the run exits 128 + the number of the signal that ended it: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import gevent
import greenlet

from aranya_perf import results

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived while the run was starting."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(signum: int) -> int:
    """The shell's code for a process ended by ``signum``: 128 + its number."""
    return 128 + signum


def reason(signum: int) -> str:
    return f"interrupted by {signal.Signals(signum).name}"


class StopSignals:
    """See the module docstring. ``on_force(first, second)`` gets both signals' numbers; it must be quick."""

    def __init__(self, on_force: Callable[[int, int], None]) -> None:
        self.on_force = on_force
        self.received: int | None = None
        """The first stop signal's number, None while there was none."""
        self._deferred = False
        self._main: greenlet.greenlet | None = None

    def defer(self) -> None:
        """From now on, note the first signal instead of raising it."""
        self._deferred = True

    def arm(self) -> None:
        """From now on, raise the first signal; ``Interrupted`` at once if one was noted already."""
        if self.received is not None:
            raise Interrupted(self.received)
        self._deferred = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """The handlers, in place while the block runs (enter it from the main thread); armed at first."""
        self._main = greenlet.getcurrent()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            self._force(self.received, signum)
        self.received = signum
        if self._deferred:
            return
        self._deferred = True  # the unwinding that follows is not to be raised into again
        # Not raised here: the handler runs wherever the main thread happens to be (the hub, a user's
        # greenlet, a finalizer that swallows the exception). The hub throws it into the main greenlet
        # at its next switch, which during start-up (waits, sleeps, child processes) comes soon.
        assert self._main is not None
        gevent.get_hub().loop.run_callback(self._main.throw, Interrupted(signum))

    def _force(self, first: int, signum: int) -> None:
        name = signal.Signals(signum).name
        try:
            self.on_force(first, signum)
        finally:
            sys.stderr.write(f"aranya-perf run: {name} while stopping: leaving at once\n")
            sys.stderr.flush()
            os._exit(exit_code(signum))


def mark_forced(run_dir: Path, first: int, second: int) -> None:
    """``meta.json`` of a run left at once: status ``interrupted``, saying its files may be incomplete."""
    with contextlib.suppress(results.ResultsError, OSError):
        meta = results.read_meta(run_dir)
        meta.update(
            status="interrupted",
            reason=f"{reason(first)}; {signal.Signals(second).name} forced the exit before every file "
            "was written",
            finished_at=results.utc_now_iso(),
        )
        results.write_meta(run_dir, meta)
