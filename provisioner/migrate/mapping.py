"""Terraform addresses -> smprov keys, decided resource by resource and never silently.

Every managed resource of the state ends in exactly one of four lists:

- ``adopted``: it becomes one of smprov's resources (``module.vpc.aws_subnet.public[0]`` ->
  ``subnet.public.us-east-1a``), with the id smprov's kind records for it;
- ``part_of``: it is a setting of an adopted resource, which smprov manages as part of it (the
  bucket's public access block, the flow-log role's policy attachment, the VPC's DHCP options
  association);
- ``kept``: smprov leaves it in place but does not track it (an uploaded file whose source is
  not at hand); Terraform still has to let go of it;
- ``left_alone``: smprov does not manage it (a user's ``aws_instance``, another module, a
  module resource smprov has no counterpart for): listed, never imported, left to Terraform.

Resources are recognised by what the modules name them (``aws_vpc.this``, ``aws_subnet.public``,
``aws_vpc_endpoint.this``, ``aws_s3_bucket.this``), whatever the module blocks are called, and by
what they point at (the endpoints of the VPC, the objects of the bucket, the role SageMaker
assumes). Zones come from the subnets themselves, not from the count indexes.

A state smprov cannot adopt whole is refused with every problem listed: an apply that stopped
half-way (tainted or deposed objects, a resource whose companions are missing), or a shape
smprov's blueprint cannot express (tiers of different sizes, more NAT gateways than zones).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner import keys
from provisioner.errors import UsageError
from provisioner.migrate.tfstate import TfResource, TfState

TIERS = keys.TIERS
SAGEMAKER = "sagemaker.amazonaws.com"


@dataclass(frozen=True)
class Adopted:
    """A Terraform resource that becomes one of smprov's."""

    key: str
    kind: str
    resource: TfResource
    #: The id smprov's kind records: Terraform's, except routes (``<table>_<destination>``)
    #: and objects (``<bucket>/<key>``).
    id: str


@dataclass(frozen=True)
class PartOf:
    """A Terraform resource that is a setting of an adopted one."""

    resource: TfResource
    key: str
    note: str


@dataclass(frozen=True)
class Kept:
    """Left in place, not tracked by smprov; Terraform still lets go of it."""

    resource: TfResource
    note: str


@dataclass(frozen=True)
class LeftAlone:
    """Not smprov's: listed, never imported, still Terraform's."""

    resource: TfResource
    reason: str


@dataclass
class StackMap:
    """The outcome of mapping one Terraform state onto smprov's blueprint."""

    state: TfState
    vpc: TfResource
    zones: tuple[str, ...]
    account: str
    region: str
    adopted: dict[str, Adopted] = field(default_factory=dict)
    part_of: list[PartOf] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    left_alone: list[LeftAlone] = field(default_factory=list)
    #: The CSV smprov tracks (a local file), when the uploaded one's source is at hand.
    csv_source: Path | None = None

    @property
    def environment(self) -> str:
        """The module's ``name`` input: the VPC's Name tag."""
        return str((self.vpc.get("tags") or {}).get("Name") or "")

    def resource(self, key: str) -> TfResource | None:
        adopted = self.adopted.get(key)
        return adopted.resource if adopted else None

    def parts(self, key: str, type_: str) -> list[TfResource]:
        return [p.resource for p in self.part_of if p.key == key and p.resource.type == type_]

    def handed_off(self) -> list[TfResource]:
        """What Terraform must stop managing: everything adopted, part of it, or kept."""
        return [
            *(a.resource for a in self.adopted.values()),
            *(p.resource for p in self.part_of),
            *(k.resource for k in self.kept),
        ]


