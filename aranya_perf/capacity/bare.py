"""Bare grpc.aio clients for the capacity benchmark: the floor our generator is compared with.

Plain asyncio in a process that never imports Locust or gevent, no thread hand-off, no
reporting, no latency recording: what a hand-written client needs to do the same work as
our users. ``operators`` calls Control.Exec in a closed loop like ``OperatorUser``'s exec
task (same request, same check of the answer, one channel and TCP connection per caller);
``fleet`` holds device streams and answers the gateway's commands and pushes status with the
same bytes ``DeviceAgent`` sends, minus its bookkeeping. ``device_host`` runs the devices
the operators' Execs go to (``DeviceAgent`` on a plain loop), in a process of its own so
their CPU is not the measured generator's.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
import zlib
from typing import Any

from grpc import aio

from aranya_perf import codec, protocol
from aranya_perf.capacity.child import Result, Spec, emit, open_fds, phase, rss_kib
from aranya_perf.loadtests import payloads
from aranya_perf.protocol import Op, Reply
from aranya_perf.protocol.control import ControlStub
from aranya_perf.protocol.control import messages as ctl
from aranya_perf.transport.grpc_sync import open_sync

OWN_CONNECTION = [
    ("grpc.max_receive_message_length", codec.MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", codec.MAX_MESSAGE_BYTES),
    ("grpc.use_local_subchannel_pool", 1),
]
EXEC_COMMAND = ["ls", "-l", "/var/lib/app"]  # OperatorUser's
CONNECT_SEQUENCE = 3  # node info (all), pod list, metrics config


def exec_request(device_id: str, stdout_bytes: int) -> Any:
    """The Exec an ``OperatorUser`` sends: a pod's container, so aranya-v0.2+ route it through a runtime."""
    return ctl.ExecRequest(
        device_id=device_id,
        pod_uid="pod-0",
        container="app",
        command=EXEC_COMMAND,
        envs={payloads.STDOUT_BYTES_ENV: str(stdout_bytes)},
    )


# -- operators ---------------------------------------------------------------------------------------


def operators(spec: Spec) -> Result:
    return asyncio.run(_operators(spec))


async def _operators(spec: Spec) -> Result:
    users, window_s, warmup = spec["users"], spec["window_s"], spec["warmup_requests"]
    want = spec["stdout_bytes"]
    stubs = [ControlStub(aio.insecure_channel(spec["target"], options=OWN_CONNECTION)) for _ in range(users)]
    devices = list((await stubs[0].ListDevices(ctl.ListDevicesRequest(), timeout=10)).device_ids)
    if not devices:
        raise RuntimeError("the gateway lists no devices")
    requests = [exec_request(d, want) for d in devices]
    samples: list[float] = []
    failures = [0]
    stop = [False]

    async def caller(i: int) -> None:
        rng = random.Random(i)
        while not stop[0]:
            t0 = time.perf_counter()
            try:
                resp = await stubs[i].Exec(rng.choice(requests), timeout=30)
                if resp.exit_code != 0 or len(resp.stdout) != want:
                    raise RuntimeError("wrong Exec answer")
            except Exception:
                failures[0] += 1
                continue
            samples.append((time.perf_counter() - t0) * 1000)

    tasks = [asyncio.create_task(caller(i)) for i in range(users)]
    deadline = time.monotonic() + 30
    while len(samples) < warmup and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    phase("measure", window_s + 15)
    n0, f0 = len(samples), failures[0]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(window_s)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n1, f1 = len(samples), failures[0]
    phase("measured", 15)
    stop[0] = True
    await asyncio.wait(tasks, timeout=5)
    window = samples[n0:n1]
    return {
        "requests": n1 - n0,
        "failures": f1 - f0,
        "cpu_s": cpu,
        "wall_s": wall,
        "p50_ms": statistics.median(window) if window else None,
    }


# -- a bare device fleet -------------------------------------------------------------------------------


class _Answers:
    """What a device sends, built once per device: the bare fleet's answers cost a frame each."""

    def __init__(self, proto: protocol.Protocol, device_id: str) -> None:
        from aranya_perf.loadtests.device_agent import DeviceProfile

        profile = DeviceProfile()  # the sizes our DeviceUser sends by default
        self.node_all = proto.node_status_body(
            payloads.node_info(device_id, profile.node_status_bytes), full=True
        )
        self.node_dyn = proto.node_status_body(payloads.node_info(device_id, 0), full=False)
        self.metrics = payloads.metrics_text(device_id, profile.metrics_bytes)
        self.pods = proto.pod_status_list_body(payloads.pods(device_id, profile.pods))


