"""The critical-path lower bound of an operation, from the plan's graph and the latency model.

No tool, however parallel, can finish a plan sooner than its longest dependency chain. A node's
modelled duration is the cost of the calls its step sent (``Tracer``) plus the modelled waits it
had to sit out (a NAT gateway's minutes, plus the one describe that sees it ready). Before any
change, one read round is unavoidable: the account, the zones and every kind's read could all be
sent at once, so the bound adds one call for it.

A call costs the modelled latency. ``emulator`` optionally adds what each operation costs on this
machine when nothing else runs (botocore plus moto, measured in the serial runs): the time scale
divides AWS's durations but not local CPU time, so the pure model bound asks the impossible of a
run whose every call costs milliseconds of CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from provisioner.engine.graph import Graph
from provisioner.engine.planner import Node


@dataclass(frozen=True)
class CriticalPath:
    seconds: float
    nodes: tuple[Node, ...]

    def describe(self) -> str:
        return " -> ".join(f"{key} ({phase.value})" for key, phase in self.nodes)


def longest_path(graph: Graph[Node], cost: Mapping[Node, float]) -> CriticalPath:
    """The most expensive dependency chain of ``graph`` (an empty graph costs nothing)."""
    finish: dict[Node, float] = {}
    via: dict[Node, Node | None] = {}
    for node in graph.topological():
        before = max(graph.deps(node), key=lambda d: finish[d], default=None)
        finish[node] = cost.get(node, 0.0) + (finish[before] if before is not None else 0.0)
        via[node] = before
    if not finish:
        return CriticalPath(0.0, ())
    end: Node | None = max(finish, key=lambda n: finish[n])
    total = finish[end]
    chain: list[Node] = []
    while end is not None:
        chain.append(end)
        end = via[end]
    return CriticalPath(total, tuple(reversed(chain)))


def lower_bound(
    graph: Graph[Node],
    node_operations: Mapping[Node, Sequence[str]],
    waits: Mapping[Node, float],
    call_latency: float,
    emulator: Mapping[str, float] | None = None,
    reads: Sequence[str] = (),
) -> CriticalPath:
    """One read round plus the apply graph's critical path, each call at ``call_latency`` (plus
    its operation's ``emulator`` cost when given).

    With ``emulator``, the read round also costs no less than the emulator's CPU for all the
    ``reads`` (start-up and refresh) together: in one interpreter their local costs cannot
    overlap, however many are in flight."""
    extra = emulator or {}
    fallback = _median(list(extra.values())) if extra else 0.0

    def call(operation: str) -> float:
        return call_latency + extra.get(operation, fallback)

    cost = {
        node: sum(call(op) for op in node_operations.get(node, ())) + waits.get(node, 0.0)
        for node in graph.nodes
    }
    path = longest_path(graph, cost)
    read_round = call_latency + fallback
    if extra:
        read_round = max(read_round, sum(extra.get(op, fallback) for op in reads))
    return CriticalPath(read_round + path.seconds, path.nodes)


def median_costs(samples: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Each operation's median local cost."""
    by_op: dict[str, list[float]] = {}
    for op, seconds in samples:
        by_op.setdefault(op, []).append(seconds)
    return {op: _median(values) for op, values in by_op.items()}


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
