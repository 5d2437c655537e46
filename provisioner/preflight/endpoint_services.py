"""Each ``interface_endpoints`` service must exist in the region as an interface endpoint
service, in every zone of the stack, with a private DNS name (smprov turns private DNS on)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code, to_aws_error
from provisioner.blueprint.endpoints import service_name
from provisioner.config import StackConfig


def read(clients: Any, config: StackConfig) -> list[dict[str, Any]] | None:
    """What the region says of the configured services (one call when all exist)."""
    wanted = sorted(service_name(config.region, s) for s in config.interface_endpoints)
    if not wanted:
        return None
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


def judge(details: Sequence[Mapping[str, Any]] | None, config: StackConfig) -> list[str]:
    return [
        problem
        for short in config.interface_endpoints
        for problem in _service_problems(
            short, service_name(config.region, short), details or (), config
        )
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
