"""Apply a plan as a dependency graph on a bounded thread pool.

A node starts as soon as everything it depends on is done; a NAT gateway's minutes-long wait blocks
only the routes that need it. A failed node skips its dependants (with the reason) while independent
branches go on. Every change is handed to the recorder -- which writes the state atomically --
before anyone hears of it, so the state is true to AWS at every moment. When ``cancel`` is set
(Ctrl-C), nothing new starts; running steps finish and are recorded.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from provisioner.aws.errors import to_aws_error
from provisioner.engine.contract import Ctx, Kind, ReadItem
from provisioner.engine.model import Action, Live, Phase, Step, StepEvent, StepStatus, resolve
from provisioner.engine.planner import Node, Plan
from provisioner.errors import NameTaken, SmprovError, StateError


class Recorder(Protocol):
    def record(
        self, key: str, kind: str, id: str, attrs: Mapping[str, Any], depends_on: list[str]
    ) -> None: ...
    def forget(self, key: str, *, wait: bool = True) -> None: ...
    def intend(self, key: str, kind: str, token: str, name: str | None = None) -> None: ...
    def clear_intent(self, key: str) -> None: ...
    def keep(self, key: str, reason: str | None) -> None: ...


@dataclass
class NodeResult:
    status: StepStatus
    message: str = ""
    error: SmprovError | None = None
    elapsed: float = 0.0

    @property
    def kept(self) -> bool:
        """A deletion that kept its resource (data the user did not ask to delete)."""
        return self.status is StepStatus.DONE and self.message.startswith(f"{KEPT} ")


#: How a deletion that kept its resource begins its message.
KEPT = "kept"


@dataclass
class ApplyReport:
    results: dict[Node, NodeResult] = field(default_factory=dict)

    @property
    def failed(self) -> list[tuple[Node, NodeResult]]:
        return [(n, r) for n, r in self.results.items() if r.status is StepStatus.FAILED]

    @property
    def ok(self) -> bool:
        return all(r.status is StepStatus.DONE for r in self.results.values())

    def count(self, status: StepStatus) -> int:
        return sum(1 for r in self.results.values() if r.status is status)


def client_token(lineage: str, key: str, serial: int) -> str:
    """A ClientToken that is the same for a retried create and different for a new one.

    Derived from the stack's lineage, the resource key and the state serial at which the intent
    was recorded; the intent (with this token) is in the state before the create is sent, so a run
    resuming after a crash sends the very same token and AWS returns what it already made.
    """
    digest = hashlib.sha256(f"{lineage}/{key}/{serial}".encode()).hexdigest()
    return f"smprov-{digest[:40]}"


class LiveValues:
    """What later steps' Refs resolve against, as steps finish (shared by the step threads): the
    live values of resources the plan keeps, then of each one made, updated or deleted."""

    def __init__(self, steps: Mapping[str, Step]) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Live | None] = {
            key: step.live
            for key, step in steps.items()
            if step.action in (Action.NOOP, Action.UPDATE) and step.live is not None
        }

    def current(self) -> dict[str, Live | None]:
        with self._lock:
            return dict(self._values)

    def set(self, key: str, live: Live) -> None:
        with self._lock:
            self._values[key] = live

    def drop(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)


@dataclass(frozen=True)
class Creation:
    """How a create is made idempotent: the stack's lineage, the intents (key -> token) the
    state records and the names their name-keyed creates asked for, and the state's serial for
    a new token."""

    lineage: str
    intents: Mapping[str, str] = field(default_factory=dict)
    serial: Callable[[], int] = lambda: 0
    intended: Mapping[str, str] = field(default_factory=dict)


def destroy_step(ctx: Ctx, kind: Kind, step: Step, recorder: Recorder, lives: LiveValues) -> str:
    """Delete ``step``'s resource (if AWS still has it) and forget it; or keep it, and its state
    entry, when the kind keeps data the user did not ask to delete. Returns the step's message."""
    if step.live is not None:
        ctx.report(f"deleting {step.live.id}")
        kept = kind.delete(ctx, step.live)
        if kept:
            # Data smprov will not delete without being told (a bucket with user data, a log
            # group): it stays in AWS, so it stays in the state, marked kept.
            recorder.keep(step.key, kept)
            if step.action is Action.REPLACE:
                # ... until the new one takes its key: no smprov command reaches it any more.
                return (
                    f"{KEPT} {step.live.id}: {kept}; a new {kind.label} replaced it in the state, "
                    "so smprov no longer deletes it (delete it in AWS once its data is not needed)"
                )
            flag = f" (smprov down {kind.keep_flag} deletes it)" if kind.keep_flag else ""
            return f"{KEPT} {step.live.id}: {kept}{flag}"
    # Written at once, but not awaited: a crash before it lands leaves a gone resource recorded,
    # which the next refresh drops; dependants need not wait for the fsync.
    recorder.forget(step.key, wait=False)
    lives.drop(step.key)
    return f"deleted {step.live.id}" if step.live else "removed from state"


