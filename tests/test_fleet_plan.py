"""Which device a device user gets and where it connects: ids per worker on shared listeners, entries
leased from the master, and a worker's own address map (its edge link) kept over the master's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aranya_perf.loadtests.fleet import FleetPlan
from aranya_perf.loadtests.settings import DEVICES_OPTION, RunSettings, remember_worker_options, settings_for

from aranya_perf import profiles
from aranya_perf.address_map import AddressMap, DeviceAddress
from aranya_perf.targets import TargetError

SMOKE = profiles.resolve("smoke")


def _entries(addresses: dict[str, str]) -> tuple[DeviceAddress, ...]:
    return tuple(DeviceAddress(d, a) for d, a in addresses.items())


def test_shared_listeners_give_each_worker_its_own_ids() -> None:
    amap = AddressMap("test", shards=("127.0.0.1:1", "127.0.0.1:2"))
    first = FleetPlan(RunSettings(SMOKE, amap, (), worker_index=0, workers=2))
    second = FleetPlan(RunSettings(SMOKE, amap, (), worker_index=1, workers=2))
    ids = [plan.next_device().device_id for plan in (first, second) for _ in range(3)]
    assert len(set(ids)) == 6 and all(i.startswith(SMOKE.fleet.prefix) for i in ids)
    assert {amap.address_for(i) for i in ids} <= set(amap.shards)


def test_leased_devices_connect_where_the_own_map_says() -> None:
    master = _entries({"d-0": "127.0.0.1:10", "d-1": "127.0.0.1:11", "d-2": "127.0.0.1:12"})
    own = AddressMap("the worker's link", _entries({"d-0": "127.0.0.2:20", "d-1": "127.0.0.2:21"}))
    batches = [list(master[:2]), list(master[2:]), []]
    asked: list[int] = []

    def lease(leased: int) -> list[DeviceAddress]:
        asked.append(leased)
        return batches.pop(0)

    plan = FleetPlan(RunSettings(SMOKE, own, (), worker_index=1, workers=2), lease)
    got = [plan.next_device() for _ in range(3)]
    # The master chose the devices; the worker's own map, where it has them, chose the address.
    assert [(d.device_id, d.address) for d in got] == [
        ("d-0", "127.0.0.2:20"), ("d-1", "127.0.0.2:21"), ("d-2", "127.0.0.1:12"),
    ]  # fmt: skip
    assert asked == [0, 2]
    with pytest.raises(TargetError, match="more device users were started"):
        plan.next_device()
    plan.release(got[0])  # a step down: the stopped user's device is the next one given out
    assert plan.next_device() == got[0]


class WorkerRunner:
    """Named as Locust's, which is how settings tell a worker from a master."""

    worker_index = 1


def test_a_worker_keeps_its_own_address_map_over_the_masters() -> None:
    opts = SimpleNamespace(address_map="127.0.0.2:5000", profile=None, protocol=None, expect_workers=2)
    env = SimpleNamespace(parsed_options=opts, runner=WorkerRunner(), host="127.0.0.1:50051")
    remember_worker_options(env)
    # The master's spawn message copies its custom options over the worker's, its map included.
    vars(opts).update({"address_map": None, DEVICES_OPTION: ["127.0.0.1:50051"]})
    settings = settings_for(env)
    assert settings.address_map.shards == ("127.0.0.2:5000",)
    assert (settings.worker_index, settings.workers) == (1, 2)
