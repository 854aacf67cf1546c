"""The chart's locustfile: aranya-perf's users with exact counts from the chart's load values.

ARANYA_PERF_DEVICES and ARANYA_PERF_OPERATORS are the totals over all workers; Locust splits
fixed counts across workers. Operators are left out when their count is 0. The base classes
are reached through their modules: Locust runs every user class it finds in this namespace.
"""

import os

from aranya_perf.loadtests import devices, hooks, operators
from locust import events


class DeviceUser(devices.DeviceUser):
    fixed_count = int(os.environ.get("ARANYA_PERF_DEVICES", "100"))


if int(os.environ.get("ARANYA_PERF_OPERATORS", "0")) > 0:

    class OperatorUser(operators.OperatorUser):
        fixed_count = int(os.environ["ARANYA_PERF_OPERATORS"])


hooks.install(events)
