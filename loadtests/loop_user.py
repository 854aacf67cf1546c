"""``LoopUser``: a Locust user whose work is one client loop on the load engine's loop.

Scenario grpc's clients, the etcd KV clients and the operators (gRPC and Kubernetes, closed and
open model) all work this way: ``on_start`` starts the user's ``client_loop()`` coroutine on the
engine, and a call, its report, the think time and the next call follow one another there, with
no hand-off between gevent and the loop per call. The greenlet only parks in ``wait_time`` until
the loop ends, so Locust's stop (the run's end, a shape lowering the count) kills it at once and
``on_stop`` cancels the loop, the call in flight included.

Calls are counted in flight in the window before they start (``Window.start_on_loop``) and
reported lazily (``report_done``): reports cross to gevent in batches, and a closing window still
waits for every one, since the engine's flush delivers them before the final counts. A call
cancelled by a stop is never reported and leaves the in-flight count (``abandoned_open``).

A loop that breaks is one failed request (``loop_request_type`` / ``loop_name``), reported once.
A closed-model client's loop never ends by itself, so its ending is a failure too; an open-model
schedule ends with the window (``loop_may_end``) and its user then idles (``idle_after_loop``)
rather than stop, so a shape's next step does not start a second schedule.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import gevent
import gevent.event
from aranya_perf.loadtests.engine import TaskHandle
from aranya_perf.loadtests.grpc_user import GrpcUser, RpcFailure
from grpc import aio
from locust import task
from locust.exception import StopUser

CLOSED_POLL_S = 0.1
"""How often a client whose window has closed looks again (it makes no call meanwhile)."""
STOP_WAIT_S = 2.0
"""How long ``on_stop`` waits for the cancelled loop (the call in flight is cancelled on the loop)."""
IDLE_S = 1.0


def _length_of(result: Any) -> int:
    return result if isinstance(result, int) else 0


class LoopUser(GrpcUser):
    """Base of the users whose client loop runs on the engine: subclasses write ``client_loop()`` and
    call ``start_loop()`` at the end of their ``on_start``."""

    abstract = True
    loop_request_type = "grpc"
    loop_name = "client"
    loop_may_end = False
    """The loop returning without an error is normal (an open-model schedule ends with the window)."""
    idle_after_loop = False
    """After the loop has ended, idle until Locust stops the user instead of stopping it."""
    _handle: TaskHandle | None = None
    _finished: gevent.event.AsyncResult | None = None

    def client_loop(self) -> Coroutine[Any, Any, None]:
        """The user's work on the loop: runs until cancelled (or, with ``loop_may_end``, to its end)."""
        raise NotImplementedError

    def start_loop(self) -> None:
        self._reported = False
        self._finished = gevent.event.AsyncResult()
        finished = self._finished
        self._handle = self.engine.spawn(self.client_loop, on_done=lambda _r, e: finished.set(e))

    def wait_time(self) -> float:  # type: ignore[override]
        # Parked until the loop ends: Locust marks the user waiting here, so a stop kills the
        # greenlet at once and ``on_stop`` cancels the loop.
        if self._finished is not None:
            self._finished.wait()
        return 0.0

    @task
    def hold(self) -> None:
        finished = self._finished
        if finished is None or not finished.ready():
            return
        error = finished.get()
        if not self._reported and not isinstance(error, asyncio.CancelledError):
            self._reported = True
            if error is not None or not self.loop_may_end:
                self.environment.events.request.fire(
                    request_type=self.loop_request_type, name=self.loop_name, response_time=0,
                    response_length=0, exception=error or RuntimeError(f"{self.loop_name} loop ended"),
                    context={},
                )  # fmt: skip
        if not self.idle_after_loop:
            raise StopUser()
        gevent.sleep(IDLE_S)

    def on_stop(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()
            assert self._finished is not None
            self._finished.wait(timeout=STOP_WAIT_S)
        super().on_stop()

    # -- on the loop -------------------------------------------------------------------------------

    def report_done(
        self,
        request_type: str,
        name: str,
        response_time_ms: float,
        response_length: int = 0,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        """From the loop: report a call counted in flight (``Window.start_on_loop``), lazily; it leaves
        the count once its event has fired. Nobody waits on it: the window's flush delivers it."""
        self.engine.post_lazy(
            self._fire_call, request_type, name, response_time_ms, response_length, exception, context
        )

    async def timed(
        self,
        request_type: str,
        name: str,
        make_call: Callable[[], Awaitable[Any]],
        length: Callable[[Any], int] = _length_of,
    ) -> Any:
        """One call already counted in flight, timed and reported; its result, or None when it failed
        (``length(result)`` may raise to fail a wrong answer)."""
        start = time.perf_counter()
        result, size, error = None, 0, None
        try:
            result = await make_call()
            size = length(result)
        except asyncio.CancelledError:
            self.window.abandoned_open += 1  # stopped mid-call: never reported, so no longer in flight
            raise
        except aio.AioRpcError as exc:
            result, error = None, RpcFailure.of(exc)
        except Exception as exc:  # a wrong answer, a broken connection
            result, error = None, exc
        self.report_done(request_type, name, (time.perf_counter() - start) * 1000, size, error)
        return result