async def _bare_device(
    proto: protocol.Protocol,
    channel: aio.Channel,
    device_id: str,
    answers: _Answers,
    counts: dict[str, int],
    status_s: float,
    rng: random.Random,
) -> None:
    """One device: online, answer what the gateway sends, push status; no reconnects, no reports."""
    call = open_sync(proto, channel)
    lock = asyncio.Lock()
    new_msg, msg = proto.new_msg, proto.msg
    max_payload = proto.max_payload

    async def write(frame: Any) -> None:
        async with lock:  # grpc.aio allows one write in flight per call
            await call.write(frame)

    async def push_status() -> None:
        await asyncio.sleep(rng.uniform(0, status_s))
        frame = new_msg(msg.NODE_STATUS, 0, answers.node_dyn, 0, True)
        while True:
            await write(frame)
            counts["status"] += 1
            await asyncio.sleep(status_s)

    async def send_data(kind: int, sid: int, data: bytes) -> None:
        for frame in codec.chunk_frames(new_msg, kind, sid, data, max_payload=max_payload, complete=True):
            await write(frame)

    await write(proto.online(device_id))
    pusher = None
    counts["online"] += 1
    try:
        while True:
            cmd = await call.read()
            if cmd is aio.EOF:
                return
            kind, sid, _seq, _complete, payload = proto.unpack(cmd)
            command = proto.read_command(kind, payload)
            op = command.op
            if op is Op.NODE_INFO:
                await send_data(
                    msg.NODE_STATUS, sid, answers.node_all if command.body.kind else answers.node_dyn
                )
            elif op is Op.METRICS_COLLECT:
                await send_data(msg.DATA, sid, answers.metrics)
            elif op is Op.METRICS_CONFIG:
                kind_out, body = proto.result(Reply.DONE, b"", runtime=command.via_runtime)
                await write(new_msg(kind_out, sid, body, 0, True))
            elif op is Op.POD_LIST:
                kind_out, body = proto.result(
                    Reply.POD_STATUS_LIST, answers.pods, runtime=command.via_runtime
                )
                await write(new_msg(kind_out, sid, body, 0, True))
            elif op is Op.SESSION_CLOSE:
                continue
            elif op is Op.REJECT:
                raise RuntimeError(f"{device_id} rejected: {proto.read_reject(payload)}")
            else:
                continue  # nothing else is sent in the fleet modes
            counts["commands"] += 1
            if pusher is None and status_s > 0:
                pusher = asyncio.get_running_loop().create_task(push_status())
    finally:
        if pusher is not None:
            pusher.cancel()
        counts["online"] -= 1


def fleet(spec: Spec) -> Result:
    return asyncio.run(_fleet(spec))


async def _fleet(spec: Spec) -> Result:
    n, target, status_s, window_s = spec["devices"], spec["target"], spec["status_s"], spec["window_s"]
    proto = protocol.get(spec.get("protocol", protocol.DEFAULT))
    counts = {"commands": 0, "status": 0, "online": 0}
    errors: list[str] = []
    rss0 = rss_kib()

    async def device(i: int) -> None:
        device_id = f"{spec['prefix']}-{i:05d}"
        channel = aio.insecure_channel(target, options=OWN_CONNECTION)
        try:
            await _bare_device(
                proto, channel, device_id, _Answers(proto, device_id), counts, status_s,
                random.Random(i),
            )  # fmt: skip
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    phase("connect", spec["online_timeout_s"] + 10)
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(device(i)) for i in range(n)]
    while counts["commands"] < CONNECT_SEQUENCE * n and time.perf_counter() - t0 < spec["online_timeout_s"]:
        if len(errors) >= n:
            raise RuntimeError(f"every device failed: {errors[0]}")
        await asyncio.sleep(0.05)
    online_s = time.perf_counter() - t0
    await asyncio.sleep(spec.get("settle_s", 1.0))
    rss1 = rss_kib()
    phase("measure", window_s + 15)
    c0, s0, e0 = counts["commands"], counts["status"], len(errors)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(window_s)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    commands, status = counts["commands"] - c0, counts["status"] - s0
    online = counts["online"]
    phase("measured", 15)
    for t in tasks:
        t.cancel()
    return {
        "devices": n,
        "online": online,
        "online_s": online_s,
        "commands": commands,
        "status": status,
        "work": commands + status,
        "errors": len(errors) - e0,
        "error_sample": errors[:3],
        "cpu_s": cpu,
        "wall_s": wall,
        "rss_kib_per_device": (rss1 - rss0) / n,
        "fds": open_fds(),
    }


