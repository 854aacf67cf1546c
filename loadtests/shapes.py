"""Workload shapes: how many devices a run holds over time, as a Locust ``LoadTestShape``.

The plan of a shape is a pure function of the profile (``aranya_perf.profiles.plan``), so the
run's orchestration, the open-model scheduler (``operators``) and the report all read the
same one; ``ProfileShape`` turns it into Locust's ticks, so a profile's shape works from
``locust -f loadtests/locustfile.py --profile NAME`` too. Operators are fixed-count users on
top of the devices. A connect storm keeps the device count and, at its times, asks every
process to drop a share of its devices at once (``distributed.send_storm``).
"""

from __future__ import annotations

from typing import Any

from aranya_perf.loadtests.scenarios import fixed_total, wanted_classes
from locust import LoadTestShape

from aranya_perf.profiles.plan import Phase, devices_at, full_level, level_at, phases, spawn_rate

__all__ = ["Phase", "ProfileShape", "devices_at", "level_at", "phases"]


class ProfileShape(LoadTestShape):
    """Locust's ticks for the profile of the run (``settings_for`` the runner's environment).

    ``stop_at_end``: return None (Locust stops) once the run's duration is over; ``aranya-perf run``
    turns it off and ends the window itself, so the gateway drains with the fleet still online.
    Storms are sent from the tick that first sees their time.
    """

    use_common_options = True
    stop_at_end = True

    def __init__(self) -> None:
        super().__init__()
        self._storms_sent = 0
        self.on_storm: Any = None
        """Called with (index, time) when a storm is sent (the run logs it)."""

    def reset_time(self) -> None:
        super().reset_time()
        self._storms_sent = 0

    def tick(self) -> tuple[int, float, list[type]] | None:
        from aranya_perf.loadtests.distributed import (
            send_storm,  # here: distributed imports this module's users
        )
        from aranya_perf.loadtests.settings import settings_for

        assert self.runner is not None
        opts = self.runner.environment.parsed_options
        if classic_options(opts):
            # ``locust -u N -r R [-t T]`` without --profile: N users by weight (100 devices per operator).
            if opts.run_time and self.get_run_time() >= opts.run_time:
                return None
            for cls in self.runner.user_classes:
                cls.fixed_count = 0
            classes = [c for c in self.runner.user_classes if c.__name__ in ("DeviceUser", "OperatorUser")]
            return opts.num_users, opts.spawn_rate, classes
        p = settings_for(self.runner.environment).profile
        t = self.get_run_time()
        if t >= p.run.duration_s and self.stop_at_end:
            return None
        storms = sorted(p.shape.storm_at_s) if p.shape.kind == "storm" else []
        while self._storms_sent < len(storms) and t >= storms[self._storms_sent]:
            send_storm(self.runner, p, self._storms_sent)
            if self.on_storm is not None:
                self.on_storm(self._storms_sent, storms[self._storms_sent])
            self._storms_sent += 1
        level = devices_at(p, t)
        rate = spawn_rate(p)
        if p.shape.kind == "ramp" and p.shape.ramp_s:
            rate = max(rate, full_level(p) / p.shape.ramp_s)
        return level + fixed_total(p), rate, wanted_classes(self.runner.user_classes, p)


def classic_options(opts: Any) -> bool:
    """Locust was given ``-u`` and no profile (neither ``--profile`` nor one from ``aranya-perf run``)."""
    from aranya_perf.loadtests.settings import PROFILE_OPTION

    return (
        opts is not None
        and getattr(opts, "num_users", None) is not None
        and not getattr(opts, "profile", None)
        and not getattr(opts, PROFILE_OPTION, None)
    )
