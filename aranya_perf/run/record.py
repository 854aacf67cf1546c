"""The record of one run, in the phases it learns them: identity, config, target, window, counts, verdict.

Each phase is a frozen dataclass, set once. ``RunRecord`` holds the phases known so far;
``add`` returns a new record with one more. ``meta`` is the record as ``meta.json`` holds it
(``results.write_meta`` writes it atomically, once per phase): status ``running`` until the
verdict is in. Schema 3 keeps every key of schema 2 (so readers of either need nothing new)
and adds ``phases`` (those recorded so far) and, in ``window``, ``workers_lost``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aranya_perf import results


@dataclass(frozen=True)
class Identity:
    run_id: str
    profile: str
    argv: tuple[str, ...]
    started_at: str
    provenance: Mapping[str, Any]
    """git, host and package versions (``results.provenance``)."""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """``run --label KEY=VALUE``: e.g. the commit of the target under test."""
    group: Mapping[str, Any] | None = None
    """``run --repeat N``: the repeat group this run belongs to (``run/repeat.py``)."""


@dataclass(frozen=True)
class Config:
    config: Mapping[str, Any]
    protocol: Mapping[str, Any]
    transport: Mapping[str, Any]
    target: Mapping[str, Any]
    """The target as asked for (address, embedded), until the target phase describes it."""
    grpc: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Target:
    target: Mapping[str, Any]
    link: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Window:
    started_at: float | None
    ended_at: float | None
    ended_early: str = ""
    fleet: Mapping[str, int] = dataclasses.field(default_factory=dict)
    window: Mapping[str, int] = dataclasses.field(default_factory=dict)
    in_flight_at_close: int = 0
    sessions_open_after_drain: int = 0
    workers_lost: tuple[str, ...] = ()
    etcd: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Counts:
    requests: int
    failures: int
    devices: int
    operators: int
    slo: str
    """SLO status: ``passed``, ``failed`` or ``none``."""


@dataclass(frozen=True)
class Verdict:
    status: str
    reason: str
    finished_at: str
    notes: tuple[str, ...] = ()
    """What the status does not say but the figures need (``judge.verdict``'s notes)."""
    saturation: Mapping[str, Any] | None = None
    """``judge.saturation`` of the window, as JSON."""


_PHASES = {Config: "config", Target: "target", Window: "window", Counts: "counts", Verdict: "verdict"}


@dataclass(frozen=True)
class RunRecord:
    identity: Identity
    config: Config | None = None
    target: Target | None = None
    window: Window | None = None
    counts: Counts | None = None
    verdict: Verdict | None = None

    def add(self, phase: Config | Target | Window | Counts | Verdict) -> RunRecord:
        name = _PHASES[type(phase)]
        if getattr(self, name) is not None:
            raise ValueError(f"the run record's {name} is already set")
        return dataclasses.replace(self, **{name: phase})  # type: ignore[arg-type]  # the field of its type

    @property
    def phases(self) -> list[str]:
        return ["identity", *(n for n in _PHASES.values() if getattr(self, n) is not None)]

    def meta(self) -> dict[str, Any]:
        """The record as meta.json (schema ``results.META_SCHEMA_VERSION``)."""
        i = self.identity
        doc: dict[str, Any] = {
            "schema_version": results.META_SCHEMA_VERSION,
            "run_id": i.run_id,
            "profile": i.profile,
            "phases": self.phases,
            "status": "running",
            "reason": "",
            "started_at": i.started_at,
            "finished_at": None,
            "argv": list(i.argv),
            **{k: dict(v) for k, v in i.provenance.items()},
            "summary": {},
        }
        if i.labels:
            doc["labels"] = dict(i.labels)
        if i.group is not None:
            doc["group"] = dict(i.group)
        if (c := self.config) is not None:
            doc.update(config=dict(c.config), protocol=dict(c.protocol), transport=dict(c.transport))
            doc["target"] = dict(c.target)
            if c.grpc is not None:
                doc["grpc"] = dict(c.grpc)
        if (t := self.target) is not None:
            doc["target"] = dict(t.target)
            if t.link is not None:
                doc["link"] = dict(t.link)
        if (w := self.window) is not None:
            window = {f.name: getattr(w, f.name) for f in dataclasses.fields(w) if f.name != "etcd"}
            window.update(fleet=dict(w.fleet), window=dict(w.window), workers_lost=list(w.workers_lost))
            doc["window"] = window
            if w.etcd is not None:
                doc["etcd"] = dict(w.etcd)
        if (n := self.counts) is not None:
            doc["summary"] = dataclasses.asdict(n)
        if (v := self.verdict) is not None:
            doc.update(status=v.status, reason=v.reason, finished_at=v.finished_at, notes=list(v.notes))
            if v.saturation is not None:
                doc["saturation"] = dict(v.saturation)
        return doc
