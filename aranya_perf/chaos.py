"""The fault suite of ``aranya-perf chaos``: small real runs, each with one fault, judged on how they took it.

Each fault is a row of ``FAULTS`` (data, not code): the moment it strikes, what it does, the run's
extra flags or profile keys, and the status and exit code the run must end with. ``run_fault`` starts
``aranya-perf run`` as a subprocess against the embedded gateway (or, to restart the target, against a
gateway of its own on fixed ports), watches the results directory for the moment, strikes, waits for
the run to end and measures it (``Row``):

- survived: ``meta.json`` readable with a final status, and no traceback on stderr;
- verdict right: the fault struck, the status and exit code are the fault's, and the run listed the
  outage the fault must show (``Fault.outage``), if any;
- samples lost: what the gateway saw (answers it received, control calls it answered) minus what we
  recorded, where ours are lower (``_samples_lost``), for faults after which the gateway's counters still
  cover the run; ``n/a`` otherwise;
- recover: for a fault of the target, seconds from it until the devices online are back at their
  level before it (``timeline.csv``; ``never``); for a signal, seconds until the run exited;
- on time: a signalled run exited within ``STOP_BUDGET_S`` of the signal; any other ended its window
  within ``END_SLACK_S`` of the planned end;
- left: processes of the run (every descendant seen while it ran, and the gateway it sampled) still
  alive ``SETTLE_S`` after it exited.

A row is wrong when any of these is. Moments: ``start`` (the embedded gateway is up, the window not yet
open), ``open`` (the window has opened), ``ramp`` (the window is open, the fleet still spawning: the last
``timeline.csv`` row has fewer devices than its target), ``mid`` (``MID_S`` into the window), ``closed``
(the window has closed), ``report`` (the verdict is written, the report is being rendered). A fault the
profile brings (a stall, stream resets, a partition of the link) strikes when the run or its link records
it (``Fault.span``), and must strike inside the window.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from aranya_perf import child_process
from aranya_perf.gateway.process import GatewayProcess, GatewayStartError

DEVICES = 20
MID_S = 5.0
STOP_BUDGET_S = 30.0
END_SLACK_S = 10.0
SETTLE_S = 5.0
RUN_TIMEOUT_S = 600.0
"""A run still going this long after it started is killed, and its row is wrong. Generous: a run that is not
stopped draws its report's plots after the verdict, which took over two minutes on a busy 2-core machine."""

RUN_SIGNALS = {"SIGTERM", "SIGINT", "SIGHUP"}
TARGET_ACTIONS = {"kill-target", "restart-target"}
STALL = '[gateway]\nstall_at = "6s"\nstall = "5s"\n'
RESET = '[gateway]\nreset_at = "6s"\n'
PARTITION = (
    '[target]\nlink = "cut"\n\n'
    "[link.cut]\npartition_first_s = 8\npartition_s = 3\npartition_every_s = 3600\n"
    'description = "one 3 s partition (connections reset, new ones refused), 8 s after the link starts"\n'
)
"""The link starts a few seconds before the window opens: its partition falls 3 to 6 s into it."""
SMOKE = "[fleet]\nspawn_rate = 100\n\n[operators]\ncount = 3\n\n"
"""The smoke profile's load, under a fault's own profile keys."""
SLOW_SPAWN = ("--spawn-rate", "2")
"""For the ``ramp`` moment: 20 devices take 10 s, so the window opens mid-ramp."""


@dataclass(frozen=True)
class Fault:
    name: str
    moment: str
    """``start``, ``ramp``, ``mid``, ``closed``, ``report``, or empty for a fault the profile itself
    brings."""
    action: str
    """A signal to the run by name, ``kill-target``, ``restart-target``, ``kill-worker``, or empty."""
    expect: str
    exit_code: int
    args: tuple[str, ...] = ()
    profile: str = ""
    """The run's profile (``SMOKE`` and these keys) when the fault is in the profile itself."""
    counts: bool = True
    """The gateway's counters still cover the whole run afterwards (so samples lost is measured)."""
    span: tuple[str, str] | None = None
    """For a fault the profile brings: the events (``events.jsonl`` or the link's) of its start and end."""
    outage: str = ""
    """An outage the run must list (``outage`` events' ``what``), e.g. ``devices online``."""


