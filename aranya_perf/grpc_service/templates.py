"""Request templates: a ``[[call]]``'s ``request`` (protobuf JSON, as grpcurl takes it) with variables in
its strings, compiled once against the method's input message and rendered into each request.

Variables, each written in braces inside a JSON string:

* ``{seq}``: the request's number in its client, from 0 (every message of a stream counts one);
* ``{user}``: the client's number in the run, from 0;
* ``{rand:N}``: a random integer from 0 to N-1;
* ``{bytes:N}``: N random bytes; in a ``bytes`` field it must be the whole string (the field then holds
  exactly N bytes), in a ``string`` field it is N random letters and digits;
* ``{choice:a|b|c}``: one of the options, uniformly;
* ``{{`` and ``}}``: a literal brace.

A string made of variables reaches numeric fields as its digits, which protobuf JSON accepts. Randomness
comes from the client's own ``random.Random`` (seeded from the run's seed), so a run is repeatable.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from aranya_perf.grpc_service.descriptors import ServiceError

_VAR = re.compile(r"\{\{|\}\}|\{([a-z]+)(?::([^{}]*))?\}|[{}]")
_ALNUM = string.ascii_lowercase + string.digits
MAX_BYTES = 64 * 1024 * 1024


@dataclass
class Context:
    """What a client's variables read: its number, its request counter and its random source."""

    user: int
    rng: random.Random
    seq: int = 0


Part = str | Callable[[Context], str]


def _parse(text: str, where: str) -> list[Part]:
    """A template string as literal text and variable functions; ``ServiceError`` on a bad variable."""
    parts: list[Part] = []
    pos = 0
    for m in _VAR.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif token in ("{", "}"):
            raise ServiceError(f"{where}: a lone {token!r} in {text!r} (write {token * 2} for a brace)")
        else:
            parts.append(_variable(m.group(1), m.group(2), text, where))
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def _count_arg(name: str, arg: str | None, text: str, where: str, low: int) -> int:
    if arg is None or not arg.isdigit() or int(arg) < low:
        raise ServiceError(f"{where}: {{{name}:N}} needs an integer N >= {low}, in {text!r}")
    return int(arg)


def _variable(name: str, arg: str | None, text: str, where: str) -> Callable[[Context], str]:
    if name in ("seq", "user") and arg is None:
        return (lambda c: str(c.seq)) if name == "seq" else (lambda c: str(c.user))
    if name == "rand":
        n = _count_arg(name, arg, text, where, 1)
        return lambda c: str(c.rng.randrange(n))
    if name == "bytes":
        n = _count_arg(name, arg, text, where, 0)
        if n > MAX_BYTES:
            raise ServiceError(f"{where}: {{bytes:{n}}} is above {MAX_BYTES} bytes")
        return lambda c: "".join(c.rng.choices(_ALNUM, k=n))
    if name == "choice" and arg:
        options = arg.split("|")
        return lambda c: c.rng.choice(options)
    known = "{seq}, {user}, {rand:N}, {bytes:N}, {choice:a|b}"
    written = f"{{{name}{':' + arg if arg is not None else ''}}}"
    raise ServiceError(f"{where}: unknown variable {written} in {text!r} (known: {known})")


class _Str:
    """A string leaf with variables."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[Part]) -> None:
        self.parts = parts

    def render(self, c: Context) -> str:
        return "".join(p if isinstance(p, str) else p(c) for p in self.parts)


class _RandomBytes:
    """``{bytes:N}`` filling a bytes field: N random bytes, base64 as protobuf JSON has them."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def render(self, c: Context) -> str:
        return base64.b64encode(c.rng.randbytes(self.n)).decode("ascii")


class _Obj:
    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self.items = items

    def render(self, c: Context) -> dict[str, Any]:
        return {k: _render(v, c) for k, v in self.items}


