"""AWS behaviour moto 5.2 lacks, taught to moto: the emulator answers as AWS does, so the code
that talks to AWS carries no workaround for it (and spends no call on one).

``behave_like_aws`` applies every patch; ``provisioner.emulator`` runs it for ``--local`` and the
tests' fixtures for in-process moto (``mock_aws``). Each patch changes moto only, once per
process; the notes are ../shared/moto-notes.md, section by section.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from typing import Any

_applied: set[str] = set()


def _once(patch: Callable[[], None]) -> Callable[[], None]:
    @functools.wraps(patch)
    def apply() -> None:
        if patch.__name__ not in _applied:
            patch()
            _applied.add(patch.__name__)

    return apply


@_once
def bucket_policies_not_enforced() -> None:
    """moto evaluates a bucket policy on object calls wrongly: a statement whose Condition does
    not hold denies whatever its Effect (notes §6), so the TLS-only policy smprov attaches would
    refuse every object call, where AWS refuses only plain HTTP. The emulator enforces no other
    S3 access control either (Block Public Access, ExpectedBucketOwner): here it enforces no
    bucket policy. Policies are still stored, returned and reconciled as on AWS."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    def neutral(_bucket: object, _action: str, _resource: str) -> PermissionResult:
        return PermissionResult.NEUTRAL

    FakeBucket.get_permission = neutral  # type: ignore[method-assign,assignment]


@_once
def gateway_routes_follow_route_tables() -> None:
    """moto's ModifyVpcEndpoint edits a gateway endpoint's route-table list without adding or
    removing its routes, so the later DeleteVpcEndpoints fails (InvalidRoute.NotFound) on a
    table added by a modify, e.g. after `vpc_redundancy` is switched on. AWS adds and removes
    the prefix-list route with the table (notes §1, ModifyVpcEndpoint): so does the emulator."""
    from moto.ec2.models import EC2Backend

    modify = EC2Backend.modify_vpc_endpoint
    signature = inspect.signature(modify)

    def modify_vpc_endpoint(self: Any, *args: Any, **kwargs: Any) -> None:
        given = signature.bind(self, *args, **kwargs).arguments
        endpoint = self.describe_vpc_endpoints(vpc_end_point_ids=[given["vpc_id"]])[0]
        prefix_list = endpoint.destination_prefix_list_id
        known = set(endpoint.route_table_ids or [])
        modify(self, *args, **kwargs)
        if not prefix_list:
            return
        for table in given.get("add_route_tables") or []:
            if table not in known:
                self.create_route(
                    table, None, gateway_id=endpoint.id, destination_prefix_list_id=prefix_list
                )
        for table in given.get("remove_route_tables") or []:
            if table in known:
                self.delete_route(table, prefix_list)

    EC2Backend.modify_vpc_endpoint = modify_vpc_endpoint  # type: ignore[method-assign]


@_once
def dhcp_options_tagged_at_create() -> None:
    """AWS applies CreateDhcpOptions' TagSpecifications and returns the tags; moto drops them
    (notes §1)."""
    from moto.ec2.responses.dhcp_options import DHCPOptions

    create = DHCPOptions.create_dhcp_options

    def create_dhcp_options(self: Any) -> Any:
        result = create(self)
        tags = self._parse_tag_specification().get("dhcp-options", {})
        if tags:
            options = result.result["DhcpOptions"]
            self.ec2_backend.create_tags([options.id], tags)
        return result

    DHCPOptions.create_dhcp_options = create_dhcp_options  # type: ignore[method-assign]


