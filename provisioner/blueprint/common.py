"""Shared helpers for blueprint modules: inputs, keys and the tags every resource carries."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field

from provisioner.config import StackConfig
from provisioner.engine.contract import KEY_TAG, STACK_TAG


@dataclass(frozen=True)
class BlueprintInputs:
    config: StackConfig
    account: str
    partition: str = "aws"
    #: The state's generated values (see blueprint.build); parts may add to it.
    data: MutableMapping[str, str] = field(default_factory=dict)

    @property
    def env(self) -> str:
        return self.config.environment

    @property
    def region(self) -> str:
        return self.config.region

    def tags(self, key: str, name: str | None = None) -> dict[str, str]:
        """User tags, then smprov's: ``Name`` and the two tags that make adoption possible."""
        tags = self.config.tags_dict()
        if name is not None:
            tags["Name"] = name
        tags[STACK_TAG] = self.env
        tags[KEY_TAG] = key
        return tags
