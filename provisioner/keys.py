"""Every resource key of a stack, built in one place.

A key names one resource of a stack for good: the state records resources by it, it is written to
the resource's ``smprov:key`` tag (so a resource is found again after a lost state), and the plan
shows it. The blueprint, ``smprov output`` and anything mapping other tools' resources onto smprov's
build keys here, so they cannot drift apart. Pure: strings in, strings out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

#: The three subnet tiers, in the order the blueprint lays them out.
TIERS = ("public", "private", "database")

DHCP_OPTIONS = "dhcp_options"
VPC = "vpc"
INTERNET_GATEWAY = "internet_gateway"
PUBLIC_ROUTE_TABLE = "route_table.public"
PUBLIC_ROUTE = "route.public.internet"
FLOW_LOG_GROUP = "log_group.flow_logs"
FLOW_LOG_ROLE = "iam_role.flow_logs"
FLOW_LOG = "flow_log"
DB_SUBNET_GROUP = "db_subnet_group"
ENDPOINT_SECURITY_GROUP = "security_group.vpc_endpoints"
TRAINING_SECURITY_GROUP = "security_group.training"
DEFAULT_SECURITY_GROUP = "default_security_group"
DEFAULT_NETWORK_ACL = "default_network_acl"
MAIN_ROUTE_TABLE = "main_route_table"
BUCKET = "bucket"
CSV_OBJECT = "s3_object.csv"
BUCKET_POLICY = "bucket_policy"
SAGEMAKER_ROLE = "iam_role.sagemaker_execution"

SUBNET_PREFIX = "subnet."
PRIVATE_ROUTE_TABLE_PREFIX = "route_table.private."
ENDPOINT_PREFIX = "vpc_endpoint."
FOLDER_PREFIX = "s3_object.folder."
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_:/-]")


def of(kind: str, *qualifiers: str) -> str:
    """The key of a resource named after its kind, plus what tells several apart
    (``of("ecr_repository")``, ``of("ecr_repository", "training")``): a new kind's keys are built
    here without a constant until another module builds or parses them too."""
    return ".".join((kind, *qualifiers))


def subnet(tier: str, zone: str) -> str:
    return f"{SUBNET_PREFIX}{tier}.{zone}"


def route_table_association(tier: str, zone: str) -> str:
    return f"rta.{tier}.{zone}"


def eip(zone: str) -> str:
    return f"eip.{zone}"


def nat_gateway(zone: str) -> str:
    return f"nat_gateway.{zone}"


def private_route_table(nat_zone: str) -> str:
    """The private route table routing through the NAT gateway of ``nat_zone``."""
    return f"{PRIVATE_ROUTE_TABLE_PREFIX}{nat_zone}"


def private_route(nat_zone: str) -> str:
    return f"route.private.{nat_zone}.nat"


def vpc_endpoint(service: str) -> str:
    """``s3`` for the gateway endpoint, else the short service name (``sagemaker.api``)."""
    return f"{ENDPOINT_PREFIX}{service}"


def zone_of(key: str) -> str:
    """The zone a per-zone key ends with (``route_table.private.us-east-1a``)."""
    return key.rsplit(".", 1)[1]


def folder_keys(folders: Sequence[str]) -> dict[str, str]:
    """Resource key of each folder marker: readable, stable, and unique even when two folders
    differ only in characters a state key cannot hold."""
    keys: dict[str, str] = {}
    for folder in folders:
        key = FOLDER_PREFIX + _KEY_UNSAFE.sub("_", folder.rstrip("/"))
        if key in keys.values():
            key += "_" + hashlib.sha256(folder.encode()).hexdigest()[:8]
        keys[folder] = key
    return keys
