"""What every Locust process of a run knows: the resolved profile, where devices connect, which
control services operators call, and which worker this process is.

One ``RunSettings`` per Locust environment, made on first use by ``settings_for``. Where it
comes from, first match wins:

1. ``configure(environment, ...)``: library use (``aranya-perf run``'s master or local
   runner, tests, benchmarks);
2. the parsed options ``aranya-perf run`` sets on its master (``PROFILE_OPTION``, the
   resolved profile as TOML; ``DEVICES_OPTION``/``CONTROLS_OPTION``, the target). Locust
   copies custom parsed options into every spawn message, so a worker on another machine
   learns the whole run from its master and needs nothing but ``--master-host``;
3. ``locust -f loadtests/locustfile.py``: Locust's own ``--profile NAME|PATH`` (default
   ``smoke``), ``--protocol`` and ``--address-map`` on top, ``--host`` as the target.

One exception: a worker started with its own address map (``--address-map``) keeps it (the master's copy
of its options would overwrite it), because only the worker knows how its devices reach the
target, e.g. through the edge link it runs beside it; ``remember_worker_options`` saves it
before the first spawn message arrives.

The worker count comes from ``--expect-workers`` (also copied to workers); the worker index
from the master's acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aranya_perf import profiles
from aranya_perf.address_map import AddressMap, DeviceAddress, parse
from aranya_perf.profiles import Profile
from aranya_perf.profiles.parse import parse_profile_text
from aranya_perf.targets import TargetError, strip_scheme

PROFILE_OPTION = "aranya_perf_profile"
DEVICES_OPTION = "aranya_perf_devices"  # [[id, address, tls_server_name], ...] or [address, ...] (shards)
CONTROLS_OPTION = "aranya_perf_controls"  # [address, ...]
ALLOW_REMOTE_OPTION = "allow_remote"

_ATTR = "_aranya_perf_settings"
_WORKER_MAP_ATTR = "_aranya_perf_worker_address_map"


@dataclass(frozen=True)
class RunSettings:
    profile: Profile
    address_map: AddressMap
    """Where each device connects."""
    controls: tuple[str, ...]
    """Control services the operators call; a device is reached through the one its shard is on."""
    allow_remote: bool = False
    worker_index: int = 0
    workers: int = 1


def configure(
    environment: Any,
    profile: Profile,
    address_map: AddressMap,
    controls: tuple[str, ...] = (),
    *,
    allow_remote: bool = False,
) -> RunSettings:
    """Settings for a run driven from Python (the environment's own process only)."""
    settings = RunSettings(profile, address_map, tuple(controls), allow_remote)
    setattr(environment, _ATTR, settings)
    return settings


def settings_for(environment: Any) -> RunSettings:
    """The environment's settings; ``TargetError`` (one line) when there is no usable target."""
    settings = getattr(environment, _ATTR, None)
    if settings is None:
        # First asked by a user's on_start: a worker has had its index from the master by then.
        settings = _from_options(environment)
        setattr(environment, _ATTR, settings)
    return settings


def remember_worker_options(environment: Any, address_map: str | None = None) -> None:
    """On a worker, before its master's first message: keep its own address map (``address_map``, else
    its ``--address-map`` option) from being overwritten by the master's."""
    opts = environment.parsed_options
    own = address_map or (getattr(opts, "address_map", None) if opts else None)
    setattr(environment, _WORKER_MAP_ATTR, own)


def _from_options(environment: Any) -> RunSettings:
    opts = environment.parsed_options
    allow_remote = bool(getattr(opts, ALLOW_REMOTE_OPTION, False))
    text = getattr(opts, PROFILE_OPTION, None)
    if text:
        profile = parse_profile_text(text, "the master's profile")
    else:
        overrides = {"target.protocol": getattr(opts, "protocol", None)}
        profile = profiles.resolve(getattr(opts, "profile", None) or profiles.DEFAULT, overrides)
    devices = getattr(opts, DEVICES_OPTION, None)
    controls = tuple(getattr(opts, CONTROLS_OPTION, None) or ())
    host = strip_scheme(environment.host) if environment.host else None
    own_map = getattr(environment, _WORKER_MAP_ATTR, None)
    if devices and not own_map:
        amap = _map_from_option(devices)
    else:
        spec = own_map or getattr(opts, "address_map", None) or profile.target.address or host
        if not spec:
            raise TargetError("no target: pass --host HOST:PORT or --address-map")
        amap = parse(strip_scheme(spec), allow_remote=allow_remote, prefix=profile.fleet.prefix)
    if not controls:
        control = profile.target.control or host or amap.shared
        controls = (control,) if control else amap.shards
    runner = getattr(environment, "runner", None)
    index = max(0, int(getattr(runner, "worker_index", 0) or 0))
    workers = int(getattr(opts, "expect_workers", 1) or 1) if type(runner).__name__ == "WorkerRunner" else 1
    return RunSettings(profile, amap, controls, allow_remote, index, workers)


def _map_from_option(items: list[Any]) -> AddressMap:
    if all(isinstance(i, str) for i in items):
        return AddressMap("the master's target", shards=tuple(items))
    return AddressMap("the master's target", tuple(DeviceAddress(*map(_none_if_empty, i)) for i in items))


def _none_if_empty(value: Any) -> Any:
    return value if value not in ("", None) else None


def map_option(amap: AddressMap) -> list[Any]:
    """An address map as ``DEVICES_OPTION`` carries it to workers."""
    if amap.shards:
        return list(amap.shards)
    return [[e.device_id, e.address, e.tls_server_name or ""] for e in amap.entries]
