"""The etcd scenario's users in a real Locust Environment against a real 3-member etcd cluster on
loopback (the session's ``etcd_cluster``): every call kind reported and none failed (runs through
``aranya-perf run``: tests/test_etcd_run.py)."""

from __future__ import annotations

import gevent
import pytest
from aranya_perf.loadtests import hooks
from aranya_perf.loadtests.engine import shutdown_engine
from aranya_perf.loadtests.etcd_users import REQUEST_TYPE, EtcdKvUser, EtcdLeaseUser, EtcdWatchUser
from aranya_perf.loadtests.scenarios import fixed_total, wanted_classes
from aranya_perf.loadtests.settings import configure
from aranya_perf.loadtests.window import window_for
from locust.env import Environment

from aranya_perf import profiles
from aranya_perf.address_map import AddressMap

pytestmark = pytest.mark.timeout(120)

PREFIX = "/aranya-perf-test/etcd-users/"


def test_kv_watch_and_lease_users_report_every_call_kind(etcd_cluster) -> None:
    overrides = {
        "service.users": 2,
        "etcd.prefix": PREFIX,
        "etcd.keys": 20,
        "etcd.key_size": 16,
        "etcd.value_size": 64,
        "etcd.rate": 40.0,
        "etcd.watchers": 1,
        "etcd.leases": 1,
        "etcd.keepalive_interval_s": 0.2,
    }
    p = profiles.resolve("etcd", overrides)
    users = wanted_classes([EtcdKvUser, EtcdWatchUser, EtcdLeaseUser], p)
    endpoints = tuple(etcd_cluster.endpoints)
    env = Environment(user_classes=users, stop_timeout=10)
    configure(env, p, AddressMap(endpoints[0], shards=endpoints))
    hooks.install(env.events, gc_freeze=False)
    runner = env.create_local_runner()
    try:
        runner.start(2 + fixed_total(p), spawn_rate=100)
        gevent.sleep(3)
        assert window_for(env).close(10.0) == 0
        runner.quit()  # the lease user revokes its lease on stop
    finally:
        shutdown_engine()

    stats = env.stats
    assert stats.total.num_failures == 0, stats.errors
    counts = {name: stats.get(name, REQUEST_TYPE).num_requests for name in (
        "Put", "Range", "Range serializable", "Watch create", "Watch event", "LeaseGrant", "LeaseKeepAlive",
        "LeaseRevoke",
    )}  # fmt: skip
    assert all(n > 0 for n in counts.values()), counts
    assert counts["Watch create"] == counts["LeaseGrant"] == counts["LeaseRevoke"] == 1
    # Each Put made while the watch was open came back to the watcher as one event.
    assert counts["Watch event"] <= counts["Put"]
