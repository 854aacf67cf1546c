"""Whether a side of the run ran out of CPU during the window, from the per-second samples of
``resources.csv``. A pure function of plain data; the run notes it, the report warns with it.

Rules:

- a Python process of the run (the generator, its workers and the embedded gateway: each runs its
  Python code on one core, so one core is its limit) is *busy* in a sample where it wanted at least
  ``BUSY_CPU_PERCENT`` of a core: the CPU it used plus the time it was ready to run but waited for a
  CPU (``wait_percent``; on a machine shared with other work a starved process is as much the limit as
  a busy one). It is *saturated* when at least ``BUSY_SHARE`` of its samples in the window are busy (at
  least ``MIN_SAMPLES`` of them);
- other sampled processes (etcd members, the MQTT broker) use several cores: they are named among the
  busiest but never judged saturated here;
- a saturated generator may have limited the target's figures: the notes say so with the evidence and
  suggest ``--workers N`` with the most it can gain, which the machine's idle cores bound (more workers
  on a machine without an idle core take CPU from the target: a side that waited for a CPU in at least
  ``STARVED_PERCENT`` of a core on average found none idle); a saturated embedded gateway means the run
  measured the stand-in's limit, and ``--gateway-processes`` is suggested likewise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

BUSY_CPU_PERCENT = 90.0
BUSY_SHARE = 0.2
STARVED_PERCENT = 20.0
MIN_SAMPLES = 3
GENERATOR_ROLES = ("generator", "worker-")
GATEWAY_ROLES = ("gateway",)


@dataclass(frozen=True)
class Busy:
    role: str
    cpu_mean: float
    """Mean CPU over the window, % of one core."""
    wait_mean: float
    """Mean time ready to run but waiting for a CPU, % of one core (0 where not sampled)."""
    busy_share: float
    """Share of the window's samples in which it wanted (used + waited) at least ``BUSY_CPU_PERCENT``."""
    samples: int
    one_core: bool
    """Whether one core is this process's limit (so the saturation rule applies)."""

    @property
    def saturated(self) -> bool:
        return self.one_core and self.samples >= MIN_SAMPLES and self.busy_share >= BUSY_SHARE

    def evidence(self) -> str:
        return (
            f"{self.role} wanted >= {BUSY_CPU_PERCENT:.0f} % of a core in {self.busy_share:.0%} of the "
            f"window's {self.samples} samples (it used {self.cpu_mean:.0f} % and waited for a CPU "
            f"{self.wait_mean:.0f} % on average)"
        )


@dataclass(frozen=True)
class Saturation:
    busiest: tuple[Busy, ...]
    """Every sampled process, busiest first."""
    notes: tuple[str, ...]
    """One sentence per limit found, with its evidence and what to try; empty when none was."""

    @property
    def limited_by(self) -> tuple[str, ...]:
        return tuple(b.role for b in self.busiest if b.saturated)

    def busiest_line(self) -> str:
        """``generator 62 % of a core, gateway 48 %`` (mean over the window); empty without samples."""
        parts = []
        for n, b in enumerate(self.busiest[:4]):
            waited = f" (+{b.wait_mean:.0f} % waiting for a CPU)" if b.wait_mean >= 1 else ""
            parts.append(f"{b.role} {b.cpu_mean:.0f} %{' of a core' if n == 0 else ''}{waited}")
        return ", ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "busiest": self.busiest_line(),
            "limited_by": list(self.limited_by),
            "notes": list(self.notes),
            "processes": [
                {
                    "role": b.role,
                    "cpu_mean": round(b.cpu_mean, 1),
                    "wait_mean": round(b.wait_mean, 1),
                    "busy_share": round(b.busy_share, 3),
                }
                for b in self.busiest
            ],
        }


def _one_core(role: str) -> bool:
    return role.startswith(GENERATOR_ROLES + GATEWAY_ROLES)


def _advice(saturated: list[Busy], others: list[Busy], cores: int, flag: str, now: int) -> str:
    """``--flag N`` and the most it can gain: N times the processes, bounded by the idle cores."""
    used = sum(b.cpu_mean for b in saturated + others) / 100.0
    idle = max(0.0, cores - used)
    side = sum(b.cpu_mean for b in saturated) / 100.0
    want = now * 2
    waited = max(b.wait_mean for b in saturated)
    if waited >= STARVED_PERCENT or idle < 0.25:
        return (
            f"the machine's {cores} cores had none idle (it waited for a CPU, the run's processes used "
            f"{used:.1f} cores), so {flag} {want} would take CPU from the rest of the run: give this side "
            "cores of its own (a quieter or another machine)"
        )
    gain = min(want / now, (side + idle) / side) if side else want / now
    return f"try {flag} {want}: at most {gain:.1f}x the load ({idle:.1f} of {cores} cores were idle)"


def saturation(resources: pd.DataFrame, seconds: float | None, *, cores: int, workers: int = 0) -> Saturation:
    """The CPU limits hit during the window.

    ``resources`` has ``process``, ``elapsed_s`` (from the window's start), ``cpu_percent`` and
    ``wait_percent`` (of one core; the latter may be absent or empty) per sample, as ``resources.csv``
    holds them; samples outside ``[0, seconds]`` are left out
    (all kept when ``seconds`` is None). ``cores`` is the machine's; ``workers`` the run's local
    worker processes (0: the generator is one process).
    """
    frame = resources
    if frame.empty:
        return Saturation((), ())
    if seconds is not None:
        frame = frame[(frame["elapsed_s"] >= 0) & (frame["elapsed_s"] <= seconds + 0.5)]
    busiest = []
    for role, rows in frame.groupby("process"):
        cpu = pd.to_numeric(rows["cpu_percent"], errors="coerce")
        column = rows["wait_percent"] if "wait_percent" in rows else pd.Series(0.0, index=rows.index)
        wait = pd.to_numeric(column, errors="coerce").fillna(0.0)[cpu.notna()]
        cpu = cpu.dropna()
        if cpu.empty:
            continue
        share = float((cpu + wait >= BUSY_CPU_PERCENT).mean())
        role = str(role)
        busiest.append(Busy(role, float(cpu.mean()), float(wait.mean()), share, len(cpu), _one_core(role)))
    busiest.sort(key=lambda b: (-b.cpu_mean, b.role))
    notes = []
    generator = [b for b in busiest if b.role.startswith(GENERATOR_ROLES)]
    gateway = [b for b in busiest if b.role.startswith(GATEWAY_ROLES)]
    for side, flag, now, what in (
        (generator, "--workers", max(1, workers), "the load generator may have limited the target's figures"),
        (gateway, "--gateway-processes", max(1, len(gateway)), "the embedded gateway was the run's limit"),
    ):
        hit = [b for b in side if b.saturated]
        if hit:
            others = [b for b in busiest if b not in hit]
            evidence = "; ".join(b.evidence() for b in hit)
            advice = _advice(hit, others, cores, flag, now)
            notes.append(f"{what}: {evidence}; {advice}.")
    return Saturation(tuple(busiest), tuple(notes))
