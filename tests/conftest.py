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
