"""Process-wide test settings.

Many tests start subprocesses (the gateway, the CLI, locust) from this pytest
process while grpc.aio threads of the load engine are alive. With gRPC's fork
support on, its post-fork handler can start pollers in the child before the
child execs, which then abort it (seen in CI: SIGABRT with "epoll_wait error:
Bad file descriptor"). Every child here execs at once and needs no gRPC state,
so fork support is turned off before anything imports grpc.
"""

import os

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("unit") or item.get_closest_marker("integration"):
            continue
        module = item.module.__name__.rpartition(".")[2] if item.module else ""
        item.add_marker(pytest.mark.integration if module in INTEGRATION_MODULES else pytest.mark.unit)
