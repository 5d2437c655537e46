"""A small DAG of plan nodes: validate (a cycle names its loop), order, and walk dependants."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

from provisioner.errors import SmprovError

N = TypeVar("N", bound=Hashable)


class GraphError(SmprovError):
    """The plan's dependencies form a loop: a bug in the blueprint or the planner."""


class Graph(Generic[N]):
    def __init__(self) -> None:
        self._deps: dict[N, set[N]] = {}

    def add(self, node: N) -> None:
        self._deps.setdefault(node, set())

    def add_edge(self, node: N, depends_on: N) -> None:
        """``node`` may start only after ``depends_on`` is done. Unknown targets are ignored."""
        if node == depends_on:
            return
        self.add(node)
        if depends_on in self._deps:
            self._deps[node].add(depends_on)

    def __contains__(self, node: object) -> bool:
        return node in self._deps

    def __len__(self) -> int:
        return len(self._deps)

    @property
    def nodes(self) -> list[N]:
        return list(self._deps)

    def deps(self, node: N) -> frozenset[N]:
        return frozenset(self._deps[node])

    def dependants(self) -> dict[N, set[N]]:
        out: dict[N, set[N]] = {n: set() for n in self._deps}
        for node, deps in self._deps.items():
            for dep in deps:
                out[dep].add(node)
        return out

    def topological(self) -> list[N]:
        """Nodes in an order where each comes after everything it depends on (stable)."""
        self.validate()
        order: list[N] = []
        done: set[N] = set()

        def visit(node: N) -> None:
            if node in done:
                return
            for dep in sorted(self._deps[node], key=repr):
                visit(dep)
            done.add(node)
            order.append(node)

        for node in sorted(self._deps, key=repr):
            visit(node)
        return order

    def validate(self) -> None:
        """Raise GraphError naming the loop if the graph has a cycle."""
        white, grey, black = 0, 1, 2
        colour = dict.fromkeys(self._deps, white)
        stack: list[N] = []

        def visit(node: N) -> None:
            colour[node] = grey
            stack.append(node)
            for dep in self._deps[node]:
                if colour[dep] == grey:
                    loop = [*stack[stack.index(dep) :], dep]
                    raise GraphError(
                        "dependency cycle: " + " -> ".join(_name(n) for n in loop),
                        hint="this is a bug in smprov; please report it with the plan output",
                    )
                if colour[dep] == white:
                    visit(dep)
            stack.pop()
            colour[node] = black

        for node in list(self._deps):
            if colour[node] == white:
                visit(node)

    def downstream(self, nodes: Iterable[N]) -> set[N]:
        """Every node that (transitively) depends on any of ``nodes``."""
        dependants = self.dependants()
        seen: set[N] = set()
        todo = list(nodes)
        while todo:
            for nxt in dependants.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen


def _name(node: object) -> str:
    if isinstance(node, tuple) and len(node) == 2:
        key, phase = node
        return f"{getattr(phase, 'value', phase)} {key}"
    return str(node)
