"""Which way a run's operators reach the devices: through Kubernetes (the default) or the control service.

``[operators] api = "auto"`` (the default) is decided once, when the run starts, by ``choose``;
``kubernetes`` and ``control`` are kept as given (what ``kubernetes`` cannot serve is refused
before the run by ``target.check_operator_api``). Rules for ``auto``, in order:

- not aranya's scenario, or no operators (``count`` and ``arrival_rate`` 0): ``control``, silently
  (nothing calls either way, and the embedded gateway then starts no face);
- devices over MQTT: ``control`` (the Kubernetes operators do not carry that transport yet);
- a given target (``--target``) without ``target.kubeconfig``: ``control`` (no cluster to call);
- several embedded gateway processes: ``control`` (the face is served by one process only);
- else ``kubernetes``: the embedded gateway's face, or the given kubeconfig's cluster.

A fallback to ``control`` carries its reason, which the run prints in one line at start-up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from aranya_perf.profiles import Profile

AUTO, CONTROL, KUBERNETES = "auto", "control", "kubernetes"


@dataclass(frozen=True)
class OperatorApi:
    api: str  # CONTROL | KUBERNETES
    fallback: str = ""
    """Why ``auto`` could not take the Kubernetes route ("" when it did, or when nothing was to choose)."""


def choose(p: Profile) -> OperatorApi:
    """The route of ``p``'s operators (the rules in the module's docstring)."""
    if p.operators.api != AUTO:
        return OperatorApi(p.operators.api)
    if not p.fleet_run or not (p.operators.count or p.operators.arrival_rate):
        return OperatorApi(CONTROL)
    if p.target.transport == "mqtt":
        return OperatorApi(CONTROL, "devices over MQTT, which the Kubernetes operators do not carry yet")
    if not p.embedded and p.target.kubeconfig is None:
        return OperatorApi(CONTROL, "--target without --kubeconfig: no cluster to call")
    if p.embedded and p.gateway.process_count > 1:
        return OperatorApi(CONTROL, "the Kubernetes face is served by one gateway process only")
    return OperatorApi(KUBERNETES)


def resolved(p: Profile) -> tuple[Profile, str]:
    """``p`` with its operators' route decided, and the start-up line saying why it fell back ("" if not)."""
    chosen = choose(p)
    out = dataclasses.replace(p, operators=dataclasses.replace(p.operators, api=chosen.api))
    if not chosen.fallback:
        return out, ""
    return out, f"operators through the control service, not Kubernetes: {chosen.fallback}"