def map_state(state: TfState) -> StackMap:
    """Map ``state``; a ``UsageError`` lists every reason it cannot be adopted whole."""
    problems = [
        f"{r.address} is tainted (its create failed or was interrupted)"
        for r in state.resources
        if r.tainted
    ]
    problems += [
        f"{r.address} has a deposed object {r.deposed} (a replacement stopped half-way)"
        for r in state.resources
        if r.deposed
    ]
    vpc = _the_vpc(state)
    mapper = _Mapper(state, vpc, problems)
    mapper.run()
    if problems:
        raise UsageError(
            f"{state.source}: smprov cannot adopt this state:\n"
            + "\n".join(f"  - {p}" for p in problems),
            hint="if an apply failed half-way, run `terraform apply` until it succeeds, then "
            "import again; nothing was changed",
        )
    return mapper.result


def _the_vpc(state: TfState) -> TfResource:
    vpcs = [r for r in state.resources if r.type == "aws_vpc" and r.name == "this" and r.module]
    if not vpcs:
        raise UsageError(
            f"{state.source}: no VPC made by terraform-aws-modules/vpc "
            "(module.<name>.aws_vpc.this[0]) in this state",
            hint="smprov imports the stack of terraform-aws-modules/vpc, its vpc-endpoints "
            "submodule and terraform-aws-modules/s3-bucket",
        )
    if len(vpcs) > 1:
        raise UsageError(
            f"{state.source} holds {len(vpcs)} VPCs ({', '.join(v.address for v in vpcs)}); "
            "smprov adopts one stack at a time",
            hint="split the state (`terraform state mv -state-out`), then import each part",
        )
    return vpcs[0]


