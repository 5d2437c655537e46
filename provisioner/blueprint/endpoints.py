"""VPC endpoints: S3 through a gateway endpoint on the private and database route tables, and
one interface endpoint per ``interface_endpoints`` service in the private subnets.

Unlike terraform-aws-modules' vpc-endpoints submodule, the interface endpoints get a security
group of their own allowing HTTPS from the VPC: without one they fall back to the default group,
which the module strips of every rule, and nothing could reach them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code, to_aws_error
from provisioner.blueprint.common import BlueprintInputs
from provisioner.blueprint.network import private_table_key
from provisioner.config import StackConfig
from provisioner.engine.model import Desired, Ref
from provisioner.kinds.security_group_rules import rule

ENDPOINT_GROUP = "security_group.vpc_endpoints"


def service_name(region: str, service: str) -> str:
    return f"com.amazonaws.{region}.{service}"


def endpoints(inputs: BlueprintInputs) -> Iterator[Desired]:
    cfg = inputs.config
    env = inputs.env
    # The database subnets use the private tables too, so these are all of them.
    tables = sorted({private_table_key(inputs, zone) for zone in cfg.zones})
    yield Desired(
        "vpc_endpoint.s3",
        "vpc_endpoint",
        {
            "vpc_id": Ref("vpc"),
            "service_name": service_name(inputs.region, "s3"),
            "vpc_endpoint_type": "Gateway",
            "route_table_ids": tuple(Ref(table) for table in tables),
            "tags": inputs.tags("vpc_endpoint.s3", f"{env}-s3"),
        },
    )
    if not cfg.interface_endpoints:
        return
    yield Desired(
        ENDPOINT_GROUP,
        "security_group",
        {
            "vpc_id": Ref("vpc"),
            "name": f"{env}-vpc-endpoints",
            "description": f"Interface VPC endpoints of {env}: HTTPS from the VPC",
            "ingress": (
                rule("tcp", Ref("vpc", "cidr_block"), "HTTPS from the VPC", ports=(443, 443)),
            ),
            # Endpoints answer; they never open connections (security groups are stateful).
            "egress": (),
            "tags": inputs.tags(ENDPOINT_GROUP, f"{env}-vpc-endpoints"),
        },
    )
    for service in cfg.interface_endpoints:
        key = f"vpc_endpoint.{service}"
        yield Desired(
            key,
            "vpc_endpoint",
            {
                "vpc_id": Ref("vpc"),
                "service_name": service_name(inputs.region, service),
                "vpc_endpoint_type": "Interface",
                "subnet_ids": tuple(Ref(f"subnet.private.{zone}") for zone in cfg.zones),
                "security_group_ids": (Ref(ENDPOINT_GROUP),),
                "private_dns_enabled": True,
                "tags": inputs.tags(key, f"{env}-{service}"),
            },
        )


def endpoint_services(clients: Any, config: StackConfig) -> list[dict[str, Any]]:
    """What the region says of the configured interface endpoint services (read-only; needs
    no zones, so it can go out with the other start-up reads)."""
    wanted = sorted(service_name(config.region, s) for s in config.interface_endpoints)
    if not wanted:
        return []
    try:
        return _service_details(clients("ec2"), wanted)
    except Exception as exc:
        if not has_code(exc, "InvalidServiceName"):
            raise to_aws_error(exc, "checking interface_endpoints") from exc
    # One unknown name fails the whole call and AWS names only that one: list the region's
    # services instead, so every unknown name is reported at once.
    try:
        return _service_details(clients("ec2"), None)
    except Exception as again:
        raise to_aws_error(again, "checking interface_endpoints") from again


def endpoint_problems(details: Sequence[Mapping[str, Any]], config: StackConfig) -> list[str]:
    """Each interface endpoint service must exist in the region as an interface service, in
    every zone of the (zone-resolved) stack, with a private DNS name (smprov turns private DNS
    on)."""
    return [
        problem
        for short in config.interface_endpoints
        for problem in _service_problems(short, service_name(config.region, short), details, config)
    ]


def _service_details(ec2: Any, names: Sequence[str] | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"ServiceNames": list(names)} if names else {}
    pages = ec2.get_paginator("describe_vpc_endpoint_services").paginate(**params)
    return [d for page in pages for d in page.get("ServiceDetails", [])]


def _service_problems(
    short: str, full: str, details: Sequence[Mapping[str, Any]], config: StackConfig
) -> list[str]:
    where = f"interface_endpoints: {short!r}"
    offers = [d for d in details if d.get("ServiceName") == full]
    if not offers:
        return [f"{where} is not an endpoint service in {config.region} (no {full})"]
    interface = next(
        (d for d in offers if any(t.get("ServiceType") == "Interface" for t in d["ServiceType"])),
        None,
    )
    if interface is None:
        return [f"{where} has no interface endpoint in {config.region} (gateway only)"]
    problems = []
    zones = interface.get("AvailabilityZones")
    missing = [zone for zone in config.zones if zones is not None and zone not in zones]
    if missing:
        problems.append(f"{where} is not offered in {', '.join(missing)}")
    if not interface.get("PrivateDnsName"):
        problems.append(f"{where} has no private DNS name, and smprov enables private DNS")
    return problems
