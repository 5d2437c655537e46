"""The emulator's adjustments (``provisioner.emulator``): moto answers the same, faster, and one
request at a time. The session fixture in conftest.py applies them to every test."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from provisioner.aws.clients import Clients


def test_moto_handles_one_request_at_a_time(moto: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's backends are not thread-safe (a bucket listed while a key is deleted can crash
    it), so concurrent requests must not overlap inside moto."""
    from moto.s3.models import S3Backend

    inside = 0
    most = 0
    guard = threading.Lock()
    listing = S3Backend.list_object_versions

    def slow_listing(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)
        try:
            return listing(self, *args, **kwargs)
        finally:
            with guard:
                inside -= 1

    monkeypatch.setattr(S3Backend, "list_object_versions", slow_listing)
    s3 = Clients("us-east-1")("s3")
    s3.create_bucket(Bucket="serial-test")
    start = threading.Barrier(4)

    def list_versions(_n: int) -> None:
        start.wait()
        s3.list_object_versions(Bucket="serial-test")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(list_versions, range(4)))
    assert most == 1


def test_moto_keeps_its_answers_when_sped_up(moto: None) -> None:
    """The method listing is cached (once per process), and moto still serves its answers."""
    ec2 = Clients("us-east-1")("ec2")
    assert ec2.describe_vpcs()["Vpcs"]  # the default VPC
    from moto.core import responses

    assert hasattr(responses.method_names_from_class, "cache_info")


def test_a_db_subnet_group_name_is_taken_once(moto: None) -> None:
    """AWS refuses a second group of a name (moto 5.2 replaced the first silently)."""
    from botocore.exceptions import ClientError

    clients = Clients("us-east-1")
    ec2, rds = clients("ec2"), clients("rds")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for n, zone in enumerate(("us-east-1a", "us-east-1b"))
    ]
    rds.create_db_subnet_group(
        DBSubnetGroupName="dev", DBSubnetGroupDescription="first", SubnetIds=subnets
    )
    with pytest.raises(ClientError) as refused:
        rds.create_db_subnet_group(
            DBSubnetGroupName="DEV", DBSubnetGroupDescription="second", SubnetIds=subnets
        )
    assert refused.value.response["Error"]["Code"] == "DBSubnetGroupAlreadyExists"
    [group] = rds.describe_db_subnet_groups(DBSubnetGroupName="dev")["DBSubnetGroups"]
    assert group["DBSubnetGroupDescription"] == "first"


def test_deleting_a_deleted_gateway_endpoint_again_does_nothing(moto: None) -> None:
    """What botocore sends after a lost answer: AWS says nothing more (moto 5.2 failed deleting
    the endpoint's routes a second time)."""
    ec2 = Clients("us-east-1")("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc,
        ServiceName="com.amazonaws.us-east-1.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[table],
    )["VpcEndpoint"]["VpcEndpointId"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    answer = ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    assert not answer.get("Unsuccessful")
