"""Reading a profile's TOML into the schema's dataclasses, refusing what does not fit.

Every problem is one line naming the file and the key: an unknown section or key (with
the known ones), a value of the wrong kind, an SLO without a bound. TOML keys are the
field names, without the ``_s`` of durations (``duration = "45s"``, ``backoff_max = "10s"``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aranya_perf.limits import MAX_DURATION_S, MAX_PAYLOAD_BYTES, format_duration
from aranya_perf.profiles.schema import SECTIONS, SLO_METRICS, Behaviour, Call, Profile, Slo

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_METHOD = re.compile(r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*/[A-Za-z_]\w*$|^[A-Za-z_]\w*/[A-Za-z_]\w*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
LATENCY_METRICS = ("p50", "p90", "p99", "p999", "mean", "max")


class ProfileError(ValueError):
    """A profile that cannot be read or does not fit the schema; the message is one line."""


def toml_key(field_name: str) -> str:
    return field_name[:-2] if field_name.endswith("_s") else field_name


def seconds(value: Any) -> float | None:
    """``"45s"``, ``"250ms"``, ``"2m"`` or a finite number of seconds; None when it is none of them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _UNITS[m.group(2) or "s"]
    return None


def read_value(kind: str, value: Any, key: str, spec: Mapping[str, Any]) -> Any:
    """One TOML value by its field kind; ``ValueError`` with the reason otherwise."""
    if kind in ("duration", "interval"):
        s = seconds(value)
        if s is None or s < 0 or (kind == "duration" and s == 0):
            need = "a positive duration" if kind == "duration" else "a duration (0 = off)"
            raise ValueError(f"expected {need} like '30s', got {value!r}")
        if s > MAX_DURATION_S:
            raise ValueError(f"{value!r} is longer than {format_duration(MAX_DURATION_S)}")
        return s
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"expected a non-negative integer, got {value!r}")
        return value
    if kind == "count_or_auto":
        return value if value == "auto" else read_value("count", value, key, spec)
    if kind == "bytes":
        if read_value("count", value, key, spec) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"{value:,} bytes is more than {MAX_PAYLOAD_BYTES:,} (a typo?)")
        return value
    if kind in ("positive", "rate"):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
            or (kind == "positive" and value == 0)
        ):
            raise ValueError(
                f"expected a {'positive' if kind == 'positive' else 'non-negative'} number, got {value!r}"
            )
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind in ("str", "path"):
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if kind == "choice":
        if value not in spec["choices"]:
            raise ValueError(f"expected one of {', '.join(spec['choices'])}, got {value!r}")
        return value
    if kind == "names":
        if not isinstance(value, list):
            raise ValueError(f"expected a list of names, got {value!r}")
        return list(dict.fromkeys(read_value("choice", v, key, spec) for v in value))
    if kind == "counts":
        if not isinstance(value, list):
            raise ValueError(f"expected a list of counts, got {value!r}")
        return [read_value("count", v, key, spec) for v in value]
    if kind == "durations":
        if not isinstance(value, list):
            raise ValueError(f"expected a list of durations, got {value!r}")
        return [read_value("interval", v, key, spec) for v in value]
    if kind == "weights":
        if not isinstance(value, dict):
            raise ValueError(f"expected a table of weights, got {value!r}")
        unknown = sorted(set(value) - set(spec["choices"]))
        if unknown:
            raise ValueError(f"unknown name(s) {', '.join(unknown)}; known: {', '.join(spec['choices'])}")
        weights = {name: read_value("rate", v, key, spec) for name, v in value.items()}
        return {name: weights.get(name, 0.0) for name in spec["choices"]}
    if kind == "paths":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"expected a list of file names, got {value!r}")
        return list(value)
    if kind == "template":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError(f"expected a table or a JSON object, got {value!r}")
        return json.dumps(value, separators=(",", ":"), default=str)
    if kind == "labels":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValueError(f"expected a table of strings, got {value!r}")
        return dict(value)
    raise ValueError(f"no reader for kind {kind!r}")  # a schema bug, not the user's


