"""Run profiles: declared load, target and pass/fail, as TOML files with a validated schema.

One layering rule, applied here and nowhere else: built-in defaults (``schema.py``) <
the profile file < command-line flags (``resolve``'s ``overrides``, keyed ``section.field``).
Shipped profiles live in ``builtin/`` (``smoke`` is the default run); any other TOML file
can be named by its path. ``render`` writes a resolved profile back as TOML, which is what
``aranya-perf profile show`` prints and what a run directory keeps as ``profile.toml``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from aranya_perf.findings import DRIFT, INVARIANTS, SEVERITIES
from aranya_perf.profiles.parse import ProfileError, read_profile, toml_key
from aranya_perf.profiles.schema import SECTIONS, SHAPES, SLO_METRICS, Call, Profile, Slo

__all__ = [
    "BUILTIN",
    "SHAPES",
    "SLO_METRICS",
    "Call",
    "Profile",
    "ProfileError",
    "Slo",
    "builtin_profiles",
    "load",
    "render",
    "resolve",
    "validate",
]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
BUILTIN = Path(__file__).resolve().parent / "builtin"
DEFAULT = "smoke"


def builtin_profiles() -> list[tuple[str, str]]:
    """(name, description) of every shipped profile, by name."""
    out = []
    for path in sorted(BUILTIN.glob("*.toml")):
        out.append((path.stem, read_profile(path).description))
    return out


def load(name_or_path: str) -> Profile:
    """A shipped profile by name, or the profile file at a path (anything with a ``/`` or ``.toml``)."""
    if "/" in name_or_path or name_or_path.endswith(".toml"):
        return read_profile(Path(name_or_path))
    path = BUILTIN / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(n for n, _ in builtin_profiles())
        raise ProfileError(
            f"no profile {name_or_path!r}: shipped are {known}; or give a path to a .toml file"
        )
    return read_profile(path)


def resolve(
    name_or_path: str = DEFAULT,
    overrides: Mapping[str, Any] | None = None,
    calls: tuple[Call, ...] | None = None,
    origins: Mapping[str, str] | None = None,
) -> Profile:
    """The profile with command-line ``overrides`` (``{"fleet.devices": 500, ...}``) on top, validated;
    ``calls`` (``--call``) replace its ``[[call]]`` tables when given. ``origins`` names where overridden
    keys came from (``{"fleet.devices": "--devices"}``), so a refusal blames the flag, not the file."""
    profile = load(name_or_path)
    if overrides:
        profile = apply(profile, overrides)
    if calls:
        profile = dataclasses.replace(profile, calls=calls)
    validate(profile, origins)
    return profile


def apply(profile: Profile, overrides: Mapping[str, Any]) -> Profile:
    """Set ``section.field`` values that were given (None means "not given")."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        name, _, field_name = key.partition(".")
        if name not in SECTIONS or field_name not in {f.name for f in dataclasses.fields(SECTIONS[name])}:
            raise ProfileError(f"no profile key {key!r}")  # a CLI table bug, not the user's
        sections.setdefault(name, {})[field_name] = value
    changed = {
        name: dataclasses.replace(getattr(profile, name), **values) for name, values in sections.items()
    }
    return dataclasses.replace(profile, **changed)


