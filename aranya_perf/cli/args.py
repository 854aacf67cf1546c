"""argparse value types shared by the CLI verbs; each raises ArgumentTypeError with a one-line reason. Also
``listen_address``, the loopback rule for an address a verb listens on (a ``UsageError``).

Light on purpose: ``worker`` imports it before Locust monkey-patches the process with gevent."""

from __future__ import annotations

import argparse
import math
import re

from aranya_perf.cli import UsageError
from aranya_perf.limits import MAX_DURATION_S, format_duration
from aranya_perf.targets import TargetError, is_loopback, parse_address

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def duration(text: str) -> float:
    """Seconds from ``30s``, ``1.5m``, ``250ms``, ``2h`` or a bare number of seconds; must be > 0 and at most
    ``limits.MAX_DURATION_S``."""
    m = _DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 30s, 2m, 500ms)")
    value = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive: {text!r}")
    if value > MAX_DURATION_S:
        raise argparse.ArgumentTypeError(
            f"duration {text!r} is longer than {format_duration(MAX_DURATION_S)}"
        )
    return value


_ZERO = re.compile(r"^\s*0+(?:\.0*)?\s*(ms|s|m|h)?\s*$")


def interval(text: str) -> float:
    """A duration like ``duration``, but ``0`` (with or without a unit) is allowed and means "off"."""
    if _ZERO.match(text):
        return 0.0
    return duration(text)


def count(text: str) -> int:
    """A non-negative integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def count_or_auto(text: str) -> int | str:
    """A non-negative integer, or ``auto``."""
    return "auto" if text == "auto" else count(text)


def number(text: str) -> float:
    """A finite number (``inf`` and ``nan`` are refused: no rate or size is infinite)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 1 to 65535."""
    value = count(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port (1-65535): {text!r}")
    return value


def positive(text: str) -> float:
    """A finite positive number."""
    value = number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def non_negative(text: str) -> float:
    """A finite number >= 0."""
    value = number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def listen_address(text: str, allow_remote: bool, option: str | None = None) -> tuple[str, int]:
    """A HOST:PORT to listen on (the Locust master, the live metrics, the gateway's ports): loopback unless
    --allow-remote. Decided before anything binds, so a refused address never sees a packet from us;
    ``option`` names the flag in the error."""
    try:
        host, port = parse_address(text)
    except TargetError as exc:
        raise UsageError(f"{option or text}: {exc}") from None
    if not allow_remote and not is_loopback(host):
        where = f"{option} {text!r} is" if option else f"{text}:"
        raise UsageError(f"{where} not loopback; pass --allow-remote to listen there")
    return host, port
