"""What the processes of one run tell each other, over Locust's own messages and report events.

The same code serves a local run (``LocalRunner.send_message`` calls the handlers in place)
and Locust's distributed mode, whether the workers run on this machine or others:

- every ``report_to_master`` a worker sends carries its latency histograms recorded since the
  last one (``LatencyRecorder.export_delta``: exact, they add without loss), its fleet counts
  (devices held and online, streams opened) and its window counts (arrivals, missed starts);
  the master adds them up in a ``RunTally``;
- a connect storm (``send_storm``) reaches every process, which drops its share of devices;
- devices of a per-device address map are leased from the master in batches, as only the
  master's dispatcher knows which worker runs how many device users;
- the end of the measured window is a barrier (``close_window``, then ``flush``): every process
  closes its window, or delivers every result its engine still holds (device reports are handed
  over lazily, in batches) and reports, then sends a final report, then answers; the master waits
  for all answers, so the numbers it writes are every worker's, complete;
- a worker lost mid-run (its process exited, or its heartbeats stopped: ``RunTally.lose``) counts
  no more from then: its devices are offline; the barriers wait neither for it nor for a worker
  missing its heartbeats at that moment.
"""

from __future__ import annotations

import collections
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
from aranya_perf.loadtests.fleet import Lease, existing_plan, plan_for
from aranya_perf.loadtests.observe import observations_for
from aranya_perf.loadtests.settings import settings_for
from aranya_perf.loadtests.window import window_for

from aranya_perf.address_map import DeviceAddress
from aranya_perf.measure.latency import LatencyRecorder
from aranya_perf.profiles import Profile

LEASE, LEASED = "aranya_perf_lease", "aranya_perf_leased"
STORM = "aranya_perf_storm"
BARRIER, BARRIER_DONE = "aranya_perf_barrier", "aranya_perf_barrier_done"
REPORT_KEY = "aranya_perf"
LEASE_BATCH = 256
LEASE_TIMEOUT_S = 30.0
REQUEST_TYPE = "device"


def _is_worker(runner: Any) -> bool:
    return type(runner).__name__ == "WorkerRunner"


def _is_master(runner: Any) -> bool:
    return type(runner).__name__ == "MasterRunner"


# -- leases ------------------------------------------------------------------------------------------


def lease_from_master(environment: Any) -> Lease | None:
    """How a worker gets per-device entries (None elsewhere: a local run takes the map in order)."""
    runner = environment.runner
    if not _is_worker(runner):
        return None
    waiting: collections.deque[gevent.event.AsyncResult] = runner._aranya_perf_leases

    def lease(leased: int) -> list[DeviceAddress]:
        # Exactly what the master's dispatch asked this worker to run, so no entry sits unused here.
        wanted = int(runner.target_user_classes_count.get("DeviceUser", 0)) - leased
        result = gevent.event.AsyncResult()
        waiting.append(result)
        runner.send_message(LEASE, {"count": max(1, min(wanted, LEASE_BATCH))})
        return [DeviceAddress(*e) for e in result.get(timeout=LEASE_TIMEOUT_S)]

    return lease


def _on_lease(environment: Any, msg: Any) -> None:
    entries = plan_for(environment).take_batch(int(msg.data["count"]))
    environment.runner.send_message(
        LEASED, [[e.device_id, e.address, e.tls_server_name] for e in entries], client_id=msg.node_id
    )


def _on_leased(environment: Any, msg: Any) -> None:
    waiting = environment.runner._aranya_perf_leases
    if waiting:
        waiting.popleft().set(msg.data)


# -- storms ------------------------------------------------------------------------------------------


def send_storm(runner: Any, profile: Profile, index: int) -> None:
    """Tell every process of the run to drop its share of devices now (storm ``index`` of the profile)."""
    s = profile.shape
    data = {"index": index, "fraction": s.storm_fraction, "duplicate": s.storm_duplicate}
    runner.send_message(STORM, {**data, "seed": profile.run.seed})


