"""VPC endpoints: S3 through a gateway endpoint on the private and database route tables, and
one interface endpoint per ``interface_endpoints`` service in the private subnets.

Unlike terraform-aws-modules' vpc-endpoints submodule, the interface endpoints get a security
group of their own allowing HTTPS from the VPC: without one they fall back to the default group,
which the module strips of every rule, and nothing could reach them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from provisioner import keys
from provisioner.blueprint.common import BlueprintInputs, attr_of, id_of
from provisioner.blueprint.network import private_table_key
from provisioner.config import StackConfig
from provisioner.engine.model import Desired, Ref
from provisioner.kind_helpers.security_group_rules import rule


def service_name(region: str, service: str) -> str:
    return f"com.amazonaws.{region}.{service}"


def endpoints(inputs: BlueprintInputs) -> Iterator[Desired]:
    cfg = inputs.config
    env = inputs.env
    # The database subnets use the private tables too, so these are all of them.
    tables = sorted({private_table_key(inputs, zone) for zone in cfg.zones})
    yield Desired(
        keys.vpc_endpoint("s3"),
        "vpc_endpoint",
        {
            "vpc_id": Ref(keys.VPC),
            "service_name": service_name(inputs.region, "s3"),
            "vpc_endpoint_type": "Gateway",
            "route_table_ids": tuple(Ref(table) for table in tables),
            "tags": inputs.tags(keys.vpc_endpoint("s3"), f"{env}-s3"),
        },
    )
    if not cfg.interface_endpoints:
        return
    yield Desired(
        keys.ENDPOINT_SECURITY_GROUP,
        "security_group",
        {
            "vpc_id": Ref(keys.VPC),
            "name": f"{env}-vpc-endpoints",
            "description": f"Interface VPC endpoints of {env}: HTTPS from the VPC",
            "ingress": (
                rule("tcp", Ref(keys.VPC, "cidr_block"), "HTTPS from the VPC", ports=(443, 443)),
            ),
            # Endpoints answer; they never open connections (security groups are stateful).
            "egress": (),
            "tags": inputs.tags(keys.ENDPOINT_SECURITY_GROUP, f"{env}-vpc-endpoints"),
        },
    )
    for service in cfg.interface_endpoints:
        key = keys.vpc_endpoint(service)
        yield Desired(
            key,
            "vpc_endpoint",
            {
                "vpc_id": Ref(keys.VPC),
                "service_name": service_name(inputs.region, service),
                "vpc_endpoint_type": "Interface",
                "subnet_ids": tuple(Ref(keys.subnet("private", zone)) for zone in cfg.zones),
                "security_group_ids": (Ref(keys.ENDPOINT_SECURITY_GROUP),),
                "private_dns_enabled": True,
                "tags": inputs.tags(key, f"{env}-{service}"),
            },
        )


def outputs(resources: Mapping[str, Any], config: StackConfig) -> dict[str, Any]:
    """Endpoint ids and interface endpoints' DNS names by short service name, and their group."""
    prefix = keys.ENDPOINT_PREFIX
    found = sorted(k for k in resources if k.startswith(prefix))
    return {
        "vpc_endpoint_ids": {k[len(prefix) :]: resources[k].id for k in found},
        "vpc_endpoint_dns_names": {
            k[len(prefix) :]: list(attr_of(resources, k, "dns_names") or [])
            for k in found
            if attr_of(resources, k, "vpc_endpoint_type") == "Interface"
        },
        "vpc_endpoints_security_group_id": id_of(resources, keys.ENDPOINT_SECURITY_GROUP),
    }
