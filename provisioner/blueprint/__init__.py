"""The one place that says what a stack is: StackConfig -> the list of desired resources.

Pure: no AWS calls. Keys, names and settings follow terraform-aws-modules/vpc 5.x for the same
inputs (name = environment), so a team moving from the module recognises every resource.

Besides ``build``, each part of the stack may contribute (what only AWS can tell about the
configuration is checked in ``provisioner.preflight``, where AWS is read):
- ``outputs``: what `smprov output` shows of its resources, from the state alone (``OUTPUTS``:
  each part's, in the order they are printed);
- ``notices``: warnings the plan shows (e.g. public access allowed on the bucket);
- ``lost_data`` and ``adopt_data``: values generated once and kept in the state (``data``); when
  the state lost one, the resource carrying it is found in AWS by its tags and the value taken
  from it before the blueprint is built (``make``: once per run, into a frozen Blueprint).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from provisioner.blueprint import database, endpoints, flow_logs, network, security, storage
from provisioner.blueprint.common import BlueprintInputs, Lookup, Outputs
from provisioner.config import StackConfig
from provisioner.engine.model import Desired, Live, Notice

#: Each part's `smprov output` values, in the order they are printed.
OUTPUTS: tuple[Outputs, ...] = (
    network.outputs,
    endpoints.outputs,
    security.outputs,
    database.outputs,
    flow_logs.outputs,
    storage.outputs,
)


def build(
    config: StackConfig,
    *,
    account: str,
    partition: str = "aws",
    data: MutableMapping[str, str] | None = None,
    lineage: str | None = None,
) -> list[Desired]:
    """Every desired resource of the stack described by a zone-resolved ``config``.

    ``data`` holds the state's generated values; parts that need one they do not find there
    generate it and add it, and the engine saves it with the first change. ``lineage`` (the
    state's) is tagged on every resource: it says which state owns it.
    """
    if config.subnets is None:
        raise ValueError("blueprint needs a configuration resolved to availability zones")
    inputs = BlueprintInputs(
        config=config,
        account=account,
        partition=partition,
        data=data if data is not None else {},
        lineage=lineage,
    )
    return [
        *network.network(inputs),
        *flow_logs.flow_logs(inputs),
        *database.database(inputs),
        *endpoints.endpoints(inputs),
        *security.security(inputs),
        *storage.storage(inputs),
    ]


def outputs(resources: Mapping[str, Any], config: StackConfig) -> dict[str, Any]:
    """Every part's `smprov output` values for the state's ``resources`` (records by key)."""
    values: dict[str, Any] = {}
    for part in OUTPUTS:
        values.update(part(resources, config))
    return values


@dataclass(frozen=True)
class Blueprint:
    """The stack a run works towards, built once: its desired resources and the generated
    values (the state's ``data``, plus any made for this run) they were built with."""

    desired: tuple[Desired, ...]
    data: Mapping[str, str]
    #: The names in ``data`` made for this run (no state keeps them yet): how the blueprint came
    #: about, not what it is, so not compared.
    generated: frozenset[str] = field(default=frozenset(), compare=False)


def make(
    config: StackConfig,
    *,
    account: str,
    partition: str,
    data: Mapping[str, str],
    lineage: str | None = None,
) -> Blueprint:
    """``build`` into a frozen Blueprint; ``data`` is left as it is (new values go to the
    Blueprint's own copy)."""
    values = dict(data)
    desired = build(config, account=account, partition=partition, data=values, lineage=lineage)
    return Blueprint(tuple(desired), MappingProxyType(values), frozenset(values) - set(data))


def lost_data(config: StackConfig, data: Mapping[str, str]) -> list[Lookup]:
    """What ``data`` lacks that AWS may still hold (the state was lost or deleted)."""
    return storage.lost_data(config, data)


def notices(config: StackConfig) -> list[Notice]:
    """Warnings about the configuration that the plan shows."""
    return [*database.database_notices(config), *storage.notices(config)]


def adopt_data(live: Mapping[str, Live], data: MutableMapping[str, str]) -> bool:
    """Recover generated values from the resources found for ``lost_data``; True if ``data``
    changed."""
    return storage.adopt_data(live, data)
