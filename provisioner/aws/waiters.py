"""One poller per kind: every resource waiting on the same describe shares one call per round.

A cold stack waits minutes for NAT gateways and interface endpoints. Polling each one on its own
multiplies describe calls by the number of resources (EC2 refills describe calls at about 20/s per
account, shared with everything else the account runs). Here a waiting thread registers its id and
blocks on an Event; a single poll loop per (clients, describe) asks for *all* registered ids in one
call, filtered by id so an id AWS does not know yet (eventual consistency right after a create)
never fails the call, and wakes each waiter whose resource reached its goal.

A waiter's first look is in the next round; then it keeps its own short capped backoff
(``Timing.delays``: 1, 1.5, 2.25, then every 3 s by default, so ``available`` is noticed within
seconds) and its own deadline (``Timing.ready_timeout`` unless given). The loop sleeps until the
earliest waiter is due, never sooner than ``poll_initial`` after the previous round (at most one
describe per second per kind by default), and exits when nobody waits.

Each kind says how it is polled (its ``Describe``, with the extractor of AWS's failure reason:
``Ec2Kind.polled`` builds it from the kind's own fields)::

    raw = wait_for(ctx, self.polled, endpoint_id, AVAILABLE)   # -> the describe item
    wait_for(ctx, self.polled, endpoint_id, DELETED)            # -> None once gone
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from provisioner.aws.errors import to_aws_error
from provisioner.aws.retry import Timing
from provisioner.errors import AwsError

#: EC2 caps the values of one filter (200 on most describes): more ids take several calls.
MAX_FILTER_VALUES = 200

Raw = Mapping[str, Any]


class WaitCtx(Protocol):
    """What the poller needs from a kind's ``Ctx`` (kept structural so tests can pass fakes)."""

    @property
    def clients(self) -> Any: ...
    @property
    def timing(self) -> Timing: ...
    def client(self, service: str) -> Any: ...
    def report(self, message: str) -> None: ...


def _no_failure(_raw: Raw) -> tuple[str | None, str]:
    return None, ""


@dataclass(frozen=True)
class Describe:
    """How to read many resources of one kind by id in one call."""

    #: What the messages call it ("NAT gateway").
    label: str
    method: str
    result_key: str
    id_field: str
    #: The filter that selects by id (a filter, unlike an id list, never fails on an unknown id).
    id_filter: str
    service: str = "ec2"
    filter_param: str = "Filters"
    state_field: str = "State"
    #: AWS's reason for a failed resource: (code, message).
    failure: Callable[[Raw], tuple[str | None, str]] = _no_failure


@dataclass(frozen=True)
class Until:
    """The goal of a wait: states (lower-case) that end it well, states that end it badly."""

    #: Words for the messages ("to become available").
    goal: str
    ready: frozenset[str]
    failed: frozenset[str] = frozenset()
    #: Whether a resource the describe no longer lists has reached the goal (deletions).
    absent_is_ready: bool = False


#: ``available``; anything terminal is a failure (NAT gateways and VPC endpoints alike).
AVAILABLE = Until(
    goal="to become available",
    ready=frozenset({"available"}),
    failed=frozenset({"failed", "rejected", "expired", "deleting", "deleted"}),
)
#: Deleted, or failed (a failed NAT gateway is as gone as a deleted one), or no longer listed.
DELETED = Until(
    goal="to be deleted",
    ready=frozenset({"deleted", "failed", "rejected", "expired"}),
    absent_is_ready=True,
)


