"""Session bookkeeping shared by both ends of a device stream.

A session is one command and everything answering it: the controller picks a fresh
session id (sid) per command, both sides number the frames they send in it, and the
receiver reassembles the other side's frames. ``SessionTable`` multiplexes the live
sessions of one stream; it is on the hot path of every frame, so lookups are plain dict
operations. The gateway keeps its per-command state in subclasses of ``Session``, so one
table is the only record of a stream's sessions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TypeVar

from aranya_perf.codec import Reassembler

MAX_SID = 2**64 - 1


class SessionIds:
    """Allocates session ids: unique among live sessions, never 0 (0 means "no session"), wrap at 2**64."""

    def __init__(self, start: int = 1) -> None:
        if not 0 <= start <= MAX_SID:
            raise ValueError(f"session id start must be in 0..{MAX_SID}, got {start}")
        self._next = start or 1

    @classmethod
    def from_clock(cls) -> SessionIds:
        """aranya's origin: its session manager starts at the current Unix time in nanoseconds and hands
        out that plus one, plus two, ..."""
        return cls(time.time_ns() + 1)

    def next(self) -> int:
        """The next id: start, start+1, ..., MAX_SID, then 1 again (0 is skipped)."""
        sid = self._next
        self._next = sid + 1 if sid < MAX_SID else 1
        return sid


class Session:
    """One live session on one stream. Subclasses add what their side waits for."""

    __slots__ = ("deadline", "kind", "next_seq", "opened_at", "rx", "sid")

    def __init__(self, kind: int) -> None:
        self.kind = kind  # the Cmd kind that opened it
        self.sid = 0
        self.opened_at = 0.0  # monotonic clock of the table's user
        self.deadline: float | None = None  # None = no timeout
        self.next_seq = 0  # seq of the next frame this side sends
        self.rx = Reassembler()

    def take_seq(self) -> int:
        """Return the seq for the next outgoing frame and advance."""
        seq = self.next_seq
        self.next_seq = seq + 1
        return seq


S = TypeVar("S", bound=Session)


class SessionTable:
    """Live sessions on one stream, by sid."""

    __slots__ = ("_sessions", "ids")

    def __init__(self, ids: SessionIds | None = None) -> None:
        self.ids = ids if ids is not None else SessionIds()
        self._sessions: dict[int, Session] = {}

    def open(self, session: S, *, now: float, timeout: float | None = None, sid: int | None = None) -> S:
        """Register ``session`` under a fresh sid (or the given one, as a device does for the controller's).

        ``timeout`` of None or 0 means no deadline. An explicit sid is taken as given, even
        0, because a device must answer whatever id the controller chose; only a live one
        (or one outside uint64) raises ``ValueError``.
        """
        sessions = self._sessions
        if sid is None:
            sid = self.ids.next()
            # After a wrap the allocator can hand out a sid a long-lived session still holds.
            while sid in sessions:
                sid = self.ids.next()
        elif sid in sessions:
            raise ValueError(f"session {sid} is already open")
        elif not 0 <= sid <= MAX_SID:
            raise ValueError(f"session id must be in 0..{MAX_SID}, got {sid}")
        session.sid = sid
        session.opened_at = now
        session.deadline = now + timeout if timeout else None
        sessions[sid] = session
        return session

    def get(self, sid: int) -> Session | None:
        return self._sessions.get(sid)

    def close(self, sid: int) -> Session | None:
        """Remove and return the session, or None if it is not open."""
        return self._sessions.pop(sid, None)

    def expired(self, now: float) -> list[Session]:
        """Remove and return sessions whose deadline has passed."""
        sessions = self._sessions
        # A scan rather than a deadline heap: callers sweep periodically, not per frame, and
        # a scan stays right when a caller moves a session's deadline after opening it.
        gone = [s for s in sessions.values() if s.deadline is not None and s.deadline <= now]
        for s in gone:
            del sessions[s.sid]
        return gone

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, sid: object) -> bool:
        return sid in self._sessions

    def __iter__(self) -> Iterator[Session]:
        """Iterate over a snapshot of the live sessions, so closing during iteration is safe."""
        return iter(tuple(self._sessions.values()))