def section(cls: type, table: Any, where: str, name: str, base: Any = None) -> Any:
    """A section dataclass from its TOML table, on top of ``base`` (defaults when None)."""
    if not isinstance(table, dict):
        raise ProfileError(f"{where}: [{name}] must be a table")
    fields = {toml_key(f.name): f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ProfileError(f"{where}: unknown key {name}.{unknown[0]} (known: {', '.join(sorted(fields))})")
    values = {}
    for key, value in table.items():
        f = fields[key]
        try:
            values[f.name] = read_value(f.metadata["kind"], value, key, f.metadata)
        except ValueError as exc:
            raise ProfileError(f"{where}: {name}.{key}: {exc}") from None
    return dataclasses.replace(base if base is not None else cls(), **values)


def slo(table: Any, where: str, index: int) -> Slo:
    label = f"slo #{index}"
    if not isinstance(table, dict):
        raise ProfileError(f"{where}: [[slo]] #{index} must be a table")
    raw = dict(table)
    bounds = {k: raw.pop(k) for k in ("max", "min") if k in raw}
    item = section(Slo, raw, where, label)
    if not bounds:
        raise ProfileError(f"{where}: {label}: needs a max or a min")
    values = {}
    for key, value in bounds.items():
        try:
            values[key] = threshold(item.metric, value)
        except ValueError as exc:
            raise ProfileError(f"{where}: {label}.{key}: {exc}") from None
    return dataclasses.replace(item, **values)


def behaviour(table: Any, where: str, index: int) -> Behaviour:
    """One ``[[fleet.behaviour]]`` table; what only some kinds take is checked here."""
    label = f"fleet.behaviour #{index}"
    if not isinstance(table, dict):
        raise ProfileError(f"{where}: [[fleet.behaviour]] #{index} must be a table")
    item = section(Behaviour, table, where, label)
    if not 0 < item.fraction <= 1:
        raise ProfileError(f"{where}: {label}.fraction must be above 0 and at most 1")
    if item.kind in ("half", "huge") and not set(item.commands) <= {"exec", "logs", "metrics_collect"}:
        raise ProfileError(f"{where}: {label}: {item.kind} applies to exec, logs and metrics_collect only")
    if item.delay_max_s and item.delay_max_s < item.delay_s:
        raise ProfileError(f"{where}: {label}.delay_max must not be below delay")
    if item.kind == "deaf" and not item.delay_s:
        raise ProfileError(f"{where}: {label}: deaf needs delay (how long it stops reading)")
    return item


def call(table: Any, where: str, index: int) -> Call:
    """One ``[[call]]`` table; the method's existence is checked against the service's descriptors later."""
    if not isinstance(table, dict):
        raise ProfileError(f"{where}: [[call]] #{index} must be a table")
    item = section(Call, table, where, f"call #{index}")
    if not _METHOD.match(item.method):
        raise ProfileError(
            f"{where}: call #{index}.method: expected 'package.Service/Method', got {item.method!r}"
        )
    return item


def threshold(metric: str, value: Any) -> float:
    """A bound in the metric's unit: ms for latencies ('250ms', '1.5s' or a number of ms), seconds for
    ``online_within`` and ``max_stall``, a plain number otherwise."""
    if metric in LATENCY_METRICS:
        if isinstance(value, str):
            s = seconds(value)
            if s is None:
                raise ValueError(f"expected a latency like '250ms', got {value!r}")
            return s * 1000.0
    elif metric in ("online_within", "max_stall") and isinstance(value, str):
        s = seconds(value)
        if s is None:
            raise ValueError(f"expected a duration like '30s', got {value!r}")
        return s
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"expected a non-negative number, got {value!r}")
    return float(value)


def parse_profile(doc: Mapping[str, Any], where: str, name: str, base: Profile | None = None) -> Profile:
    """A profile from a parsed TOML document, layered on ``base`` (built-in defaults when None)."""
    base = base if base is not None else Profile()
    top = {"name", "description", *SECTIONS, "slo", "call", "link", "query"}
    unknown = sorted(set(doc) - top)
    if unknown:
        raise ProfileError(f"{where}: unknown key {unknown[0]} (known: {', '.join(sorted(top))})")
    description = doc.get("description", base.description)
    if not isinstance(description, str):
        raise ProfileError(f"{where}: description must be a string")
    name = doc.get("name", name)  # a file's own name wins over its file name (a rendered profile.toml)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ProfileError(f"{where}: name must be letters, digits, '.', '-' or '_', got {name!r}")
    behaviours = base.behaviours
    if isinstance(doc.get("fleet"), dict) and "behaviour" in doc["fleet"]:
        doc = {**doc, "fleet": dict(doc["fleet"])}
        tables = doc["fleet"].pop("behaviour")
        if not isinstance(tables, list):
            raise ProfileError(f"{where}: fleet.behaviour must be a list of [[fleet.behaviour]] tables")
        behaviours = tuple(behaviour(t, where, i) for i, t in enumerate(tables, start=1))
    sections = {
        key: section(cls, doc[key], where, key, getattr(base, key))
        for key, cls in SECTIONS.items()
        if key in doc
    }
    slos = base.slo
    if "slo" in doc:
        if not isinstance(doc["slo"], list):
            raise ProfileError(f"{where}: slo must be a list of [[slo]] tables")
        slos = tuple(slo(t, where, i) for i, t in enumerate(doc["slo"], start=1))
    calls = base.calls
    if "call" in doc:
        if not isinstance(doc["call"], list):
            raise ProfileError(f"{where}: call must be a list of [[call]] tables")
        calls = tuple(call(t, where, i) for i, t in enumerate(doc["call"], start=1))
    links, queries = base.links, base.queries
    if "link" in doc:
        from aranya_perf.link.profiles import LinkProfileError, from_document

        try:
            from_document({"link": doc["link"]}, where)
        except LinkProfileError as exc:
            raise ProfileError(str(exc)) from None
        links = {name: dict(table) for name, table in doc["link"].items()}
    if "query" in doc:
        from aranya_perf.measure.promql import parse_queries

        if not isinstance(doc["query"], list):
            raise ProfileError(f"{where}: query must be a list of [[query]] tables")
        try:
            parse_queries(doc["query"], where)
        except ValueError as exc:
            raise ProfileError(str(exc)) from None
        queries = tuple(dict(q) for q in doc["query"])
    unknown_metric = [s.metric for s in slos if s.metric not in SLO_METRICS]
    if unknown_metric:  # pragma: no cover - the choice reader refuses them first
        raise ProfileError(f"{where}: unknown SLO metric {unknown_metric[0]}")
    return dataclasses.replace(
        base,
        name=name,
        description=description,
        source=where,
        slo=slos,
        behaviours=behaviours,
        calls=calls,
        links=links,
        queries=queries,
        **sections,
    )


def parse_profile_text(text: str, where: str, name: str | None = None) -> Profile:
    """A profile from TOML text (e.g. ``render``'s output carried to a Locust worker)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{where}: not valid TOML: {exc}") from None
    return parse_profile(doc, where, name or "profile")


def read_profile(path: Path, name: str | None = None) -> Profile:
    """The profile in a TOML file; its name is the file's stem unless given."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    return parse_profile(doc, str(path), name or path.stem)
