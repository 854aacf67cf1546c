"""How many processes the embedded gateway runs: ``[gateway] processes = "auto"`` decided before the run.

A count given in the profile or by ``--gateway-processes`` is kept. ``auto`` (the default) is decided
once, by ``choose``, from the fleet, its command rate and the cores; rules, in order (the first that
applies wins):

1. not aranya's scenario, or a given target (``--target``): 1, silently (no embedded gateway serves a
   fleet);
2. one process where only one can serve, whatever the fleet: devices over MQTT (the gateway
   subscribes every namespace), a link in front of a shared listener, the Kubernetes face asked for
   (``operators.api = "kubernetes"``, ``--kubeconfig-out``); above the file-descriptor bound such a run
   is refused before it starts (``cli.preflight.check_sizes``), as before;
3. the file-descriptor bound: as many processes as ``limits.GATEWAY_DEVICES_PER_PROCESS`` devices each
   need; operators on ``auto`` then fall back to the control service (``operator_api``), as with a
   given count;
4. operators on ``auto`` with calls to make: 1, so that they take the Kubernetes face (it wins over
   the CPU estimate: the default route is the one a real cluster's users take);
5. the CPU estimate (``estimate``): the gateway's cores of work at the full fleet, over
   ``PLANNED_SHARE`` of a core per process, at most the cores left beside the generator's processes
   (a gateway process more than there are cores only shares them), at least 1.

The choice and its reason are one line the run prints at start-up and under its summary, and
``meta.json`` keeps both (``config.gateway_processes``, ``config.gateway_processes_reason``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

from aranya_perf.gateway.schedule import SCHEDULES
from aranya_perf.limits import GATEWAY_DEVICES_PER_PROCESS
from aranya_perf.profiles import Profile

AUTO = "auto"

COMMAND_CPU_S = 1.1e-3
"""Gateway CPU per periodic command a device answers: 1.09 ms at 1,000 devices with node info every 10 s
(``aranya-perf capacity --modes gateway``, docs/benchmarks.md, "Operators on the loop, and the gateway
against a bare server"); 0.6 ms at 5,000 devices, so the estimate errs towards more processes."""

STATUS_CPU_S = 0.17e-3
"""Gateway CPU per status push: 26 % of a core for 15,000 devices pushing every 10 s with polling off
(``capacity --modes hold``, docs/benchmarks.md, "Generator capacity")."""

OPERATOR_CPU_S = 1.4e-3
"""Gateway CPU per operator call: 1,000 devices with 50 Control.Exec per second kept the gateway 7 % of a
core busier than without (``capacity --modes gateway``, the same table)."""

CLOSED_CALL_S = 1e-3
"""Shortest turn of a closed-model operator with no think time: one Exec through the gateway over
loopback (about 0.9 ms, docs/benchmarks.md ``gateway.ExecThroughput.track_exec_cost``)."""

PLANNED_SHARE = 0.6
"""Share of a core a gateway process is planned to use: headroom for a ramp's or a reconnect storm's
bursts and for the estimate's error (its figures moved 10-15 % between sittings), below the 90 % at which
``judge.saturation`` calls a process busy."""


@dataclass(frozen=True)
class Work:
    """What the embedded gateway serves per second at the full fleet, and the CPU it takes."""

    commands: float
    status: float
    operator_calls: float

    @property
    def cores(self) -> float:
        return (
            self.commands * COMMAND_CPU_S + self.status * STATUS_CPU_S + self.operator_calls * OPERATOR_CPU_S
        )

    def describe(self) -> str:
        return (
            f"about {self.cores:.2f} cores of work: {self.commands:,.0f} commands/s, "
            f"{self.status:,.0f} status pushes/s, {self.operator_calls:,.0f} operator calls/s"
        )


@dataclass(frozen=True)
class GatewayProcesses:
    count: int
    reason: str = ""
    """Why ``auto`` chose ``count`` ("" when the count was given, or there was nothing to choose)."""

    def line(self) -> str:
        return f"gateway processes: {self.count} (auto: {self.reason})" if self.reason else ""


def estimate(p: Profile) -> Work:
    """The gateway's work at ``p``'s full fleet: the schedule's commands (its periods, the interval
    overrides; jitter only stretches them), status pushes and operator calls (the open model's arrival
    rate, or each closed-model operator once per mean think time)."""
    g, devices = p.gateway, max(p.fleet.devices, p.shape.spike_devices)
    schedule = SCHEDULES[g.schedule]
    periods = (
        g.node_info_interval_s if g.node_info_interval_s is not None else schedule.node_info_interval_s,
        schedule.pod_list_interval_s,
        g.metrics_interval_s if g.metrics_interval_s is not None else schedule.metrics_collect_interval_s,
    )
    commands = devices * sum(1 / s for s in periods if s > 0)
    status = devices / p.fleet.status_interval_s if p.fleet.status_interval_s > 0 else 0.0
    o = p.operators
    calls = o.arrival_rate or o.count / max((o.think_min_s + o.think_max_s) / 2, CLOSED_CALL_S)
    return Work(commands, status, calls)


def _single(p: Profile) -> str:
    """Why only one process can serve ``p`` whatever the fleet's size ("" when several can)."""
    if p.target.transport == "mqtt":
        return "devices over MQTT: one process subscribes every namespace"
    if p.target.link is not None and not p.gateway.listener_per_device:
        return "the link goes in front of one shared listener"
    if p.operators.api == "kubernetes" or p.gateway.kubeconfig_out:
        return "the Kubernetes face is served by one process"
    return ""


def choose(p: Profile, cores: int, generators: int) -> GatewayProcesses:
    """The gateway's processes for ``p`` on a machine of ``cores`` with ``generators`` generator processes
    on it (the rules in the module's docstring)."""
    g, o = p.gateway, p.operators
    if g.processes != AUTO:
        return GatewayProcesses(g.process_count)
    if not p.fleet_run or not p.embedded:
        return GatewayProcesses(1)
    work = estimate(p)
    single = _single(p)
    if single:
        return GatewayProcesses(1, f"{single}; {work.describe()}")
    devices = max(p.fleet.devices, p.shape.spike_devices)
    by_files = math.ceil(devices / GATEWAY_DEVICES_PER_PROCESS)
    if by_files > 1:
        return GatewayProcesses(
            by_files, f"{devices:,} devices, at most {GATEWAY_DEVICES_PER_PROCESS:,} per process (open files)"
        )
    if o.api == AUTO and (o.count or o.arrival_rate):
        return GatewayProcesses(
            1, f"the operators' Kubernetes face is served by one process; {work.describe()}"
        )
    room = max(1, cores - generators)
    wanted = max(1, math.ceil(work.cores / PLANNED_SHARE))
    count = min(wanted, room, max(1, devices))
    left = f"{room} core(s) left beside {generators} generator process(es) of {cores}"
    if count < wanted:
        return GatewayProcesses(count, f"{work.describe()}, wants {wanted}; {left}")
    return GatewayProcesses(
        count, f"{work.describe()}, at most {PLANNED_SHARE * 100:.0f} % of a core each; {left}"
    )


def generator_processes(workers: int) -> int:
    """Generator processes on this machine: the local workers, or the one process without them."""
    return max(1, workers)


def resolved(p: Profile, workers: int, cores: int | None = None) -> tuple[Profile, str]:
    """``p`` with its gateway processes decided for ``workers`` local workers on this machine's cores, and
    the line saying why ("" when the count was given or nothing was to choose)."""
    chosen = choose(p, cores or os.cpu_count() or 1, generator_processes(workers))
    out = dataclasses.replace(p, gateway=dataclasses.replace(p.gateway, processes=chosen.count))
    return out, chosen.line()
