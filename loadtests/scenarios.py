"""Which Locust users a scenario runs, and how many of each.

A scenario (``[run] scenario``) has one level class, whose count the workload shape sets at
every tick (aranya's devices, a service's clients; ``aranya_perf.profiles.plan``), and classes
of fixed counts on top (aranya's operators and arrival scheduler). User classes are named here,
not imported, so this module stays importable from every locustfile; ``classes`` imports them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from aranya_perf.profiles import Profile


@dataclass(frozen=True)
class Scenario:
    name: str
    level_user: str
    """``module:Class`` of the users the shape scales."""
    fixed_users: Callable[[Profile], dict[str, int]]
    """``module:Class`` -> count of the users on top of the level."""

    def user_names(self, p: Profile) -> list[str]:
        return [self.level_user, *self.fixed_users(p)]


def _aranya_fixed(p: Profile) -> dict[str, int]:
    arrivals = 1 if p.operators.arrival_rate > 0 else 0
    # "auto" is decided by the run (aranya_perf.run.operator_api); a plain Locust has no face: control.
    kube = p.operators.api == "kubernetes"
    return {
        "aranya_perf.loadtests.operators:OperatorUser": 0 if kube else p.operators.count,
        "aranya_perf.loadtests.operators:ArrivalUser": 0 if kube else arrivals,
        "aranya_perf.loadtests.kube_operators:KubeOperatorUser": p.operators.count if kube else 0,
        "aranya_perf.loadtests.kube_operators:KubeArrivalUser": arrivals if kube else 0,
    }


def _etcd_fixed(p: Profile) -> dict[str, int]:
    return {
        "aranya_perf.loadtests.etcd_users:EtcdWatchUser": p.etcd.watchers,
        "aranya_perf.loadtests.etcd_users:EtcdLeaseUser": p.etcd.leases,
    }


SCENARIOS: dict[str, Scenario] = {
    "aranya": Scenario("aranya", "aranya_perf.loadtests.devices:DeviceUser", _aranya_fixed),
    "etcd": Scenario("etcd", "aranya_perf.loadtests.etcd_users:EtcdKvUser", _etcd_fixed),
    "grpc": Scenario("grpc", "aranya_perf.loadtests.service_user:ServiceUser", lambda _p: {}),
}


def scenario_of(p: Profile) -> Scenario:
    try:
        return SCENARIOS[p.run.scenario]
    except KeyError:
        raise ValueError(f"scenario {p.run.scenario!r} has no load users yet") from None


def load_class(name: str) -> type:
    module, _, cls = name.partition(":")
    return getattr(importlib.import_module(module), cls)


def all_user_classes() -> list[type]:
    """Every scenario's user classes: what a run's Locust environment offers its shape."""
    names = dict.fromkeys(n for s in SCENARIOS.values() for n in (s.level_user, *s.fixed_users(Profile())))
    return [load_class(n) for n in names]


def fixed_total(p: Profile) -> int:
    """Users on top of the level, for the shape's total."""
    return sum(scenario_of(p).fixed_users(p).values())


def wanted_classes(available: list[type], p: Profile) -> list[type]:
    """The run's user classes among ``available``, their fixed counts set from the profile.

    A fixed class with a count of 0 is left out rather than given ``fixed_count = 0``, which Locust
    reads as "weighted" and would hand a share of the level to.
    """
    s = scenario_of(p)
    level = s.level_user.rpartition(":")[2]
    fixed = {name.rpartition(":")[2]: n for name, n in s.fixed_users(p).items()}
    out = []
    for cls in available:
        if cls.__name__ == level:
            out.append(cls)
        elif fixed.get(cls.__name__):
            cls.fixed_count = fixed[cls.__name__]
            out.append(cls)
    return out
