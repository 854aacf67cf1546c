"""The plan of a profile's workload shape over time: its phases and the level wanted at each moment.

The level is the fleet's devices in aranya's scenario and the clients (``[service] users``) in a
service scenario; the names below say devices for the first.

Pure functions of a ``Profile``, shared by the Locust shape (``aranya_perf.loadtests.shapes``), the
open-model scheduler, the run's timeline and the report, so all of them read one plan.

Kinds: ``constant`` (the full fleet from the start), ``ramp`` (to the full fleet over
``ramp``), ``step`` (``levels``, ``hold`` each, a phase per level), ``spike`` (the fleet, then
``spike_devices`` for ``spike``, then the fleet again), ``soak`` (constant, a phase mark every
``soak_mark`` so drift between marks shows), ``storm`` (constant, drops at ``storm_at``).
"""

from __future__ import annotations

from dataclasses import dataclass

from aranya_perf.profiles.schema import Profile


@dataclass(frozen=True)
class Phase:
    name: str
    start_s: float
    end_s: float
    devices: int
    """Devices the shape holds during the phase (its target level)."""


def full_level(p: Profile) -> int:
    """What the shape's full level counts: the fleet's devices, or a service scenario's clients."""
    return p.fleet.devices if p.fleet_run else p.service.users


def spawn_rate(p: Profile) -> float:
    """Level users started per second."""
    return p.fleet.spawn_rate if p.fleet_run else p.service.spawn_rate


def step_levels(p: Profile) -> list[int]:
    """The step shape's levels: the profile's, or quarters of the full level."""
    if p.shape.levels:
        return list(p.shape.levels)
    return [max(1, round(full_level(p) * k / 4)) for k in (1, 2, 3, 4)]


def step_hold(p: Profile) -> float:
    return p.shape.hold_s or p.run.duration_s / len(step_levels(p))


def phases(p: Profile) -> list[Phase]:
    """The shape's phases over the run, in order, covering [0, duration]."""
    s, duration, full = p.shape, p.run.duration_s, full_level(p)
    if s.kind == "step":
        hold, out = step_hold(p), []
        for i, level in enumerate(step_levels(p)):
            start = i * hold
            if start >= duration:
                break
            what = "devices" if p.fleet_run else "clients"
            out.append(Phase(f"step {i + 1}: {level} {what}", start, min(duration, start + hold), level))
        return out
    if s.kind == "ramp":
        ramp = min(s.ramp_s or full / spawn_rate(p), duration)
        return [Phase("ramp", 0.0, ramp, full), Phase("hold", ramp, duration, full)]
    if s.kind == "spike":
        end = s.spike_at_s + s.spike_s
        return [
            Phase("base", 0.0, s.spike_at_s, full),
            Phase(f"spike: {s.spike_devices} devices", s.spike_at_s, end, s.spike_devices),
            Phase("after", end, duration, full),
        ]
    if s.kind == "soak":
        mark, out, t = s.soak_mark_s or duration, [], 0.0
        while t < duration:
            out.append(Phase(f"soak {len(out) + 1}", t, min(duration, t + mark), full))
            t += mark
        return out
    if s.kind == "storm":
        times = sorted(s.storm_at_s)
        edges = [0.0, *times, duration]
        names = ["before storm 1", *(f"after storm {i + 1}" for i in range(len(times)))]
        return [Phase(n, a, b, full) for n, a, b in zip(names, edges, edges[1:], strict=False)]
    return [Phase("constant", 0.0, duration, full)]


def devices_at(p: Profile, t: float) -> int:
    """Devices the shape wants at ``t`` seconds (the ramp rises linearly)."""
    if p.shape.kind == "ramp":
        ramp = p.shape.ramp_s
        if ramp and t < ramp:
            return max(1, round(full_level(p) * t / ramp))
        return full_level(p)
    for phase in phases(p):
        if phase.start_s <= t < phase.end_s:
            return phase.devices
    return phases(p)[-1].devices if t >= p.run.duration_s else full_level(p)


def level_at(p: Profile, t: float) -> float:
    """The shape's level at ``t``: devices wanted over the full fleet (what the open model follows)."""
    full = full_level(p)
    return devices_at(p, t) / full if full else 1.0