class _List:
    __slots__ = ("items",)

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def render(self, c: Context) -> list[Any]:
        return [_render(v, c) for v in self.items]


def _render(node: Any, c: Context) -> Any:
    return node.render(c) if isinstance(node, _Str | _RandomBytes | _Obj | _List) else node


def _dynamic(node: Any) -> bool:
    return isinstance(node, _Str | _RandomBytes | _Obj | _List)


def _field(desc: Descriptor | None, key: str) -> FieldDescriptor | None:
    if desc is None:
        return None
    f = desc.fields_by_name.get(key)
    if f is None:
        f = next((x for x in desc.fields if x.json_name == key), None)
    return f


def _map_entry(f: FieldDescriptor) -> bool:
    return f.message_type is not None and f.message_type.GetOptions().map_entry


def _compile(value: Any, desc: Descriptor | None, f: FieldDescriptor | None, where: str, path: str) -> Any:
    """``value`` as a constant, or a node that renders it; ``desc``/``f``: the message or field it fills."""
    if isinstance(value, dict):
        if f is not None and _map_entry(f):
            vf = f.message_type.fields_by_name["value"]
            items = [(k, _compile(v, vf.message_type, vf, where, f"{path}.{k}")) for k, v in value.items()]
        else:
            # Well-known types (Struct, Any, ...) have JSON of their own: their strings are plain text.
            inner = None if desc is not None and desc.full_name.startswith("google.protobuf.") else desc
            items = []
            for k, v in value.items():
                sub = _field(inner, k)
                sub_desc = sub.message_type if sub is not None else None
                items.append((k, _compile(v, sub_desc, sub, where, f"{path}.{k}")))
        if not any(_dynamic(v) for _, v in items):
            return {k: v for k, v in items}
        return _Obj(items)
    if isinstance(value, list):
        nodes = [_compile(v, desc, f, where, f"{path}[{i}]") for i, v in enumerate(value)]
        return _List(nodes) if any(_dynamic(n) for n in nodes) else nodes
    if isinstance(value, str):
        parts = _parse(value, where)
        if all(isinstance(p, str) for p in parts):
            return "".join(parts)  # type: ignore[arg-type]
        if f is not None and f.type == FieldDescriptor.TYPE_BYTES:
            m = re.fullmatch(r"\{bytes:(\d+)\}", value)
            if not m:
                raise ServiceError(
                    f"{where}: {path.lstrip('.')} is a bytes field: its template is base64, or exactly "
                    f"{{bytes:N}}, not {value!r}"
                )
            return _RandomBytes(_count_arg("bytes", m.group(1), value, where, 0))
        return _Str(parts)
    return value


class Template:
    """A request template compiled against its message type; ``build`` makes one serialized request."""

    def __init__(self, request_json: str, desc: Descriptor, where: str) -> None:
        self.where = where
        self.message_class = message_factory.GetMessageClass(desc)
        try:
            doc = json.loads(request_json)
        except json.JSONDecodeError as exc:
            raise ServiceError(f"{where}: request is not JSON: {exc}") from None
        self.root = _compile(doc, desc, None, where, "")
        self.static = None if _dynamic(self.root) else self._serialize(self.root)

    def render(self, c: Context) -> Any:
        """The request as protobuf JSON (a dict) for ``c``; moves ``c.seq`` on."""
        doc = _render(self.root, c)
        c.seq += 1
        return doc

    def build(self, c: Context) -> bytes:
        """One serialized request for ``c``; ``ServiceError`` when the rendered request does not fit."""
        if self.static is not None:
            c.seq += 1
            return self.static
        return self._serialize(self.render(c))

    def _serialize(self, doc: Any) -> bytes:
        try:
            return json_format.ParseDict(doc, self.message_class()).SerializeToString()
        except json_format.ParseError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            what = self.message_class.DESCRIPTOR.full_name
            raise ServiceError(f"{self.where}: request does not fit {what}: {reason}") from None
