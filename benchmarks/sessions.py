"""Guards session multiplexing on one device stream: finding, opening, closing sessions among many live ones.

``aranya_perf.session.SessionTable`` is consulted for every frame on both ends.
With ``live`` sessions already open, ``time_dispatch`` looks up 1,000 live sids
in a fixed random order and takes each session's next seq (the per-frame work);
``time_open_close`` opens 1,000 fresh sessions and closes them again (per-command
churn). Figures are per batch of 1,000 operations.
"""

from __future__ import annotations

import random

from aranya_perf.session import Session, SessionTable

BATCH = 1000
SEED = 20240601
NOW = 1000.0
EXEC = 12  # the kind a session was opened with only labels it


class SessionDispatch:
    params = [10, 1000, 10_000]
    param_names = ["live"]
    timeout = 60.0

    def setup(self, live: int) -> None:
        self.table = SessionTable()
        sids = [self.table.open(Session(EXEC), now=NOW, timeout=10.0).sid for _ in range(live)]
        rng = random.Random(SEED)
        self.lookups = [rng.choice(sids) for _ in range(BATCH)]

    def time_dispatch(self, live: int) -> None:
        get = self.table.get
        for sid in self.lookups:
            get(sid).take_seq()  # type: ignore[union-attr]

    def time_open_close(self, live: int) -> None:
        table = self.table
        opened = [table.open(Session(EXEC), now=NOW, timeout=10.0).sid for _ in range(BATCH)]
        for sid in opened:
            table.close(sid)
