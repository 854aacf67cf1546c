"""The load engine: an asyncio loop running grpc.aio on a native OS thread inside the Locust process.

Why not grpcio under gevent: with ``grpc.experimental.gevent.init_gevent()`` the
whole process stalls once about nine streams block at the same time, and without
it a bidi stream deadlocks the process. A fleet of long-lived device streams
needs neither limit, so every gRPC call of this suite runs here, on grpc.aio,
and only results cross back to gevent (see docs/architecture.md for figures).

Crossing the thread boundary safely after Locust's monkey-patching:

* the thread is started with the original ``_thread.start_new_thread`` (a
  patched ``threading.Thread`` would be a greenlet);
* the loop uses the original epoll selector and a raw socket pair for its
  wake-up, so it never creates a gevent hub in this thread;
* grpc.aio's process-wide poller is initialised in this thread while the
  patched names of ``threading``/``socket``/``select`` are swapped back to the
  originals (the gevent thread is blocked on a native lock meanwhile, so no
  greenlet sees the swap), and never shut down: its poller thread registered
  itself with native thread ids, and a patched ``threading`` could not
  unregister it. A later engine in the same process reuses it;
* grpc's observability lock, taken twice per call (``grpc._observability._plugin_lock``), is
  made when grpc is imported, after the patching, so it is gevent's pure-Python RLock; it is
  replaced by a native one (held for microseconds, so a greenlet that ever waits on it waits
  that long), which took about 5 % of the loop thread's CPU per etcd Put;
* results go back through a deque plus one gevent async watcher, sent once per
  batch (``post_lazy`` results wait up to ``LAZY_FLUSH_S`` to share one); a
  greenlet drains the deque in batches and fires Locust events, and ``flush``
  waits until everything posted so far has fired. Nothing on the loop
  thread takes a gevent lock (no logging, no concurrent.futures there).
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import gevent
import gevent.event
import gevent.monkey

_start_native_thread = gevent.monkey.get_original("_thread", "start_new_thread")
_native_lock = gevent.monkey.get_original("_thread", "allocate_lock")
_native_epoll = gevent.monkey.get_original("select", "epoll")
_native_rlock = gevent.monkey.get_original("threading", "_CRLock")
_native_socketpair = gevent.monkey.get_original("_socket", "socketpair")
_native_socket = gevent.monkey.get_original("socket", "socket")

START_TIMEOUT_S = 10.0
LAZY_FLUSH_S = 0.02
"""The longest a ``post_lazy`` result waits for the drain greenlet."""
FLUSH_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
LAG_PERIOD_S = 0.25
LAG_SAMPLES = 20
"""``Engine.lag_s`` is the worst lag of the last ``LAG_SAMPLES`` periods (5 s)."""


class EngineError(RuntimeError):
    """The engine could not start, or was used after it stopped."""


class _NativeEpollSelector(selectors._PollLikeSelector):  # type: ignore[name-defined]
    # selectors.EpollSelector looks up select.epoll, which gevent removes.
    _selector_cls = _native_epoll
    _EVENT_READ = 0x001  # select.EPOLLIN
    _EVENT_WRITE = 0x004  # select.EPOLLOUT

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            timeout = -1
        elif timeout <= 0:
            timeout = 0
        else:
            timeout = max(timeout, 1e-3)
        ready = []
        try:
            fd_events = self._selector.poll(timeout, max(len(self._fd_to_key), 1))
        except InterruptedError:
            return ready
        for fd, event in fd_events:
            events = 0
            if event & ~0x001:  # anything but EPOLLIN: writable, error or hang-up
                events |= selectors.EVENT_WRITE
            if event & ~0x004:
                events |= selectors.EVENT_READ
            key = self._fd_to_key.get(fd)
            if key:
                ready.append((key, events & key.events))
        return ready

    def close(self) -> None:
        self._selector.close()
        super().close()


class _NativeLoop(asyncio.SelectorEventLoop):
    """Selector loop whose self-pipe is a raw (un-patched) socket pair."""

    def __init__(self) -> None:
        super().__init__(_NativeEpollSelector())

    def _make_self_pipe(self) -> None:
        self._ssock, self._csock = _native_socketpair()
        self._ssock.setblocking(False)
        self._csock.setblocking(False)
        self._internal_fds += 1
        self._add_reader(self._ssock.fileno(), self._read_from_self)


def _take_thread_hooks() -> None:
    """What ``threading.Thread`` does first in a new thread: take the trace and profile hooks set for
    new threads (``threading.settrace``: coverage, debuggers). The loop thread is started natively and
    skips it, so without this its code (agents, operators, client loops) was invisible to them."""
    trace, profile = threading.gettrace(), threading.getprofile()
    if trace is not None:
        sys.settrace(trace)
    if profile is not None:
        sys.setprofile(profile)


@contextlib.contextmanager
def _unpatched() -> Iterator[None]:
    """Temporarily restore the originals gevent replaced in threading, _thread, socket and select."""
    swapped: list[tuple[Any, str, Any]] = []
    for mod_name in ("threading", "_thread", "socket", "select"):
        mod = sys.modules.get(mod_name)
        for attr, original in gevent.monkey.saved.get(mod_name, {}).items():
            if mod is None:
                continue
            swapped.append((mod, attr, getattr(mod, attr, _MISSING)))
            setattr(mod, attr, original)
    try:
        yield
    finally:
        for mod, attr, patched in reversed(swapped):
            if patched is _MISSING:
                delattr(mod, attr)
            else:
                setattr(mod, attr, patched)


_MISSING = object()


def native_socket(addr_info: tuple[Any, ...]) -> Any:
    """A socket for a connection the loop opens itself (aiohttp's ``socket_factory``): the standard
    library's class, not gevent's, whose watchers would start a gevent hub on the loop thread; freed
    later by the main thread's garbage collector, they crashed the process (measured: 2 of 4 runs of
    the Kubernetes operators, SIGSEGV while the report was drawn)."""
    family, type_, proto = addr_info[:3]
    return _native_socket(family, type_, proto)


def _native_grpc_plugin_lock() -> None:
    """grpc's per-call observability lock as a native RLock (module docstring); once per process."""
    from grpc import _observability

    if not isinstance(_observability._plugin_lock, _native_rlock):
        with _observability._plugin_lock:  # nobody else holds it while it is swapped
            _observability._plugin_lock = _native_rlock()


