"""How a serving verb (``gateway``, ``link``) runs until it is told to stop: SIGINT or SIGTERM, or the
end of its ``--run-time``, whichever comes first."""

from __future__ import annotations

import asyncio
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def serve_until_stopped(run_time: float | None) -> None:
    """Wait on the running loop for a stop signal or ``run_time`` seconds (None: no limit).

    Called right after the verb prints its ready line, with no await in between, so a signal
    sent on reading that line already finds the handlers in place.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), run_time)
    except TimeoutError:
        pass
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
