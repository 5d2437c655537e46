"""The RDS DB subnet group over the database subnets (the module's database_subnet_group)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from provisioner import keys
from provisioner.blueprint.common import BlueprintInputs, id_of
from provisioner.config import StackConfig
from provisioner.engine.model import Desired, Notice, Ref

#: RDS refuses a DB subnet group whose subnets cover fewer availability zones than this.
MIN_ZONES = 2


def database(inputs: BlueprintInputs) -> Iterator[Desired]:
    cfg = inputs.config
    if len(cfg.zones) < MIN_ZONES:
        return  # see database_notices
    env = inputs.env
    yield Desired(
        keys.DB_SUBNET_GROUP,
        "db_subnet_group",
        {
            "name": env,
            "description": f"Database subnet group for {env}",
            "subnet_ids": tuple(Ref(keys.subnet("database", zone)) for zone in cfg.zones),
            "tags": inputs.tags(keys.DB_SUBNET_GROUP, env),
        },
    )


def database_notices(config: StackConfig) -> list[Notice]:
    if config.zone_count >= MIN_ZONES:
        return []
    return [
        Notice(
            keys.DB_SUBNET_GROUP,
            f"not created: RDS needs database subnets in at least {MIN_ZONES} availability "
            f"zones and availability_zones gives {config.zone_count}",
        )
    ]


def outputs(resources: Mapping[str, Any], config: StackConfig) -> dict[str, Any]:
    return {"database_subnet_group_name": id_of(resources, keys.DB_SUBNET_GROUP)}
