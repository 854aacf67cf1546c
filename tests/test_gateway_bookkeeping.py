"""The gateway's per-command bookkeeping in plain Python: session deadlines on one heap and one timer,
the writer's outbox, and metrics kept as plain numbers that a scrape reads as prometheus_client's own."""

from __future__ import annotations

import asyncio
import random

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from aranya_perf.gateway.link import Deadlines, Outbox
from aranya_perf.gateway.metrics import RTT_BUCKETS, _Histograms, _Level, parse_metrics
from aranya_perf.gateway.operations import Operation


class _Link:
    """What ``Deadlines`` reads and calls back: a link's open sessions by sid, and ``expire``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sessions: dict[int, Operation] = {}
        self.expired: list[tuple[int, float]] = []

    def expire(self, op: Operation) -> None:
        self.expired.append((op.sid, self.loop.time()))
        op.finished = True


def _add(deadlines: Deadlines, link: _Link, sid: int, when: float) -> Operation:
    op = Operation()
    op.sid, op.finished = sid, False
    link.sessions[sid] = op
    deadlines.add(when, link, sid)  # type: ignore[arg-type]
    return op


def test_deadlines_expire_open_sessions_only_in_order_and_never_early() -> None:
    async def main() -> list[tuple[int, float]]:
        loop = asyncio.get_running_loop()
        link, deadlines = _Link(loop), Deadlines(loop)
        t0 = loop.time()
        _add(deadlines, link, 1, t0 + 0.20)
        _add(deadlines, link, 2, t0 + 0.05)  # earlier than the armed timer: re-armed
        answered = _add(deadlines, link, 3, t0 + 0.10)
        _add(deadlines, link, 4, t0 + 0.10)  # an equal deadline
        _add(deadlines, link, 5, t0 + 0.15)
        answered.finished = True  # answered: its entry is dropped when it comes up
        del link.sessions[5]  # closed (the link dropped it): nothing to expire
        await asyncio.sleep(0.35)
        return [(sid, at - t0) for sid, at in link.expired]

    expired = asyncio.run(main())
    assert [sid for sid, _ in expired] == [2, 4, 1]
    deadline = {2: 0.05, 4: 0.10, 1: 0.20}
    assert all(after >= deadline[sid] for sid, after in expired), expired


def test_deadlines_keep_firing_after_a_quiet_spell() -> None:
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        link, deadlines = _Link(loop), Deadlines(loop)
        _add(deadlines, link, 1, loop.time() + 0.02)
        await asyncio.sleep(0.05)  # fired; nothing armed now
        _add(deadlines, link, 2, loop.time() + 0.02)
        await asyncio.sleep(0.05)
        return [sid for sid, _ in link.expired]

    assert asyncio.run(main()) == [1, 2]


def test_outbox_hands_items_to_a_waiting_writer_in_order() -> None:
    async def main() -> list[object]:
        box = Outbox(asyncio.get_running_loop())
        got: list[object] = []

        async def writer() -> None:
            while True:
                if not box.items:
                    await box.wait()
                    continue
                item = box.items.popleft()
                if item is None:
                    return
                got.append(item[0])

        task = asyncio.get_running_loop().create_task(writer())
        await asyncio.sleep(0)  # the writer waits on an empty box
        box.put_nowait((b"a", (), None))
        box.put_nowait((b"b", (), None))
        await asyncio.sleep(0)
        box.put_nowait((b"c", (), None))
        box.put_nowait(None)
        await asyncio.wait_for(task, 1)
        return got

    assert asyncio.run(main()) == [b"a", b"b", b"c"]


def test_plain_metrics_expose_what_prometheus_client_would() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("x_seconds", "d", ["kind"], buckets=RTT_BUCKETS, registry=theirs)
    plain = _Histograms("x_seconds", "d", ["kind"], RTT_BUCKETS, ours)
    rng = random.Random(7)
    # bounds themselves (a value on a bound counts in that bucket), values between them, above the last
    values = [rng.choice(RTT_BUCKETS) for _ in range(300)] + [rng.random() * 40 for _ in range(300)]
    for i, value in enumerate(values):
        reference.labels(f"k{i % 2}").observe(value)
        plain.labels(f"k{i % 2}").observe(value)
    exposed = parse_metrics(generate_latest(theirs).decode())
    expected = {k: v for k, v in exposed.items() if "_created" not in k}
    assert parse_metrics(generate_latest(ours).decode()) == expected
    level = _Level("open", "d", ours)
    level.inc()
    level.inc()
    level.dec()
    assert parse_metrics(generate_latest(ours).decode())["open"] == 1.0