def validate(p: Profile, origins: Mapping[str, str] | None = None) -> None:
    """Rules across keys; a ``ProfileError`` naming the keys and where they came from: the flags in
    ``origins`` (``section.field`` -> flag) that set a key the message names, else the profile file."""
    where = p.source
    named = {_toml_name(key): flag for key, flag in (origins or {}).items()}

    def fail(message: str) -> None:
        flags = [
            flag for key, flag in named.items() if re.search(rf"(?<![\w.]){re.escape(key)}(?!\w)", message)
        ]
        raise ProfileError(f"{', '.join(dict.fromkeys(flags)) or where}: {message}")

    if not p.fleet_run:
        if p.service.users == 0:
            fail(f"nothing to run: scenario {p.run.scenario} with service.users = 0")
        if p.service.think_max_s < p.service.think_min_s:
            fail("service.think_max must not be below service.think_min")
        if p.run.scenario == "grpc" and p.embedded:
            fail("scenario grpc loads a service you run: set target.address (--target HOST:PORT)")
        if p.target.link is not None:
            fail(f"target.link applies to aranya's devices, not to scenario {p.run.scenario}")
        if p.target.transport != "grpc":
            fail(f"target.transport applies to aranya's devices, not to scenario {p.run.scenario}")
        if p.run.scenario == "etcd":
            _validate_etcd(p, fail)
    if p.run.scenario == "grpc":
        if p.grpc.proto and p.grpc.reflection:
            fail("grpc.proto and grpc.reflection are both set: the descriptors come from one of them")
        if not (p.grpc.proto or p.grpc.reflection):
            fail(
                "scenario grpc needs descriptors: grpc.proto files (--proto) or grpc.reflection "
                "(--reflection)"
            )
        if not p.calls:
            fail("scenario grpc needs [[call]] tables (or --call METHOD)")
        if not any(c.weight > 0 for c in p.calls):
            fail("every [[call]] has a weight of 0")
    elif p.calls:
        fail(f"[[call]] tables apply to scenario grpc, not to scenario {p.run.scenario}")
    elif p.fleet.devices + p.operators.count == 0 and p.operators.arrival_rate == 0:
        fail("nothing to run: fleet.devices and operators.count are both 0")
    for name, level in p.findings.severity.items():
        if name not in INVARIANTS + DRIFT:
            fail(f"findings.severity: unknown invariant {name!r}; known: {', '.join(INVARIANTS + DRIFT)}")
        if level not in SEVERITIES:
            fail(f"findings.severity.{name}: expected one of {', '.join(SEVERITIES)}, got {level!r}")
    if p.behaviours and not p.fleet_run:
        fail(f"[[fleet.behaviour]] tables apply to aranya's devices, not to scenario {p.run.scenario}")
    if p.fleet.backoff_max_s < p.fleet.backoff_initial_s:
        fail("fleet.backoff_max must not be below fleet.backoff_initial")
    if p.operators.think_max_s < p.operators.think_min_s:
        fail("operators.think_max must not be below operators.think_min")
    if p.operators.arrival_rate and not p.operators.max_in_flight:
        fail("operators.max_in_flight must be positive in the open model (operators.arrival_rate > 0)")
    if not any(p.operators.mix.values()):
        fail("operators.mix gives every call a weight of 0")
    g = p.gateway
    several = isinstance(g.processes, int) and g.processes > 1
    if isinstance(g.processes, int) and g.processes < 1:
        fail("gateway.processes must be at least 1")
    faults = g.stall_s or g.reset_at_s
    if not p.embedded and (g.listener_per_device or several or faults or g.emulate):
        fail("[gateway] settings apply to the embedded gateway only; target.address is set")
    if p.gateway.stall_s and not p.gateway.stall_at_s:
        fail("gateway.stall needs gateway.stall_at")
    s = p.shape
    full, full_key = (p.fleet.devices, "fleet.devices") if p.fleet_run else (p.service.users, "service.users")
    if any(level > full for level in s.levels):
        fail(f"shape.levels go above {full_key} ({full})")
    for key in ("storm_fraction", "storm_duplicate"):
        if not 0 <= getattr(s, key) <= 1:
            fail(f"shape.{key} must be between 0 and 1")
    if s.kind == "storm" and not s.storm_at_s:
        fail("shape.kind = 'storm' needs shape.storm_at")
    if s.kind == "spike" and not (s.spike_s and s.spike_devices):
        fail("shape.kind = 'spike' needs shape.spike, shape.spike_devices")
    events = [*s.storm_at_s, s.spike_at_s + s.spike_s]
    if max(events, default=0) > p.run.duration_s:
        fail("shape times go beyond run.duration")
    for item in p.slo:
        if item.max is not None and item.min is not None and item.min > item.max:
            fail(f"slo {item.label()!r}: min is above max")
    if p.target.link is not None:
        from aranya_perf.link.profiles import LinkProfileError, from_document, get

        try:
            get(p.target.link, from_document({"link": p.links}, where))
        except LinkProfileError as exc:
            fail(f"target.link: {exc}")
        if p.embedded and several and not p.gateway.listener_per_device:
            fail("target.link goes in front of one shared listener, or of a listener per device")
    if p.embedded and p.target.pid is not None:
        fail("target.pid applies to a given target (target.address), not to the embedded gateway")
    if p.queries and not p.target.prometheus:
        fail("[[query]] tables need target.prometheus, the server to ask")


def _toml_name(key: str) -> str:
    """``run.duration_s`` as messages name it: ``run.duration``."""
    section, _, field_name = key.partition(".")
    return f"{section}.{toml_key(field_name)}"


def _validate_etcd(p: Profile, fail: Callable[[str], None]) -> None:
    e = p.etcd
    if not any(e.mix.values()):
        fail("etcd.mix gives every call a weight of 0")
    if e.keys < 1:
        fail("etcd.keys must be at least 1")
    if not e.prefix:
        fail("etcd.prefix must not be empty: the run deletes every key under it")
    if e.key_size < len(str(e.keys - 1)):
        fail(f"etcd.key_size ({e.key_size}) is too small to number {e.keys} keys")
    if e.value_size < 8:
        fail("etcd.value_size must be at least 8 (each value starts with the put's time)")
    if not 1 <= e.members <= 7:
        fail("etcd.members must be between 1 and 7")
    if e.leases and e.keepalive_interval_s >= e.lease_ttl_s:
        fail("etcd.keepalive_interval must be below etcd.lease_ttl, or the leases expire")


def render(p: Profile) -> str:
    """The resolved profile as TOML (every key, defaults included), commented with each key's help."""
    lines = [
        f"# resolved from {p.source}",
        f"name = {_toml(p.name)}",
        f"description = {_toml(p.description)}",
    ]
    for name in SECTIONS:
        lines += ["", f"[{name}]"]
        lines += list(_fields(getattr(p, name)))
    for item in p.slo:
        lines += ["", "[[slo]]"]
        lines += list(_fields(item))
    for item in p.behaviours:
        lines += ["", "[[fleet.behaviour]]"]
        lines += list(_fields(item))
    for item in p.calls:
        lines += ["", "[[call]]"]
        lines += list(_fields(item))
    for name, table in p.links.items():
        lines += ["", f"[link.{json.dumps(name)}]", *(f"{k} = {_toml(v)}" for k, v in table.items())]
    for query in p.queries:
        lines += ["", "[[query]]", *(f"{k} = {_toml(v)}" for k, v in query.items())]
    return "\n".join(lines) + "\n"


def _fields(obj: Any) -> Iterable[str]:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = toml_key(f.name)
        text = f"# {f.metadata['help']}"
        if value is None:
            yield f"# {key} =  {text}"
        else:
            yield f"{key} = {_toml(value, f.metadata['kind'])}  {text}"


def _toml(value: Any, kind: str = "") -> str:
    if kind in ("duration", "interval") and isinstance(value, float):
        return json.dumps(f"{value:g}s")
    if kind == "durations":
        return "[" + ", ".join(json.dumps(f"{v:g}s") for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        items = [f"{k if _BARE_KEY.match(k) else json.dumps(k)} = {_toml(v)}" for k, v in value.items()]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value)
