"""Tests for aranya_perf.session: sid allocation, the live-session table, outgoing seqs."""

from __future__ import annotations

import time

import pytest

from aranya_perf.codec import Reassembler
from aranya_perf.session import MAX_SID, Session, SessionIds, SessionTable

EXEC, NODE_INFO, LOGS = 12, 11, 14


def test_ids_count_up_from_start() -> None:
    ids = SessionIds()
    assert [ids.next() for _ in range(3)] == [1, 2, 3]
    ids = SessionIds(start=100)
    assert [ids.next() for _ in range(2)] == [100, 101]


def test_ids_skip_zero() -> None:
    assert SessionIds(start=0).next() == 1


def test_ids_wrap_after_max_to_one() -> None:
    assert MAX_SID == 2**64 - 1
    ids = SessionIds(start=MAX_SID - 1)
    assert [ids.next() for _ in range(4)] == [MAX_SID - 1, MAX_SID, 1, 2]


@pytest.mark.parametrize("bad", [-1, MAX_SID + 1])
def test_ids_reject_out_of_range_start(bad: int) -> None:
    with pytest.raises(ValueError):
        SessionIds(start=bad)


def test_open_get_close() -> None:
    table = SessionTable()
    s = table.open(Session(EXEC), now=10.0)
    assert s.sid == 1 and s.kind == EXEC and s.opened_at == 10.0 and s.deadline is None
    assert isinstance(s.rx, Reassembler)
    assert table.get(1) is s
    assert 1 in table and 2 not in table
    assert len(table) == 1
    assert table.close(1) is s
    assert table.get(1) is None and 1 not in table and len(table) == 0
    assert table.close(1) is None


def test_each_session_gets_its_own_reassembler() -> None:
    table = SessionTable()
    a, b = table.open(Session(1), now=0), table.open(Session(1), now=0)
    assert a.sid != b.sid and a.rx is not b.rx


def test_timeout_sets_deadline() -> None:
    table = SessionTable()
    assert table.open(Session(1), now=5.0, timeout=2.5).deadline == 7.5
    assert table.open(Session(1), now=5.0, timeout=0).deadline is None
    assert table.open(Session(1), now=5.0, timeout=None).deadline is None


def test_open_with_explicit_sid() -> None:
    table = SessionTable()
    s = table.open(Session(NODE_INFO), now=0, sid=12345)
    assert s.sid == 12345 and table.get(12345) is s
    with pytest.raises(ValueError, match="12345"):
        table.open(Session(NODE_INFO), now=0, sid=12345)
    assert table.get(12345) is s  # the live session is untouched


@pytest.mark.parametrize("bad", [-1, MAX_SID + 1])
def test_open_rejects_explicit_sid_outside_uint64(bad: int) -> None:
    with pytest.raises(ValueError):
        SessionTable().open(Session(1), now=0, sid=bad)


def test_explicit_sid_zero_is_accepted_but_never_generated() -> None:
    # A device answers whatever sid the controller used; the table itself never picks 0.
    table = SessionTable(SessionIds(start=MAX_SID))
    assert table.open(Session(1), now=0, sid=0).sid == 0
    assert [table.open(Session(1), now=0).sid for _ in range(2)] == [MAX_SID, 1]


def test_generated_sids_skip_live_sessions() -> None:
    table = SessionTable(SessionIds(start=1))
    table.open(Session(1), now=0, sid=2)
    table.open(Session(1), now=0, sid=3)
    assert table.open(Session(1), now=0).sid == 1
    assert table.open(Session(1), now=0).sid == 4  # 2 and 3 are live
    table.close(2)
    assert table.open(Session(1), now=0).sid == 5  # the allocator does not go back


def test_collision_after_wrap_is_skipped() -> None:
    ids = SessionIds(start=MAX_SID)
    table = SessionTable(ids)
    table.open(Session(1), now=0, sid=1)  # a long-lived session holding the id the wrap lands on
    assert table.open(Session(1), now=0).sid == MAX_SID
    assert table.open(Session(1), now=0).sid == 2


def test_expired_removes_and_returns_only_due_sessions() -> None:
    table = SessionTable()
    due = table.open(Session(1), now=0, timeout=1.0)
    exact = table.open(Session(1), now=0, timeout=2.0)
    later = table.open(Session(1), now=0, timeout=3.0)
    forever = table.open(Session(1), now=0)
    assert table.expired(0.5) == []
    assert sorted(s.sid for s in table.expired(2.0)) == [due.sid, exact.sid]  # deadline <= now
    assert due.sid not in table and exact.sid not in table
    assert later.sid in table and forever.sid in table
    assert table.expired(2.0) == []
    assert table.expired(1e12) == [later]
    assert list(table) == [forever]


def test_expired_honours_a_moved_deadline() -> None:
    table = SessionTable()
    s = table.open(Session(1), now=0, timeout=1.0)
    s.deadline = 10.0  # e.g. extended on activity
    assert table.expired(5.0) == []
    assert table.expired(10.0) == [s]


def test_iteration_is_over_sessions_and_tolerates_closing() -> None:
    table = SessionTable()
    opened = [table.open(Session(1), now=0) for _ in range(3)]
    assert list(table) == opened
    for s in table:
        table.close(s.sid)
    assert len(table) == 0


def test_clock_origin_starts_after_now_in_ns() -> None:
    # aranya's session manager starts at time.Now().UnixNano() and hands out that plus one, ...
    before = time.time_ns()
    ids = SessionIds.from_clock()
    first = ids.next()
    assert before < first <= time.time_ns() + 1
    assert ids.next() == first + 1


def test_take_seq() -> None:
    s = Session(LOGS)
    assert [s.take_seq() for _ in range(3)] == [0, 1, 2]
    assert s.next_seq == 3
