"""The VPC network: VPC, DHCP options, three subnet tiers, internet and NAT gateways, routes."""

from __future__ import annotations

from collections.abc import Iterator

from provisioner import keys
from provisioner.blueprint.common import BlueprintInputs
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
