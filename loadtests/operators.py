"""``OperatorUser``: a person running kubectl exec/logs/port-forward against online devices.

Calls go through the gateway's control service (the stand-in for kube-apiserver ->
aranya) and are timed end to end, device round trip included. Each answer is checked,
so a wrong or short answer counts as a failure. The target container is a pod's
(``pod_uid``/``container``), which aranya-v0.2 and later route through CMD_RUNTIME; set
``pod_uid = ""`` and ``container = "host"`` to drive the device host instead. A metrics
scrape (CollectMetrics) stands in for Prometheus pulling a virtual node's metrics.
"""

from __future__ import annotations

import random
import time

from locust import between, task

from aranya_perf.protocol.control import ControlStub
from aranya_perf.protocol.control import messages as ctl
from loadtests import payloads
from loadtests.grpc_user import GrpcUser

REQUEST_TYPE = "control"


class WrongAnswer(Exception):
    """The call succeeded but its answer was not what the device must send."""


class OperatorUser(GrpcUser):
    weight = 1
    wait_time = between(0.05, 0.15)
    exec_stdout_bytes = payloads.EXEC_STDOUT_BYTES
    log_tail_lines = 50
    forward_frames = 4
    forward_frame_bytes = 4096
    device_list_ttl_s = 2.0
    pod_uid = "pod-0"
    container = "app"

    def on_start(self) -> None:
        super().on_start()
        self.stub = ControlStub(self.channel)
        self._devices: list[str] = []
        self._listed_at = float("-inf")

    def _pick_device(self) -> str | None:
        if time.monotonic() - self._listed_at > self.device_list_ttl_s:
            resp = self.timed_call(
                REQUEST_TYPE,
                "ListDevices",
                lambda: self.stub.ListDevices(
                    ctl.ListDevicesRequest(), timeout=self.deadline_s, metadata=self.call_metadata()
                ),
                lambda r: r.ByteSize(),
            )
            self._listed_at = time.monotonic()
            if resp is not None:
                self._devices = list(resp.device_ids)
        return random.choice(self._devices) if self._devices else None

    @task(6)
    def exec_command(self) -> None:
        device = self._pick_device()
        if device is None:
            return
        want = self.exec_stdout_bytes
        req = ctl.ExecRequest(
            device_id=device,
            pod_uid=self.pod_uid,
            container=self.container,
            command=["ls", "-l", "/var/lib/app"],
            envs={payloads.STDOUT_BYTES_ENV: str(want)},
        )

        def check(resp: ctl.ExecResponse) -> int:
            if resp.exit_code != 0 or len(resp.stdout) != want:
                raise WrongAnswer(f"exec: exit {resp.exit_code}, {len(resp.stdout)} of {want} stdout bytes")
            return len(resp.stdout) + len(resp.stderr)

        self.timed_call(
            REQUEST_TYPE,
            "Exec",
            lambda: self.stub.Exec(req, timeout=self.deadline_s, metadata=self.call_metadata()),
            check,
        )

    @task(3)
    def tail_logs(self) -> None:
        device = self._pick_device()
        if device is None:
            return
        want = self.log_tail_lines
        req = ctl.LogsRequest(
            device_id=device, pod_uid=self.pod_uid, container=self.container, tail_lines=want
        )

        async def read_all() -> bytes:
            call = self.stub.Logs(req, timeout=self.deadline_s, metadata=self.call_metadata())
            return b"".join([chunk.data async for chunk in call])

        def check(data: bytes) -> int:
            lines = data.count(b"\n")
            if lines != want:
                raise WrongAnswer(f"logs: {lines} of {want} lines")
            return len(data)

        self.timed_call(REQUEST_TYPE, "Logs", read_all, check)

    @task(1)
    def port_forward(self) -> None:
        device = self._pick_device()
        if device is None:
            return
        blobs = [random.randbytes(self.forward_frame_bytes) for _ in range(self.forward_frames)]
        sent = b"".join(blobs)

        async def echo() -> bytes:
            call = self.stub.PortForward(timeout=self.deadline_s, metadata=self.call_metadata())
            await call.write(
                ctl.PortForwardFrame(device_id=device, pod_uid=self.pod_uid, port=8080, data=blobs[0])
            )
            for blob in blobs[1:]:
                await call.write(ctl.PortForwardFrame(data=blob))
            await call.done_writing()
            return b"".join([frame.data async for frame in call])

        def check(got: bytes) -> int:
            if got != sent:
                raise WrongAnswer(
                    f"port-forward: echoed {len(got)} bytes, sent {len(sent)}, equal={got == sent}"
                )
            return len(got)

        self.timed_call(REQUEST_TYPE, "PortForward", echo, check)

    @task(1)
    def scrape_metrics(self) -> None:
        device = self._pick_device()
        if device is None:
            return
        req = ctl.CollectMetricsRequest(device_id=device)

        def check(resp: ctl.CollectMetricsResponse) -> int:
            if not resp.data.startswith(b"node_"):
                raise WrongAnswer(f"metrics: {len(resp.data)} bytes not in Prometheus text format")
            return len(resp.data)

        self.timed_call(
            REQUEST_TYPE,
            "CollectMetrics",
            lambda: self.stub.CollectMetrics(req, timeout=self.deadline_s, metadata=self.call_metadata()),
            check,
        )
