"""``gather``: a resource's independent reads at once, in order, without deadlock."""

from __future__ import annotations

import contextvars
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from provisioner.aws import concurrent
from provisioner.aws.concurrent import gather, gather_settled


def test_results_come_back_in_the_order_of_the_calls() -> None:
    def slow(value: int, delay: float) -> int:
        time.sleep(delay)
        return value

    calls = [lambda: slow(1, 0.05), lambda: slow(2, 0.0), lambda: slow(3, 0.02)]
    assert gather(calls, at_once=10) == [1, 2, 3]


def test_the_calls_overlap_when_parallelism_allows() -> None:
    barrier = threading.Barrier(3, timeout=5)  # only passes if all three run at once
    # Barrier.wait returns each party's arrival index: all three arrived, none timed out.
    assert sorted(gather([barrier.wait] * 3, at_once=10)) == [0, 1, 2]


def test_at_parallelism_one_the_calls_run_in_order_in_the_callers_thread() -> None:
    seen: list[tuple[int, str]] = []

    def call(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        return n

    assert gather([lambda n=n: call(n) for n in range(4)], at_once=1) == [0, 1, 2, 3]
    me = threading.current_thread().name
    assert seen == [(0, me), (1, me), (2, me), (3, me)]


def test_the_first_failure_in_call_order_is_raised_after_every_call_finished() -> None:
    finished: list[str] = []

    def fail(name: str, delay: float) -> None:
        time.sleep(delay)
        finished.append(name)
        raise ValueError(name)

    def ok() -> str:
        time.sleep(0.05)
        finished.append("ok")
        return "ok"

    with pytest.raises(ValueError, match="first"):
        gather([ok, lambda: fail("first", 0.03), lambda: fail("second", 0.0)], at_once=10)
    assert sorted(finished) == ["first", "ok", "second"]


def test_settled_gives_each_exception_in_its_place() -> None:
    def boom() -> None:
        raise KeyError("gone")

    ok, failed = gather_settled([lambda: "fine", boom], at_once=10)
    assert ok == "fine"
    assert isinstance(failed, KeyError)


def test_nested_gathers_finish_even_when_the_pool_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker busy waiting on its own inner gather must not hang: a waiter takes back
    the calls no worker has started."""
    tiny = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(concurrent, "_pool", tiny)

    def inner(n: int) -> int:
        return sum(gather([lambda: n, lambda: n, lambda: n], at_once=10))

    outer = [lambda n=n: inner(n) for n in range(5)]
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.extend(gather(outer, at_once=10)))
    worker.start()
    worker.join(timeout=10)
    tiny.shutdown(wait=False)
    assert not worker.is_alive(), "nested gather deadlocked"
    assert result == [0, 3, 6, 9, 12]


def test_calls_see_the_callers_context_variables() -> None:
    who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")
    who.set("reader")
    assert gather([who.get, who.get, who.get], at_once=10) == ["reader"] * 3