FAULTS: tuple[Fault, ...] = (
    Fault("target-killed", "mid", "kill-target", "failed", 1, counts=False),
    Fault("target-restarted", "mid", "restart-target", "failed", 1, counts=False),
    Fault("target-frozen", "", "", "failed", 1, profile=STALL, span=("stall", "stall_end")),
    # Every device stream ends at once: 20 `device stream` failures, and the operator calls to devices
    # still reconnecting fail, above the default 1 % of failed requests of a run this size.
    Fault("streams-reset", "", "", "failed", 1, profile=RESET, span=("streams_reset", "streams_reset")),
    # A 3 s partition: every device stream is cut and the fleet offline until it ends.
    Fault(
        "link-partition",
        "",
        "",
        "failed",
        1,
        profile=PARTITION,
        span=("partition_start", "partition_end"),
        outage="devices online",
    ),
    Fault("worker-killed", "mid", "kill-worker", "failed", 1, args=("--workers", "2"), counts=False),
    Fault("sigterm-start", "start", "SIGTERM", "interrupted", 143, counts=False),
    Fault("sigint-start", "start", "SIGINT", "interrupted", 130, counts=False),
    Fault("sigterm-ramp", "ramp", "SIGTERM", "interrupted", 143, args=SLOW_SPAWN),
    Fault("sigint-ramp", "ramp", "SIGINT", "interrupted", 130, args=SLOW_SPAWN),
    Fault("sigterm-mid", "mid", "SIGTERM", "interrupted", 143),
    Fault("sigint-mid", "mid", "SIGINT", "interrupted", 130),
    Fault("sighup-mid", "mid", "SIGHUP", "interrupted", 129),
    Fault("sigint-closed", "closed", "SIGINT", "interrupted", 130),
    # The verdict is written when the report starts: the run finishes it and exits as judged.
    Fault("sigterm-report", "report", "SIGTERM", "ok", 0),
    Fault("sigint-report", "report", "SIGINT", "ok", 0),
)
BY_NAME = {f.name: f for f in FAULTS}


@dataclass(frozen=True)
class Row:
    fault: str
    survived: bool
    status: str
    exit_code: int | None
    verdict_right: bool
    lost: int | None
    recover_s: float | None
    on_time: bool
    left: int
    note: str = ""

    @property
    def wrong(self) -> bool:
        return not (self.survived and self.verdict_right and self.on_time) or bool(self.lost) or self.left > 0