class Engine:
    """One asyncio loop on one native thread, shared by every gRPC user in the process.

    Gevent side: ``start``, ``spawn``, ``call``, ``post``-ed callbacks run in the
    drain greenlet. Loop side: coroutines, and ``post(fn, *args)`` to hand a
    result back.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._outbox: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._watcher: Any = None
        self._wake = gevent.event.Event()
        self._drainer: gevent.Greenlet | None = None
        self._stopped_lock = _native_lock()
        self._start_error: BaseException | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._woken = False  # a wake-up is on its way to the drain greenlet
        self._flush_timer: asyncio.TimerHandle | None = None
        self.lag_s = 0.0
        """How late the loop ran a timer, worst of the last 5 s: a loop this busy delays every device.
        One float, written on the loop thread, read from any."""

    # -- lifecycle (gevent side) -------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.loop is not None and not self.loop.is_closed() and self._drainer is not None

    def start(self) -> None:
        if self.running:
            return
        hub = gevent.get_hub()
        self._watcher = hub.loop.async_()
        self._watcher.start(self._wake.set)
        self._drainer = gevent.spawn(self._drain_forever)
        ready = _native_lock()
        ready.acquire()
        self._stopped_lock.acquire()
        _start_native_thread(self._thread_main, (ready,))
        # Blocking the hub here (not yielding) is deliberate: while the loop thread
        # swaps module globals to initialise grpc.aio, no greenlet may run.
        if not ready.acquire(timeout=START_TIMEOUT_S):
            raise EngineError(f"load engine did not start within {START_TIMEOUT_S:g}s")
        if self._start_error is not None:
            raise EngineError(f"load engine failed to start: {self._start_error}") from self._start_error

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Cancel every task, shut grpc.aio down, stop the loop and wait for the thread (bounded)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(lambda: loop.create_task(self._shutdown()))
        # Yield to greenlets while waiting so on_stop hand-offs can still drain.
        deadline = time.monotonic() + timeout
        while not self._stopped_lock.acquire(blocking=False):
            if time.monotonic() > deadline:
                break
            gevent.sleep(0.01)
        else:
            self._stopped_lock.release()
        self._drain_once()
        if self._drainer is not None:
            self._drainer.kill(block=False)
            self._drainer = None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher.close()
            self._watcher = None
        self.loop = None

    # -- gevent -> loop ----------------------------------------------------------------------

    def spawn(
        self,
        make_coro: Callable[..., Coroutine[Any, Any, Any]],
        *args: Any,
        on_done: Callable[[Any, BaseException | None], None] | None = None,
    ) -> TaskHandle:
        """Start ``make_coro(*args)`` on the loop; ``on_done(result, error)`` runs on the gevent side."""
        loop = self._require_loop()
        handle = TaskHandle(self)
        loop.call_soon_threadsafe(self._create_task, handle, make_coro, args, on_done)
        return handle

    def call(self, make_coro: Callable[..., Awaitable[Any]], *args: Any, timeout: float | None = None) -> Any:
        """Run a coroutine on the loop and wait for its result in the calling greenlet."""
        result = gevent.event.AsyncResult()

        def done(value: Any, error: BaseException | None) -> None:
            if error is None:
                result.set(value)
            else:
                result.set_exception(error)

        handle = self.spawn(make_coro, *args, on_done=done)
        try:
            return result.get(timeout=timeout)
        except BaseException:
            handle.cancel()
            raise

    def flush(self, timeout: float = FLUSH_TIMEOUT_S) -> bool:
        """Deliver everything the loop has posted so far, ``post_lazy`` included, before returning.

        A round trip through the loop: its answer is posted behind every result the loop handed over
        before it, and the outbox is drained in order, so once it is back all of them have fired. What
        a window's flush calls before the final counts are taken. False if the loop did not answer
        within ``timeout`` (whatever had reached the outbox is delivered anyway).
        """
        if self.running:
            try:
                self.call(_nothing, timeout=timeout)
            except (gevent.Timeout, EngineError):
                self._drain_once()
                return False
        self._drain_once()
        return True

    # -- loop -> gevent ----------------------------------------------------------------------

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """From the loop thread: run ``fn(*args)`` soon in the drain greenlet. Cheap; batched."""
        self._outbox.append((fn, args))
        self._wake_drainer()

    def post_lazy(self, fn: Callable[..., Any], *args: Any) -> None:
        """From the loop thread: like ``post``, but the drain greenlet may run it up to ``LAZY_FLUSH_S``
        later, so a stream of results (device reports) costs one wake-up per interval, not one each."""
        self._outbox.append((fn, args))
        if self._flush_timer is None and self.loop is not None:
            self._flush_timer = self.loop.call_later(LAZY_FLUSH_S, self._flush_lazy)

    def _flush_lazy(self) -> None:
        self._flush_timer = None
        if self._outbox:
            self._wake_drainer()

    def _wake_drainer(self) -> None:
        # One wake-up per batch: the drain greenlet clears the flag before it empties the deque, so
        # whatever is appended while the flag is set is drained by that pass. (Each wake-up is a
        # cross-thread hand-off that costs the loop thread the GIL.)
        if self._woken:
            return
        self._woken = True
        watcher = self._watcher
        if watcher is not None:
            watcher.send()

    # -- internals ---------------------------------------------------------------------------

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None or self.loop.is_closed():
            raise EngineError("load engine is not running")
        return self.loop

    def _thread_main(self, ready: Any) -> None:
        _take_thread_hooks()
        try:
            loop = _NativeLoop()
            asyncio.set_event_loop(loop)
            with _unpatched():
                from grpc._cython import cygrpc

                cygrpc.init_grpc_aio()
                _native_grpc_plugin_lock()
            self.loop = loop
            self._tasks.add(loop.create_task(self._watch_lag()))  # cancelled by _shutdown with the rest
        except BaseException as exc:  # reported to start() through _start_error
            self._start_error = exc
            ready.release()
            self._stopped_lock.release()
            return
        ready.release()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._stopped_lock.release()

    def _create_task(
        self,
        handle: TaskHandle,
        make_coro: Callable[..., Coroutine[Any, Any, Any]],
        args: tuple[Any, ...],
        on_done: Callable[[Any, BaseException | None], None] | None,
    ) -> None:
        if handle.cancelled:
            if on_done is not None:
                self.post(on_done, None, asyncio.CancelledError())
            return
        task = asyncio.get_running_loop().create_task(make_coro(*args))
        handle.task = task
        self._tasks.add(task)

        def finished(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if on_done is None:
                return
            if t.cancelled():
                self.post(on_done, None, asyncio.CancelledError())
            else:
                self.post(on_done, t.result() if t.exception() is None else None, t.exception())

        task.add_done_callback(finished)

    async def _watch_lag(self) -> None:
        recent: deque[float] = deque(maxlen=LAG_SAMPLES)
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(LAG_PERIOD_S)
            recent.append(max(time.perf_counter() - asked - LAG_PERIOD_S, 0.0))
            self.lag_s = max(recent)

    async def _shutdown(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S / 2)
        asyncio.get_running_loop().stop()

    def _drain_forever(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self._drain_once()

    def _drain_once(self) -> None:
        self._woken = False
        outbox = self._outbox
        while outbox:
            fn, args = outbox.popleft()
            try:
                fn(*args)
            except Exception as exc:  # a broken listener must not stop result delivery
                print(f"aranya-perf engine: callback {fn!r} failed: {exc!r}", file=sys.stderr)


class TaskHandle:
    """A task started by ``Engine.spawn``; ``cancel`` is safe from the gevent side at any time."""

    __slots__ = ("_engine", "cancelled", "task")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.task: asyncio.Task[Any] | None = None
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        loop = self._engine.loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._cancel_on_loop)

    def _cancel_on_loop(self) -> None:
        if self.task is not None:
            self.task.cancel()


async def _nothing() -> None:
    return None


_ENGINE: Engine | None = None


def get_engine() -> Engine:
    """The process's engine, started on first use (after any fork, since users call this in on_start)."""
    global _ENGINE
    if _ENGINE is None or not _ENGINE.running:
        _ENGINE = Engine()
        _ENGINE.start()
    return _ENGINE


def engine_lag_s() -> float | None:
    """The process's engine's loop lag (``Engine.lag_s``), None when it has no running engine."""
    return _ENGINE.lag_s if _ENGINE is not None and _ENGINE.running else None


def flush_engine(timeout: float = FLUSH_TIMEOUT_S) -> bool:
    """``Engine.flush`` on the process's engine, if it has one (a process with no gRPC users has none)."""
    if _ENGINE is None:
        return True
    return _ENGINE.flush(timeout)


def shutdown_engine() -> None:
    global _ENGINE
    if _ENGINE is not None:
        _ENGINE.stop()
        _ENGINE = None
