"""Which plan step sent each AWS call, so a step's cost can be read off the call log.

The executor runs each plan node in a pool thread; wrapping the kinds' ``create``/``update``/
``delete`` sets a thread-local "current node" around them (``read`` likewise sets the reading
kind), and the call-log hook (a botocore ``before-call`` handler, which runs in the calling thread)
stamps each call with it. Calls outside any node (start-up, the shared pollers' describes) carry
only the current phase. This works for every registered kind without knowing any of them.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from provisioner.aws.clients import is_read_operation
from provisioner.engine.contract import Ctx, Kind, ReadItem, Resolver
from provisioner.engine.model import FieldChange, Live, Phase
from provisioner.engine.planner import Node


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    #: The plan node whose step sent it, or None (start-up, refresh, a poller).
    node: Node | None
    #: "open", "refresh" or "apply": what the operation was doing.
    phase: str
    #: The kind whose ``read`` sent it (refresh), if any.
    reader: str | None = None

    @property
    def mutating(self) -> bool:
        return not is_read_operation(self.operation)


class Tracer:
    """A thread-safe call log with node attribution and the modelled waits of each node."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        # Context variables, not thread-locals: a kind's concurrent reads (aws.concurrent)
        # run in other threads but in a copy of the reading thread's context.
        self._node: contextvars.ContextVar[Node | None] = contextvars.ContextVar(
            "bench_node", default=None
        )
        self._reader: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            "bench_reader", default=None
        )
        self.phase = "open"
        self.calls: list[Call] = []
        self.waits: dict[Node, float] = defaultdict(float)
        self.wait_polls: dict[Node, set[str]] = defaultdict(set)
        #: (operation, seconds) of each call's local cost: botocore plus the emulator.
        self.local_times: list[tuple[str, float]] = []

    def reset(self) -> None:
        with self._lock:
            self.calls = []
            self.waits = defaultdict(float)
            self.wait_polls = defaultdict(set)
            self.local_times = []
            self.phase = "open"

    @property
    def node(self) -> Node | None:
        return self._node.get()

    @contextmanager
    def within(self, node: Node | None) -> Iterator[None]:
        token = self._node.set(node)
        try:
            yield
        finally:
            self._node.reset(token)

    @contextmanager
    def reading(self, kind: str) -> Iterator[None]:
        token = self._reader.set(kind)
        try:
            yield
        finally:
            self._reader.reset(token)

    def hook(self, model: Any, **_kwargs: Any) -> None:
        """botocore ``before-call.*.*`` handler: log the call in the calling thread."""
        reader = self._reader.get()
        call = Call(model.service_model.service_name, model.name, self.node, self.phase, reader)
        with self._lock:
            self.calls.append(call)

    def call_started(self, **_kwargs: Any) -> None:
        """``before-call`` handler registered after the latency model's: local time starts."""
        self._local.started = time.monotonic()

    def call_finished(self, model: Any, **_kwargs: Any) -> None:
        """``after-call`` handler: what the call cost here (botocore and the emulator)."""
        started = getattr(self._local, "started", None)
        if started is not None:
            with self._lock:
                self.local_times.append((model.name, time.monotonic() - started))

    def add_wait(self, seconds: float, polled_with: str) -> None:
        """A modelled wait (e.g. a NAT gateway coming up) that the current node must sit out;
        its own ``polled_with`` describes while waiting are part of the wait, not extra cost."""
        node = self.node
        if node is not None:
            with self._lock:
                self.waits[node] += seconds
                self.wait_polls[node].add(polled_with)

    # -- views --------------------------------------------------------------------------------

    def count(self, *, mutating: bool, phase: str | None = None) -> int:
        return sum(
            1 for c in self.calls if c.mutating == mutating and (phase is None or c.phase == phase)
        )

    def operations_by_node(self) -> dict[Node, list[str]]:
        """Each node's calls, less the describes it polled with during a modelled wait."""
        out: dict[Node, list[str]] = defaultdict(list)
        for c in self.calls:
            if c.node is not None and c.operation not in self.wait_polls.get(c.node, ()):
                out[c.node].append(c.operation)
        return dict(out)

    def mutating_by_key(self) -> dict[str, list[str]]:
        """Mutating operations per resource key, in the order sent (both phases of a key)."""
        out: dict[str, list[str]] = defaultdict(list)
        for c in self.calls:
            if c.node is not None and c.mutating:
                out[c.node[0]].append(c.operation)
        return dict(out)

    def helper_mutating(self) -> list[str]:
        """Mutating calls sent from threads no step runs on (boto3's managed S3 transfer)."""
        return [c.operation for c in self.calls if c.mutating and c.node is None]

    def operations(self, *, mutating: bool) -> Counter[str]:
        return Counter(c.operation for c in self.calls if c.mutating == mutating)

    def reads_by_kind(self) -> dict[str, list[str]]:
        """Refresh reads per kind (a describe shared through the read cache counts for the
        kind that asked first)."""
        out: dict[str, list[str]] = defaultdict(list)
        for c in self.calls:
            if c.phase == "refresh" and c.reader is not None and not c.mutating:
                out[c.reader].append(c.operation)
        return dict(out)


class TracedKind:
    """A kind whose create/update/delete run with their plan node set on the tracer.

    Everything else (read, diff, class attributes) is the wrapped kind's own. ``keys_by_id``
    maps live ids to keys for ``update``/``delete``, which get a Live, not a key; the runner fills
    it from each plan before applying it.
    """

    def __init__(self, inner: Kind, tracer: Tracer, keys_by_id: Mapping[str, str]) -> None:
        self._inner = inner
        self._tracer = tracer
        self._keys_by_id = keys_by_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        with self._tracer.reading(self._inner.name):
            return self._inner.read(ctx, items, resolve)

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        with self._tracer.within((key, Phase.APPLY)):
            return self._inner.create(ctx, key, spec, token)

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        with self._tracer.within(self._node(live, Phase.APPLY)):
            return self._inner.update(ctx, live, spec, changes)

    def delete(self, ctx: Ctx, live: Live) -> str | None:
        with self._tracer.within(self._node(live, Phase.DESTROY)):
            return self._inner.delete(ctx, live)

    def _node(self, live: Live, phase: Phase) -> Node | None:
        key = self._keys_by_id.get(live.id)
        return (key, phase) if key is not None else None


def traced(
    kinds: Mapping[str, Kind], tracer: Tracer, keys_by_id: MutableMapping[str, str]
) -> dict[str, Kind]:
    """Every kind of ``kinds`` wrapped for ``tracer`` (typed as Kind: it quacks like one)."""
    return {name: TracedKind(kind, tracer, keys_by_id) for name, kind in kinds.items()}  # type: ignore[misc]
