"""The engine's vocabulary: what is desired, what is live, and the steps between them.

Everything here is a frozen dataclass or an Enum: values flow one way (config -> blueprint ->
plan -> apply -> state) and nothing downstream can mutate what upstream decided.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Ref:
    """A value known only once another resource exists: its id, or one of its attributes."""

    key: str
    attr: str = "id"
    #: How the value is used, e.g. "/aws/vpc-flow-log/{}" for a name built from an id.
    template: str = "{}"

    def __str__(self) -> str:
        return self.template.format(f"${{{self.key}.{self.attr}}}")


class _Unknown:
    """Sentinel for a value that is "known after apply" (its resource is not created yet)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


def refs_in(value: Any) -> set[str]:
    """Keys of every Ref inside a spec value (nested lists, tuples and dicts included)."""
    found: set[str] = set()
    if isinstance(value, Ref):
        found.add(value.key)
    elif isinstance(value, Mapping):
        for item in value.values():
            found |= refs_in(item)
    elif isinstance(value, list | tuple | frozenset | set):
        for item in value:
            found |= refs_in(item)
    return found


def contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_unknown(v) for v in value)
    return False


@dataclass(frozen=True)
class Desired:
    """One resource the stack should have. ``spec`` may hold Refs; they are its dependencies."""

    key: str
    kind: str
    spec: Mapping[str, Any]
    #: Ordering that carries no value, both ways: made after these, deleted before them.
    extra_deps: frozenset[str] = frozenset()
    #: Ordering for making and updating only (e.g. a subnet moves to a route table only once the
    #: table routes to its NAT gateway); deletion ignores it, so teardown chains stay short.
    apply_after: frozenset[str] = frozenset()

    @property
    def depends_on(self) -> frozenset[str]:
        """What this resource uses: the state records it, and deletion follows it backwards."""
        return frozenset(refs_in(dict(self.spec))) | self.extra_deps


@dataclass(frozen=True)
class Live:
    """A resource as AWS reports it, normalised to the shape of its kind's spec."""

    id: str
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        if name == "id":
            return self.id
        return self.attrs.get(name, default)


@dataclass(frozen=True)
class Recorded:
    """What the state file says about a key: enough to delete it in the right order."""

    kind: str
    id: str
    depends_on: frozenset[str] = frozenset()
    #: The attributes last read back (lets a refresh resolve a parent's id before reading it).
    attrs: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True)
class Refreshed:
    """What a refresh found: live resources by key, and the kind of each."""

    live: Mapping[str, Live]
    kind_of: Mapping[str, str]


def resolve(value: Any, lookup: Mapping[str, Live | None]) -> Any:
    """Replace Refs inside ``value`` with live ids/attributes; UNKNOWN where not yet known."""
    if isinstance(value, Ref):
        live = lookup.get(value.key)
        if live is None:
            return UNKNOWN
        found = live.get(value.attr)
        if found is None:
            return UNKNOWN
        return found if value.template == "{}" else value.template.format(found)
    if isinstance(value, Mapping):
        return {k: resolve(v, lookup) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, lookup) for v in value]
    return value


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any
    forces_replace: bool = False


class Action(enum.Enum):
    NOOP = "no change"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"

    @property
    def symbol(self) -> str:
        return {"NOOP": " ", "CREATE": "+", "UPDATE": "~", "REPLACE": "-/+", "DELETE": "-"}[
            self.name
        ]


class Phase(enum.Enum):
    """A step's node in the apply graph: make/modify the resource, or remove it."""

    APPLY = "apply"
    DESTROY = "destroy"


@dataclass(frozen=True)
class Step:
    """What the plan decided for one resource key."""

    key: str
    kind: str
    action: Action
    changes: tuple[FieldChange, ...] = ()
    reason: str = ""
    desired: Desired | None = None
    live: Live | None = None
    old_depends_on: frozenset[str] = frozenset()
    #: Applying it destroys data smprov did not write (``Kind.update_note``): refused unless
    #: the user allows it (``--allow-replace``).
    loses_data: bool = False


def own_causes(step: Step) -> list[str]:
    """The fields that force ``step``'s replacement by a value of its own (the VPC's new CIDR),
    not by a parent's id that is unknown until the parent is made again."""
    return [c.path for c in step.changes if c.forces_replace and not contains_unknown(c.new)]


class StepStatus(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class StepEvent:
    """The only thing the CLI hears while a plan runs."""

    key: str
    phase: Phase
    status: StepStatus
    action: Action
    message: str = ""
    elapsed: float = 0.0


@dataclass(frozen=True)
class Notice:
    """Something the user should know about a plan that is not an error (e.g. public access)."""

    key: str
    message: str
