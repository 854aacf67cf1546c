"""The measured window's count of operator calls in flight, which its close waits for."""

from __future__ import annotations

import threading

from aranya_perf.loadtests.window import Window


def test_close_waits_for_calls_in_flight_and_later_starts_make_no_call() -> None:
    window = Window()
    assert window.start_on_loop() and window.calls_in_flight == 1
    # The call's report lands while close waits for it (from another thread, as the loop's would).
    threading.Timer(0.1, lambda: setattr(window, "finished", window.finished + 1)).start()
    assert window.close(timeout=5.0) == 0
    # Once closed, a loop-side start is counted and taken back at once: nothing left in flight.
    assert not window.start_on_loop()
    assert (window.started_open, window.abandoned_open, window.calls_in_flight) == (2, 1, 0)
    window.reopen()
    assert window.open and window.start_on_loop()


def test_close_gives_up_after_its_timeout_and_says_how_many_are_left() -> None:
    window = Window()
    window.started_closed += 2
    window.finished += 1
    assert window.close(timeout=0.05) == 1 and not window.open
