"""The one place that says what a stack is: StackConfig -> the list of desired resources.

Pure: no AWS calls. Keys, names and settings follow terraform-aws-modules/vpc 5.x for the same
inputs (name = environment), so a team moving from the module recognises every resource.

Besides ``build``, each part of the stack may contribute (what only AWS can tell about the
configuration is checked in ``provisioner.preflight``, where AWS is read):
- ``notices``: warnings the plan shows (e.g. public access allowed on the bucket);
- ``adopt_data``: values generated once and kept in the state (``data``), recovered from what a
  refresh found when the state was lost.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from provisioner.blueprint import storage
from provisioner.blueprint.common import BlueprintInputs
from provisioner.blueprint.database import database, database_notices
from provisioner.blueprint.endpoints import endpoints
from provisioner.blueprint.flow_logs import flow_logs
from provisioner.blueprint.network import network
from provisioner.blueprint.security import security
from provisioner.config import StackConfig
from provisioner.engine.model import Desired, Live, Notice


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
        *network(inputs),
        *flow_logs(inputs),
        *database(inputs),
        *endpoints(inputs),
        *security(inputs),
        *storage.storage(inputs),
    ]


def notices(config: StackConfig) -> list[Notice]:
    """Warnings about the configuration that the plan shows."""
    return [*database_notices(config), *storage.notices(config)]


def adopt_data(live: Mapping[str, Live], data: MutableMapping[str, str]) -> bool:
    """Recover generated values from live resources; True if ``data`` changed."""
    return storage.adopt_data(live, data)
