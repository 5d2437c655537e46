"""Independent AWS reads sent at once, so reading a resource costs rounds, not calls.

S3 has no call that returns a bucket's settings together, and IAM none for a role's policies:
a bucket is six GETs, a role four lists and gets. None needs another's answer, so they go out
together and a refresh waits for the slowest, not for their sum.

One process-wide pool serves every ``gather`` (a thread per call would cost more than the
call's CPU). The caller runs the first call itself and, when it comes to wait for a call no
worker has started, takes that call back and runs it too: nested gathers (a role's policies
inside a refresh of roles) can therefore never wait on a pool that is full of waiters. Each call
runs in a copy of the caller's ``contextvars`` context (tracing follows the call).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

#: Threads of the shared pool; a gather of one resource's settings is far below any API limit.
POOL_SIZE = 16

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="smprov-read")
        return _pool


def gather(calls: Sequence[Callable[[], Any]], *, at_once: int) -> list[Any]:
    """Every call's result, in order; the first call (in order) that raised re-raises, after all
    have finished (none is left running behind the caller's back).

    ``at_once`` is the run's parallelism: at 1 the calls run one after another in order, so a
    serial run stays serial and makes its calls in a fixed order.
    """
    if at_once <= 1 or len(calls) <= 1:
        return [call() for call in calls]
    outcomes = gather_settled(calls, at_once=at_once)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    return outcomes


def gather_settled(calls: Sequence[Callable[[], Any]], *, at_once: int) -> list[Any]:
    """Every call's result or the exception it raised, in order (for reads sent on a guess,
    whose failure the caller judges: a setting of a bucket that turns out to be gone)."""
    if at_once <= 1 or len(calls) <= 1:
        return [_settled(call) for call in calls]
    pool = _shared_pool()
    rest: list[tuple[Callable[[], Any], Future[Any]]] = [
        (call, pool.submit(contextvars.copy_context().run, _settled, call)) for call in calls[1:]
    ]
    outcomes = [_settled(calls[0])]
    for call, future in rest:
        # Not started yet (the pool is busy): run it here rather than wait for a worker.
        outcomes.append(_settled(call) if future.cancel() else future.result())
    return outcomes


def _settled(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:
        return exc
