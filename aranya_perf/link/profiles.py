"""Named edge network link profiles: what a device's link to the controller looks like.

A profile says how much round-trip time, jitter and bandwidth a link has, how often it
loses packets (which TCP turns into stalls: a lost segment waits for its retransmission
timeout and holds back everything behind it), how often the connection is reset, and
when the whole link goes down (periodic partitions). Built-in profiles are ``lan``,
``lte``, ``satellite`` and ``flaky``; custom ones come from ``[link.NAME]`` tables of a
TOML file (other top-level tables of that file are left to their owner, so a run profile
can carry its links)::

    [link.rural-lte]
    rtt_ms = 120
    jitter_ms = 30
    down_kbit = 4000
    up_kbit = 1000
    loss = 0.01
    partition_every_s = 300
    partition_s = 20

A profile can extend another with ``base = "lte"``. Unknown keys and bad values are
one-line ``LinkProfileError``s naming the key and the file.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PARTITION_MODES = ("reset", "stall")


class LinkProfileError(ValueError):
    """A profile name that is not known, or a profile table with a bad key or value."""


@dataclass(frozen=True)
class LinkProfile:
    """One link; times in milliseconds or seconds as named, rates in kbit/s, 0 meaning "none"."""

    name: str
    rtt_ms: float = 0.0
    """Round-trip time added to the link: half of it in each direction."""
    jitter_ms: float = 0.0
    """Each chunk's one-way delay varies uniformly by up to this much either way (order is kept)."""
    down_kbit: float = 0.0
    """Bandwidth towards the device, per connection; 0 is unlimited."""
    up_kbit: float = 0.0
    """Bandwidth from the device, per connection; 0 is unlimited."""
    loss: float = 0.0
    """Probability that a TCP segment (1448 bytes) is lost; shown as a stall of ``rto_ms``."""
    rto_ms: float = 0.0
    """Stall per loss; 0 means TCP's own estimate, round-trip time + 200 ms (Linux's minimum RTO)."""
    resets_per_hour: float = 0.0
    """Connection resets per connection-hour (Poisson)."""
    partition_every_s: float = 0.0
    """Period of link-wide partitions; 0 is none."""
    partition_s: float = 0.0
    """How long each partition lasts."""
    partition_first_s: float | None = None
    """When the first partition starts, from the link's start (default: one period in)."""
    partition_mode: str = "reset"
    """``reset``: connections are reset and new ones refused (a radio that re-attaches with a new
    address); ``stall``: traffic is held and delivered when the link comes back (TCP rides it out)."""
    description: str = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            numeric = f.type in ("float", "float | None") and value is not None
            if numeric and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
                raise LinkProfileError(f"link {self.name}: {f.name} must be a number >= 0, got {value!r}")
        if self.loss >= 1:
            raise LinkProfileError(f"link {self.name}: loss is a probability below 1, got {self.loss!r}")
        if self.partition_mode not in PARTITION_MODES:
            raise LinkProfileError(
                f"link {self.name}: partition_mode must be one of {', '.join(PARTITION_MODES)}"
            )
        if self.partition_every_s and not 0 < self.partition_s < self.partition_every_s:
            raise LinkProfileError(
                f"link {self.name}: partition_s must be > 0 and shorter than partition_every_s"
            )

    @property
    def one_way_s(self) -> float:
        return self.rtt_ms / 2000.0

    @property
    def stall_s(self) -> float:
        return (self.rto_ms or self.rtt_ms + 200.0) / 1000.0

    @property
    def first_partition_s(self) -> float:
        return self.partition_every_s if self.partition_first_s is None else self.partition_first_s

    @property
    def is_passthrough(self) -> bool:
        """Nothing to model: the link only relays."""
        defaults = LinkProfile("_")
        return all(
            getattr(self, f.name) == getattr(defaults, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("name", "description", "partition_mode", "partition_first_s")
        )

    def as_dict(self) -> dict[str, Any]:
        """The profile as recorded in a run's meta.json and the link's ready line."""
        return dataclasses.asdict(self)


BUILTIN: dict[str, LinkProfile] = {
    p.name: p
    for p in (
        LinkProfile("lan", description="wired LAN: nothing added (the relay hop only)"),
        LinkProfile(
            "lte",
            rtt_ms=60,
            jitter_ms=10,
            down_kbit=20_000,
            up_kbit=5_000,
            loss=0.001,
            description="a good LTE cell: 60 ms RTT, 20/5 Mbit/s, 0.1 % loss",
        ),
        LinkProfile(
            "satellite",
            rtt_ms=600,
            jitter_ms=30,
            down_kbit=5_000,
            up_kbit=1_000,
            loss=0.005,
            description="geostationary satellite: 600 ms RTT, 5/1 Mbit/s, 0.5 % loss",
        ),
        LinkProfile(
            "flaky",
            rtt_ms=250,
            jitter_ms=100,
            down_kbit=2_000,
            up_kbit=500,
            loss=0.02,
            resets_per_hour=6,
            partition_every_s=120,
            partition_s=10,
            description="a weak cell at the edge of coverage: 2 % loss, resets, a 10 s outage every 2 min",
        ),
    )
}

_KEYS = {f.name for f in dataclasses.fields(LinkProfile)} - {"name"}


def from_table(
    name: str, table: Mapping[str, Any], known: Mapping[str, LinkProfile], where: str
) -> LinkProfile:
    """One ``[link.NAME]`` table; ``base`` names a profile in ``known`` to start from."""
    unknown = sorted(set(table) - _KEYS - {"base"})
    if unknown:
        raise LinkProfileError(f"{where}: link {name}: unknown key(s) {', '.join(unknown)}")
    base_name = table.get("base", "lan")
    if base_name not in known:
        raise LinkProfileError(f"{where}: link {name}: base {base_name!r} is not a known link profile")
    values = {k: v for k, v in table.items() if k != "base"}
    for key in ("partition_mode", "description"):
        if key in values and not isinstance(values[key], str):
            raise LinkProfileError(f"{where}: link {name}: {key} must be a string")
    try:
        return dataclasses.replace(known[base_name], name=name, **values)
    except LinkProfileError as exc:
        raise LinkProfileError(f"{where}: {exc}") from None


def from_document(doc: Mapping[str, Any], where: str) -> dict[str, LinkProfile]:
    """The custom profiles of a parsed TOML document (its ``link`` table), in file order."""
    links = doc.get("link", {})
    if not isinstance(links, dict):
        raise LinkProfileError(f"{where}: link must be a table of [link.NAME] tables")
    known: dict[str, LinkProfile] = dict(BUILTIN)
    out: dict[str, LinkProfile] = {}
    for name, table in links.items():
        if not isinstance(table, dict):
            raise LinkProfileError(f"{where}: link.{name} must be a table")
        out[name] = known[name] = from_table(name, table, known, where)
    return out


def load_file(path: Path) -> dict[str, LinkProfile]:
    """Custom profiles from a TOML file's ``[link.NAME]`` tables."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LinkProfileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise LinkProfileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise LinkProfileError(f"{path}: not valid TOML: {exc}") from None
    return from_document(doc, str(path))


def get(name: str, custom: Mapping[str, LinkProfile] | None = None) -> LinkProfile:
    """A profile by name: custom ones first, then the built-in ones."""
    found = (custom or {}).get(name) or BUILTIN.get(name)
    if found is None:
        names = sorted({*BUILTIN, *(custom or {})})
        raise LinkProfileError(f"unknown link profile {name!r}; known: {', '.join(names)}")
    return found
