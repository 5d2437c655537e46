"""The VPC network: VPC, DHCP options, three subnet tiers, internet and NAT gateways, routes."""

from __future__ import annotations

from collections.abc import Iterator

from provisioner.blueprint.common import BlueprintInputs
from provisioner.engine.model import Desired, Ref

TIER_SUFFIX = {"public": "public", "private": "private", "database": "db"}


def nat_zones(inputs: BlueprintInputs) -> tuple[str, ...]:
    """Zones that hold a NAT gateway: the first only, or every zone with ``vpc_redundancy``."""
    zones = inputs.config.zones
    return zones if inputs.config.vpc_redundancy else zones[:1]


def private_table_key(inputs: BlueprintInputs, zone: str) -> str:
    """The private route table serving ``zone``: its own, or the single shared one.

    The shared table is keyed by the first zone, so switching ``vpc_redundancy`` on keeps it and
    only adds tables for the other zones (and vice versa).
    """
    nat_zone = zone if inputs.config.vpc_redundancy else inputs.config.zones[0]
    return f"route_table.private.{nat_zone}"


def network(inputs: BlueprintInputs) -> Iterator[Desired]:
    cfg = inputs.config
    env = inputs.env
    layout = cfg.subnets
    assert layout is not None

    yield Desired(
        "dhcp_options",
        "dhcp_options",
        {
            "domain_name_servers": ("AmazonProvidedDNS",),
            "domain_name": "",
            "tags": inputs.tags("dhcp_options", env),
        },
    )
    yield Desired(
        "vpc",
        "vpc",
        {
            "cidr_block": cfg.vpc_cidr,
            "enable_dns_support": True,
            "enable_dns_hostnames": True,
            "dhcp_options_id": Ref("dhcp_options"),
            "tags": inputs.tags("vpc", env),
        },
    )
    for tier in ("public", "private", "database"):
        for zone, cidr in layout.tier(tier):
            key = f"subnet.{tier}.{zone}"
            yield Desired(
                key,
                "subnet",
                {
                    "vpc_id": Ref("vpc"),
                    "cidr_block": cidr,
                    "availability_zone": zone,
                    "map_public_ip_on_launch": tier == "public" and cfg.map_public_ip_on_launch,
                    "tags": inputs.tags(key, f"{env}-{TIER_SUFFIX[tier]}-{zone}"),
                },
            )

    yield Desired(
        "internet_gateway",
        "internet_gateway",
        {"vpc_id": Ref("vpc"), "tags": inputs.tags("internet_gateway", env)},
    )
    yield Desired(
        "route_table.public",
        "route_table",
        {"vpc_id": Ref("vpc"), "tags": inputs.tags("route_table.public", f"{env}-public")},
    )
    yield Desired(
        "route.public.internet",
        "route",
        {
            "route_table_id": Ref("route_table.public"),
            "destination_cidr_block": "0.0.0.0/0",
            "gateway_id": Ref("internet_gateway"),
        },
    )
    for zone in cfg.zones:
        yield _association(
            f"rta.public.{zone}",
            "route_table.public",
            f"subnet.public.{zone}",
            "route.public.internet",
        )

    for zone in nat_zones(inputs):
        yield Desired(
            f"eip.{zone}",
            "eip",
            {"domain": "vpc", "tags": inputs.tags(f"eip.{zone}", f"{env}-{zone}")},
        )
        yield Desired(
            f"nat_gateway.{zone}",
            "nat_gateway",
            {
                "subnet_id": Ref(f"subnet.public.{zone}"),
                "allocation_id": Ref(f"eip.{zone}"),
                "tags": inputs.tags(f"nat_gateway.{zone}", f"{env}-{zone}"),
            },
            # A public NAT gateway needs the VPC's internet gateway (the module says the same).
            extra_deps=frozenset({"internet_gateway"}),
        )
        table = f"route_table.private.{zone}"
        name = f"{env}-private-{zone}" if cfg.vpc_redundancy else f"{env}-private"
        yield Desired(
            table, "route_table", {"vpc_id": Ref("vpc"), "tags": inputs.tags(table, name)}
        )
        yield Desired(
            f"route.private.{zone}.nat",
            "route",
            {
                "route_table_id": Ref(table),
                "destination_cidr_block": "0.0.0.0/0",
                "nat_gateway_id": Ref(f"nat_gateway.{zone}"),
            },
        )
    for zone in cfg.zones:
        table = private_table_key(inputs, zone)
        route = f"route.private.{table.rsplit('.', 1)[1]}.nat"
        # Subnets move to a table only once it routes to its NAT gateway: no egress gap.
        yield _association(f"rta.private.{zone}", table, f"subnet.private.{zone}", route)
        yield _association(f"rta.database.{zone}", table, f"subnet.database.{zone}", route)


def _association(key: str, table: str, subnet: str, route: str) -> Desired:
    return Desired(
        key,
        "route_table_association",
        {"route_table_id": Ref(table), "subnet_id": Ref(subnet)},
        apply_after=frozenset({route}),
    )
