"""The etcd scenario's side of a run: its cluster (started on loopback or given) and the work around
the window, with etcdctl check perf against the same cluster.

Order, and where the history is compacted (``[etcd] compact``; Range gets 10-20x slower after a
mass delete until the next compaction, a known etcd 3.4 trap):

1. before the window: delete the run's prefix (what an interrupted earlier run left), write the
   key space once, **compact** at that revision; record the revision;
2. the window (our load);
3. after it: record the revision (successful Puts = its growth), **compact**;
4. ``etcdctl check perf`` (its 60 s, never during our load), which deletes its keys itself;
   ``checkperf`` deletes what is left and **compacts** (result: ``etcd_check_perf.json``);
5. at the end: delete the run's prefix, **compact** at the last revision, so a cluster
   someone else runs is left as it was found, less its compacted history.

Everything here runs in the run's (gevent) process, so it talks to etcd through etcdctl and a
child process (``keyspace.preload_in_child``), never a blocking gRPC client of its own.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from aranya_perf.address_map import AddressMap
from aranya_perf.etcd.checkperf import CheckPerfResult, run_check_perf
from aranya_perf.etcd.cluster import EtcdClusterError, EtcdClusterProcess
from aranya_perf.etcd.ctl import Etcdctl, EtcdctlError
from aranya_perf.etcd.keyspace import preload_in_child
from aranya_perf.profiles import Profile
from aranya_perf.results import EventLog, RunFiles, atomic_write_json
from aranya_perf.run.target import RemoteTarget, Target, TargetStartError

CHECK_PERF_FILE = RunFiles.ETCD_CHECK_PERF


class EtcdTarget(Target):
    """The run's own etcd cluster: ``aranya-perf etcd-cluster`` as a child process, members sampled."""

    cluster: EtcdClusterProcess

    def lost(self) -> str | None:
        proc = self.cluster.proc
        if proc is None or proc.poll() is not None:
            return f"the etcd cluster exited (code {None if proc is None else proc.returncode})"
        return None

    def close(self) -> None:
        self.cluster.stop()


def start_cluster(p: Profile, run_dir: Path) -> EtcdTarget:
    """Start ``[etcd] members`` members on loopback; their log goes to ``etcd-cluster.log``."""
    log = open(run_dir / RunFiles.ETCD_LOG, "ab")  # noqa: SIM115 - the child writes it for the whole run
    try:
        cluster = EtcdClusterProcess(["--members", str(p.etcd.members)], stderr=log).start()
    except EtcdClusterError as exc:
        raise TargetStartError(str(exc)) from None
    finally:
        log.close()  # the child holds its own descriptor
    endpoints = tuple(cluster.endpoints)
    target = EtcdTarget(
        AddressMap("embedded etcd", shards=endpoints),
        (),
        metrics=endpoints,  # every member serves /metrics on its client URL
        processes={m.name: m.pid for m in cluster.members},
        description=",".join(endpoints),
        embedded=True,
    )
    target.cluster = cluster
    return target


def given_cluster(target: RemoteTarget, p: Profile) -> RemoteTarget:
    """A given cluster: its members' own /metrics unless ``[target] metrics`` names another endpoint."""
    if not p.target.metrics:
        target.metrics = tuple(target.address_map.shards)
    return target


class EtcdPhases:
    """The steps before and after the window (module docstring), each written to ``events.jsonl``."""

    def __init__(self, p: Profile, endpoints: tuple[str, ...], events: EventLog, out: TextIO) -> None:
        self.p, self.events, self.out = p, events, out
        self.endpoints = endpoints
        self.ctl = Etcdctl(endpoints)
        self.facts: dict[str, Any] = {"endpoints": list(endpoints), "compactions": []}

    def started_cluster(self, target: Target) -> None:
        """Record the run's own cluster (its member pids and data directory) in the facts."""
        if isinstance(target, EtcdTarget):
            members = {m.name: m.pid for m in target.cluster.members}
            self.facts["cluster"] = {"members": members, "data_dir": target.cluster.data_dir}

    def _compact(self, where: str) -> None:
        if not self.p.etcd.compact:
            return
        revision = self.ctl.revision()
        started = time.monotonic()
        self.ctl.compact(revision)
        took = round(time.monotonic() - started, 3)
        self.facts["compactions"].append({"where": where, "revision": revision, "took_s": took})
        self.events.write("etcd_compact", where=where, revision=revision, took_s=took)

    def before_window(self) -> None:
        e = self.p.etcd
        deleted, _ = self.ctl.delete_prefix(e.prefix)
        started = time.monotonic()
        preload_in_child(self.endpoints[0], e.prefix, e.keys, e.key_size, e.value_size)
        took = round(time.monotonic() - started, 2)
        self.events.write("etcd_keyspace", keys=e.keys, deleted_before=deleted, took_s=took)
        self.out.write(f"  etcd: {e.keys} keys written under {e.prefix} in {took:g}s\n")
        self._compact("before the window")
        self.facts["revision_before_window"] = self.ctl.revision()

    def after_window(self) -> None:
        self.facts["revision_after_window"] = rev = self.ctl.revision()
        self.facts["puts_applied"] = rev - self.facts["revision_before_window"]
        self.events.write("etcd_window", revision=rev, puts_applied=self.facts["puts_applied"])
        self._compact("after the window")

    def check_perf(self, run_dir: Path) -> CheckPerfResult | None:
        load = self.p.etcd.check_perf
        if load == "off":
            return None
        self.out.write(f"  etcdctl check perf --load {load} against the same cluster (60 s) ...\n")
        self.out.flush()
        result = run_check_perf(self.endpoints, load)
        atomic_write_json(run_dir / CHECK_PERF_FILE, result.as_json())
        compaction = {"where": "after check perf", "revision": result.compacted_revision}
        self.facts["compactions"].append(compaction)
        self.events.write("etcd_check_perf", **asdict(result))
        return result

    def cleanup(self) -> None:
        deleted, _ = self.ctl.delete_prefix(self.p.etcd.prefix)
        self.facts["deleted_at_end"] = deleted
        self._compact("at the end")


def run_phase(phases: EtcdPhases | None, step: str, out: TextIO, *args: Any) -> Any:
    """One step of ``phases``; an etcdctl failure is written out and returned as text, not raised."""
    if phases is None:
        return None
    try:
        return getattr(phases, step)(*args)
    except (EtcdctlError, RuntimeError) as exc:
        phases.events.write("etcd_error", step=step, error=str(exc))
        out.write(f"  etcd {step.replace('_', ' ')}: {exc}\n")
        phases.facts.setdefault("errors", []).append(f"{step}: {exc}")
        return None
