"""``ServiceUser`` in a real Locust Environment against the echo server (a child process on a free
loopback port): every method kind of ``[[call]]`` counted as the server counted it, and a failing call
reported as one (the same through ``aranya-perf run``: tests/test_grpc_scenario.py)."""

from __future__ import annotations

from pathlib import Path

import gevent
import pytest
from aranya_perf.loadtests import hooks
from aranya_perf.loadtests.engine import shutdown_engine
from aranya_perf.loadtests.scenarios import wanted_classes
from aranya_perf.loadtests.service_user import REQUEST_TYPE, ServiceUser, provide_descriptors
from aranya_perf.loadtests.settings import configure
from aranya_perf.loadtests.window import window_for
from locust.env import Environment

from aranya_perf import profiles
from aranya_perf.address_map import AddressMap
from aranya_perf.grpc_service.descriptors import compile_protos
from tests.helpers import REPO
from tests.test_grpc_scenario import ECHO_PROTO, PROFILE, EchoServer

pytestmark = pytest.mark.timeout(120)


def test_every_method_kind_is_counted_as_the_server_counted(tmp_path: Path) -> None:
    (tmp_path / "echo.toml").write_text(PROFILE)
    descriptors = compile_protos([str(REPO / ECHO_PROTO)])
    server = EchoServer()
    try:
        overrides = {"service.users": 2, "target.address": server.address}
        p = profiles.resolve(str(tmp_path / "echo.toml"), overrides)
        env = Environment(user_classes=wanted_classes([ServiceUser], p), stop_timeout=10)
        configure(env, p, AddressMap(server.address, shards=(server.address,)))
        provide_descriptors(env, descriptors)
        hooks.install(env.events, gc_freeze=False)
        runner = env.create_local_runner()
        try:
            runner.start(2, spawn_rate=100)
            gevent.sleep(2)
            assert window_for(env).close(10.0) == 0
            runner.quit()
        finally:
            shutdown_engine()
        served = server.stop()
    finally:
        server.kill()

    count = {e.name: e.num_requests for e in env.stats.entries.values() if e.method == REQUEST_TYPE}
    fails = {e.name: e.num_failures for e in env.stats.entries.values() if e.method == REQUEST_TYPE}
    assert all(count.values()) and set(count) == {
        "Unary", "Unary fails", "echo.v1.Echo/ServerStream", "echo.v1.Echo/ClientStream", "echo.v1.Echo/Bidi",
    }  # fmt: skip
    assert fails == {name: count["Unary fails"] if name == "Unary fails" else 0 for name in count}
    unary = served["echo.v1.Echo/Unary"]
    assert unary["codes"] == {"OK": count["Unary"], "FAILED_PRECONDITION": count["Unary fails"]}
    assert served["echo.v1.Echo/ServerStream"]["calls"] == count["echo.v1.Echo/ServerStream"]
    assert served["echo.v1.Echo/ClientStream"]["messages_in"] == 3 * count["echo.v1.Echo/ClientStream"]
    assert served["echo.v1.Echo/Bidi"]["messages_out"] == 4 * count["echo.v1.Echo/Bidi"]