# -- the devices operators talk to -----------------------------------------------------------------------


def device_host(spec: Spec) -> Result:
    return asyncio.run(_device_host(spec))


def _agents(spec: Spec, devices: list[tuple[str, str]], errors: list[str]) -> list[Any]:
    """A ``DeviceAgent`` per (device id, address) on this plain loop, without status pushes (every frame
    answers a command); its failures are appended to ``errors``."""
    from aranya_perf.loadtests.device_agent import DeviceAgent, DeviceProfile

    proto = protocol.get(spec.get("protocol", protocol.DEFAULT))

    def report(_type: str, name: str, _ms: float, _length: int, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{name}: {exc}")

    profile = DeviceProfile(status_push_interval_s=0)
    return [
        DeviceAgent(
            device, aio.insecure_channel(address, options=OWN_CONNECTION), report, proto, profile, seed=i
        )
        for i, (device, address) in enumerate(devices)
    ]


async def _all_online(agents: list[Any], timeout_s: float, poll_s: float) -> None:
    """Until every agent is online, its connect sequence answered; ``RuntimeError`` after ``timeout_s``."""
    t0 = time.perf_counter()
    while not all(a.online and a.commands >= CONNECT_SEQUENCE for a in agents):
        if time.perf_counter() - t0 > timeout_s:
            raise RuntimeError(f"{sum(not a.online for a in agents)} devices not online after {timeout_s:g}s")
        await asyncio.sleep(poll_s)


async def _device_host(spec: Spec) -> Result:
    errors: list[str] = []
    devices = [(f"{spec['prefix']}-{i:05d}", spec["target"]) for i in range(spec["devices"])]
    agents = _agents(spec, devices, errors)
    tasks = [asyncio.create_task(a.run()) for a in agents]
    await _all_online(agents, 30.0, 0.02)
    emit("READY", {"devices": len(agents)})
    # Until the parent closes stdin (or kills this process).
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    for t in tasks:
        t.cancel()
    return {"errors": len(errors), "error_sample": errors[:3]}


# -- service: etcd Put clients -------------------------------------------------------------------------


def etcd_kv(spec: Spec) -> Result:
    """``clients`` bare grpc.aio Put clients in a closed loop (``aranya_perf.etcd.bare``) for ``window_s``."""
    from aranya_perf.etcd.bare import measure

    phase("measure", spec["window_s"] + 45)
    r = asyncio.run(
        measure(spec["endpoints"], spec["clients"], 0.0, spec["window_s"], spec["prefix"].encode())
    )
    phase("measured", 15)
    elapsed = r["puts"] / r["puts_per_s"]
    return {**r, "cpu_s": r["cpu_percent"] / 100 * elapsed, "wall_s": elapsed, "failures": 0}


# -- service: a gRPC unary client ----------------------------------------------------------------------


def grpc_unary(spec: Spec) -> Result:
    return asyncio.run(_grpc_unary(spec))


async def _grpc_unary(spec: Spec) -> Result:
    """``clients`` bare grpc.aio callers of the echo service's Unary, closed-loop, for ``window_s`` after a
    warm-up; the request is the same message scenario grpc's template makes, encoded once."""
    from aranya_perf.capacity.echo import METHOD

    request = spec["request"].encode("latin-1")
    channels = [aio.insecure_channel(spec["target"], options=OWN_CONNECTION) for _ in range(spec["clients"])]
    samples: list[float] = []
    measuring = [False]
    stop = [False]

    async def caller(channel: aio.Channel) -> None:
        call = channel.unary_unary(f"/{METHOD}", request_serializer=None, response_deserializer=None)
        while not stop[0]:
            start = time.perf_counter()
            await call(request, timeout=10.0)
            if measuring[0]:
                samples.append((time.perf_counter() - start) * 1000)

    tasks = [asyncio.create_task(caller(ch)) for ch in channels]
    try:
        await asyncio.sleep(spec["warmup_s"])
        phase("measure", spec["window_s"] + 15)
        measuring[0] = True
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(spec["window_s"])
        measuring[0] = False
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        phase("measured", 15)
        n = len(samples)
        stop[0] = True
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
    finally:
        for t in tasks:
            t.cancel()
        for ch in channels:
            await ch.close()
    q = statistics.quantiles(samples, n=100, method="inclusive") if len(samples) > 1 else [None] * 99
    return {"calls": n, "failures": 0, "cpu_s": cpu, "wall_s": wall, "calls_per_s": n / wall,
            "p50_ms": q[49], "p99_ms": q[98]}  # fmt: skip


# -- gateway: the floor of a device-facing server, and the fleet both servers are measured under --------


class _FloorStream:
    """One device stream of the bare server: its writes (one at a time, as grpc.aio wants) and the Execs
    waiting for their answer, by session id."""

    __slots__ = ("context", "lock", "pending", "sid")

    def __init__(self, context: aio.ServicerContext) -> None:
        self.context = context
        self.lock = asyncio.Lock()
        self.pending: dict[int, tuple[asyncio.Future[bytes], list[bytes]]] = {}
        self.sid = 0

    async def send(self, new_cmd: Any, kind: int, body: bytes) -> int:
        self.sid += 1
        async with self.lock:
            await self.context.write(new_cmd(kind, self.sid, body, 0, True))
        return self.sid


def server(spec: Spec) -> Result:
    return asyncio.run(_server(spec))


async def _server(spec: Spec) -> Result:
    """The gateway's floor: one grpc.aio listener per device (as aranya runs one per EdgeDevice) whose
    Sync handler waits for the device's online, sends the connect sequence, then NODE_INFO_GET(DYN)
    every ``node_info_s`` at a per-device phase, and reads every frame the device sends; a Control.Exec
    on the control listener becomes one exec command whose stdout is returned. Command bodies are built
    once; no registry, no metrics, no session bookkeeping beyond an Exec's answer."""
    import grpc

    from aranya_perf.address_map import device_ids
    from aranya_perf.gateway.config import NODE_METRICS_COLLECT
    from aranya_perf.transport.grpc_sync import sync_handlers

    proto = protocol.get(spec.get("protocol", protocol.DEFAULT))
    period = spec["node_info_s"]
    new_cmd, node_info, data = proto.new_cmd, proto.cmd.NODE_INFO_GET, proto.msg.DATA
    connect = (
        (node_info, proto.node_info_get_body(True)),
        proto.pod_list_command()[:2],
        (proto.cmd.METRICS_CONFIG, proto.metrics_config_body(NODE_METRICS_COLLECT)),
    )
    node_dyn = proto.node_info_get_body(False)
    env = {payloads.STDOUT_BYTES_ENV: str(spec["stdout_bytes"])}
    exec_kind, exec_body, _ = proto.command(
        Op.EXEC, proto.exec_body("pod-0", "app", EXEC_COMMAND, env), runtime=proto.via_runtime("pod-0")
    )
    streams: dict[str, _FloorStream] = {}
    counts = {"frames": 0}
    loop = asyncio.get_running_loop()

    def behaviour(device_id: str) -> Any:
        async def sync(_requests: Any, context: aio.ServicerContext) -> None:
            online = await context.read()
            if online is aio.EOF or proto.unpack(online)[0] != proto.msg.STATE:
                return
            stream = streams[device_id] = _FloorStream(context)

            async def tick() -> None:
                await asyncio.sleep(zlib.crc32(device_id.encode()) / 2**32 * period)
                while True:
                    await stream.send(new_cmd, node_info, node_dyn)
                    await asyncio.sleep(period)

            for kind, body in connect:
                await stream.send(new_cmd, kind, body)
            ticker = loop.create_task(tick()) if period > 0 else None
            try:
                while (msg := await context.read()) is not aio.EOF:
                    counts["frames"] += 1
                    kind, sid, _seq, complete, payload = proto.unpack(msg)
                    waiting = stream.pending.get(sid)
                    if waiting is None:
                        continue
                    if kind == data:
                        waiting[1].append(payload)
                    if complete:
                        del stream.pending[sid]
                        waiting[0].set_result(b"".join(waiting[1]))
            finally:
                if ticker is not None:
                    ticker.cancel()
                streams.pop(device_id, None)

        return sync

    async def exec_(request: ctl.ExecRequest, context: aio.ServicerContext) -> ctl.ExecResponse:
        stream = streams.get(request.device_id)
        if stream is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"device {request.device_id} not online")
        assert stream is not None
        answer: asyncio.Future[bytes] = loop.create_future()
        stream.pending[stream.sid + 1] = (answer, [])
        await stream.send(new_cmd, exec_kind, exec_body)
        return ctl.ExecResponse(stdout=await asyncio.wait_for(answer, 30), exit_code=0)

    servers = []
    addresses: dict[str, str] = {}
    for device_id in device_ids(spec["prefix"], spec["devices"]):
        s = aio.server(options=OWN_CONNECTION[:2])
        s.add_generic_rpc_handlers(sync_handlers(proto, behaviour(device_id)))
        addresses[device_id] = f"127.0.0.1:{s.add_insecure_port('127.0.0.1:0')}"
        servers.append(s)
    control = aio.server(options=OWN_CONNECTION[:2])
    control.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "aranyaperf.control.Control",
                {
                    "Exec": grpc.unary_unary_rpc_method_handler(
                        exec_,
                        request_deserializer=ctl.ExecRequest.FromString,
                        response_serializer=ctl.ExecResponse.SerializeToString,
                    )
                },
            ),
        )
    )
    control_port = control.add_insecure_port("127.0.0.1:0")
    servers.append(control)
    for s in servers:
        await s.start()
    emit("READY", {"control": f"127.0.0.1:{control_port}", "address_file": _write_addresses(spec, addresses)})
    # Until the parent closes stdin (or kills this process).
    await loop.run_in_executor(None, sys.stdin.read)
    await asyncio.gather(*(s.stop(0) for s in servers))
    return {"frames": counts["frames"]}