def _on_storm(environment: Any, msg: Any) -> None:
    plan = existing_plan(environment)
    if plan is None or not plan.agents:
        return
    d = msg.data
    rng = random.Random(f"{d['seed']}-{d['index']}-{plan.settings.worker_index}")
    agents = sorted(plan.agents, key=lambda a: a.device_id)
    dropped = rng.sample(agents, round(len(agents) * d["fraction"]))
    duplicates = set(rng.sample(range(len(dropped)), round(len(dropped) * d["duplicate"])))
    from aranya_perf.loadtests.engine import get_engine

    async def drop_all() -> None:
        for i, agent in enumerate(dropped):
            agent.drop(duplicate=i in duplicates)

    get_engine().spawn(drop_all)


# -- the end of the window -------------------------------------------------------------------------


CLOSE, FLUSH = "close", "flush"


def _close_here(environment: Any, timeout: float) -> int:
    """Close this process's window: no new operator calls, those in flight finish (bounded), no more status
    pushes, devices not online reported. Returns the calls still in flight."""
    left = window_for(environment).close(timeout)
    plan = existing_plan(environment)
    if plan is not None:
        from aranya_perf.loadtests.engine import get_engine

        agents = list(plan.agents)

        async def pause() -> None:
            for agent in agents:
                agent.pause_status()

        get_engine().call(pause, timeout=10)
    report_offline(environment)
    return left


def _flush_here(timeout: float) -> int:
    """Before this process's final numbers: every result its engine has posted, lazily or not, has fired
    (device reports wait up to ``LAZY_FLUSH_S`` in the outbox). Returns 0 (no calls in flight)."""
    from aranya_perf.loadtests.engine import flush_engine

    flush_engine(timeout)
    return 0


def report_offline(environment: Any) -> int:
    """Report every device of this process that is not online as a failure (``device offline_at_end``):
    a device that never came back after a storm must not go unnoticed. Returns how many."""
    plan = existing_plan(environment)
    if plan is None:
        return 0
    offline = [a for a in plan.agents if not a.online]
    for agent in offline:
        environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name="offline_at_end",
            response_time=0,
            response_length=0,
            exception=ConnectionError(f"device {agent.device_id} not online at the end of the window"),
            context={},
        )
    return len(offline)


def barrier(runner: Any, step: str, timeout: float) -> dict[str, int]:
    """Run ``step`` (``CLOSE`` or ``FLUSH``) in every process of the run; a master waits for every worker's
    answer, which follows its final report. Returns {"workers": answered, "missing": not answered,
    "in_flight": operator calls still in flight after ``timeout``}."""
    environment = runner.environment
    if not _is_master(runner):
        left = _close_here(environment, timeout) if step == CLOSE else _flush_here(timeout)
        return {"workers": 1, "missing": 0, "in_flight": left}
    tally: RunTally = environment._aranya_perf_tally
    expected = {c.id for c in runner.clients.all if c.state != "missing"} - set(tally.lost)
    tally.barrier_answers[step] = {}
    runner.send_message(BARRIER, {"step": step, "timeout": timeout})
    deadline = time.monotonic() + timeout + 10
    while set(tally.barrier_answers[step]) < expected and time.monotonic() < deadline:
        gevent.sleep(0.05)
    answers = tally.barrier_answers[step]
    return {
        "workers": len(answers),
        "missing": len(expected - set(answers)),
        "in_flight": sum(int(a.get("in_flight", 0)) for a in answers.values()),
    }


# -- reports -----------------------------------------------------------------------------------------


