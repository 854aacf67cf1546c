"""``ProfileShape``'s ticks in a real Locust Environment with a local runner (no user is started):
the profile's level over time, the end of the run, and plain ``locust -u N`` without a profile."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest
from aranya_perf.loadtests.devices import DeviceUser
from aranya_perf.loadtests.operators import ArrivalUser, OperatorUser
from aranya_perf.loadtests.scenarios import fixed_total
from aranya_perf.loadtests.settings import configure
from aranya_perf.loadtests.shapes import ProfileShape, devices_at
from locust.env import Environment

from aranya_perf import profiles
from aranya_perf.address_map import AddressMap


@pytest.fixture(autouse=True)
def _quit_runners() -> Iterator[None]:
    yield
    while _RUNNERS:
        _RUNNERS.pop().quit()


_RUNNERS: list = []


def _shape(profile: profiles.Profile | None, options: argparse.Namespace | None = None) -> ProfileShape:
    shape = ProfileShape()
    env = Environment(user_classes=[DeviceUser, OperatorUser, ArrivalUser], shape_class=shape)
    env.parsed_options = options
    if profile is not None:
        configure(env, profile, AddressMap("127.0.0.1:1"))
    _RUNNERS.append(env.create_local_runner())
    shape.reset_time()
    return shape


def _at(shape: ProfileShape, t: float) -> tuple[int, float, list[type]] | None:
    shape.start_time -= t - shape.get_run_time()  # the shape reads its run time from start_time
    return shape.tick()


def test_a_step_profile_s_ticks_follow_its_plan_and_stop_at_its_end() -> None:
    p = profiles.resolve(
        "step", {"fleet.devices": 8, "shape.levels": [2, 4, 6, 8], "shape.hold_s": 2.0, "run.duration_s": 8.0}
    )
    shape = _shape(p)
    levels = []
    for t in (0.5, 2.5, 4.5, 6.5):
        users, rate, classes = _at(shape, t)
        assert users == devices_at(p, t) + fixed_total(p) and rate > 0
        assert DeviceUser in classes and OperatorUser not in classes  # count 0: left out, not weighted
        levels.append(users - fixed_total(p))
    assert levels == sorted(levels) and levels[0] < levels[-1] == 8
    assert _at(shape, 8.5) is None
    shape.stop_at_end = False  # aranya-perf run ends the window itself
    assert _at(shape, 9.0) is not None


def test_a_ramp_is_spawned_fast_enough_to_reach_the_fleet_in_its_ramp_time() -> None:
    p = profiles.resolve(
        "smoke", {"fleet.devices": 100, "fleet.spawn_rate": 1.0, "shape.kind": "ramp", "shape.ramp_s": 10.0}
    )
    users, rate, _ = _at(_shape(p), 1.0)
    assert rate == pytest.approx(100 / 10.0) and users == devices_at(p, 1.0) + fixed_total(p)


def test_plain_locust_users_without_a_profile_are_devices_and_operators_by_weight() -> None:
    options = argparse.Namespace(num_users=101, spawn_rate=5.0, run_time=30, profile=None)
    shape = _shape(None, options)
    users, rate, classes = _at(shape, 1.0)
    assert (users, rate) == (101, 5.0) and {c.__name__ for c in classes} == {"DeviceUser", "OperatorUser"}
    assert all(c.fixed_count == 0 for c in shape.runner.user_classes)
    assert _at(shape, 31.0) is None
