"""One answer per identical describe within a refresh (several kinds read route tables)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any


class ReadCache:
    """Memoises identical describe calls within one refresh (several kinds read route tables).

    Single-flight: kinds read concurrently, so the first caller of a key makes the call and the
    others wait for its answer (or its error) instead of sending the same request again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[Hashable, Future[Any]] = {}

    def get_or_call(self, key: Hashable, call: Callable[[], Any]) -> Any:
        with self._lock:
            future = self._futures.get(key)
            mine = future is None
            if future is None:
                future = self._futures[key] = Future()
        if mine:
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()