class RunWatch:
    """``aranya-perf run`` as a subprocess writing under ``out``: its directory, events, processes."""

    def __init__(self, out: Path, args: Sequence[str], *, duration_s: float, devices: int = DEVICES) -> None:
        self.out = out
        self.duration_s = duration_s
        out.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "aranya_perf", "run", "--devices", str(devices)]
        cmd += ["--duration", f"{duration_s:g}s", "--out", str(out), *args]
        self._stderr_path = out / "run.stderr"
        self._stderr = self._stderr_path.open("w")
        # SIGTERM when we die: the run stops as it would for CI. In our process group: a Ctrl-C at the
        # terminal stops it too.
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            **child_process.dies_with_parent(signal.SIGTERM, own_group=False),
        )
        self.started = time.monotonic()
        self.seen: dict[int, psutil.Process] = {}
        self.exited_at: float | None = None

    @property
    def run_dir(self) -> Path | None:
        runs = [p for p in self.out.iterdir() if p.is_dir()]
        return runs[0] if runs else None

    def events(self, name: str = "events.jsonl") -> list[dict]:
        """The run's events so far (or its link's, ``link_events.jsonl``), complete lines only."""
        d = self.run_dir
        text = _text(d / name) if d is not None else ""
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def ramping(self) -> bool:
        """The last whole ``timeline.csv`` row has some devices spawned but fewer than its target."""
        d = self.run_dir
        rows = list(csv.reader(_text(d / "timeline.csv").splitlines())) if d is not None else []
        whole = [r for r in rows[1:] if len(r) == len(rows[0])]  # the last line may be half written
        if not whole:
            return False
        row = dict(zip(rows[0], whole[-1], strict=True))
        try:
            return 0 < int(row["devices"]) < int(row["devices_target"])
        except (KeyError, ValueError):
            return False

    def pid_of(self, role: str) -> int | None:
        """The pid ``resources.csv`` samples under ``role`` (``gateway``, ``worker-1``)."""
        d = self.run_dir
        if d is None or not (d / "resources.csv").exists():
            return None
        with (d / "resources.csv").open() as fh:
            for row in csv.DictReader(fh):
                if row.get("process") == role:
                    return int(row["pid"])
        return None

    def poll(self) -> bool:
        """Note the run's processes; True while it runs."""
        if self.proc.poll() is not None:
            if self.exited_at is None:
                self.exited_at = time.time()
            return False
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)
        return True

    def wait_for(self, moment: str, timeout: float = RUN_TIMEOUT_S) -> float | None:
        """Poll until ``moment`` (see the module docstring); its unix time, None if the run ended first."""
        opened: float | None = None
        deadline = self.started + timeout
        while self.poll() and time.monotonic() < deadline:
            names = [e["event"] for e in self.events()]
            d = self.run_dir
            if moment == "start" and not names and d is not None and "listening" in _text(d / "gateway.log"):
                return time.time()
            if moment == "open" and "window_open" in names:
                return time.time()
            if moment == "ramp" and "window_open" in names and self.ramping():
                return time.time()
            if moment == "mid" and "window_open" in names:
                opened = opened or time.monotonic()
                if time.monotonic() - opened >= MID_S:
                    return time.time()
            if moment == "closed" and "window_closed" in names:
                return time.time()
            if moment == "report" and "run_end" in names:
                return time.time()
            time.sleep(0.05)
        return None

    def wait(self, timeout: float = RUN_TIMEOUT_S) -> int | None:
        """The run's exit code; None (and the run killed) when it outlived ``timeout`` from its start."""
        while self.poll():
            if time.monotonic() - self.started > timeout:
                self.proc.kill()
                self.proc.wait()
                return None
            time.sleep(0.1)
        return self.proc.returncode

    def left_behind(self, settle_s: float = SETTLE_S) -> list[int]:
        """Pids of the run (descendants seen, the sampled gateway) alive ``settle_s`` after it exited."""
        gateway = self.pid_of("gateway")
        procs = dict(self.seen)
        if gateway is not None and gateway not in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                procs[gateway] = psutil.Process(gateway)
        deadline = time.monotonic() + settle_s
        while True:
            alive = [pid for pid, p in procs.items() if _alive(p)]
            if not alive or time.monotonic() >= deadline:
                return alive
            time.sleep(0.2)

    def stderr(self) -> str:
        """What the run wrote to stderr so far."""
        return _text(self._stderr_path)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def run_fault(
    fault: Fault, out: Path, *, duration_s: float = 20.0, starting: threading.Lock | None = None
) -> Row:
    """One fault's run under ``out/<fault name>/``, measured (module docstring). Runs sharing ``starting``
    start one at a time: a start-up (imports, the gateway, the link, workers) is a run's CPU peak, and
    several at once on a small machine outlast the run's start timeouts."""
    out = out / fault.name
    args = list(fault.args)
    own: GatewayProcess | None = None
    watch: RunWatch | None = None
    if fault.profile:
        out.mkdir(parents=True, exist_ok=True)
        profile = out / "profile.toml"
        profile.write_text(SMOKE + fault.profile)
        args += ["--profile", str(profile)]
    try:
        with starting or contextlib.nullcontext():
            if fault.action == "restart-target":
                own = GatewayProcess().start()
                args += ["--target", own.address, "--target-metrics", own.metrics_address]
            watch = RunWatch(out, args, duration_s=duration_s)
            if fault.moment == "start":  # it strikes during the start-up: the whole run holds the gate
                return _strike_and_measure(fault, watch, own)
            watch.wait_for("open")
        return _strike_and_measure(fault, watch, own)
    finally:
        if watch is not None:
            watch.close()
        if own is not None:
            own.stop()


def _strike_and_measure(fault: Fault, watch: RunWatch, own: GatewayProcess | None) -> Row:
    struck = watch.wait_for(fault.moment) if fault.moment else None
    note = ""
    if fault.moment and struck is None:
        note = f"the run ended before the moment {fault.moment!r}"
    elif fault.action in RUN_SIGNALS:
        watch.proc.send_signal(getattr(signal, fault.action))
    elif fault.action == "kill-worker":
        pid = watch.pid_of("worker-1")
        if pid is None:
            note = "no worker-1 in resources.csv"
        else:
            os.kill(pid, signal.SIGKILL)
    elif fault.action in TARGET_ACTIONS:
        if own is not None:
            assert own.proc is not None
            own.proc.kill()
            own.proc.wait()
            # The same ports again: the run's devices and operators reconnect to where they were.
            own.args = ["--listen", own.address, "--metrics-listen", own.metrics_address]
            try:
                own.start()
            except GatewayStartError as exc:
                note = f"the target did not restart: {exc}"
        else:
            pid = watch.pid_of("gateway")
            if pid is None:
                note = "no gateway in resources.csv"
            else:
                os.kill(pid, signal.SIGKILL)
    code = watch.wait()
    left = watch.left_behind()
    return _measure(fault, watch, code, struck, left, note)


