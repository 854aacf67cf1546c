"""How a serving verb (``gateway``, ``link``) runs until it is told to stop: SIGINT or SIGTERM, or the
end of its ``--run-time``, whichever comes first."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def serve_until_stopped(run_time: float | None, ready: dict[str, Any]) -> None:
    """Print the verb's ``ready`` line, then wait on the running loop for a stop signal or ``run_time``
    seconds (None: no limit).

    The handlers are in place before the line is written: a parent that sends SIGTERM as soon as it
    has read the line must get a clean stop, not the default action's death by signal.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        await asyncio.wait_for(stop.wait(), run_time)
    except TimeoutError:
        pass
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
