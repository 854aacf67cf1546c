"""``etcdctl check perf`` against given endpoints: run it, parse what it prints, clean up after it.

etcdctl 3.4's check perf puts random keys under ``/etcdctl-check-perf/`` for 60 s from a fixed
number of clients (one connection each), each Put a 256-byte key after the prefix and a
1024-byte value, rate-limited to a fixed writes/s per load (``LOADS``). It prints only three
figures (throughput in whole writes/s, the slowest request and the standard deviation, both in
seconds) with PASS/FAIL per figure and overall; no percentiles. It deletes its keys at the end,
but an interrupted run leaves them (and the next check perf then refuses to start), and the
mass delete leaves tombstones that make Range 10-20x slower until the next compaction, so
``run_check_perf`` deletes the prefix before and after and compacts afterwards.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from aranya_perf.etcd.ctl import Etcdctl, EtcdctlError, one_line

PREFIX = "/etcdctl-check-perf/"
RUN_TIME_S = 60
KEY_SIZE = 256
VALUE_SIZE = 1024


@dataclass(frozen=True)
class Load:
    """One of check perf's fixed workloads (etcdctl 3.4, ctlv3/command/check.go)."""

    name: str
    clients: int
    writes_per_s: int


LOADS = {
    "s": Load("s", clients=50, writes_per_s=150),
    "m": Load("m", clients=200, writes_per_s=1000),
    "l": Load("l", clients=500, writes_per_s=8000),
    "xl": Load("xl", clients=1000, writes_per_s=15000),
}


class CheckPerfError(EtcdctlError):
    """check perf printed nothing we can read."""


@dataclass(frozen=True)
class CheckPerfResult:
    """What check perf printed, with the workload it ran and what the clean-up found."""

    load: str
    clients: int
    writes_per_s_limit: int
    run_time_s: int
    key_size: int
    value_size: int
    throughput_wps: int | None
    """As printed: ``int(requests/s) + 1``."""
    slowest_s: float | None
    stddev_s: float | None
    throughput_ok: bool | None
    slowest_ok: bool | None
    stddev_ok: bool | None
    passed: bool
    errors: dict[str, int] = field(default_factory=dict)
    exit_code: int = 0
    leftover_keys: int = 0
    """Keys still under the prefix after check perf ended (deleted by the clean-up)."""
    compacted_revision: int | None = None
    wall_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


_THROUGHPUT = re.compile(r"(PASS|FAIL): Throughput (?:is|too low:) (\d+) writes/s")
_SLOWEST = re.compile(r"(PASS: )?Slowest request took (too long: )?([0-9.]+)s")
_STDDEV = re.compile(r"(PASS: )?Stddev (is|too high:) ([0-9.]+)s")
_ERROR = re.compile(r"FAIL: ERROR\((.*)\) -> (\d+)")
_VERDICT = re.compile(r"^(PASS|FAIL)$")


def parse(output: str, load: str = "s", exit_code: int = 0) -> CheckPerfResult:
    """Read check perf's stdout (progress bar and all) into a result; CheckPerfError if unreadable."""
    if load not in LOADS:
        raise CheckPerfError(f"unknown check perf load {load!r} (use {', '.join(LOADS)})")
    # The progress bar redraws itself with carriage returns and the first result line follows
    # its last frame without a newline, so lines are split on both.
    lines = [line.strip() for line in re.split(r"[\r\n]", output)]
    throughput = slowest = stddev = None
    t_ok = s_ok = d_ok = None
    errors: dict[str, int] = {}
    verdict = None
    for line in lines:
        if m := _THROUGHPUT.search(line):
            throughput, t_ok = int(m.group(2)), m.group(1) == "PASS"
        elif m := _SLOWEST.search(line):
            slowest, s_ok = float(m.group(3)), m.group(2) is None
        elif m := _STDDEV.search(line):
            stddev, d_ok = float(m.group(3)), m.group(2) == "is"
        elif m := _ERROR.search(line):
            errors[m.group(1)] = errors.get(m.group(1), 0) + int(m.group(2))
        elif m := _VERDICT.match(line):
            verdict = m.group(1) == "PASS"
    if verdict is None and throughput is None:
        tail = " | ".join(line for line in lines if line)[-300:]
        raise CheckPerfError(
            f"etcdctl check perf printed no result (exit code {exit_code}): {tail or '(nothing)'}"
        )
    spec = LOADS[load]
    return CheckPerfResult(
        load=load,
        clients=spec.clients,
        writes_per_s_limit=spec.writes_per_s,
        run_time_s=RUN_TIME_S,
        key_size=KEY_SIZE,
        value_size=VALUE_SIZE,
        throughput_wps=throughput,
        slowest_s=slowest,
        stddev_s=stddev,
        throughput_ok=t_ok,
        slowest_ok=s_ok,
        stddev_ok=d_ok,
        passed=bool(verdict) and exit_code == 0,
        errors=errors,
        exit_code=exit_code,
    )


def run_check_perf(
    endpoints: Sequence[str], load: str = "s", *, etcdctl: str = "etcdctl", prefix: str = PREFIX
) -> CheckPerfResult:
    """Run check perf (60 s, plus set-up and clean-up), parse it, delete its keys and compact."""
    if load not in LOADS:
        raise CheckPerfError(f"unknown check perf load {load!r} (use {', '.join(LOADS)})")
    ctl = Etcdctl(endpoints, etcdctl)
    ctl.delete_prefix(prefix)  # a previous interrupted run's keys make check perf refuse to start
    started = time.monotonic()
    proc = ctl.run("check", "perf", "--load", load, "--prefix", prefix, timeout=RUN_TIME_S + 60.0)
    wall = time.monotonic() - started
    try:
        result = parse(proc.stdout, load, proc.returncode)
    except CheckPerfError as exc:
        raise CheckPerfError(f"{exc}; stderr: {one_line(proc.stderr)}") from None
    leftover = ctl.count(prefix)
    _, revision = ctl.delete_prefix(prefix)
    ctl.compact(revision)
    return replace(result, leftover_keys=leftover, compacted_revision=revision, wall_s=round(wall, 3))