class _Mapper:
    """One pass over the state; fills ``result`` and appends to ``problems``."""

    def __init__(self, state: TfState, vpc: TfResource, problems: list[str]) -> None:
        self.state = state
        self.vpc = vpc
        self.vpc_id = vpc.id
        self.problems = problems
        self.done: set[str] = set()  # addresses already placed in a list
        account, region = _account_and_region(state, vpc)
        self.module = [r for r in state.resources if r.module == vpc.module]
        self.subnets = self._subnets()
        zones = tuple(s.get("availability_zone", "") for s in self.subnets["public"])
        self.result = StackMap(state, vpc, zones, account, region)
        self.zone_of_subnet = {
            s.id: s.get("availability_zone", "") for tier in TIERS for s in self.subnets[tier]
        }
        self.nat_zone: dict[str, str] = {}  # NAT gateway id -> zone

    # -- placing ---------------------------------------------------------------------------------

    def adopt(self, key: str, kind: str, resource: TfResource, id_: str | None = None) -> None:
        if key in self.result.adopted:
            self.problems.append(
                f"{resource.address} and {self.result.adopted[key].resource.address} would both "
                f"be smprov's {key}"
            )
            return
        self.result.adopted[key] = Adopted(key, kind, resource, id_ or resource.id)
        self.done.add(resource.address)

    def part(self, resource: TfResource, key: str, note: str) -> None:
        self.result.part_of.append(PartOf(resource, key, note))
        self.done.add(resource.address)

    def keep(self, resource: TfResource, note: str) -> None:
        self.result.kept.append(Kept(resource, note))
        self.done.add(resource.address)

    def leave(self, resource: TfResource, reason: str) -> None:
        self.result.left_alone.append(LeftAlone(resource, reason))
        self.done.add(resource.address)

    def of(self, type_: str, name: str) -> list[TfResource]:
        """The VPC module's instances of one resource block, in index order."""
        found = [r for r in self.module if r.type == type_ and r.name == name]
        return sorted(found, key=lambda r: (isinstance(r.index, str), str(r.index).zfill(6)))

    # -- the pass --------------------------------------------------------------------------------

    def run(self) -> None:
        self.adopt(keys.VPC, "vpc", self.vpc)
        self._network()
        self._flow_logs()
        self._vpc_defaults()
        self._endpoints()
        bucket = self._bucket()
        self._sagemaker_role(bucket)
        if bucket is not None:
            self._objects(bucket)
        for resource in self.state.resources:
            if resource.address in self.done:
                continue
            if resource.module == self.vpc.module:
                self.leave(resource, "a terraform-aws-modules/vpc resource smprov has no part for")
            else:
                self.leave(resource, "not part of the stack smprov replaces")

    def _subnets(self) -> dict[str, list[TfResource]]:
        tiers = {tier: self.of("aws_subnet", tier) for tier in TIERS}
        public = tiers["public"]
        zones = [s.get("availability_zone") for s in public]
        if not public:
            self.problems.append(
                f"{self.vpc.module} has no public subnets: smprov's stack has a public, a private "
                "and a database subnet in each zone"
            )
        for tier in ("private", "database"):
            have = [s.get("availability_zone") for s in tiers[tier]]
            if tier == "database" and not have:
                continue  # smprov makes them: a plain difference, shown by the plan
            if have != zones:
                self.problems.append(
                    f"{self.vpc.module}: the {tier} subnets are in {have or 'no zone'} but the "
                    f"public ones in {zones}: smprov needs one subnet of each tier per zone"
                )
        if len(set(zones)) != len(zones):
            self.problems.append(
                f"{self.vpc.module}: several public subnets share a zone ({zones}): smprov has "
                "one subnet of each tier per zone"
            )
        return tiers

    def _network(self) -> None:
        for tier in TIERS:
            for subnet in self.subnets[tier]:
                self.adopt(keys.subnet(tier, subnet.get("availability_zone")), "subnet", subnet)
        self._single("aws_internet_gateway", "this", keys.INTERNET_GATEWAY, "internet_gateway")
        self._nat_gateways()
        tables = self.of("aws_route_table", "public")
        if len(tables) > 1:
            for table in tables:
                self.leave(table, "one public route table per subnet is not smprov's layout")
        elif tables:
            self.adopt(keys.PUBLIC_ROUTE_TABLE, "route_table", tables[0])
            for route in self.of("aws_route", "public_internet_gateway"):
                self.adopt(keys.PUBLIC_ROUTE, "route", route, _route_id(route))
        self._private_tables()
        for tier in TIERS:
            for assoc in self.of("aws_route_table_association", tier):
                zone = self.zone_of_subnet.get(assoc.get("subnet_id"))
                if zone:
                    self.adopt(
                        keys.route_table_association(tier, zone), "route_table_association", assoc
                    )
        dhcp = self._single("aws_vpc_dhcp_options", "this", keys.DHCP_OPTIONS, "dhcp_options")
        for assoc in self.of("aws_vpc_dhcp_options_association", "this"):
            self.part(assoc, keys.VPC, "the VPC's DHCP options set (dhcp_options_id)")
        if dhcp is not None and not self.of("aws_vpc_dhcp_options_association", "this"):
            self.problems.append(
                f"{dhcp.address} is not associated with the VPC "
                f"({self.vpc.module}.aws_vpc_dhcp_options_association.this[0] is missing)"
            )
        groups = self.of("aws_db_subnet_group", "database")
        if groups:
            self.adopt(keys.DB_SUBNET_GROUP, "db_subnet_group", groups[0])
        self._companions()

    def _single(self, type_: str, name: str, key: str, kind: str) -> TfResource | None:
        found = self.of(type_, name)
        if found:
            self.adopt(key, kind, found[0])
        return found[0] if found else None

    def _nat_gateways(self) -> None:
        nats = self.of("aws_nat_gateway", "this")
        eips = {e.id: e for e in self.of("aws_eip", "nat")}
        zones = self.result.zones
        if len(nats) not in (0, 1, len(zones)):
            self.problems.append(
                f"{self.vpc.module} has {len(nats)} NAT gateways for {len(zones)} zones: smprov "
                "makes a single one or one per zone"
            )
        for nat in nats:
            zone = self.zone_of_subnet.get(nat.get("subnet_id"), "")
            if nat.get("subnet_id") not in {s.id for s in self.subnets["public"]}:
                self.problems.append(f"{nat.address} is not in one of the module's public subnets")
                continue
            self.nat_zone[nat.id] = zone
            self.adopt(keys.nat_gateway(zone), "nat_gateway", nat)
            eip = eips.pop(nat.get("allocation_id"), None)
            if eip is None:
                self.problems.append(
                    f"{nat.address} uses the Elastic IP {nat.get('allocation_id')}, which is not "
                    f"{self.vpc.module}.aws_eip.nat (reuse_nat_ips is not smprov's layout)"
                )
            else:
                self.adopt(keys.eip(zone), "eip", eip)
        for eip in eips.values():
            self.problems.append(f"{eip.address} is allocated for a NAT gateway the state lacks")

    def _private_tables(self) -> None:
        routes = {r.get("route_table_id"): r for r in self.of("aws_route", "private_nat_gateway")}
        assoc_zone = {
            a.get("route_table_id"): self.zone_of_subnet.get(a.get("subnet_id"))
            for a in self.of("aws_route_table_association", "private")
        }
        for index, table in enumerate(self.of("aws_route_table", "private")):
            route = routes.pop(table.id, None)
            zone = (
                self.nat_zone.get(route.get("nat_gateway_id")) if route is not None else None
            ) or assoc_zone.get(table.id)
            if not zone and index < len(self.result.zones):
                zone = self.result.zones[index]
            if not zone:
                self.leave(table, "a private route table for a zone the stack does not have")
                continue
            self.adopt(keys.private_route_table(zone), "route_table", table)
            if route is not None:
                self.adopt(keys.private_route(zone), "route", route, _route_id(route))
        for route in routes.values():
            self.problems.append(f"{route.address} routes a table the state does not hold")

    def _companions(self) -> None:
        """What the present resources imply: each missing one is a sign of a half-done apply."""
        module = self.vpc.module
        have = {(r.type, r.name, r.index) for r in self.module}

        def need(type_: str, name: str, index: int | str | None, because: str) -> None:
            if (type_, name, index) not in have:
                address = f"{module}.{type_}.{name}" + ("" if index is None else f"[{index}]")
                self.problems.append(f"{address} is missing ({because})")

        for tier in TIERS:
            for position, subnet in enumerate(self.subnets[tier]):
                need("aws_route_table_association", tier, position, f"{subnet.address} exists")
        nats = self.of("aws_nat_gateway", "this")
        for position, nat in enumerate(nats):
            need("aws_route_table", "private", position, f"{nat.address} exists")
            need("aws_route", "private_nat_gateway", position, f"{nat.address} exists")
        if self.subnets["public"]:
            need("aws_internet_gateway", "this", 0, "the public subnets exist")
            need("aws_route_table", "public", 0, "the public subnets exist")
        if self.of("aws_internet_gateway", "this") and self.of("aws_route_table", "public"):
            need("aws_route", "public_internet_gateway", 0, "the internet gateway exists")

    def _flow_logs(self) -> None:
        parts = {
            ("aws_flow_log", "this"): (keys.FLOW_LOG, "flow_log"),
            ("aws_cloudwatch_log_group", "flow_log"): (keys.FLOW_LOG_GROUP, "log_group"),
            ("aws_iam_role", "vpc_flow_log_cloudwatch"): (keys.FLOW_LOG_ROLE, "iam_role"),
        }
        found = {where: self.of(*where) for where in parts}
        if not any(found.values()):
            return  # no flow log: smprov adds one, a plain difference the plan shows
        for where, (key, kind) in parts.items():
            if found[where]:
                self.adopt(key, kind, found[where][0])
            else:
                self.problems.append(
                    f"{self.vpc.module}.{where[0]}.{where[1]}[0] is missing (the flow log's "
                    "other resources exist)"
                )
        for policy in self.of("aws_iam_policy", "vpc_flow_log_cloudwatch"):
            self.part(
                policy,
                keys.FLOW_LOG_ROLE,
                f"the customer-managed policy {policy.get('name')}: smprov puts its permissions "
                "inline on the role; `up` detaches it and leaves it in the account",
            )
        for attachment in self.of("aws_iam_role_policy_attachment", "vpc_flow_log_cloudwatch"):
            self.part(attachment, keys.FLOW_LOG_ROLE, "the attachment of that managed policy")

    def _vpc_defaults(self) -> None:
        for (type_, name), key in {
            ("aws_default_security_group", "this"): keys.DEFAULT_SECURITY_GROUP,
            ("aws_default_network_acl", "this"): keys.DEFAULT_NETWORK_ACL,
            ("aws_default_route_table", "default"): keys.MAIN_ROUTE_TABLE,
        }.items():
            self._single(type_, name, key, key)

    def _endpoints(self) -> None:
        prefix = f"com.amazonaws.{self.result.region}."
        for endpoint in self.state.resources:
            if endpoint.type != "aws_vpc_endpoint" or endpoint.get("vpc_id") != self.vpc_id:
                continue
            service = str(endpoint.get("service_name", "")).removeprefix(prefix)
            kind = endpoint.get("vpc_endpoint_type", "Gateway")
            if kind == "Gateway" and service == "s3":
                self.adopt(keys.vpc_endpoint("s3"), "vpc_endpoint", endpoint)
            elif kind == "Interface" and service != "s3" and not service.startswith("com."):
                self.adopt(keys.vpc_endpoint(service), "vpc_endpoint", endpoint)
            else:
                self.leave(endpoint, f"a {kind} endpoint for {service}, which smprov does not make")

    def _bucket(self) -> TfResource | None:
        buckets = [r for r in self.state.resources if r.type == "aws_s3_bucket" and r.module]
        if len(buckets) > 1:
            wanted = f"{self.result.environment}-sagemaker-"
            named = [b for b in buckets if b.id.startswith(wanted)]
            if len(named) != 1:
                self.problems.append(
                    "several module buckets ("
                    + ", ".join(b.address for b in buckets)
                    + "): smprov adopts the training bucket only, and cannot tell which it is"
                )
                return None
            buckets = named
        if not buckets:
            return None
        bucket = buckets[0]
        self.adopt(keys.BUCKET, "bucket", bucket)
        settings = {
            "aws_s3_bucket_public_access_block": "public access block",
            "aws_s3_bucket_server_side_encryption_configuration": "default encryption",
            "aws_s3_bucket_ownership_controls": "object ownership",
            "aws_s3_bucket_versioning": "versioning",
        }
        for resource in self.state.resources:
            if resource.module != bucket.module or resource.get("bucket") != bucket.id:
                continue
            if resource.type == "aws_s3_bucket_policy":
                self.adopt(keys.BUCKET_POLICY, "bucket_policy", resource)
            elif resource.type in settings:
                self.part(resource, keys.BUCKET, f"the bucket's {settings[resource.type]}")
        return bucket

    def _sagemaker_role(self, bucket: TfResource | None) -> None:
        roles = [
            r
            for r in self.state.resources
            if r.type == "aws_iam_role"
            and SAGEMAKER in _trusted_services(r.get("assume_role_policy"))
        ]
        if len(roles) > 1 and bucket is not None:
            policies = [
                r.get("policy", "")
                for r in self.state.resources
                if r.type == "aws_s3_bucket_policy" and r.get("bucket") == bucket.id
            ]
            roles = [r for r in roles if any(r.get("arn", "-") in p for p in policies)] or roles
        if len(roles) > 1:
            self.problems.append(
                "several roles SageMaker may assume ("
                + ", ".join(r.address for r in roles)
                + "): smprov cannot tell which is the training role"
            )
            return
        if not roles:
            return
        role = roles[0]
        self.adopt(keys.SAGEMAKER_ROLE, "iam_role", role)
        for resource in self.state.resources:
            if resource.get("role") != role.id:
                continue
            if resource.type == "aws_iam_role_policy_attachment":
                self.part(
                    resource,
                    keys.SAGEMAKER_ROLE,
                    f"managed policy {resource.get('policy_arn')} (kept: managed_policy_arns)",
                )
            elif resource.type == "aws_iam_role_policy":
                self.part(
                    resource,
                    keys.SAGEMAKER_ROLE,
                    f"inline policy {resource.get('name')}: smprov's least-privilege policy "
                    "takes its place",
                )

    def _objects(self, bucket: TfResource) -> None:
        objects = [
            r
            for r in self.state.resources
            if r.type == "aws_s3_object" and r.get("bucket") == bucket.id
        ]
        folders = [o for o in objects if _is_folder(o)]
        files = [o for o in objects if not _is_folder(o)]
        csv = files[0] if len(files) == 1 else None
        first_folder = posixpath.dirname(csv.get("key", "")) + "/" if csv is not None else ""
        names = [o.get("key") for o in folders]
        ordered = sorted(names, key=lambda k: (k != first_folder, k))
        for folder, key in keys.folder_keys(ordered).items():
            marker = next(o for o in folders if o.get("key") == folder)
            self.adopt(key, "s3_object", marker, f"{bucket.id}/{folder}")
        for file in files:
            source = self._local_source(file)
            fits = source is not None and file.get("key") == f"{first_folder}{source.name}"
            if file is csv and fits and first_folder in names:
                self.result.csv_source = source
                self.adopt(keys.CSV_OBJECT, "s3_object", file, f"{bucket.id}/{file.get('key')}")
            elif source is None:
                self.keep(
                    file,
                    f"s3://{bucket.id}/{file.get('key')} stays in the bucket, not tracked by "
                    f"smprov: its source {file.get('source') or '(none)'} is not at hand",
                )
            else:
                self.keep(
                    file,
                    f"s3://{bucket.id}/{file.get('key')} stays in the bucket, not tracked by "
                    "smprov: smprov tracks one CSV, in the first folder under its file name",
                )

    def _local_source(self, obj: TfResource) -> Path | None:
        """The uploaded file, resolved against the Terraform directory, if it is there."""
        source = obj.get("source")
        if not isinstance(source, str) or not source or source.startswith("/dev/"):
            return None
        path = Path(source).expanduser()
        path = path if path.is_absolute() else self.state.base_dir / path
        return path.resolve() if path.is_file() else None