@dataclass
class RunTally:
    """The master's sum of its workers: latency (into ``recorder``), fleet and window counts, per worker."""

    recorder: LatencyRecorder
    fleet: dict[str, dict[str, int]] = field(default_factory=dict)
    window: dict[str, dict[str, int]] = field(default_factory=dict)
    index: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    lost: dict[str, float] = field(default_factory=dict)
    """Workers lost (exited, or missing their heartbeats) -> when (unix s): their reports count no more."""
    requests: dict[str, dict[str, int]] = field(default_factory=dict)
    """Worker -> request kind -> requests it reported (from its histograms)."""
    failures: dict[str, dict[str, int]] = field(default_factory=dict)
    barrier_answers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    observations: list[dict[str, Any]] = field(default_factory=list)
    """What the workers' devices and operators observed (``aranya_perf.loadtests.observe``), in arrival
    order."""

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        part = data.get(REPORT_KEY)
        if not part or client_id in self.lost:
            return
        delta = part["latency"]
        self.recorder.import_delta(delta)
        self.index[client_id] = int(part.get("worker", -1))
        self.pids[client_id] = int(part.get("pid", 0))
        self.fleet[client_id] = dict(part.get("fleet") or {})
        self.window[client_id] = dict(part.get("window") or {})
        self.observations.extend(part.get("observations") or ())
        from hdrh.histogram import HdrHistogram

        mine = self.requests.setdefault(client_id, {})
        for key, blob in delta.get("histograms", {}).items():
            mine[key] = mine.get(key, 0) + HdrHistogram.decode(blob).get_total_count()
        fails = self.failures.setdefault(client_id, {})
        for key, n in delta.get("failures", {}).items():
            fails[key] = fails.get(key, 0) + int(n)

    def lose(self, client_id: str, at: float) -> int:
        """Worker ``client_id`` is gone since ``at``: its devices are offline from now on (what it measured
        until its last report stays). Returns how many devices it held."""
        self.lost.setdefault(client_id, at)
        fleet = self.fleet.setdefault(client_id, {})
        fleet["online"] = 0
        return int(fleet.get("devices", 0))

    def total(self, part: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for counts in getattr(self, part).values():
            for k, v in counts.items():
                out[k] = out.get(k, 0) + int(v)
        return out


def install_master(environment: Any, recorder: LatencyRecorder) -> RunTally:
    """The master's side: sum worker reports, hand out leases, collect barrier answers."""
    runner = environment.runner
    tally = RunTally(recorder)
    environment._aranya_perf_tally = tally
    environment.events.worker_report.add_listener(tally.on_worker_report)
    runner.register_message(LEASE, _on_lease)

    def on_done(environment: Any, msg: Any) -> None:
        tally.barrier_answers.setdefault(msg.data["step"], {})[msg.node_id] = msg.data

    runner.register_message(BARRIER_DONE, on_done)
    return tally


def install_local(environment: Any) -> None:
    """A local run's side: storms reach its own fleet; each test start opens the window."""
    environment.runner.register_message(STORM, _on_storm)
    environment.events.test_start.add_listener(lambda **_kw: window_for(environment).reopen())


def install_worker(environment: Any) -> LatencyRecorder:
    """A worker's side: record latency, put it and the counts in every report, obey storms and barriers."""
    runner = environment.runner
    recorder = LatencyRecorder(environment, follow_resets=False)
    runner._aranya_perf_leases = collections.deque()

    def on_test_start(environment: Any, **_kw: Any) -> None:
        # The master's spawn message has just brought the run's options: the profile is known now.
        recorder.keep_samples = settings_for(environment).profile.run.keep_samples
        window_for(environment).reopen()

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        plan = existing_plan(environment)
        data[REPORT_KEY] = {
            "latency": recorder.export_delta(),
            "fleet": plan.counts() if plan is not None else {},
            "window": window_for(environment).counts(),
            "worker": runner.worker_index,
            "pid": os.getpid(),
            "observations": observations_for(environment).take(),
        }

    def on_barrier(environment: Any, msg: Any) -> None:
        step = msg.data["step"]
        timeout = float(msg.data["timeout"])
        left = _close_here(environment, timeout) if step == CLOSE else _flush_here(timeout)
        if step == FLUSH:
            recorder.finish_intervals()  # the last interval goes with this report
        data: dict[str, Any] = {}
        environment.events.report_to_master.fire(client_id=runner.client_id, data=data)
        runner.send_message("stats", data)  # the message Locust's own stats reporter sends
        runner.send_message(BARRIER_DONE, {"step": step, "in_flight": left})

    environment.events.test_start.add_listener(on_test_start)
    environment.events.report_to_master.add_listener(on_report)
    runner.register_message(LEASED, _on_leased)
    runner.register_message(STORM, _on_storm)
    runner.register_message(BARRIER, on_barrier, concurrent=True)
    return recorder
