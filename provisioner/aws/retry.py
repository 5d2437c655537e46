"""Bounded retries for the eventual-consistency errors AWS really produces.

Throttling and 5xx are botocore's job (standard retry mode, see clients.py). What is left is a
short, explicit list of codes per call: a resource just created but not yet visible
(``InvalidVpcID.NotFound``), an IAM role not yet assumable by a service, or ``DependencyViolation``
while AWS still detaches something. Each retry is bounded by time, and the message says the bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from provisioner.aws.errors import error_code, error_message
from provisioner.errors import AwsError

T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    """How long to wait and how often to look; tests shrink it, the benchmark scales it."""

    poll_initial: float = 1.0
    poll_max: float = 3.0
    poll_factor: float = 1.5
    ready_timeout: float = 900.0
    consistency_timeout: float = 120.0
    dependency_timeout: float = 300.0

    def delays(self) -> Iterable[float]:
        """A short capped backoff: 1, 1.5, 2.25, 3, 3 ... seconds by default (a NAT gateway or an
        endpoint, minutes in the making, is noticed within 3 s; one describe per 3 s per poller
        is far below EC2's request budget)."""
        delay = self.poll_initial
        while True:
            yield delay
            delay = min(self.poll_max, delay * self.poll_factor)


FAST = Timing(
    poll_initial=0.0,
    poll_max=0.01,
    ready_timeout=5.0,
    consistency_timeout=2.0,
    dependency_timeout=2.0,
)


def retry_when(
    fn: Callable[[], T],
    *,
    codes: Iterable[str],
    timeout: float,
    timing: Timing,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    message_contains: str | None = None,
) -> T:
    """Call ``fn`` until it stops failing with one of ``codes`` or ``timeout`` seconds pass."""
    wanted = set(codes)
    deadline = time.monotonic() + timeout
    delays = iter(timing.delays())
    while True:
        started = time.monotonic()
        try:
            return fn()
        except Exception as exc:
            code = error_code(exc)
            if code not in wanted:
                raise
            if message_contains and message_contains not in error_message(exc):
                raise
            if time.monotonic() >= deadline:
                raise AwsError(
                    f"{what}: still failing with {code} after {timeout:.0f} s: "
                    f"{error_message(exc)}",
                    code=code,
                ) from exc
            sleep(_remaining(started, next(delays)))


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    timing: Timing,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Poll ``check`` (which returns a value when done, None while pending) within ``timeout``."""
    deadline = time.monotonic() + timeout
    delays = iter(timing.delays())
    while True:
        started = time.monotonic()
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise AwsError(f"timed out after {timeout:.0f} s waiting for {what}", code="Timeout")
        sleep(_remaining(started, next(delays)))


def _remaining(started: float, delay: float) -> float:
    """What is left of ``delay`` counted from the attempt's start: a look every ``delay``
    seconds, not every ``delay`` plus the call's round trip."""
    return max(0.0, started + delay - time.monotonic())
