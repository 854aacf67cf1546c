"""A real gRPC service for scenario grpc's tests, run as its own process (never inside pytest's, which
has imported Locust and so gevent).

Serves ``tests/data/echo.proto``'s ``echo.v1.Echo`` (one method of each kind), the standard health
service (grpcio-health-checking) and server reflection (grpcio-reflection; ``--no-reflection`` leaves
it out). Prints ``{"port": N}`` once it listens; on SIGTERM or SIGINT it stops and prints one line
``{"stats": ...}``: per method, the calls it saw, the messages it read and wrote, the status codes it
ended calls with, the distinct ``text`` values and ``payload`` lengths of the requests. Tests set our
counts against these.

    python tests/grpc_echo_server.py [--port 0] [--no-reflection]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

PROTO = Path(__file__).resolve().parent / "data" / "echo.proto"
SERVICE = "echo.v1.Echo"


def _compile() -> descriptor_pool.DescriptorPool:
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).resolve().parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "echo.binpb"
        args = ["protoc", f"-I{PROTO.parent}", f"-I{include}", f"--descriptor_set_out={out}", PROTO.name]
        if protoc.main(args) != 0:
            raise SystemExit(f"cannot compile {PROTO}")
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    return pool


class Stats:
    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.messages_in: dict[str, int] = defaultdict(int)
        self.messages_out: dict[str, int] = defaultdict(int)
        self.codes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.texts: dict[str, set[str]] = defaultdict(set)
        self.payloads: dict[str, set[int]] = defaultdict(set)

    def request(self, method: str, req: Any) -> None:
        self.messages_in[method] += 1
        self.texts[method].add(req.text)
        self.payloads[method].add(len(req.payload))

    def as_json(self) -> dict[str, Any]:
        methods = sorted(set(self.calls) | set(self.messages_in))
        return {
            m: {
                "calls": self.calls.get(m, 0),
                "messages_in": self.messages_in.get(m, 0),
                "messages_out": self.messages_out.get(m, 0),
                "codes": dict(self.codes.get(m, {})),
                "texts": len(self.texts.get(m, ())),
                "payloads": sorted(self.payloads.get(m, ())),
            }
            for m in methods
        }


class Counting(aio.ServerInterceptor):
    """Every call started, by method (health included; reflection left out)."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        if "ServerReflection" not in details.method:
            self.stats.calls[details.method.lstrip("/")] += 1
        return await continuation(details)


def echo_handlers(pool: descriptor_pool.DescriptorPool, stats: Stats) -> grpc.GenericRpcHandler:
    Req = message_factory.GetMessageClass(pool.FindMessageTypeByName("echo.v1.EchoRequest"))
    Reply = message_factory.GetMessageClass(pool.FindMessageTypeByName("echo.v1.EchoReply"))

    async def fail_if_asked(method: str, req: Any, context: aio.ServicerContext) -> None:
        if req.fail_code:
            code = grpc.StatusCode(next(c.value for c in grpc.StatusCode if c.value[0] == req.fail_code))
            stats.codes[method][code.name] += 1
            await context.abort(code, f"asked to fail with {code.name}")

    def done(method: str) -> None:
        stats.codes[method]["OK"] += 1

    async def unary(req: Any, context: aio.ServicerContext) -> Any:
        m = f"{SERVICE}/Unary"
        stats.request(m, req)
        await fail_if_asked(m, req, context)
        stats.messages_out[m] += 1
        done(m)
        return Reply(text=req.text, payload=req.payload, seq=req.seq)

    async def server_stream(req: Any, context: aio.ServicerContext) -> Any:
        m = f"{SERVICE}/ServerStream"
        stats.request(m, req)
        await fail_if_asked(m, req, context)
        for i in range(req.replies):
            stats.messages_out[m] += 1
            yield Reply(text=req.text, payload=req.payload, seq=i)
        done(m)

    async def client_stream(requests: Any, context: aio.ServicerContext) -> Any:
        m = f"{SERVICE}/ClientStream"
        n = 0
        async for req in requests:
            stats.request(m, req)
            await fail_if_asked(m, req, context)
            n += 1
        stats.messages_out[m] += 1
        done(m)
        return Reply(received=n)

    async def bidi(requests: Any, context: aio.ServicerContext) -> Any:
        m = f"{SERVICE}/Bidi"
        async for req in requests:
            stats.request(m, req)
            await fail_if_asked(m, req, context)
            stats.messages_out[m] += 1
            yield Reply(text=req.text, payload=req.payload, seq=req.seq)
        done(m)

    kw = {"request_deserializer": Req.FromString, "response_serializer": Reply.SerializeToString}
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary, **kw),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream, **kw),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream, **kw),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi, **kw),
        },
    )


async def serve(port: int, with_reflection: bool) -> None:
    pool = _compile()
    stats = Stats()
    server = aio.server(interceptors=[Counting(stats)])
    server.add_generic_rpc_handlers([echo_handlers(pool, stats)])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await health_servicer.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    if with_reflection:
        names = (SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, server, pool=_with_health(pool))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(json.dumps({"port": bound}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1.0)
    print(json.dumps({"stats": stats.as_json()}), flush=True)


def _with_health(pool: descriptor_pool.DescriptorPool) -> descriptor_pool.DescriptorPool:
    # Reflection answers from one pool: ours, with the health service's file added.
    fd = descriptor_pb2.FileDescriptorProto()
    health_pb2.DESCRIPTOR.CopyToProto(fd)
    pool.Add(fd)
    return pool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-reflection", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.port, not args.no_reflection))
    return 0


if __name__ == "__main__":
    sys.exit(main())
