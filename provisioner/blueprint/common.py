"""Shared helpers for blueprint modules: inputs, the tags every resource carries, lookups."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field

from provisioner.config import StackConfig
from provisioner.engine.contract import KEY_TAG, LINEAGE_TAG, STACK_TAG


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