def apply_step(
    ctx: Ctx,
    kind: Kind,
    step: Step,
    recorder: Recorder,
    lives: LiveValues,
    creation: Creation,
) -> str:
    """Make or update ``step``'s resource with its Refs resolved against ``lives``, and record
    it (a create's intent first). Returns the step's message."""
    desired = step.desired
    assert desired is not None
    current = lives.current()
    spec = resolve(dict(desired.spec), current)
    if step.action is Action.UPDATE and step.live is not None:
        changes = kind.diff(step.live, spec)
        live = kind.update(ctx, step.live, spec, changes) if changes else step.live
        message = (
            "updated " + ", ".join(c.path for c in changes) if changes else "adopted into state"
        )
    else:
        live = _adopt_after_crash(
            ctx,
            kind,
            step.key,
            desired.spec,
            creation.intents,
            creation.intended.get(step.key),
            current,
        )
        if live is None:
            token = creation.intents.get(step.key) or client_token(
                creation.lineage, step.key, creation.serial()
            )
            name = spec.get(kind.name_field) if kind.name_field else None
            recorder.intend(step.key, step.kind, token, name if isinstance(name, str) else None)
            ctx.report("creating")
            try:
                live = kind.create(ctx, step.key, spec, token)
            except NameTaken:
                # Someone else's resource holds the name: this create made nothing, and the
                # next run must refuse it again, not adopt it by the intent's name.
                recorder.clear_intent(step.key)
                raise
        message = f"created {live.id}"
    recorder.record(step.key, step.kind, live.id, dict(live.attrs), sorted(desired.depends_on))
    lives.set(step.key, live)
    return message


def failure(node: Node, exc: BaseException, elapsed: float) -> NodeResult:
    """A failed step's result: smprov's own errors as they are, anything else as an AWS error
    naming the step."""
    if isinstance(exc, SmprovError):
        return NodeResult(StepStatus.FAILED, exc.message, exc, elapsed)
    err = to_aws_error(exc, f"{node[1].value} {node[0]}")
    return NodeResult(StepStatus.FAILED, err.message, err, elapsed)


def next_node(ready: list[Node], height: Mapping[Node, float]) -> Node:
    """Take the ready node heading the costliest chain: when the pool is full, a step that a NAT
    gateway waits behind must not queue behind leaves (list scheduling; ties in order)."""
    return ready.pop(max(range(len(ready)), key=lambda i: (height[ready[i]], -i)))


