"""Guards the load generator's memory per simulated device, which bounds the fleet one machine can fake.

``devices`` ``DeviceAgent`` instances connect to the reference gateway (a child
process) over loopback, each with its own channel and TCP connection as in the
load generator, and answer the gateway's connect sequence. ``track_rss_per_device``
is the growth of this process's resident set divided by the device count, after
a warm-up batch has paid for gRPC's one-off start-up; ``peakmem_fleet`` is the
peak resident set of a process holding the whole fleet (asv reports bytes).
Status pushes are off so every device does the same work.
"""

from __future__ import annotations

import asyncio
import gc

from benchmarks._fleet import Fleet, rss_bytes, start_gateway

WARMUP_DEVICES = 20
SETTLE_S = 0.3


class GeneratorMemory:
    params = [200, 1000]
    param_names = ["devices"]
    timeout = 180.0
    rounds = 1

    def setup(self, devices: int) -> None:
        self.gateway = start_gateway()
        self.fleet = Fleet(self.gateway.address)

    def teardown(self, devices: int) -> None:
        self.fleet.close()
        self.gateway.stop()

    def _connect(self, devices: int, prefix: str) -> None:
        async def connect() -> None:
            await self.fleet.add_devices(devices, prefix)
            await asyncio.sleep(SETTLE_S)  # let the answers to the connect sequence flush

        self.fleet.run(connect())
        gc.collect()

    def track_rss_per_device(self, devices: int) -> float:
        self._connect(WARMUP_DEVICES, "warmup")
        before = rss_bytes()
        self._connect(devices, "bench")
        return round((rss_bytes() - before) / devices / 1024, 2)

    track_rss_per_device.unit = "KiB"  # type: ignore[attr-defined]

    def peakmem_fleet(self, devices: int) -> None:
        self._connect(devices, "bench")
