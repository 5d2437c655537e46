"""The emulator answers as AWS does where moto 5.2 does not (the fixtures apply every patch, as
`--local` does): each patch, checked through boto3 as smprov's kinds see it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from provisioner.emulator_fidelity import PATCHES, behave_like_aws

REGION = "us-east-1"


@pytest.fixture
def ec2(moto: None) -> Any:
    return boto3.client("ec2", region_name=REGION)


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def test_every_patch_applies_once_and_again_is_harmless() -> None:
    assert len({p.__name__ for p in PATCHES}) == len(PATCHES)
    behave_like_aws()
    behave_like_aws()


def test_dhcp_options_carry_their_create_time_tags(ec2: Any) -> None:
    spec = [{"ResourceType": "dhcp-options", "Tags": [{"Key": "smprov:key", "Value": "d"}]}]
    made = ec2.create_dhcp_options(
        DhcpConfigurations=[{"Key": "domain-name-servers", "Values": ["AmazonProvidedDNS"]}],
        TagSpecifications=spec,
    )["DhcpOptions"]
    assert _tags(made["Tags"]) == {"smprov:key": "d"}
    [read] = ec2.describe_dhcp_options(DhcpOptionsIds=[made["DhcpOptionsId"]])["DhcpOptions"]
    assert _tags(read["Tags"]) == {"smprov:key": "d"}


def test_a_new_bucket_carries_its_create_time_tags(moto: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(
        Bucket="tagged-at-create",
        CreateBucketConfiguration={"Tags": [{"Key": "smprov:key", "Value": "bucket"}]},
    )
    assert _tags(s3.get_bucket_tagging(Bucket="tagged-at-create")["TagSet"]) == {
        "smprov:key": "bucket"
    }
    s3.create_bucket(Bucket="untagged")
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchTagSet"):
        s3.get_bucket_tagging(Bucket="untagged")


def test_a_deleted_vpc_leaves_its_dhcp_options_set(ec2: Any) -> None:
    options = ec2.create_dhcp_options(
        DhcpConfigurations=[{"Key": "domain-name-servers", "Values": ["AmazonProvidedDNS"]}]
    )["DhcpOptions"]["DhcpOptionsId"]
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.associate_dhcp_options(DhcpOptionsId=options, VpcId=vpc)
    ec2.delete_vpc(VpcId=vpc)
    assert ec2.describe_dhcp_options(DhcpOptionsIds=[options])["DhcpOptions"]
    ec2.delete_dhcp_options(DhcpOptionsId=options)  # no longer assigned to anything


def _nat_gateway(ec2: Any, name: str) -> tuple[str, str]:
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.0.0/24")["Subnet"]["SubnetId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(
        SubnetId=subnet,
        AllocationId=allocation,
        TagSpecifications=[
            {"ResourceType": "natgateway", "Tags": [{"Key": "smprov:stack", "Value": name}]}
        ],
    )["NatGateway"]["NatGatewayId"]
    return nat, allocation


def test_a_deleted_nat_gateway_frees_its_address(ec2: Any) -> None:
    nat, allocation = _nat_gateway(ec2, "a")
    [address] = ec2.describe_addresses(AllocationIds=[allocation])["Addresses"]
    assert address.get("AssociationId")
    ec2.delete_nat_gateway(NatGatewayId=nat)
    [address] = ec2.describe_addresses(AllocationIds=[allocation])["Addresses"]
    assert not address.get("AssociationId")
    ec2.release_address(AllocationId=allocation)


def test_nat_gateways_are_filtered_by_tag(ec2: Any) -> None:
    mine, _ = _nat_gateway(ec2, "mine")
    _nat_gateway(ec2, "other")

    def listed(filters: list[dict[str, Any]]) -> list[str]:
        answer = ec2.describe_nat_gateways(Filters=filters)["NatGateways"]
        return [g["NatGatewayId"] for g in answer]

    assert listed([{"Name": "tag:smprov:stack", "Values": ["mine"]}]) == [mine]
    assert listed([{"Name": "tag:smprov:stack", "Values": ["nobody"]}]) == []
    assert len(listed([{"Name": "tag-key", "Values": ["smprov:stack"]}])) == 2


def test_vpc_endpoints_are_filtered_by_id_and_an_unknown_id_is_no_error(ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway"
    )["VpcEndpoint"]["VpcEndpointId"]
    found = ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-endpoint-id", "Values": [endpoint, "vpce-0000000000000000"]}]
    )["VpcEndpoints"]
    assert [e["VpcEndpointId"] for e in found] == [endpoint]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    answer = ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])  # already deleted: accepted
    assert answer.get("Unsuccessful", []) == []


def test_network_acls_are_filtered_by_id_and_an_unknown_id_is_no_error(ec2: Any) -> None:
    """How `down` (and `import --from-terraform`) find a default ACL whose VPC is not known."""
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    [default] = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
        "NetworkAcls"
    ]
    found = ec2.describe_network_acls(
        Filters=[
            {"Name": "network-acl-id", "Values": [default["NetworkAclId"], "acl-00000000000"]},
            {"Name": "default", "Values": ["true"]},
        ]
    )["NetworkAcls"]
    assert [a["NetworkAclId"] for a in found] == [default["NetworkAclId"]]


def test_a_db_subnet_group_is_modified_in_place(moto: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    rds = boto3.client("rds", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.6.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("abc")
    ]
    rds.create_db_subnet_group(
        DBSubnetGroupName="dev", DBSubnetGroupDescription="old", SubnetIds=subnets[:2]
    )
    rds.modify_db_subnet_group(
        DBSubnetGroupName="dev", DBSubnetGroupDescription="new", SubnetIds=subnets
    )
    [group] = rds.describe_db_subnet_groups(DBSubnetGroupName="dev")["DBSubnetGroups"]
    assert group["DBSubnetGroupDescription"] == "new"
    assert len(group["Subnets"]) == 3
    with pytest.raises(rds.exceptions.DBSubnetGroupNotFoundFault):
        rds.modify_db_subnet_group(DBSubnetGroupName="nope", SubnetIds=subnets)


def test_a_tls_only_bucket_policy_lets_the_emulators_calls_through(moto: None) -> None:
    import json

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="tls-only")
    arn = "arn:aws:s3:::tls-only"
    deny_plain_http = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [deny_plain_http]})
    s3.put_bucket_policy(Bucket="tls-only", Policy=policy)
    s3.put_object(Bucket="tls-only", Key="raw-data/", Body=b"")
    assert s3.get_object(Bucket="tls-only", Key="raw-data/")["ContentLength"] == 0
    assert json.loads(s3.get_bucket_policy(Bucket="tls-only")["Policy"]) == json.loads(policy)


def test_the_code_that_talks_to_aws_names_no_emulator() -> None:
    """What moto does differently is taught to moto here, never worked around where smprov
    talks to AWS (README: "the code that talks to AWS holds no workaround"). Only the emulator's
    own modules, and the CLI's help for --local, may name moto."""
    package = Path(__file__).resolve().parent.parent / "provisioner"
    allowed = {"emulator_fidelity.py", "emulator.py", "local.py", "cli.py"}
    naming = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        if str(path.relative_to(package)) not in allowed and "moto" in path.read_text().lower()
    ]
    assert naming == []
