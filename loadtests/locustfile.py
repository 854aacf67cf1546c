"""Locustfile for a fleet of edge devices and the operators who drive them.

    locust -f loadtests/locustfile.py --host 127.0.0.1:PORT --profile step     # a run profile's shape
    locust -f loadtests/locustfile.py --host 127.0.0.1:PORT --headless -u 101 -r 50 -t 30s

With ``--profile NAME|PATH`` (default ``smoke``) the profile's shape, fleet, operators and
duration drive the run; with ``-u`` and no profile, users split by weight (100 devices per
operator). A non-loopback --host is refused unless --allow-remote is given. Distributed:
``--master --expect-workers N`` here, ``--worker --master-host H`` on each worker (or
``aranya-perf worker --master-host H``). This is the raw mode, and it says so at start-up: Locust's
own statistics and exit code; ``aranya-perf run`` writes exact latency, SLO verdicts and a report.
"""

from aranya_perf.loadtests import hooks
from aranya_perf.loadtests.devices import DeviceUser
from aranya_perf.loadtests.operators import ArrivalUser, OperatorUser
from aranya_perf.loadtests.shapes import ProfileShape
from locust import events

__all__ = ["ArrivalUser", "DeviceUser", "OperatorUser", "ProfileShape"]

hooks.install(events)
