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
from provisioner.engine.model import Action, Live, Phase, StepEvent, StepStatus, resolve
from provisioner.engine.planner import Node, Plan
from provisioner.errors import SmprovError, StateError


class Recorder(Protocol):
    def record(
        self, key: str, kind: str, id: str, attrs: Mapping[str, Any], depends_on: list[str]
    ) -> None: ...
    def forget(self, key: str, *, wait: bool = True) -> None: ...
    def intend(self, key: str, kind: str, token: str, name: str | None = None) -> None: ...


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
    emit = on_event or (lambda _event: None)
    cancel = cancel or threading.Event()
    graph = plan.graph
    steps = plan.step_by_key
    intents = dict(intents or {})
    intended = dict(intended or {})
    report = ApplyReport()
    parallelism = max(1, ctx.parallelism)

    lock = threading.Lock()
    lives: dict[str, Live | None] = {
        key: step.live
        for key, step in steps.items()
        if step.action in (Action.NOOP, Action.UPDATE) and step.live is not None
    }

    def current_lookup() -> dict[str, Live | None]:
        with lock:
            return dict(lives)

    def run_node(node: Node) -> str:
        key, phase = node
        step = steps[key]
        kind = kinds[step.kind]
        started = time.monotonic()

        def note(message: str) -> None:
            emit(
                StepEvent(
                    key, phase, StepStatus.RUNNING, step.action, message, time.monotonic() - started
                )
            )

        sctx = ctx.for_step(note)
        if phase is Phase.DESTROY:
            if step.live is not None:
                note(f"deleting {step.live.id}")
                kept = kind.delete(sctx, step.live)
                if kept:
                    # Data smprov will not delete without being told (a bucket with user data,
                    # a log group): it stays in AWS, so it stays in the state, marked kept.
                    recorder.keep(key, kept)
                    return f"{KEPT} {step.live.id}: {kept}"
            # Written at once, but not awaited: a crash before it lands leaves a gone resource
            # recorded, which the next refresh drops; dependants need not wait for the fsync.
            recorder.forget(key, wait=False)
            with lock:
                lives.pop(key, None)
            return f"deleted {step.live.id}" if step.live else "removed from state"

        desired = step.desired
        assert desired is not None
        spec = resolve(dict(desired.spec), current_lookup())
        depends_on = sorted(desired.depends_on)
        if step.action is Action.UPDATE and step.live is not None:
            changes = kind.diff(step.live, spec)
            live = kind.update(sctx, step.live, spec, changes) if changes else step.live
            message = (
                "updated " + ", ".join(c.path for c in changes) if changes else "adopted into state"
            )
        else:
            live = _adopt_after_crash(
                sctx, kind, key, desired.spec, intents, intended.get(key), current_lookup
            )
            if live is None:
                token = intents.get(key) or client_token(lineage, key, serial())
                name = spec.get(kind.name_field) if kind.name_field else None
                recorder.intend(key, step.kind, token, name if isinstance(name, str) else None)
                note("creating")
                live = kind.create(sctx, key, spec, token)
            message = f"created {live.id}"
        recorder.record(key, step.kind, live.id, dict(live.attrs), depends_on)
        with lock:
            lives[key] = live
        return message

    dependants = graph.dependants()
    remaining = {n: set(graph.deps(n)) for n in graph.nodes}
    # Sorted, like every later addition: at parallelism 1 a run makes its calls in a fixed order.
    ready = sorted((n for n, deps in remaining.items() if not deps), key=repr)
    height = _heights(graph.topological(), dependants, lambda n: _weight(n, steps, kinds))
    running: dict[Future[str], tuple[Node, float]] = {}

    def settle(node: Node, result: NodeResult) -> None:
        report.results[node] = result
        key, phase = node
        emit(
            StepEvent(key, phase, result.status, steps[key].action, result.message, result.elapsed)
        )

    def skip_downstream(node: Node, reason: str) -> None:
        for other in sorted(graph.downstream([node]), key=repr):
            if other not in report.results:
                settle(other, NodeResult(StepStatus.SKIPPED, reason))
                remaining.pop(other, None)

    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        while ready or running:
            # Submit no more than the pool runs, so a queued step is never shown as running
            # and a cancel stops everything that has not really started.
            while ready and len(running) < parallelism and not cancel.is_set():
                # The costliest chain first: when the pool is full, a step that a NAT gateway
                # waits behind must not queue behind leaves (list scheduling, ties in order).
                node = ready.pop(max(range(len(ready)), key=lambda i: (height[ready[i]], -i)))
                if node in report.results:
                    continue
                emit(
                    StepEvent(
                        node[0], node[1], StepStatus.RUNNING, steps[node[0]].action, "starting"
                    )
                )
                running[pool.submit(run_node, node)] = (node, time.monotonic())
            if cancel.is_set():
                ready.clear()
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                node, started = running.pop(future)
                elapsed = time.monotonic() - started
                try:
                    message = future.result()
                except StateError as exc:
                    # The state can no longer be written (another writer, a full disk): every
                    # further change would be unrecorded, so nothing new starts.
                    cancel.set()
                    settle(node, NodeResult(StepStatus.FAILED, exc.message, exc, elapsed))
                    skip_downstream(node, f"{node[0]} failed")
                    continue
                except SmprovError as exc:
                    settle(node, NodeResult(StepStatus.FAILED, exc.message, exc, elapsed))
                    skip_downstream(node, f"{node[0]} failed")
                    continue
                except Exception as exc:
                    err = to_aws_error(exc, f"{node[1].value} {node[0]}")
                    settle(node, NodeResult(StepStatus.FAILED, err.message, err, elapsed))
                    skip_downstream(node, f"{node[0]} failed")
                    continue
                settle(node, NodeResult(StepStatus.DONE, message, None, elapsed))
                for nxt in sorted(dependants.get(node, ()), key=repr):
                    deps = remaining.get(nxt)
                    if deps is None:
                        continue
                    deps.discard(node)
                    if not deps and nxt not in report.results:
                        ready.append(nxt)
    for node in graph.nodes:
        if node not in report.results:
            settle(node, NodeResult(StepStatus.CANCELLED, "not started: interrupted"))
    return report


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
    lookup: Callable[[], dict[str, Live | None]],
) -> Live | None:
    """A create that an earlier run started (its intent is in the state) may have happened even
    though the refresh did not see it (AWS's describes are eventually consistent). Kinds with a
    ClientToken are safe by the token; the others look once more right before creating."""
    if key not in intents or kind.uses_token():
        return None
    current = lookup()
    item = ReadItem(key, None, raw_spec, intended=intended)
    found = kind.read(ctx, [item], lambda v: resolve(v, current))
    return found.get(key)
