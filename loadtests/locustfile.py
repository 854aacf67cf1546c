"""Locustfile for a fleet of edge devices and the operators who drive them.

    locust -f loadtests/locustfile.py --host 127.0.0.1:PORT            # web UI
    locust -f loadtests/locustfile.py --host 127.0.0.1:PORT --headless -u 203 -r 50 -t 30s

Users split by weight (100 devices per operator); a non-loopback --host is
refused unless --allow-remote is given.
"""

from locust import events

from loadtests import hooks
from loadtests.devices import DeviceUser
from loadtests.operators import OperatorUser

__all__ = ["DeviceUser", "OperatorUser"]

hooks.install(events)
