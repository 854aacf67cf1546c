"""The device protocol over gRPC: the ``Sync`` bidi RPC, server and client side, for any version.

A version's method path (``/aranya.EdgeDevice/Sync``, or ``/aranya.Connectivity/Sync`` in
2020-09) and its frame types come from its ``Protocol``; the handlers are registered as
generic handlers because our proto packages are our own, not aranya's. A gateway also
answers the method paths of the versions it does not speak, with FAILED_PRECONDITION and a
message naming both versions, so a mismatched device fails at once with a clear reason
instead of an UNIMPLEMENTED it cannot explain. Devices of this suite name their version in
``x-aranya-perf-protocol`` metadata, which the gateway checks the same way; a real agent
sends none, and is then judged by its bytes alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc import aio

from aranya_perf import protocol as protocols
from aranya_perf.protocol import PROTOCOL_METADATA_KEY, Protocol

SyncBehaviour = Callable[[Any, aio.ServicerContext], Awaitable[None]]


def sync_handlers(proto: Protocol, behaviour: SyncBehaviour) -> list[grpc.GenericRpcHandler]:
    """Handlers for ``proto``'s Sync method, plus refusals on the other versions' method paths."""

    handlers = [
        grpc.method_handlers_generic_handler(
            proto.service,
            {
                "Sync": grpc.stream_stream_rpc_method_handler(
                    behaviour,
                    request_deserializer=proto.msg_type.FromString,
                    response_serializer=proto.cmd_type.SerializeToString,
                )
            },
        )
    ]
    for service in sorted({p.service for p in map(protocols.get, protocols.NAMES)} - {proto.service}):
        speakers = ", ".join(p.name for p in protocols.by_service(service))

        async def refuse(_requests: Any, context: aio.ServicerContext, speakers: str = speakers) -> None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, protocols.mismatch(speakers, proto.name))

        handlers.append(
            grpc.method_handlers_generic_handler(
                service, {"Sync": grpc.stream_stream_rpc_method_handler(refuse)}
            )
        )
    return handlers


def device_protocol(context: aio.ServicerContext) -> str | None:
    """The version a device of this suite says it speaks, or None (a real agent says nothing)."""
    for key, value in context.invocation_metadata() or ():
        if key == PROTOCOL_METADATA_KEY:
            return value if isinstance(value, str) else value.decode()
    return None


def open_sync(
    proto: Protocol,
    channel: aio.Channel,
    metadata: Sequence[tuple[str, str]] | None = None,
    timeout: float | None = None,
) -> aio.StreamStreamCall:
    """Start ``Sync`` on ``channel`` as a device of ``proto``, naming the version in the metadata."""
    call = channel.stream_stream(
        proto.method,
        request_serializer=proto.msg_type.SerializeToString,
        response_deserializer=proto.cmd_type.FromString,
    )
    return call(metadata=(*(metadata or ()), (PROTOCOL_METADATA_KEY, proto.name)), timeout=timeout)


def explain_rpc_error(proto: Protocol, exc: aio.AioRpcError) -> str | None:
    """A one-line reason when a Sync call failed because the target speaks another version, else None."""
    code = exc.code()
    details = exc.details() or ""
    if code == grpc.StatusCode.FAILED_PRECONDITION and details.startswith("protocol mismatch"):
        _, sep, gateway = details.rpartition("gateway speaks ")
        return protocols.mismatch(proto.name, gateway) if sep else details
    if code == grpc.StatusCode.UNIMPLEMENTED:
        others = ", ".join(p.name for p in map(protocols.get, protocols.NAMES) if p.service != proto.service)
        return (
            f"protocol mismatch: device speaks {proto.name} ({proto.method}), which the target does not "
            f"serve (UNIMPLEMENTED); it may speak {others}"
        )
    return None
