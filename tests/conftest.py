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
