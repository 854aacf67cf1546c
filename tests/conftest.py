"""Process-wide test settings.

Many tests start subprocesses (the gateway, the CLI, locust) from this pytest
process while grpc.aio threads of the load engine are alive. With gRPC's fork
support on, its post-fork handler can start pollers in the child before the
child execs, which then abort it (seen in CI: SIGABRT with "epoll_wait error:
Bad file descriptor"). Every child here execs at once and needs no gRPC state,
so fork support is turned off before anything imports grpc.
"""

import os
from pathlib import Path

os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"


import pytest


@pytest.fixture(scope="session")
def etcd_cluster():
    """A real 3-member etcd cluster on loopback, shared by the tests that need one (about 1-2 s to start).

    Run through ``aranya-perf etcd-cluster`` as the suite runs it; stopped (data removed) at the end.
    Tests that write keep to their own key prefix, so they do not see each other's keys.
    """
    from aranya_perf.etcd.cluster import EtcdClusterProcess

    cluster = EtcdClusterProcess(stderr=None).start()
    try:
        yield cluster
    finally:
        cluster.stop()


# Modules whose tests start real servers, fleets, clusters, browsers, kernels or Helm: the slow half.
# Every other module is `unit` (`make test-fast`); a module's own pytestmark wins.
INTEGRATION_MODULES = {
    "test_analysis_compare",
    "test_analysis_notebook",
    "test_analysis_site",
    "test_analysis_sweep",
    "test_analysis_tune",
    "test_asv",
    "test_capacity",
    "test_cross_version",
    "test_deploy_chart",
    "test_deploy_monitoring",
    "test_device_agent",
    "test_etcd_api",
    "test_etcd_cluster",
    "test_etcd_run",
    "test_fleet_integration",
    "test_gateway",
    "test_grpc_scenario",
    "test_link",
    "test_link_shaping",
    "test_locustfile",
    "test_mqtt_fleet",
    "test_mqtt_transport",
    "test_prometheus_integration",
    "test_run_cli",
    "test_run_profiles",
    "test_run_report",
}


# `make test` runs on xdist workers with `--dist loadscope --no-loadscope-reorder`, as refined by
# pytest_xdist_make_scheduler below: a module's tests go to one worker together, so its module fixtures
# (a real run, a gateway, a fleet) are made once, except in these modules, whose tests are independent
# and long, so they spread over the workers.
SPREAD_MODULES = {
    "test_analysis_alerts",
    "test_analysis_detect",
    "test_analysis_detect_cli",
    "test_analysis_sweep",
    "test_chaos",
    "test_defects_profile",
    "test_etcd_cluster",
    "test_etcd_run",
    "test_kube_operators",
    "test_link",
    "test_locustfile",
    "test_mqtt_fleet",
    "test_readme_commands",
    "test_run_cli",
    "test_run_profiles",
    "test_run_signals",
    "test_saturation",
    "test_soak_slope",
}

# The slowest modules first (measured with --durations on a loaded 2-core machine: each module's summed
# test time), so the long ones start at once and the short ones fill the gaps at the end.
SLOWEST_FIRST = (
    "test_analysis_compare",
    "test_readme_commands",
    "test_analysis_sweep",
    "test_defects_profile",
    "test_chaos",
    "test_capacity",
    "test_gateway",
    "test_analysis_alerts",
    "test_soak_slope",
    "test_run_profiles",
    "test_run_signals",
    "test_analysis_detect_cli",
    "test_kube_operators",
    "test_report_rerender",
    "test_mqtt_transport",
    "test_analysis_site",
    "test_run_cli",
    "test_saturation",
    "test_analysis_tune",
    "test_bad_input",
    "test_analysis_detect",
    "test_etcd_cluster",
)


def _module(item: pytest.Item) -> str:
    return item.module.__name__.rpartition(".")[2] if item.module else ""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("unit") or item.get_closest_marker("integration"):
            continue
        module = _module(item)
        item.add_marker(pytest.mark.integration if module in INTEGRATION_MODULES else pytest.mark.unit)
    rank = {module: i for i, module in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(_module(item), len(rank)))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Keeps gevent's hub busy in an xdist worker, or the worker dies waiting for its next test.

    Collecting imports locust, which monkey-patches threading. A worker's main thread then waits for
    its next test on a patched lock that execnet's native reader thread releases; to a hub with
    nothing else to wait for, that wait looks endless and it raises LoopExit. A greenlet that sleeps
    in a loop gives it something; the release itself still wakes the waiter at once.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    from gevent import monkey

    if monkey.is_module_patched("threading"):
        import gevent

        gevent.spawn(_keep_hub_busy)


def _keep_hub_busy() -> None:
    import gevent

    while True:
        gevent.sleep(1.0)


# optionalhook: the hook exists only with pytest-xdist installed.
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadscope`` with a module as the unit of work, or a test in SPREAD_MODULES.

    (xdist's own ``loadgroup`` marks cannot do it: they rename the test's node id, which pytest 9.2
    no longer lets a plugin do.)
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleOrSpreadScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return nodeid if Path(path).stem in SPREAD_MODULES else path

    return ModuleOrSpreadScheduling(config, log)