def _route_id(route: TfResource) -> str:
    """smprov's route id: ``<table>_<destination>`` (Terraform's ``r-...`` is a hash)."""
    return f"{route.get('route_table_id')}_{route.get('destination_cidr_block')}"


def _is_folder(obj: TfResource) -> bool:
    """A folder marker: a key ending in ``/`` (smprov checks it is empty, as for its own)."""
    return str(obj.get("key", "")).endswith("/")


def _trusted_services(policy: Any) -> set[str]:
    """The service principals a trust policy (JSON text, as the state holds it) allows."""
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
    except json.JSONDecodeError:
        return set()
    if not isinstance(document, Mapping):
        return set()
    statements = document.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    found: set[str] = set()
    for statement in statements:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        services = principal.get("Service") if isinstance(principal, Mapping) else None
        found |= set(_listed(services))
    return found


def _listed(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [v for v in value if isinstance(v, str)]
    return []


def _account_and_region(state: TfState, vpc: TfResource) -> tuple[str, str]:
    """Where the stack lives, as the VPC's ARN says (its owner and a subnet's zone otherwise)."""
    parts = str(vpc.get("arn", "")).split(":")
    account = parts[4] if len(parts) > 5 else str(vpc.get("owner_id", ""))
    region = parts[3] if len(parts) > 5 else ""
    if not region:
        zones = [r.get("availability_zone", "") for r in state.resources if r.type == "aws_subnet"]
        region = zones[0][:-1] if zones and zones[0] else ""
    return account, region
