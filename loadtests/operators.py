"""Operators: people running kubectl exec/logs/port-forward against online devices, in two load models.

Calls go through a gateway's control service (the stand-in for kube-apiserver -> aranya) and
are timed end to end, device round trip included. Each answer is checked, so a wrong or
short answer counts as a failure. The target container is a pod's (``pod_uid``/``container``
of the profile's ``[operators]``), which aranya-v0.2 and later route through CMD_RUNTIME; an
empty ``pod_uid`` and ``container = "host"`` drive the device host instead. A metrics scrape
(CollectMetrics) stands in for Prometheus pulling a virtual node's metrics. Which call comes
next is drawn from the profile's ``mix`` weights. With several gateway processes, a call
picks one, lists its devices and calls it about one of them: each process only knows its own.

- ``OperatorUser`` (closed model): one call at a time, then a think time. A slow target slows
  the operators down, and so hides part of its slowness (coordinated omission).
- ``ArrivalUser`` (open model): one per run; starts calls at ``arrival_rate`` per second (times
  the shape's level with ``follow_shape``) whatever the response time, at most
  ``max_in_flight`` at once. Each call is timed from its intended start (corrected for
  coordinated omission) and, as ``<name> (service time)``, from when it was actually sent.
  Arrivals that waited for a free slot are queued starts; arrivals started more than
  ``MISSED_START_MS`` late with a slot free are missed starts: the generator fell behind.

Both run on the load engine's loop (``LoopUser``): the schedule is a coroutine, a call costs no
hand-off between gevent and the loop, and reports cross to Locust in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable

import grpc
from aranya_perf.loadtests import payloads
from aranya_perf.loadtests.grpc_user import GrpcUser, RpcFailure, allow_remote_for, target_from_host
from aranya_perf.loadtests.loop_user import CLOSED_POLL_S, LoopUser
from aranya_perf.loadtests.observe import observations_for
from aranya_perf.loadtests.shapes import level_at
from grpc import aio

from aranya_perf.measure.kinds import OPERATOR_CALLS, call_names
from aranya_perf.profiles.schema import OperatorsSection
from aranya_perf.protocol.control import ControlStub
from aranya_perf.protocol.control import messages as ctl

REQUEST_TYPE = "control"
CALL_NAMES = call_names(REQUEST_TYPE)
"""Profile mix key -> the control method (and request name) it calls."""
DEVICE_LIST_TTL_S = 2.0
MISSED_START_MS = 10.0


class WrongAnswer(Exception):
    """The call succeeded but its answer was not what the device must send."""


def _rpc_outcome(exc: Exception) -> tuple[str, str]:
    """A failed control call: ``unanswered`` when only this operator's own deadline ended it, else
    ``error`` (the controller's answer); and what it said."""
    if isinstance(exc, aio.AioRpcError):
        own_deadline = (
            exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED and exc.details() == "Deadline Exceeded"
        )
        return ("unanswered" if own_deadline else "error"), f"{exc.code().name}: {exc.details()}"[:200]
    return "error", f"{exc.__class__.__name__}: {exc}"[:200]


async def observed_call(
    observe: Callable[..., None],
    key: str,
    device: str,
    deadline_s: float,
    call: Callable[[], Awaitable[int]],
    outcome_of: Callable[[Exception], tuple[str, str]],
) -> int:
    """``call()``; one that failed is observed as a ``call`` (``outcome_of`` says ``error`` or
    ``unanswered``) for the run's invariants. An answered call breaks none: not kept, however many."""
    t0, started = time.perf_counter(), time.time()
    try:
        return await call()
    except Exception as exc:
        outcome, detail = outcome_of(exc)
        ms = round((time.perf_counter() - t0) * 1000, 3)
        # Stamped with its start: a call started in the window is judged, wherever it ended.
        observe(
            "call", device, started, call=key, ms=ms, deadline_s=deadline_s, outcome=outcome, detail=detail
        )
        raise


class OperatorCalls:
    """The operator calls on one control service, as coroutines that check their answer and return the
    response length (``WrongAnswer`` when the answer is not the device's)."""

    request_type = REQUEST_TYPE
    list_name = OPERATOR_CALLS["list"][REQUEST_TYPE]
    names = CALL_NAMES
    """Profile mix key -> request name; the open-model schedule reports each call under these."""

    def __init__(
        self,
        stub: ControlStub,
        ops: OperatorsSection,
        metadata: tuple[tuple[str, str], ...] | None,
        observe: Callable[..., None] | None = None,
    ) -> None:
        self.stub, self.ops, self.metadata = stub, ops, metadata
        self.deadline = ops.deadline_s
        self.observe = observe
        self._exec_requests: dict[str, ctl.ExecRequest] = {}

    def make(self, key: str, device: str) -> Callable[[], Awaitable[int]]:
        method = getattr(self, key)
        if self.observe is None:
            return lambda: method(device)
        observe = self.observe
        return lambda: observed_call(
            observe, key, device, self.deadline, lambda: method(device), _rpc_outcome
        )

    async def list_devices(self) -> list[str]:
        resp = await self.stub.ListDevices(
            ctl.ListDevicesRequest(), timeout=self.deadline, metadata=self.metadata
        )
        if self.observe is not None:
            for device in resp.device_ids:
                self.observe("listed", device)
        return list(resp.device_ids)

    async def exec(self, device: str) -> int:
        want = self.ops.exec_stdout_bytes
        req = self._exec_requests.get(device)
        if req is None:  # one per device, built once: every Exec to it asks the same
            req = self._exec_requests[device] = ctl.ExecRequest(
                device_id=device,
                pod_uid=self.ops.pod_uid,
                container=self.ops.container,
                command=["ls", "-l", "/var/lib/app"],
                envs={payloads.STDOUT_BYTES_ENV: str(want)},
            )
        resp = await self.stub.Exec(req, timeout=self.deadline, metadata=self.metadata)
        if resp.exit_code != 0 or len(resp.stdout) != want:
            raise WrongAnswer(f"exec: exit {resp.exit_code}, {len(resp.stdout)} of {want} stdout bytes")
        return len(resp.stdout) + len(resp.stderr)

    async def logs(self, device: str) -> int:
        want = self.ops.log_tail_lines
        req = ctl.LogsRequest(
            device_id=device, pod_uid=self.ops.pod_uid, container=self.ops.container, tail_lines=want
        )
        call = self.stub.Logs(req, timeout=self.deadline, metadata=self.metadata)
        data = b"".join([chunk.data async for chunk in call])
        if (lines := data.count(b"\n")) != want:
            raise WrongAnswer(f"logs: {lines} of {want} lines")
        return len(data)

    async def port_forward(self, device: str) -> int:
        ops = self.ops
        blobs = [random.randbytes(ops.forward_frame_bytes) for _ in range(ops.forward_frames)]
        sent = b"".join(blobs)
        call = self.stub.PortForward(timeout=self.deadline, metadata=self.metadata)
        await call.write(
            ctl.PortForwardFrame(device_id=device, pod_uid=ops.pod_uid, port=8080, data=blobs[0])
        )
        for blob in blobs[1:]:
            await call.write(ctl.PortForwardFrame(data=blob))
        await call.done_writing()
        got = b"".join([frame.data async for frame in call])
        if got != sent:
            raise WrongAnswer(f"port-forward: echoed {len(got)} bytes, sent {len(sent)}, equal={got == sent}")
        return len(got)

    async def metrics(self, device: str) -> int:
        req = ctl.CollectMetricsRequest(device_id=device)
        resp = await self.stub.CollectMetrics(req, timeout=self.deadline, metadata=self.metadata)
        if not resp.data.startswith(b"node_"):
            raise WrongAnswer(f"metrics: {len(resp.data)} bytes not in Prometheus text format")
        return len(resp.data)


def _failure(exc: Exception) -> Exception:
    return RpcFailure.of(exc) if isinstance(exc, aio.AioRpcError) else exc


def call_mix(ops: OperatorsSection) -> tuple[list[str], list[float]]:
    keys = [k for k, w in ops.mix.items() if w > 0]
    return keys, [ops.mix[k] for k in keys]


class _Controls:
    """One channel and ``OperatorCalls`` per control service of the run; the first channel is the user's."""

    def __init__(self, user: GrpcUser) -> None:
        self.user = user
        ops = user.settings.profile.operators
        allow_remote = allow_remote_for(user)
        self.channels = [user.channel]
        for address in user.settings.controls[1:]:
            target = target_from_host(address, allow_remote=allow_remote)
            self.channels.append(user.engine.call(user.open_channel, target, timeout=10))
        observe = observations_for(user.environment).add
        self.calls = [
            OperatorCalls(ControlStub(c), ops, user.call_metadata(), observe) for c in self.channels
        ]

    def close(self) -> None:
        for channel in self.channels[1:]:  # the first is the user's own, closed by GrpcUser
            with contextlib.suppress(Exception):  # the engine is stopping: nothing left to release
                self.user.engine.call(channel.close, 0, timeout=5)


class OperatorUser(LoopUser):
    """Closed model: a call, its answer, a think time, the next call, on the load engine (``LoopUser``)."""

    weight = 1
    loop_request_type = REQUEST_TYPE
    loop_name = "operator"

    def resolve_target(self) -> str:
        controls = self.settings.controls
        return target_from_host(controls[0] if controls else self.host, allow_remote=allow_remote_for(self))

    def on_start(self) -> None:
        super().on_start()
        self.controls = _Controls(self)
        self._keys, self._weights = call_mix(self.settings.profile.operators)
        self._devices: list[list[str]] = [[] for _ in self.controls.calls]
        self._listed_at = [float("-inf")] * len(self.controls.calls)
        self.start_loop()

    def on_stop(self) -> None:
        super().on_stop()  # the loop first: its calls use the channels
        if hasattr(self, "controls"):
            self.controls.close()

    def think(self, busy_s: float) -> float:
        """Seconds to wait before the next call, the last one having taken ``busy_s`` (on the loop)."""
        ops = self.settings.profile.operators
        return random.uniform(ops.think_min_s, ops.think_max_s)

    async def client_loop(self) -> None:
        w = self.window
        while True:
            if not w.open:
                await asyncio.sleep(CLOSED_POLL_S)  # the run is ending: no new calls
                continue
            began = time.perf_counter()
            picked = await self._pick()
            answered = None
            # Counted in flight before the call; a device list may have taken us past the close.
            if picked is not None and w.start_on_loop():
                calls, device = picked
                key = random.choices(self._keys, self._weights)[0]
                answered = await self.timed(REQUEST_TYPE, CALL_NAMES[key], calls.make(key, device))
            wait = self.think(time.perf_counter() - began)
            if picked is None:  # no device online yet: look again a little later, not in a tight loop
                await asyncio.sleep(max(wait, CLOSED_POLL_S))
            elif wait > 0:
                await asyncio.sleep(wait)
            elif answered is None:
                await asyncio.sleep(0)  # a target refusing at once must not starve the loop

    async def _pick(self) -> tuple[OperatorCalls, str] | None:
        i = random.randrange(len(self.controls.calls))
        calls = self.controls.calls[i]
        if time.monotonic() - self._listed_at[i] > DEVICE_LIST_TTL_S and self.window.start_on_loop():
            listed = await self.timed(REQUEST_TYPE, calls.list_name, calls.list_devices, len)
            self._listed_at[i] = time.monotonic()
            if listed is not None:
                self._devices[i] = listed
        devices = self._devices[i]
        return (calls, random.choice(devices)) if devices else None


class ArrivalUser(LoopUser):
    """Open model: this one user runs the run's arrival schedule on the load engine (``LoopUser``); the
    schedule ends with the window, and the user then idles until Locust stops it."""

    weight = 1
    loop_request_type = REQUEST_TYPE
    loop_name = "arrivals"
    loop_may_end = True
    idle_after_loop = True

    def resolve_target(self) -> str:
        return OperatorUser.resolve_target(self)  # type: ignore[arg-type]

    def make_controls(self) -> _Controls:
        """The calls the schedule makes (``.calls``, one per endpoint; ``.close()``)."""
        return _Controls(self)

    def on_start(self) -> None:
        super().on_start()
        self.controls = self.make_controls()
        self._scheduler = ArrivalScheduler(self)
        self.start_loop()

    def on_stop(self) -> None:
        super().on_stop()
        if hasattr(self, "controls"):
            self.controls.close()

    async def client_loop(self) -> None:
        await self._scheduler.run()


class ArrivalScheduler:
    """The open-model schedule on the loop: evenly spaced intended starts, at most ``max_in_flight`` calls."""

    def __init__(self, user: ArrivalUser) -> None:
        self.user = user
        self.profile = user.settings.profile
        self.ops = self.profile.operators
        self.window = user.window
        self.calls = user.controls.calls
        self.devices: list[list[str]] = [[] for _ in self.calls]
        self._keys, self._weights = call_mix(self.ops)
        self._rng = random.Random(self.profile.run.seed)

    def rate_at(self, t: float) -> float:
        level = level_at(self.profile, t) if self.ops.follow_shape else 1.0
        return self.ops.arrival_rate * level

    async def _refresh_devices(self, stop: asyncio.Event) -> None:
        # Timed as requests of their own (the gateway counts them too), not as part of any arrival;
        # stopped between calls, never cancelled in one, so each is reported.
        while not stop.is_set():
            for i, calls in enumerate(self.calls):
                if not self.window.start_on_loop():
                    return  # the window closed: a list now would reach the gateway's counts only
                t0 = time.perf_counter()
                error: BaseException | None = None
                try:
                    self.devices[i] = await calls.list_devices()
                except Exception as exc:  # the target is down: the calls themselves will say so too
                    error = _failure(exc)
                self.user.report_done(
                    calls.request_type, calls.list_name, (time.perf_counter() - t0) * 1000, 0, error
                )
            await asyncio.sleep(DEVICE_LIST_TTL_S)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        refresher = loop.create_task(self._refresh_devices(stop))
        slots = asyncio.Semaphore(self.ops.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        try:
            # The schedule starts once some device is online: before, there is nobody to call.
            began = time.perf_counter()
            while not any(self.devices) and self.window.open:
                if time.perf_counter() - began > self.profile.run.duration_s:
                    return
                await asyncio.sleep(0.05)
            # The shape's clock is the test's: a schedule that starts late still follows its steps.
            origin = self.window.opened_at or time.perf_counter()
            intended = time.perf_counter()
            while self.window.open:
                elapsed = intended - origin
                if elapsed >= self.profile.run.duration_s:
                    break
                rate = self.rate_at(elapsed)
                if rate <= 0:
                    intended += 0.1
                    await asyncio.sleep(max(0.0, intended - time.perf_counter()))
                    continue
                intended += 1.0 / rate
                wait = intended - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                queued = slots.locked()
                await slots.acquire()
                if not self.window.start_on_loop():
                    slots.release()
                    break
                started = time.perf_counter()
                self.window.arrivals += 1
                if queued:
                    self.window.queued_starts += 1
                elif (started - intended) * 1000 > MISSED_START_MS:
                    self.window.missed_starts += 1
                t = loop.create_task(self._one(intended, started, slots))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
        finally:
            stop.set()
            await asyncio.gather(refresher, *tasks, return_exceptions=True)

    async def _one(self, intended: float, started: float, slots: asyncio.Semaphore) -> None:
        # A control service whose devices are not online yet (its gateway process ramps later than
        # another's) gets no arrivals until its next device list.
        listed = [i for i, devices in enumerate(self.devices) if devices] or list(range(len(self.calls)))
        i = self._rng.choice(listed)
        key = self._rng.choices(self._keys, self._weights)[0]
        calls = self.calls[i]
        name = calls.names[key]
        length, error = 0, None
        try:
            devices = self.devices[i]
            if not devices:
                raise LookupError("no device online on any control service")
            length = await calls.make(key, self._rng.choice(devices))()
        except Exception as exc:
            error = _failure(exc)
        finally:
            slots.release()
        done = time.perf_counter()
        self.user.report_done(
            calls.request_type,
            name,
            (done - intended) * 1000,
            length,
            error,
            {"service_ms": (done - started) * 1000},
        )
