"""A profile's ``[[call]]`` tables resolved against the service's descriptors: what each call invokes,
how (the method's kind, from its descriptor), and with which request template.

``resolve_calls`` is run twice with the same answer: by the run verb before anything is written (so an
unknown method or a template that does not fit is a one-line error), and by every Locust process from
the descriptor set it was handed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from aranya_perf.grpc_service.descriptors import (
    ServiceError,
    Services,
    Tls,
    compile_protos,
    from_reflection,
    load,
    method_kind,
)
from aranya_perf.grpc_service.templates import Context, Template
from aranya_perf.profiles.schema import Call, Profile
from aranya_perf.targets import (
    check_target,
    format_address,
    probe_grpc,
    strip_scheme,
    tls_in_use,
    wait_reachable,
)

REACH_TIMEOUT_S = 5.0

REQUEST_TYPE = "grpc"
"""Request type of every call in the results: an SLO's kind is ``grpc <call name>``."""


@dataclass(frozen=True)
class ServiceCall:
    name: str
    path: str
    """``/package.Service/Method``, as it goes on the wire."""
    kind: str
    """``unary``, ``server_stream``, ``client_stream`` or ``bidi_stream``."""
    weight: float
    template: Template
    messages: int
    """Requests a client or bidi stream sends (1 for the others)."""
    interval_s: float
    metadata: tuple[tuple[str, str], ...]

    def requests(self, c: Context) -> list[bytes]:
        """The serialized requests of one call for the client ``c``."""
        return [self.template.build(c) for _ in range(self.messages)]


def resolve_calls(calls: tuple[Call, ...], descriptors: bytes | Services) -> list[ServiceCall]:
    """Each call with its method and compiled template; ``ServiceError`` (one line, naming the call)."""
    services = descriptors if isinstance(descriptors, Services) else load(descriptors)
    out = []
    for i, call in enumerate(calls, start=1):
        where = f"call #{i} ({call.label})"
        try:
            m = services.method(call.method)
        except ServiceError as exc:
            raise ServiceError(f"{where}: {exc}") from None
        kind = method_kind(m)
        streams_out = kind in ("client_stream", "bidi_stream")
        if not streams_out and call.messages != 1:
            raise ServiceError(f"{where}: messages = {call.messages}, but {call.method} takes one request")
        if streams_out and call.messages < 1:
            raise ServiceError(f"{where}: messages must be at least 1")
        template = Template(call.request, m.input_type, where)
        template.build(Context(0, random.Random(0)))  # a request that does not fit fails here, not in the run
        out.append(
            ServiceCall(
                name=call.label,
                path=f"/{call.method}",
                kind=kind,
                weight=call.weight,
                template=template,
                messages=call.messages if streams_out else 1,
                interval_s=call.interval_s if streams_out else 0.0,
                metadata=tuple((k.lower(), v) for k, v in call.metadata.items()),
            )
        )
    return out


def describe(calls: list[ServiceCall]) -> dict[str, str]:
    """Call name -> method kind, for meta.json."""
    return {c.name: c.kind for c in calls}


def prepare(p: Profile, *, allow_remote: bool) -> tuple[bytes, list[ServiceCall]]:
    """Scenario grpc's descriptors and calls, before anything is written: protoc over ``grpc.proto``, or
    server reflection at the first endpoint of ``target.address`` (loopback unless ``allow_remote``).

    ``ServiceError`` for what the user must fix; ``TargetError``/``TargetUnreachable`` for the target.
    """
    g = p.grpc
    if g.proto:
        data = compile_protos(g.proto, g.import_paths)
    else:
        assert p.target.address is not None
        first = strip_scheme(p.target.address.split(",")[0].strip())
        host, port = check_target(first, allow_remote=allow_remote)
        wait_reachable(host, port, timeout=REACH_TIMEOUT_S)
        if not tls_in_use(p.target.tls_ca, p.target.tls_cert):
            probe_grpc(host, port, timeout=REACH_TIMEOUT_S)
        data = from_reflection(format_address(host, port), tls=_tls(p))
    return data, resolve_calls(p.calls, data)


def _tls(p: Profile) -> Tls | None:
    t = p.target
    if not (t.tls_ca or t.tls_cert):
        return None

    def read(path: str | None) -> bytes | None:
        if not path:
            return None
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise ServiceError(f"cannot read {path}: {exc.strerror or exc}") from None

    return Tls(read(t.tls_ca), read(t.tls_cert), read(t.tls_key), t.tls_server_name)
