"""What `smprov output` prints: the ids and names the next steps (training jobs, CI) need.

Computed from the state alone (no AWS call), in zone order, so scripts can index the lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from provisioner import keys
from provisioner.config import StackConfig
from provisioner.storage_outputs import storage_outputs
from provisioner.store.document import StateDocument

Section = Callable[[Mapping[str, Any], StackConfig], dict[str, Any]]


def _ids(resources: Mapping[str, Any], wanted: list[str]) -> list[str]:
    return [resources[k].id for k in wanted if k in resources]


def _id(resources: Mapping[str, Any], key: str) -> str | None:
    return resources[key].id if key in resources else None


def _attr(resources: Mapping[str, Any], key: str, name: str) -> Any:
    rec = resources.get(key)
    return rec.attrs.get(name) if rec is not None else None


def stack_zones(resources: Mapping[str, Any], config: StackConfig) -> list[str]:
    """The stack's zones in slot order: the configured list, else those its subnets record."""
    if config.zones:
        return list(config.zones)
    if not isinstance(config.availability_zones, int):
        return list(config.availability_zones)
    found = {
        rec.attrs.get("availability_zone")
        for key, rec in resources.items()
        if key.startswith(keys.subnet("private", ""))
    }
    return sorted(z for z in found if z)


def network_outputs(resources: Mapping[str, Any], config: StackConfig) -> dict[str, Any]:
    zones = stack_zones(resources, config)
    vpc = resources.get(keys.VPC)
    private_tables = sorted(
        {k for k in resources if k.startswith(keys.PRIVATE_ROUTE_TABLE_PREFIX)},
        key=lambda k: zones.index(keys.zone_of(k)) if keys.zone_of(k) in zones else 99,
    )
    nat_keys = [keys.nat_gateway(z) for z in zones]
    return {
        "region": config.region,
        "azs": zones,
        "vpc_id": vpc.id if vpc else None,
        "vpc_cidr_block": _attr(resources, keys.VPC, "cidr_block"),
        "public_subnets": _ids(resources, [keys.subnet("public", z) for z in zones]),
        "private_subnets": _ids(resources, [keys.subnet("private", z) for z in zones]),
        "database_subnets": _ids(resources, [keys.subnet("database", z) for z in zones]),
        "igw_id": _id(resources, keys.INTERNET_GATEWAY),
        "public_route_table_ids": _ids(resources, [keys.PUBLIC_ROUTE_TABLE]),
        "private_route_table_ids": _ids(resources, private_tables),
        "natgw_ids": _ids(resources, nat_keys),
        "nat_public_ips": [_attr(resources, k, "public_ip") for k in nat_keys if k in resources],
    }


def vpc_services_outputs(resources: Mapping[str, Any], config: StackConfig) -> dict[str, Any]:
    """Endpoints, security groups, the DB subnet group and the flow log (issue 3)."""
    prefix = keys.ENDPOINT_PREFIX
    endpoints = sorted(k for k in resources if k.startswith(prefix))

    def rec_id(key: str) -> str | None:
        return _id(resources, key)

    return {
        "vpc_endpoint_ids": {k[len(prefix) :]: resources[k].id for k in endpoints},
        "vpc_endpoint_dns_names": {
            k[len(prefix) :]: list(_attr(resources, k, "dns_names") or [])
            for k in endpoints
            if _attr(resources, k, "vpc_endpoint_type") == "Interface"
        },
        "vpc_endpoints_security_group_id": rec_id(keys.ENDPOINT_SECURITY_GROUP),
        "training_security_group_id": rec_id(keys.TRAINING_SECURITY_GROUP),
        "default_security_group_id": rec_id(keys.DEFAULT_SECURITY_GROUP),
        "database_subnet_group_name": rec_id(keys.DB_SUBNET_GROUP),
        "vpc_flow_log_id": rec_id(keys.FLOW_LOG),
        "vpc_flow_log_group_name": rec_id(keys.FLOW_LOG_GROUP),
        "vpc_flow_log_cloudwatch_iam_role_arn": _attr(resources, keys.FLOW_LOG_ROLE, "arn"),
    }


SECTIONS: list[Section] = [network_outputs, vpc_services_outputs, storage_outputs]


def outputs(doc: StateDocument | None, config: StackConfig) -> dict[str, Any]:
    resources = doc.resources if doc is not None else {}
    values: dict[str, Any] = {"stack": config.environment}
    for section in SECTIONS:
        values.update(section(resources, config))
    return values
