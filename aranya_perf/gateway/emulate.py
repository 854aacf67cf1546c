"""aranya's known defects, played on demand by the reference gateway (``--emulate NAME``).

The reference gateway follows aranya's intended rules; with an emulation it misbehaves the
way aranya's own connectivity code was seen to, so a test can prove the suite notices. Each
name below is one defect, described in our words (docs/findings.md has the worked examples):

``aranya-duplicate-lockout``
    A second stream claiming a device id that a live stream holds is answered wrongly:
    the ALREADY_CONNECTED reject goes to the *original* stream (which stays open), the
    newcomer is closed without a word, and from then on the listener closes every new
    connection at once. aranya runs a listener per device, so with ``listener_per_device``
    the lock is that listener's; on a shared listener it is the duplicated device id's.
``aranya-sid0-timeout``
    A session past its deadline is timed out on session id 0 instead of its own, so nobody
    waiting on it is told: the session stays open and its waiter waits on. One unanswered
    command of the connect sequence (say the pod list) keeps the device from ever coming
    online, and an operator call to a silent device ends only at the operator's own deadline.
``aranya-timer-leak``
    A finished stream session (exec, logs, port-forward) leaves its deadline behind in a
    gateway-wide timeout queue (it is removed under the wrong key), and the queue is sorted
    each time a session opens, with a sort that is not adaptive (``Defects.on_open`` says
    why). Entries leave only when their deadline passes, so under steady exec load the
    queue grows for a whole session timeout and the CPU per command grows with it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

DUPLICATE_LOCKOUT = "aranya-duplicate-lockout"
SID0_TIMEOUT = "aranya-sid0-timeout"
TIMER_LEAK = "aranya-timer-leak"
NAMES = (DUPLICATE_LOCKOUT, SID0_TIMEOUT, TIMER_LEAK)

LEAKED_TIMER_S = 600.0
"""How long a leaked deadline stays queued: aranya's default session timeout (10 minutes)."""


def check(names: Iterable[str]) -> tuple[str, ...]:
    """The names, deduplicated in order; ``ValueError`` naming the known ones for any other."""
    out: list[str] = []
    for name in names:
        if name not in NAMES:
            raise ValueError(f"unknown emulation {name!r}; known: {', '.join(NAMES)}")
        if name not in out:
            out.append(name)
    return tuple(out)


class _Timer:
    """A queued deadline, ordered through a method call as Go's ``sort.Interface`` orders aranya's."""

    __slots__ = ("deadline",)

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __lt__(self, other: _Timer) -> bool:
        return self.deadline < other.deadline


class Defects:
    """The emulations one gateway plays, and the state they need; shared by every listener and stream."""

    __slots__ = ("duplicate_lockout", "leaked", "locked", "sid0_timeout", "timer_leak")

    def __init__(self, names: Iterable[str] = ()) -> None:
        chosen = set(check(names))
        self.duplicate_lockout = DUPLICATE_LOCKOUT in chosen
        self.sid0_timeout = SID0_TIMEOUT in chosen
        self.timer_leak = TIMER_LEAK in chosen
        self.locked: set[str] = set()
        """Listener keys (device id, or the listener's own id) that close every new stream."""
        self.leaked: list[float] = []
        """Deadlines of finished stream sessions still in the timeout queue (loop time)."""

    def lock(self, key: str) -> None:
        self.locked.add(key)

    def is_locked(self, key: str | None) -> bool:
        return key is not None and key in self.locked

    def leak(self, deadline: float) -> None:
        """A finished stream session's deadline stays queued."""
        self.leaked.append(deadline)

    def on_open(self, now: float) -> None:
        """A session opens: the timeout queue is sorted and its expired head dropped, as aranya's is.

        The sort must cost what aranya's does, or the defect cannot be seen at a scale a test can run.
        aranya sorts with Go's sort: not adaptive (O(n log n) comparisons on every open, even of a queue
        already in order) and each comparison a call through the sort's interface (``Less``); after a
        minute of exec load it was 41 % of the controller's CPU. Python's ``list.sort`` is adaptive (O(n)
        on a list in order, which this queue always nearly is: finished sessions append later deadlines)
        and compares floats in C (a heapsort of floats too: 0.4 ms per open at 1,700 deadlines, and a
        minute of 30 execs a second showed no growth of the gateway's CPU per exec). So the queue is
        heap-sorted here, O(n log n) whatever its order, each comparison a Python-level call
        (``_Timer.__lt__``): about 2 ms per open at 1,700 leaked deadlines, a cost next to the gateway's
        own work per exec of the same order as aranya's next to its own.
        """
        queue = self.leaked
        if not queue:
            return
        heap = [_Timer(deadline) for deadline in queue]
        heapq.heapify(heap)
        queue[:] = [heapq.heappop(heap).deadline for _ in range(len(heap))]
        expired = 0
        for deadline in queue:
            if deadline > now:
                break
            expired += 1
        if expired:
            del queue[:expired]