def _measure(
    fault: Fault,
    watch: RunWatch,
    code: int | None,
    struck: float | None,
    left: list[int],
    note: str,
) -> Row:
    from aranya_perf import results

    missed = bool(note)  # what the strike could not do
    d = watch.run_dir
    meta: dict = {}
    if d is not None:
        try:
            meta = results.read_meta(d)
        except results.ResultsError as exc:
            note = note or str(exc)
    status = str(meta.get("status", "missing"))
    traceback = "Traceback" in watch.stderr()
    survived = status not in ("missing", "running") and not traceback and code is not None
    if traceback:
        note = note or "traceback on stderr"
    # A fault that never struck proves nothing, whatever the run ended with.
    right = not missed and status == fault.expect and code == fault.exit_code
    if fault.action in RUN_SIGNALS:
        recover = (watch.exited_at - struck) if struck is not None and watch.exited_at else None
        on_time = recover is not None and recover <= STOP_BUDGET_S
    else:
        window = meta.get("window") or {}
        opened, closed = window.get("started_at"), window.get("ended_at")
        ended = struck
        if fault.span:  # the profile's own fault: when the run (or its link) says it struck and ended
            struck, ended = _span(watch, fault.span)
            if struck is None or not (opened and closed and opened <= struck <= closed):
                right, note = False, note or f"no {fault.span[0]} inside the window"
        # Devices stay connected to a frozen target: it is back when it thaws, not before.
        recover = _recovered_after(d, struck, ended) if d is not None and struck and ended else None
        on_time = bool(opened and closed and closed - opened <= watch.duration_s + END_SLACK_S)
    listed = {e.get("what") for e in watch.events() if e["event"] == "outage"}
    if fault.outage and fault.outage not in listed:
        right, note = False, note or f"no {fault.outage!r} outage listed"
    lost = _samples_lost(d) if d is not None and fault.counts and survived else None
    return Row(fault.name, survived, status, code, right, lost, recover, on_time, len(left), note)


def _span(watch: RunWatch, names: tuple[str, str]) -> tuple[float | None, float | None]:
    """Unix times of the first of each of ``names`` among the run's events and its link's."""
    times: dict[str, float] = {}
    for e in [*watch.events(), *watch.events("link_events.jsonl")]:
        times.setdefault(e["event"], float(e.get("t") or e["time"]))
    return times.get(names[0]), times.get(names[1])


def _recovered_after(run_dir: Path, at: float, ended: float) -> float | None:
    """Seconds from the fault (at ``at``, over at ``ended``) until devices online were back at their level
    before it (``timeline.csv``)."""
    path = run_dir / "timeline.csv"
    if not path.exists():
        return None
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    before = [int(r["online"]) for r in rows if float(r["timestamp"]) < at]
    if not before:
        return None
    level = before[-1]
    for r in rows:
        if float(r["timestamp"]) >= ended and int(r["online"]) >= level and int(r["target_up"]):
            return max(0.0, float(r["timestamp"]) - at)
    return None


ANSWERED = ("done", "error")
"""Outcomes of a gateway session (``sessions_completed_total``) that mean the device's answer arrived."""


def _samples_lost(run_dir: Path) -> int | None:
    """What the gateway saw above what we recorded (the report's "Both sides"), per command kind and
    control method; None when the run has no such rows. On the device side it counts answers the gateway
    received (sessions ended ``done`` or ``error``) against those the devices recorded, not commands sent:
    a command on a stream that a partition or a reset cut was sent and never answered, and the gateway
    closed its session, with no sample of ours to lose."""
    from aranya_perf.analysis.run_data import load_run
    from aranya_perf.analysis.run_summary import both_sides_rows, summary_rows

    data = load_run(run_dir)
    metrics = data.gateway_metrics
    both = both_sides_rows(summary_rows(data), metrics)
    if both.empty:
        return None
    answered: dict[str, float] = {}
    ended = metrics[metrics["name"].str.endswith("sessions_completed_total")]
    for labels, value in zip(ended["labels"], ended["value"], strict=True):
        if isinstance(labels, dict) and labels.get("outcome") in ANSWERED:
            answered[labels.get("kind", "")] = answered.get(labels.get("kind", ""), 0.0) + value
    lost = 0.0
    for side, name, gateway, ours in zip(
        both["side"], both["name"], both["gateway"], both["generator"], strict=True
    ):
        seen = answered.get(name, 0.0) if side == "device" else gateway
        lost += max(0.0, seen - ours)
    return int(lost)


def format_table(rows: Sequence[Row]) -> str:
    head = ["fault", "survived", "verdict right", "samples lost", "recover", "on time", "left", "note"]
    body = []
    for r in rows:
        want = BY_NAME[r.fault]
        verdict = (
            "yes" if r.verdict_right else f"no: {r.status}/{r.exit_code}, want {want.expect}/{want.exit_code}"
        )
        body.append(
            [
                r.fault,
                "yes" if r.survived else "no",
                verdict,
                "n/a" if r.lost is None else str(r.lost),
                "never" if r.recover_s is None else f"{r.recover_s:.1f}s",
                "yes" if r.on_time else "no",
                str(r.left),
                r.note,
            ]
        )
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [head, *body]
    ]
    return "\n".join(lines)