def _write_addresses(spec: Spec, addresses: dict[str, str]) -> str:
    """The device -> listener map as a CSV file (too long for a READY line at thousands of devices)."""
    from pathlib import Path

    from aranya_perf.address_map import DeviceAddress, write_csv

    path = Path(spec["address_file"])
    write_csv(path, [DeviceAddress(d, a) for d, a in addresses.items()])
    return str(path)


def gateway_fleet(spec: Spec) -> Result:
    return asyncio.run(_gateway_fleet(spec))


async def _gateway_fleet(spec: Spec) -> Result:
    """The fleet a device-facing server is measured under: ``DeviceAgent``s on a plain loop, one per
    entry of the address file (no status pushes: every frame answers a command), plus Control.Exec
    calls at ``exec_rate`` per second to random devices through ``control``. Commands answered, Execs
    and failures are counted over ``window_s`` after all are online; the server's CPU is the parent's
    reading between the ``measure`` and ``measured`` phases."""
    from pathlib import Path

    from aranya_perf.address_map import read_file

    entries = read_file(Path(spec["address_file"])).entries
    errors: list[str] = []
    agents = _agents(spec, [(e.device_id, e.address) for e in entries], errors)
    phase("connect", spec["online_timeout_s"] + 10)
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(a.run()) for a in agents]
    await _all_online(agents, spec["online_timeout_s"], 0.05)
    online_s = time.perf_counter() - t0
    await asyncio.sleep(spec.get("settle_s", 1.0))
    execs = {"ok": 0, "failed": 0}
    caller = asyncio.create_task(_exec_at_rate(spec, [a.device_id for a in agents], execs, errors))
    phase("measure", spec["window_s"] + 15)
    c0, x0, f0, e0 = sum(a.commands for a in agents), execs["ok"], execs["failed"], len(errors)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(spec["window_s"])
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    c1, x1, f1, e1 = sum(a.commands for a in agents), execs["ok"], execs["failed"], len(errors)
    phase("measured", 15)
    caller.cancel()
    for t in tasks:
        t.cancel()
    return {
        "devices": len(agents),
        "online": sum(a.online for a in agents),
        "online_s": online_s,
        "commands": c1 - c0,
        "execs": x1 - x0,
        "exec_failures": f1 - f0,
        "errors": e1 - e0,
        "error_sample": errors[e0 : e0 + 3],
        "cpu_s": cpu,
        "wall_s": wall,
    }


async def _exec_at_rate(spec: Spec, devices: list[str], execs: dict[str, int], errors: list[str]) -> None:
    """Control.Exec at ``exec_rate`` per second (open model: started on time, however long each takes)."""
    rate = spec.get("exec_rate") or 0.0
    if rate <= 0:
        return
    want = spec["stdout_bytes"]
    stub = ControlStub(aio.insecure_channel(spec["control"], options=OWN_CONNECTION))
    requests = [exec_request(d, want) for d in devices]
    rng = random.Random(0)
    running: set[asyncio.Task[None]] = set()

    async def one() -> None:
        try:
            resp = await stub.Exec(rng.choice(requests), timeout=10)
            if resp.exit_code != 0 or len(resp.stdout) != want:
                raise RuntimeError(f"wrong Exec answer: exit {resp.exit_code}, {len(resp.stdout)} bytes")
            execs["ok"] += 1
        except Exception as exc:
            execs["failed"] += 1
            errors.append(f"Exec: {exc}")

    due = time.perf_counter()
    while True:
        due += 1 / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        t = asyncio.get_running_loop().create_task(one())
        running.add(t)
        t.add_done_callback(running.discard)
