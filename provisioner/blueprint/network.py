"""The VPC network: VPC, DHCP options, three subnet tiers, internet and NAT gateways, routes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from provisioner import keys
from provisioner.blueprint.common import BlueprintInputs, attr_of, id_of, ids_of
from provisioner.config import StackConfig
from provisioner.engine.model import Desired, Ref

TIER_SUFFIX = {"public": "public", "private": "private", "database": "db"}


def nat_zones(inputs: BlueprintInputs) -> tuple[str, ...]:
    """Zones that hold a NAT gateway: the first only, or every zone with ``vpc_redundancy``."""
    zones = inputs.config.zones
    return zones if inputs.config.vpc_redundancy else zones[:1]


def nat_zone_for(inputs: BlueprintInputs, zone: str) -> str:
    """The zone whose NAT gateway (and private route table) serves ``zone``: its own, or the
    first zone's, shared.

    The shared table is keyed by the first zone, so switching ``vpc_redundancy`` on keeps it and
    only adds tables for the other zones (and vice versa).
    """
    return zone if inputs.config.vpc_redundancy else inputs.config.zones[0]


def private_table_key(inputs: BlueprintInputs, zone: str) -> str:
    """The private route table serving ``zone``: its own, or the single shared one."""
    return keys.private_route_table(nat_zone_for(inputs, zone))


def network(inputs: BlueprintInputs) -> Iterator[Desired]:
    cfg = inputs.config
    env = inputs.env
    layout = cfg.subnets
    assert layout is not None

    yield Desired(
        keys.DHCP_OPTIONS,
        "dhcp_options",
        {
            "domain_name_servers": ("AmazonProvidedDNS",),
            "domain_name": "",
            "tags": inputs.tags(keys.DHCP_OPTIONS, env),
        },
    )
    yield Desired(
        keys.VPC,
        "vpc",
        {
            "cidr_block": cfg.vpc_cidr,
            "enable_dns_support": True,
            "enable_dns_hostnames": True,
            "dhcp_options_id": Ref(keys.DHCP_OPTIONS),
            "tags": inputs.tags(keys.VPC, env),
        },
    )
    for tier in keys.TIERS:
        for zone, cidr in layout.tier(tier):
            key = keys.subnet(tier, zone)
            yield Desired(
                key,
                "subnet",
                {
                    "vpc_id": Ref(keys.VPC),
                    "cidr_block": cidr,
                    "availability_zone": zone,
                    "map_public_ip_on_launch": tier == "public" and cfg.map_public_ip_on_launch,
                    "tags": inputs.tags(key, f"{env}-{TIER_SUFFIX[tier]}-{zone}"),
                },
            )

    yield Desired(
        keys.INTERNET_GATEWAY,
        "internet_gateway",
        {"vpc_id": Ref(keys.VPC), "tags": inputs.tags(keys.INTERNET_GATEWAY, env)},
    )
    yield Desired(
        keys.PUBLIC_ROUTE_TABLE,
        "route_table",
        {"vpc_id": Ref(keys.VPC), "tags": inputs.tags(keys.PUBLIC_ROUTE_TABLE, f"{env}-public")},
    )
    yield Desired(
        keys.PUBLIC_ROUTE,
        "route",
        {
            "route_table_id": Ref(keys.PUBLIC_ROUTE_TABLE),
            "destination_cidr_block": "0.0.0.0/0",
            "gateway_id": Ref(keys.INTERNET_GATEWAY),
        },
    )
    for zone in cfg.zones:
        yield _association("public", zone, keys.PUBLIC_ROUTE_TABLE, keys.PUBLIC_ROUTE)

    for zone in nat_zones(inputs):
        yield Desired(
            keys.eip(zone),
            "eip",
            {"domain": "vpc", "tags": inputs.tags(keys.eip(zone), f"{env}-{zone}")},
        )
        yield Desired(
            keys.nat_gateway(zone),
            "nat_gateway",
            {
                "subnet_id": Ref(keys.subnet("public", zone)),
                "allocation_id": Ref(keys.eip(zone)),
                "tags": inputs.tags(keys.nat_gateway(zone), f"{env}-{zone}"),
            },
            # A public NAT gateway needs the VPC's internet gateway (the module says the same).
            extra_deps=frozenset({keys.INTERNET_GATEWAY}),
        )
        table = keys.private_route_table(zone)
        name = f"{env}-private-{zone}" if cfg.vpc_redundancy else f"{env}-private"
        yield Desired(
            table, "route_table", {"vpc_id": Ref(keys.VPC), "tags": inputs.tags(table, name)}
        )
        yield Desired(
            keys.private_route(zone),
            "route",
            {
                "route_table_id": Ref(table),
                "destination_cidr_block": "0.0.0.0/0",
                "nat_gateway_id": Ref(keys.nat_gateway(zone)),
            },
        )
    for zone in cfg.zones:
        nat_zone = nat_zone_for(inputs, zone)
        table, route = keys.private_route_table(nat_zone), keys.private_route(nat_zone)
        # Subnets move to a table only once it routes to its NAT gateway: no egress gap.
        yield _association("private", zone, table, route)
        yield _association("database", zone, table, route)


def _association(tier: str, zone: str, table: str, route: str) -> Desired:
    return Desired(
        keys.route_table_association(tier, zone),
        "route_table_association",
        {"route_table_id": Ref(table), "subnet_id": Ref(keys.subnet(tier, zone))},
        apply_after=frozenset({route}),
    )


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


def outputs(resources: Mapping[str, Any], config: StackConfig) -> dict[str, Any]:
    """The network's ids, lists in zone order (scripts index them), as the module names them."""
    zones = stack_zones(resources, config)
    private_tables = sorted(
        {k for k in resources if k.startswith(keys.PRIVATE_ROUTE_TABLE_PREFIX)},
        key=lambda k: zones.index(keys.zone_of(k)) if keys.zone_of(k) in zones else 99,
    )
    nat_keys = [keys.nat_gateway(z) for z in zones]
    return {
        "region": config.region,
        "azs": zones,
        "vpc_id": id_of(resources, keys.VPC),
        "vpc_cidr_block": attr_of(resources, keys.VPC, "cidr_block"),
        "public_subnets": ids_of(resources, [keys.subnet("public", z) for z in zones]),
        "private_subnets": ids_of(resources, [keys.subnet("private", z) for z in zones]),
        "database_subnets": ids_of(resources, [keys.subnet("database", z) for z in zones]),
        "igw_id": id_of(resources, keys.INTERNET_GATEWAY),
        "public_route_table_ids": ids_of(resources, [keys.PUBLIC_ROUTE_TABLE]),
        "private_route_table_ids": ids_of(resources, private_tables),
        "natgw_ids": ids_of(resources, nat_keys),
        "nat_public_ips": [attr_of(resources, k, "public_ip") for k in nat_keys if k in resources],
    }