@dataclass(eq=False)
class _Waiter:
    resource_id: str
    until: Until
    client: Any
    timeout: float
    deadline: float
    delays: Iterator[float]
    min_interval: float
    next_due: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Raw | None = None
    error: BaseException | None = None
    last_state: str | None = None

    def finish(self, result: Raw | None = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


class BatchPoller:
    """The poll loop for one describe: thread-safe, started on demand, gone when idle."""

    def __init__(self, describe: Describe) -> None:
        self.describe = describe
        self._cond = threading.Condition()
        self._waiters: list[_Waiter] = []
        self._thread: threading.Thread | None = None
        self._last_round = float("-inf")

    def wait(
        self, ctx: WaitCtx, resource_id: str, until: Until, *, timeout: float | None = None
    ) -> Raw | None:
        """Block until ``resource_id`` reaches ``until``; its describe item (None if absent)."""
        timing = ctx.timing
        bound = timing.ready_timeout if timeout is None else timeout
        now = time.monotonic()
        # The first look is at once (the next round): on an emulator, or for a resource adopted
        # half-way, it is often already there; after that each waiter backs off on its own.
        waiter = _Waiter(
            resource_id=resource_id,
            until=until,
            client=ctx.client(self.describe.service),
            timeout=bound,
            deadline=now + bound,
            delays=iter(timing.delays()),
            min_interval=timing.poll_initial,
            next_due=now,
        )
        with self._cond:
            self._waiters.append(waiter)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"poll-{self.describe.method}", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        waiter.done.wait()
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    batch = self._due_batch()
                    if batch is None:
                        return
                if batch:
                    self._poll(batch)
        except BaseException as exc:  # a bug, or the process going down: nobody may hang
            with self._cond:
                stuck, self._waiters, self._thread = self._waiters, [], None
            # KeyboardInterrupt and the like reach every waiter as they are.
            error = (
                AwsError(f"polling {self.describe.label}s failed: {exc!r}")
                if isinstance(exc, Exception)
                else exc
            )
            for waiter in stuck:
                waiter.finish(error=error)

    def _due_batch(self) -> list[_Waiter] | None:
        """Under the lock: the waiters to poll now, [] after a sleep, None when nobody waits."""
        if not self._waiters:
            self._thread = None
            return None
        now = time.monotonic()
        spacing = min(w.min_interval for w in self._waiters)
        due = max(min(w.next_due for w in self._waiters), self._last_round + spacing)
        if due > now:
            self._cond.wait(due - now)
            return []
        self._last_round = now
        return list(self._waiters)

    def _poll(self, batch: Sequence[_Waiter]) -> None:
        d = self.describe
        ids = sorted({w.resource_id for w in batch})
        started = time.monotonic()
        try:
            raws = self._describe(batch[0].client, ids)
        except Exception as exc:  # throttling and 5xx were already retried by botocore
            error = to_aws_error(exc, f"waiting for {d.label}s {', '.join(ids)}")
            self._settle(batch, lambda w: w.finish(error=error))
            return
        by_id = {raw.get(d.id_field): raw for raw in raws}
        self._settle(batch, lambda w: self._evaluate(w, by_id.get(w.resource_id), started))

    def _settle(self, batch: Sequence[_Waiter], outcome: Callable[[_Waiter], None]) -> None:
        with self._cond:
            for waiter in batch:
                outcome(waiter)
            self._waiters = [w for w in self._waiters if not w.done.is_set()]

    def _describe(self, client: Any, ids: Sequence[str]) -> list[Raw]:
        d = self.describe
        raws: list[Raw] = []
        for start in range(0, len(ids), MAX_FILTER_VALUES):
            chunk = list(ids[start : start + MAX_FILTER_VALUES])
            params = {d.filter_param: [{"Name": d.id_filter, "Values": chunk}]}
            if client.can_paginate(d.method):
                for page in client.get_paginator(d.method).paginate(**params):
                    raws.extend(page.get(d.result_key, []))
            else:
                raws.extend(getattr(client, d.method)(**params).get(d.result_key, []))
        return raws

    def _evaluate(self, waiter: _Waiter, raw: Raw | None, asked_at: float) -> None:
        """Under the lock: finish ``waiter`` if its resource reached an end, else reschedule
        (its next look counted from when this round asked, not from the answer)."""
        d, until = self.describe, waiter.until
        what = f"{d.label} {waiter.resource_id} {until.goal}"
        if raw is None:
            if until.absent_is_ready:
                waiter.finish()
                return
        else:
            state = str(raw.get(d.state_field) or "")
            waiter.last_state = state
            # EC2 answers "available"; its reference spells some enums "Available": compare
            # without case (the Until sets are lower-case).
            state = state.lower()
            if state in until.ready:
                waiter.finish(raw)
                return
            if state in until.failed:
                code, message = d.failure(raw)
                detail = f": {code}: {message}" if code or message else ""
                waiter.finish(
                    error=AwsError(
                        f"{d.label} {waiter.resource_id} became {state}{detail} (waiting for it "
                        f"{until.goal})",
                        code=code or f"{d.label.title().replace(' ', '')}{state.title()}",
                    )
                )
                return
        now = time.monotonic()
        if now >= waiter.deadline:
            seen = f"last state {waiter.last_state}" if waiter.last_state else "not listed yet"
            waiter.finish(
                error=AwsError(
                    f"timed out after {waiter.timeout:g} s waiting for {what} ({seen})",
                    code="Timeout",
                )
            )
            return
        waiter.next_due = min(asked_at + next(waiter.delays), waiter.deadline)


_registry_lock = threading.Lock()
_pollers: weakref.WeakKeyDictionary[Any, dict[Describe, BatchPoller]] = weakref.WeakKeyDictionary()


def poller(ctx: WaitCtx, describe: Describe) -> BatchPoller:
    """The one poller for ``describe`` on these clients (one account and region)."""
    with _registry_lock:
        by_describe = _pollers.setdefault(ctx.clients, {})
        found = by_describe.get(describe)
        if found is None:
            found = by_describe[describe] = BatchPoller(describe)
        return found


def wait_for(
    ctx: WaitCtx,
    describe: Describe,
    resource_id: str,
    until: Until,
    *,
    timeout: float | None = None,
) -> Raw | None:
    """Wait (bounded by ``ctx.timing.ready_timeout`` or ``timeout``) for one resource, sharing
    describe calls with every other thread waiting on the same kind. Returns its describe item,
    or None when it is gone and ``until`` accepts that; raises AwsError with AWS's failure reason
    or with the bound on timeout."""
    ctx.report(f"waiting for {describe.label} {resource_id} {until.goal}")
    return poller(ctx, describe).wait(ctx, resource_id, until, timeout=timeout)
