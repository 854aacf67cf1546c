"""Request kinds (``"<type> <name>"``): which rows a kind glob covers, and the operator calls' names.

An operator call is reported under its route's own name, so reports read like the API it went
through: ``control Exec`` on the gateway's control service, ``kube exec`` through Kubernetes.
``OPERATOR_CALLS`` is the one table of those names. A **route-neutral** kind names the call
without the route, under the type ``operator`` (``operator exec``, ``operator *``): it covers the
rows of every route, so a profile's SLO holds whichever way its operators went. Rows of an
operator route that are not calls (``control arrivals``, ``kube operator``: a schedule or a loop
that died) keep their own name under ``operator``, so ``operator *`` covers them as
``control *`` did.

Matching rules (``matches``), in order: a service-time twin (``... (service time)``) is covered only
by a glob that names it; a glob covers a row when it matches the row's own key or, for a row of
an operator route, its neutral key.
"""

from __future__ import annotations

import fnmatch

from aranya_perf.measure.latency import SERVICE_SUFFIX, histogram_key, split_key

NEUTRAL_TYPE = "operator"
"""The request type of route-neutral kinds; no row is ever reported under it."""

OPERATOR_CALLS: dict[str, dict[str, str]] = {
    # call (a profile's operators.mix key, or list) -> its name on each route, and its neutral name
    "exec": {"control": "Exec", "kube": "exec", NEUTRAL_TYPE: "exec"},
    "logs": {"control": "Logs", "kube": "logs", NEUTRAL_TYPE: "logs"},
    "port_forward": {"control": "PortForward", "kube": "portforward", NEUTRAL_TYPE: "portforward"},
    "metrics": {"control": "CollectMetrics", "kube": "metrics", NEUTRAL_TYPE: "metrics"},
    "list": {"control": "ListDevices", "kube": "list", NEUTRAL_TYPE: "list"},
}
ROUTE_TYPES = ("control", "kube")
"""Request types of the operator routes: the gateway's control service, and Kubernetes."""
ANY_CALL = histogram_key(NEUTRAL_TYPE, "*")
"""Every operator row of either route."""

_NEUTRAL_NAMES = {
    (route, names[route]): names[NEUTRAL_TYPE] for names in OPERATOR_CALLS.values() for route in ROUTE_TYPES
}


def call_names(route: str) -> dict[str, str]:
    """A route's request names of the mix's calls (``list`` aside): ``{"exec": "Exec", ...}``."""
    return {call: names[route] for call, names in OPERATOR_CALLS.items() if call != "list"}


def neutral_key(key: str) -> str | None:
    """``kube exec`` -> ``operator exec``; None for a row of no operator route (``device connect``)."""
    request_type, name = split_key(key)
    if request_type not in ROUTE_TYPES:
        return None
    twin = SERVICE_SUFFIX if name.endswith(SERVICE_SUFFIX) else ""
    base = name.removesuffix(twin) if twin else name
    return histogram_key(NEUTRAL_TYPE, _NEUTRAL_NAMES.get((request_type, base), base) + twin)


def matches(key: str, pattern: str) -> bool:
    """Whether the kind glob ``pattern`` covers the row ``key`` (the rules in the module's docstring)."""
    if key.endswith(SERVICE_SUFFIX) and SERVICE_SUFFIX.strip() not in pattern:
        return False
    if fnmatch.fnmatchcase(key, pattern):
        return True
    neutral = neutral_key(key)
    return neutral is not None and fnmatch.fnmatchcase(neutral, pattern)