@_once
def bucket_tagged_at_create() -> None:
    """AWS applies CreateBucketConfiguration's Tags to a new bucket; moto drops them."""
    import xmltodict
    from moto.s3.responses import S3Response

    put = S3Response._bucket_response_put

    def _bucket_response_put(
        self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]
    ) -> Any:
        new = not querystring and bucket_name not in self.backend.buckets
        answer = put(self, request, bucket_name, querystring)
        if new and bucket_name in self.backend.buckets and self.body:
            try:
                config = xmltodict.parse(self.body).get("CreateBucketConfiguration") or {}
            except Exception:  # not XML: no configuration, so no tags
                config = {}
            tags = (config.get("Tags") or {}).get("Tag") or []
            tags = [tags] if isinstance(tags, dict) else tags
            if tags:
                self.backend.put_bucket_tagging(
                    bucket_name, {t["Key"]: t.get("Value") or "" for t in tags}
                )
        return answer

    S3Response._bucket_response_put = _bucket_response_put  # type: ignore[method-assign]


@_once
def vpc_deletion_keeps_dhcp_options() -> None:
    """AWS keeps a VPC's DHCP options set when the VPC is deleted; moto deletes it with the
    VPC, so a replacement VPC could not take the kept set."""
    from moto.ec2.models import EC2Backend

    delete = EC2Backend.delete_vpc

    def delete_vpc(self: Any, vpc_id: str) -> Any:
        vpc = self.vpcs.get(vpc_id)
        options = vpc.dhcp_options if vpc is not None else None
        if options is None:
            return delete(self, vpc_id)
        vpc.dhcp_options = None
        try:
            deleted = delete(self, vpc_id)
        except BaseException:
            vpc.dhcp_options = options
            raise
        options.vpc = None
        return deleted

    EC2Backend.delete_vpc = delete_vpc  # type: ignore[method-assign]


@_once
def nat_gateway_deletion_frees_its_address() -> None:
    """AWS disassociates a NAT gateway's Elastic IP when the gateway is deleted (the address
    can then be released or given to a replacement); moto leaves it associated (notes §2)."""
    from moto.ec2.models import EC2Backend

    delete = EC2Backend.delete_nat_gateway

    def delete_nat_gateway(self: Any, nat_gateway_id: str) -> Any:
        gateway = delete(self, nat_gateway_id)
        for address in gateway.address_set:
            association = address.get("associationId")
            allocation = address.get("allocationId")
            if allocation and not association:
                found = self.address_by_allocation([allocation])
                association = found[0].association_id if found else None
            if association:
                with contextlib.suppress(Exception):  # already disassociated or released
                    self.disassociate_address(association_id=association)
        return gateway

    EC2Backend.delete_nat_gateway = delete_nat_gateway  # type: ignore[method-assign]


@_once
def nat_gateway_tag_filters() -> None:
    """AWS's DescribeNatGateways filters on ``tag:<key>`` and ``tag-key``; moto ignores those
    filters and returns every gateway (notes §5)."""
    from moto.ec2.models import EC2Backend

    describe = EC2Backend.describe_nat_gateways

    def describe_nat_gateways(self: Any, filters: Any, nat_gateway_ids: Any) -> Any:
        found = describe(self, filters, nat_gateway_ids)

        def tags(gateway: Any) -> dict[str, str]:
            return {t["key"]: t["value"] for t in gateway.get_tags()}

        for name, values in (filters or {}).items():
            if name.startswith("tag:"):
                found = [g for g in found if tags(g).get(name[4:]) in values]
            elif name == "tag-key":
                found = [g for g in found if set(tags(g)) & set(values)]
        return found

    EC2Backend.describe_nat_gateways = describe_nat_gateways  # type: ignore[method-assign]


def _filter_on_id(model: Any, filter_name: str) -> None:
    """Teach moto's ``model`` AWS's ``filter_name`` filter on its id (which, unlike an id list,
    never fails on an unknown id); moto raises FilterNotImplementedError, which its server
    answers with a 500."""
    value = model.get_filter_value

    def get_filter_value(self: Any, name: str, method_name: str | None = None) -> Any:
        if name == filter_name:
            return self.id
        return value(self, name, method_name)

    model.get_filter_value = get_filter_value


