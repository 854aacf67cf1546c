"""``DeviceUser``: one Locust user per simulated edge device.

The device itself (``DeviceAgent``) lives on the load engine's loop; this greenlet
only starts it, waits, and cancels it when Locust stops the user, so a fleet of
thousands of long-lived streams costs one idle greenlet each. Its id, address and
protocol version come from the environment's ``FleetPlan`` (``aranya_perf.loadtests.fleet``), how it
behaves from the run profile's ``[fleet]`` and, for the devices they pick, its ``[[fleet.behaviour]]``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import gevent
import gevent.event
from aranya_perf.loadtests import misbehave
from aranya_perf.loadtests.device_agent import DeviceAgent, DeviceProfile
from aranya_perf.loadtests.distributed import lease_from_master
from aranya_perf.loadtests.engine import TaskHandle
from aranya_perf.loadtests.fleet import plan_for
from aranya_perf.loadtests.grpc_user import GrpcUser
from aranya_perf.loadtests.observe import observations_for
from locust import task
from locust.exception import StopUser

from aranya_perf import protocol
from aranya_perf.address_map import DeviceAddress
from aranya_perf.profiles.schema import FleetSection
from aranya_perf.targets import TargetError

STOP_GRACE_S = 1.0
"""A device asked to stop gracefully keeps its stream this long at most while its process's operator
calls are still in flight."""
CALLS_POLL_S = 0.02


def device_profile(fleet: FleetSection) -> DeviceProfile:
    """How each simulated device behaves, from the profile's ``[fleet]``."""
    return DeviceProfile(
        node_status_bytes=fleet.node_status_bytes,
        metrics_bytes=fleet.metrics_bytes,
        exec_stdout_bytes=fleet.exec_stdout_bytes,
        log_line_bytes=fleet.log_line_bytes,
        pods=fleet.pods,
        status_push_interval_s=fleet.status_interval_s,
        backoff_initial_s=fleet.backoff_initial_s,
        backoff_max_s=fleet.backoff_max_s,
        answer_delay_s=fleet.answer_delay_s,
    )


class DeviceUser(GrpcUser):
    """A simulated arhat agent holding one Sync stream to the target."""

    weight = 100
    # A fleet reports thousands of events a second and none is awaited: batched (times are measured
    # on the loop, so the delay does not change them; the window's flush drains them before the
    # final counts are taken).
    lazy_reports = True

    @property
    def channel_options(self) -> tuple[tuple[str, int], ...]:  # type: ignore[override]
        # grpc's own reconnect backoff sits under the agent's; keep it on the same scale as the profile's.
        fleet = self.settings.profile.fleet
        return (
            ("grpc.initial_reconnect_backoff_ms", int(fleet.backoff_initial_s * 1000)),
            ("grpc.max_reconnect_backoff_ms", int(fleet.backoff_max_s * 1000)),
        )

    agent: DeviceAgent | None = None
    _handle: TaskHandle | None = None
    _device: DeviceAddress | None = None
    _broker: tuple[int, tuple[object, ...]] | None = None
    """The resolved MQTT broker, when the run's transport is mqtt (the device's address is the broker's)."""

    def resolve_target(self) -> str:
        self.plan = plan_for(self.environment, lease_from_master(self.environment))
        self._device = self.plan.next_device()
        self.device_id = self._device.device_id
        self.protocol = protocol.get(self.plan.protocol)
        target = self.settings.profile.target
        if target.transport == "mqtt":
            from aranya_perf.targets import parse_address
            from aranya_perf.transport import mqtt

            try:
                mqtt.namespace(target.mqtt_namespace, self.device_id)
                # Here, on the gevent side: a broker given by name is resolved once, not on the loop.
                self._broker = mqtt.resolve(*parse_address(self._device.address))
            except mqtt.MqttError as exc:
                raise TargetError(str(exc)) from None
        return self._device.address

    async def open_channel(self, target: str | None = None) -> Any:
        if self._broker is None:
            return await super().open_channel(target)
        from aranya_perf.transport import mqtt

        fleet = self.settings.profile.target
        return mqtt.DeviceChannel(self.protocol, self.device_id, self._broker, fleet.mqtt_namespace)

    def server_name(self) -> str | None:
        if self._device is not None and self._device.tls_server_name:
            return self._device.tls_server_name
        return super().server_name()

    def on_start(self) -> None:
        super().on_start()
        self._finished = gevent.event.AsyncResult()
        behaviour = device_profile(self.settings.profile.fleet)
        chosen = misbehave.assigned(self.device_id, self.settings.profile.behaviours)
        if chosen:
            behaviour = dataclasses.replace(behaviour, behaviours=chosen)
        if self._broker is not None:
            from aranya_perf.transport import mqtt

            # Data frames as large as arhat's MQTT client sends them (128 KiB, not gRPC's 64).
            behaviour = dataclasses.replace(behaviour, max_payload=mqtt.max_payload(self.protocol))
        self.agent = DeviceAgent(
            self.device_id,
            self.channel,
            self.report,
            self.protocol,
            behaviour,
            metadata=self.call_metadata(),
            new_channel=self.open_channel,
            observe=observations_for(self.environment).add,
            **(
                {"open_stream": lambda channel: channel.open_stream(), "duplicate_on_stream": True}
                if self._broker is not None
                else {}
            ),
        )
        self.plan.attach(self.agent)
        self._handle = self.engine.spawn(self.agent.run, on_done=self._agent_done)

    def _agent_done(self, _result: object, error: BaseException | None) -> None:
        self._finished.set(error)

    def wait_time(self) -> float:  # type: ignore[override]
        # The greenlet parks here until the agent ends, with no timer: Locust marks a user "waiting"
        # before it asks for the wait time, so a stop (graceful or not) kills it here at once, as it
        # would in a sleep (``on_stop`` then lets operator calls in flight finish). A timed wait woke
        # every device once a second: at 15,000 devices that was 15,000 task-loop rounds per second
        # of generator CPU spent on nothing.
        self._finished.wait()
        return 0.0

    @task
    def hold_stream(self) -> None:
        if not self._finished.ready():
            return
        error = self._finished.get()
        # The agent only ends on its own through a bug; stop this user rather than spin.
        self.environment.events.request.fire(
            request_type="device",
            name="agent",
            response_time=0,
            response_length=0,
            exception=error or RuntimeError("device agent ended"),
            context={},
        )
        raise StopUser()

    def on_stop(self) -> None:
        try:
            timeout = self.environment.stop_timeout
            if self._handle is not None and timeout:
                self._let_calls_finish(min(STOP_GRACE_S, timeout))
        finally:
            self._stop_agent()
        super().on_stop()

    def _let_calls_finish(self, grace: float) -> None:
        # A graceful stop lets operators finish the call they are in, and that call may be waiting
        # for this device: parked in wait_time, the device is stopped at once, so it keeps its stream
        # until this process's operator calls in flight are done (bounded; none once a window closed).
        deadline = time.monotonic() + grace
        while self.window.calls_in_flight > 0 and time.monotonic() < deadline:
            gevent.sleep(CALLS_POLL_S)

    def _stop_agent(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            # Bounded: the stream is cancelled on the loop within milliseconds.
            self._finished.wait(timeout=2)
        if self.agent is not None:
            self.plan.detach(self.agent)
            assert self._device is not None
            self.plan.release(self._device)
            self.channel = self.agent.channel  # after a storm, the connection the device came back on
