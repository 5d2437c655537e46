"""Shared helpers for blueprint modules: inputs, the tags every resource carries, lookups, and
the state's records as `smprov output` reads them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioner.config import StackConfig
from provisioner.engine.contract import KEY_TAG, LINEAGE_TAG, STACK_TAG

#: A part's values for `smprov output`, from the state's records by key (``.id``, ``.attrs``)
#: and the configuration: no AWS call.
Outputs = Callable[[Mapping[str, Any], StackConfig], dict[str, Any]]


@dataclass(frozen=True)
class Lookup:
    """A generated value the state has lost, to be taken from the resource that carries it: the
    stack's ``key`` (its tags say so), of ``kind``, named ``prefix`` plus the value."""

    key: str
    kind: str
    prefix: str


@dataclass(frozen=True)
class BlueprintInputs:
    config: StackConfig
    account: str
    partition: str = "aws"
    #: The state's generated values (see blueprint.build); parts may add to it.
    data: MutableMapping[str, str] = field(default_factory=dict)
    #: The lineage of the state the stack is recorded in (None: a blueprint for no state).
    lineage: str | None = None

    @property
    def env(self) -> str:
        return self.config.environment

    @property
    def region(self) -> str:
        return self.config.region

    def tags(self, key: str, name: str | None = None) -> dict[str, str]:
        """User tags, then smprov's: ``Name``, the two tags that make adoption possible and the
        lineage of the state that owns the resource."""
        tags = self.config.tags_dict()
        if name is not None:
            tags["Name"] = name
        tags[STACK_TAG] = self.env
        tags[KEY_TAG] = key
        if self.lineage is not None:
            tags[LINEAGE_TAG] = self.lineage
        return tags


def id_of(resources: Mapping[str, Any], key: str) -> str | None:
    """The recorded id of ``key``, None when the state has no such resource."""
    return resources[key].id if key in resources else None


def ids_of(resources: Mapping[str, Any], wanted: Sequence[str]) -> list[str]:
    """The recorded ids of the ``wanted`` keys the state has, in their order."""
    return [resources[k].id for k in wanted if k in resources]


def attr_of(resources: Mapping[str, Any], key: str, name: str) -> Any:
    """A recorded attribute of ``key`` (None when the resource or the attribute is missing)."""
    rec = resources.get(key)
    return rec.attrs.get(name) if rec is not None else None
