"""The pure planner: (desired, live, recorded) -> Plan. No AWS, no I/O; tested as tables.

Each desired resource is compared with what is live, after resolving its Refs against live ids:
missing -> CREATE; a change to a ``replace_on`` field -> REPLACE; other changes -> UPDATE; nothing
-> NOOP. Live or recorded keys that are no longer desired -> DELETE. The plan's graph has up to two
nodes per key, (key, APPLY) and (key, DESTROY), so a replacement deletes the old resource after its
dependants let go of it and before the new one is made, and a deletion waits for the updates that
move dependants away from it (Terraform's ordering rules).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from provisioner.engine.contract import Kind
from provisioner.engine.graph import Graph
from provisioner.engine.model import (
    Action,
    Desired,
    Live,
    Notice,
    Phase,
    Recorded,
    Refreshed,
    Step,
    resolve,
)

Node = tuple[str, Phase]


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    graph: Graph[Node]
    notices: tuple[Notice, ...] = ()
    step_by_key: Mapping[str, Step] = field(default_factory=dict)
    #: The generated values (the state's ``data``) the desired resources were built with:
    #: saved with the plan's first change.
    data: Mapping[str, str] = field(default_factory=dict)
    #: Those of ``data`` made for this plan (no state keeps them yet): a new plan would make
    #: others, so the plan shows them as chosen at apply.
    fresh: Mapping[str, str] = field(default_factory=dict)

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.action is not Action.NOOP]

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def summary(self) -> Counter[Action]:
        return Counter(s.action for s in self.steps)

    def replacements(self) -> list[Step]:
        return [s for s in self.steps if s.action is Action.REPLACE]


def desired_order(desired: Sequence[Desired]) -> list[Desired]:
    """Desired resources with every one after the resources it refers to."""
    graph: Graph[str] = Graph()
    by_key = {d.key: d for d in desired}
    for d in desired:
        graph.add(d.key)
    for d in desired:
        for dep in d.depends_on:
            if dep not in by_key:
                raise ValueError(f"{d.key} depends on {dep}, which the blueprint does not define")
            graph.add_edge(d.key, dep)
    return [by_key[k] for k in graph.topological()]


def kind_dependencies(desired: Iterable[Desired]) -> dict[str, set[str]]:
    """Kind-level dependencies (subnet -> vpc, ...): how to order orphans with no record."""
    by_key = {d.key: d for d in desired}
    out: dict[str, set[str]] = {}
    for d in by_key.values():
        out.setdefault(d.kind, set())
        for dep in d.depends_on:
            if dep in by_key and by_key[dep].kind != d.kind:
                out[d.kind].add(by_key[dep].kind)
    return out


def make_plan(
    desired: Sequence[Desired],
    found: Refreshed,
    recorded: Mapping[str, Recorded],
    kinds: Mapping[str, Kind],
    *,
    notices: Sequence[Notice] = (),
    hints: Sequence[Desired] | None = None,
    data: Mapping[str, str] | None = None,
) -> Plan:
    """Plan ``desired`` against what a refresh ``found``. ``hints`` (the blueprint, for ``down``
    where nothing is desired) orders deletions of resources the state does not record."""
    live = found.live
    ordered = desired_order(desired)
    desired_keys = {d.key for d in desired}
    known = list(hints) if hints is not None else list(desired)
    kind_deps = kind_dependencies(known)
    blueprint_deps = {d.key: d.depends_on for d in known}

    steps: dict[str, Step] = {}
    # What each Ref will resolve to once this plan runs: live values for resources that stay.
    settled: dict[str, Live | None] = {}
    for d in ordered:
        kind = kinds[d.kind]
        spec = resolve(dict(d.spec), settled)
        current = live.get(d.key)
        old_deps = _old_deps(d.key, recorded, blueprint_deps)
        if current is None:
            reason = "deleted outside smprov" if d.key in recorded else ""
            steps[d.key] = Step(d.key, d.kind, Action.CREATE, (), reason, d, None, old_deps)
            settled[d.key] = None
            continue
        changes = tuple(kind.diff(current, spec))
        if any(c.forces_replace for c in changes):
            action = Action.REPLACE
            settled[d.key] = None
        elif changes or d.key not in recorded or recorded[d.key].id != current.id:
            # Found by tag but not recorded as this id (a crash before the record, a lost state
            # file): AWS needs no change but the state does, so it is an update of no field.
            action = Action.UPDATE
            settled[d.key] = current
        else:
            action = Action.NOOP
            settled[d.key] = current
        reason = "adopted: found by tag, not in the state" if d.key not in recorded else ""
        if d.key in recorded and recorded[d.key].id != current.id:
            reason = f"the state records {recorded[d.key].id}, AWS has {current.id}"
        note = kind.update_note(current, spec, changes) if action is Action.UPDATE else None
        if note is not None:
            reason = note[0]
        steps[d.key] = Step(
            d.key,
            d.kind,
            action,
            changes,
            reason,
            d,
            current,
            old_deps,
            loses_data=note is not None and note[1],
        )

    for key in sorted((set(live) | set(recorded)) - desired_keys):
        kind_name = found.kind_of.get(key) or recorded[key].kind
        current = live.get(key)
        reason = "" if current is not None else "already gone: only the state entry is removed"
        if current is not None and key not in recorded:
            reason = "found by tag, no longer desired"
        steps[key] = Step(
            key,
            kind_name,
            Action.DELETE,
            (),
            reason,
            None,
            current,
            _old_deps(key, recorded, blueprint_deps),
        )

    graph = _build_graph(steps, kind_deps, recorded, blueprint_deps)
    graph.validate()
    ordered_steps = _display_order(steps, graph)
    return Plan(tuple(ordered_steps), graph, tuple(notices), dict(steps), dict(data or {}))


def _old_deps(
    key: str, recorded: Mapping[str, Recorded], blueprint_deps: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    if key in recorded and recorded[key].depends_on:
        return recorded[key].depends_on
    return blueprint_deps.get(key, frozenset())


def _build_graph(
    steps: Mapping[str, Step],
    kind_deps: Mapping[str, set[str]],
    recorded: Mapping[str, Recorded],
    blueprint_deps: Mapping[str, frozenset[str]],
) -> Graph[Node]:
    graph: Graph[Node] = Graph()
    applies = {
        k for k, s in steps.items() if s.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)
    }
    destroys = {k for k, s in steps.items() if s.action in (Action.DELETE, Action.REPLACE)}
    for key in applies:
        graph.add((key, Phase.APPLY))
    for key in destroys:
        graph.add((key, Phase.DESTROY))

    for key in applies:
        step = steps[key]
        assert step.desired is not None
        for dep in step.desired.depends_on | step.desired.apply_after:
            graph.add_edge((key, Phase.APPLY), (dep, Phase.APPLY))
        if step.action is Action.REPLACE:
            graph.add_edge((key, Phase.APPLY), (key, Phase.DESTROY))

    for key in destroys:
        # Whoever used this resource lets go of it first: deleted, replaced or updated away.
        for other, step in steps.items():
            if other == key or key not in step.old_depends_on:
                continue
            if other in destroys:
                graph.add_edge((key, Phase.DESTROY), (other, Phase.DESTROY))
            elif other in applies and (step.desired is None or key not in step.desired.depends_on):
                graph.add_edge((key, Phase.DESTROY), (other, Phase.APPLY))

    # Orphans (found by tag, never recorded, unknown to the blueprint): order by kind.
    orphans = [k for k in destroys if k not in recorded and k not in blueprint_deps]
    for key in orphans:
        kind = steps[key].kind
        for other in destroys:
            if other == key:
                continue
            other_kind = steps[other].kind
            if kind in kind_deps.get(other_kind, set()):
                graph.add_edge((key, Phase.DESTROY), (other, Phase.DESTROY))
            elif other_kind in kind_deps.get(kind, set()):
                graph.add_edge((other, Phase.DESTROY), (key, Phase.DESTROY))
    return graph


def _display_order(steps: Mapping[str, Step], graph: Graph[Node]) -> list[Step]:
    """Steps in the order they would run (noops in blueprint order first, then the rest)."""
    order: list[str] = []
    for key, _phase in graph.topological():
        if key not in order:
            order.append(key)
    rest = [k for k in steps if k not in order]
    return [steps[k] for k in rest + order]
