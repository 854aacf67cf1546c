"""The capacity benchmark's gRPC service for scenario grpc's client: one unary method that answers with
the request's bytes, and its descriptors, so no ``.proto`` file or code generation is needed.

``serve`` runs in a child process of its own (``echo_server``): plain grpc.aio, no (de)serializing,
so the server is as cheap as a gRPC server gets and the clients it answers are what is measured.
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from google.protobuf import descriptor_pb2
from grpc import aio

from aranya_perf.capacity.child import Result, Spec, emit

SERVICE = "bench.v1.Echo"
METHOD = f"{SERVICE}/Unary"


def descriptors() -> bytes:
    """A ``FileDescriptorSet``: ``message Msg { string text = 1; bytes payload = 2; }`` and
    ``service Echo { rpc Unary(Msg) returns (Msg); }`` in package ``bench.v1``."""
    f = descriptor_pb2.FileDescriptorProto(name="bench_echo.proto", package="bench.v1", syntax="proto3")
    msg = f.message_type.add(name="Msg")
    string, data = (
        descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    )
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    msg.field.add(name="text", number=1, type=string, label=optional, json_name="text")
    msg.field.add(name="payload", number=2, type=data, label=optional, json_name="payload")
    service = f.service.add(name="Echo")
    service.method.add(name="Unary", input_type=".bench.v1.Msg", output_type=".bench.v1.Msg")
    return descriptor_pb2.FileDescriptorSet(file=[f]).SerializeToString()


def serve(spec: Spec) -> Result:
    return asyncio.run(_serve(spec))


async def _serve(_spec: Spec) -> Result:
    calls = [0]

    async def unary(request: bytes, _context: aio.ServicerContext) -> bytes:
        calls[0] += 1
        return request

    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Unary": grpc.unary_unary_rpc_method_handler(unary)}
    )
    server = aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    emit("READY", {"port": port})
    # Until the parent closes stdin (or kills this process).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop(1)
    return {"calls": calls[0]}