@_once
def vpc_endpoint_id_filter() -> None:
    """AWS's DescribeVpcEndpoints takes a ``vpc-endpoint-id`` filter."""
    from moto.ec2.models.vpcs import VPCEndPoint

    _filter_on_id(VPCEndPoint, "vpc-endpoint-id")


@_once
def network_acl_id_filter() -> None:
    """AWS's DescribeNetworkAcls takes a ``network-acl-id`` filter: how a default ACL is found
    by its recorded id once its VPC is not known (`down`, `import --from-terraform`)."""
    from moto.ec2.models.network_acls import NetworkAcl

    _filter_on_id(NetworkAcl, "network-acl-id")


@_once
def repeated_endpoint_deletes_do_nothing() -> None:
    """moto 5.2 keeps a deleted VPC endpoint (state ``deleted``) and, asked to delete it again,
    deletes its gateway routes again: the second DeleteVpcEndpoints fails (InvalidRoute.NotFound).
    AWS reports an endpoint already gone as gone. A repeated delete is what botocore sends when
    the first one's answer was lost, so the emulator answers it as AWS does."""
    from moto.ec2.models import EC2Backend

    delete = EC2Backend.delete_vpc_endpoints

    def delete_vpc_endpoints(self: Any, vpce_ids: list[str] | None = None) -> None:
        live = [
            vpce_id
            for vpce_id in vpce_ids or []
            if getattr(self.vpc_end_points.get(vpce_id), "state", None) != "deleted"
        ]
        delete(self, live)

    EC2Backend.delete_vpc_endpoints = delete_vpc_endpoints  # type: ignore[method-assign]


@_once
def db_subnet_group_names_are_unique() -> None:
    """moto 5.2's CreateDBSubnetGroup silently replaces a group of the same name; AWS refuses
    (DBSubnetGroupAlreadyExists), which is what keeps smprov from taking over someone's group
    and what a create retried after a lost answer hears. The emulator refuses too."""
    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import RDSBackend

    create = RDSBackend.create_subnet_group

    def create_subnet_group(self: Any, subnet_name: str, *args: Any, **kwargs: Any) -> Any:
        if subnet_name.lower() in {name.lower() for name in self.subnet_groups}:
            raise RDSClientError(
                "DBSubnetGroupAlreadyExists", f"DB subnet group '{subnet_name}' already exists"
            )
        return create(self, subnet_name, *args, **kwargs)

    RDSBackend.create_subnet_group = create_subnet_group  # type: ignore[method-assign]


@_once
def db_subnet_group_modified_in_place() -> None:
    """AWS's ModifyDBSubnetGroup changes the group; moto's answers 200 and deletes it (it pops
    the group and never puts it back, notes §1)."""
    from moto.rds.exceptions import DBSubnetGroupNotFoundError
    from moto.rds.models import RDSBackend

    def modify_db_subnet_group(
        self: Any, subnet_name: str, description: str, subnets: list[Any]
    ) -> Any:
        group = self.subnet_groups.get(subnet_name)
        if group is None:
            raise DBSubnetGroupNotFoundError(subnet_name)
        group.subnets = subnets
        if description is not None:
            group.description = description
        return group

    RDSBackend.modify_db_subnet_group = modify_db_subnet_group  # type: ignore[method-assign]


PATCHES: tuple[Callable[[], None], ...] = (
    bucket_policies_not_enforced,
    gateway_routes_follow_route_tables,
    dhcp_options_tagged_at_create,
    bucket_tagged_at_create,
    vpc_deletion_keeps_dhcp_options,
    nat_gateway_deletion_frees_its_address,
    nat_gateway_tag_filters,
    vpc_endpoint_id_filter,
    network_acl_id_filter,
    repeated_endpoint_deletes_do_nothing,
    db_subnet_group_names_are_unique,
    db_subnet_group_modified_in_place,
)


def behave_like_aws() -> None:
    """Every patch above (once per process)."""
    for patch in PATCHES:
        patch()
