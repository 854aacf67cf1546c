"""Edge network links between devices and the target: named profiles and two ways to apply them.

- ``profiles``: ``lan``, ``lte``, ``satellite``, ``flaky`` and custom ``[link.NAME]`` tables;
- ``proxy``: the user-space TCP relay (no privileges; models everything in the profile at
  the relay);
- ``netns``: a namespace and veth pair with ``tbf`` (root; the kernel does bandwidth and
  partitions, the relay the rest);
- ``process``: ``aranya-perf link`` as a child process, for a run to sit between its devices
  and the target.
"""

from __future__ import annotations

from aranya_perf.address_map import AddressMap, DeviceAddress
from aranya_perf.link.profiles import BUILTIN, LinkProfile, LinkProfileError, get, load_file
from aranya_perf.link.proxy import LinkProxy, Route
from aranya_perf.targets import format_address

__all__ = [
    "BUILTIN",
    "LinkProfile",
    "LinkProfileError",
    "LinkProxy",
    "Route",
    "get",
    "load_file",
    "proxied_map",
    "routes_for",
]


def routes_for(amap: AddressMap, listen_host: str = "127.0.0.1", port: int = 0) -> list[Route]:
    """One route per shared address (the only one on ``port``), one per device for a per-device map (free
    ports)."""
    listen = format_address(listen_host, port if amap.shared is not None else 0)
    if amap.shards:
        return [Route(address, None, listen) for address in amap.shards]
    return [Route(e.address, e.device_id, listen) for e in amap.entries]


def proxied_map(amap: AddressMap, addresses: list[str], source: str = "link") -> AddressMap:
    """``amap`` with each address replaced by the link's listener for it (ids and TLS names kept)."""
    if amap.shards:
        return AddressMap(source, shards=tuple(addresses))
    entries = tuple(
        DeviceAddress(e.device_id, a, e.tls_server_name) for e, a in zip(amap.entries, addresses, strict=True)
    )
    return AddressMap(source, entries)