class _Walk:
    """One walk of a plan's graph: which nodes are ready, running and settled."""

    def __init__(
        self,
        plan: Plan,
        ctx: Ctx,
        recorder: Recorder,
        kinds: Mapping[str, Kind],
        creation: Creation,
        emit: Callable[[StepEvent], None],
        cancel: threading.Event,
    ) -> None:
        self.plan, self.ctx, self.recorder, self.kinds = plan, ctx, recorder, kinds
        self.creation, self.emit, self.cancel = creation, emit, cancel
        self.steps = plan.step_by_key
        self.lives = LiveValues(self.steps)
        self.report = ApplyReport()
        graph = plan.graph
        self.dependants = graph.dependants()
        self.remaining = {n: set(graph.deps(n)) for n in graph.nodes}
        # Sorted, like every later addition: at parallelism 1 a run makes its calls in a fixed
        # order.
        self.ready = sorted((n for n, deps in self.remaining.items() if not deps), key=repr)
        self.height = _heights(
            graph.topological(), self.dependants, lambda n: _weight(n, self.steps, kinds)
        )

    def run(self) -> ApplyReport:
        parallelism = max(1, self.ctx.parallelism)
        running: dict[Future[str], tuple[Node, float]] = {}
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            while self.ready or running:
                # Submit no more than the pool runs, so a queued step is never shown as running
                # and a cancel stops everything that has not really started.
                while self.ready and len(running) < parallelism and not self.cancel.is_set():
                    node = next_node(self.ready, self.height)
                    if node in self.report.results:
                        continue
                    self._event(node, StepStatus.RUNNING, "starting")
                    running[pool.submit(self.run_node, node)] = (node, time.monotonic())
                if self.cancel.is_set():
                    self.ready.clear()
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    node, started = running.pop(future)
                    self.finish(node, future, time.monotonic() - started)
        for node in self.plan.graph.nodes:
            if node not in self.report.results:
                self.settle(node, NodeResult(StepStatus.CANCELLED, "not started: interrupted"))
        return self.report

    def run_node(self, node: Node) -> str:
        """One step, in a pool thread; its progress notes go out as RUNNING events."""
        key, phase = node
        step = self.steps[key]
        started = time.monotonic()
        ctx = self.ctx.for_step(
            lambda message: self._event(node, StepStatus.RUNNING, message, started)
        )
        kind = self.kinds[step.kind]
        if phase is Phase.DESTROY:
            return destroy_step(ctx, kind, step, self.recorder, self.lives)
        return apply_step(ctx, kind, step, self.recorder, self.lives, self.creation)

    def finish(self, node: Node, future: Future[str], elapsed: float) -> None:
        """Settle a node that ran: done (its dependants may become ready) or failed (they are
        skipped; a state that can no longer be written stops all new work)."""
        try:
            message = future.result()
        except Exception as exc:
            if isinstance(exc, StateError):
                # The state can no longer be written (another writer, a full disk): every
                # further change would be unrecorded, so nothing new starts.
                self.cancel.set()
            self.settle(node, failure(node, exc, elapsed))
            self.skip_downstream(node, f"{node[0]} failed")
            return
        self.settle(node, NodeResult(StepStatus.DONE, message, None, elapsed))
        for nxt in sorted(self.dependants.get(node, ()), key=repr):
            deps = self.remaining.get(nxt)
            if deps is None:
                continue
            deps.discard(node)
            if not deps and nxt not in self.report.results:
                self.ready.append(nxt)

    def settle(self, node: Node, result: NodeResult) -> None:
        self.report.results[node] = result
        self._event(node, result.status, result.message, elapsed=result.elapsed)

    def skip_downstream(self, node: Node, reason: str) -> None:
        for other in sorted(self.plan.graph.downstream([node]), key=repr):
            if other not in self.report.results:
                self.settle(other, NodeResult(StepStatus.SKIPPED, reason))
                self.remaining.pop(other, None)

    def _event(
        self,
        node: Node,
        status: StepStatus,
        message: str,
        started: float | None = None,
        *,
        elapsed: float | None = None,
    ) -> None:
        if elapsed is None:
            elapsed = time.monotonic() - started if started is not None else 0.0
        key, phase = node
        self.emit(StepEvent(key, phase, status, self.steps[key].action, message, elapsed))


def apply(
    plan: Plan,
    ctx: Ctx,
    recorder: Recorder,
    kinds: Mapping[str, Kind],
    *,
    lineage: str,
    intents: Mapping[str, str] | None = None,
    intended: Mapping[str, str] | None = None,
    serial: Callable[[], int] = lambda: 0,
    on_event: Callable[[StepEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> ApplyReport:
    """Run ``plan``: every node once its dependencies are done, at most ``ctx.parallelism`` at
    once, each change recorded before anyone hears of it."""
    creation = Creation(lineage, dict(intents or {}), serial, dict(intended or {}))
    walk = _Walk(
        plan,
        ctx,
        recorder,
        kinds,
        creation,
        on_event or (lambda _event: None),
        cancel or threading.Event(),
    )
    return walk.run()


def _weight(node: Node, steps: Mapping[str, Any], kinds: Mapping[str, Kind]) -> float:
    """A step's expected cost: one unit, plus AWS's typical wait when it creates or deletes a
    slow resource (a NAT gateway's minutes)."""
    key, phase = node
    step = steps[key]
    kind = kinds[step.kind]
    if phase is Phase.DESTROY:
        return 1.0 + kind.delete_seconds
    if step.action in (Action.CREATE, Action.REPLACE):
        return 1.0 + kind.create_seconds
    return 1.0


def _heights(
    order: list[Node], dependants: Mapping[Node, set[Node]], weight: Callable[[Node], float]
) -> dict[Node, float]:
    """The expected cost of the costliest chain from each node to the end of the plan (``order``
    is topological: every node after what it depends on)."""
    height: dict[Node, float] = {}
    for node in reversed(order):
        below = dependants.get(node, ())
        height[node] = weight(node) + max((height[d] for d in below), default=0.0)
    return height


def _adopt_after_crash(
    ctx: Ctx,
    kind: Kind,
    key: str,
    raw_spec: Mapping[str, Any],
    intents: Mapping[str, str],
    intended: str | None,
    current: Mapping[str, Live | None],
) -> Live | None:
    """A create that an earlier run started (its intent is in the state) may have happened even
    though the refresh did not see it (AWS's describes are eventually consistent). Kinds with a
    ClientToken are safe by the token; the others look once more right before creating."""
    if key not in intents or kind.uses_token():
        return None
    item = ReadItem(key, None, raw_spec, intended=intended)
    found = kind.read(ctx, [item], lambda v: resolve(v, current))
    return found.get(key)
