"""VPC endpoints: the S3 gateway on the private route tables, interface endpoints in the private
subnets behind their own security group, reconciled with ModifyVpcEndpoint, waited for while
``pending``, and deleted (and waited for) before their security group and subnets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from provisioner.engine.model import Action, FieldChange, Live
from provisioner.errors import AwsError
from provisioner.kinds import REGISTRY
from tests.kinds.network_helpers import MiniStack, Sent, aws_error, desired_for

ENDPOINTS = ["vpc_endpoint.s3", "vpc_endpoint.sagemaker.api", "vpc_endpoint.sagemaker.runtime"]
ZONES = ("us-east-1a", "us-east-1b")


def _endpoint(stack: MiniStack, key: str) -> dict[str, Any]:
    [raw] = stack.ec2.describe_vpc_endpoints(VpcEndpointIds=[stack.id(key)])["VpcEndpoints"]
    return raw


def test_created_where_they_belong_then_converged(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, ENDPOINTS)
    stack.up(desired)

    s3 = _endpoint(stack, "vpc_endpoint.s3")
    assert s3["ServiceName"] == "com.amazonaws.us-east-1.s3"
    assert s3["VpcEndpointType"] == "Gateway"
    # The database subnets share the private table, so this covers both tiers.
    assert s3["RouteTableIds"] == [stack.id("route_table.private.us-east-1a")]
    group = stack.id("security_group.vpc_endpoints")
    for service in ("sagemaker.api", "sagemaker.runtime"):
        raw = _endpoint(stack, f"vpc_endpoint.{service}")
        assert raw["ServiceName"] == f"com.amazonaws.us-east-1.{service}"
        assert raw["VpcEndpointType"] == "Interface"
        assert sorted(raw["SubnetIds"]) == sorted(stack.id(f"subnet.private.{z}") for z in ZONES)
        assert [g["GroupId"] for g in raw["Groups"]] == [group]
        assert raw["PrivateDnsEnabled"] is True
        tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
        assert tags["Name"] == f"dev-{service}"
    assert stack.state.attrs["vpc_endpoint.sagemaker.api"]["dns_names"]

    stack.log.clear()
    assert stack.up(desired).is_empty
    assert stack.log.mutating == []
    assert stack.log.count("DescribeVpcEndpoints") == 1


def test_each_create_sends_a_client_token(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    sent = Sent()
    stack.clients.add_hook("before-parameter-build.ec2.CreateVpcEndpoint", sent.hook)
    stack.up(desired_for(tmp_path, ENDPOINTS))
    tokens = [call["ClientToken"] for call in sent.calls]
    assert len(tokens) == 3 and len(set(tokens)) == 3


def test_a_service_added_then_removed(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.up(desired_for(tmp_path, ENDPOINTS))
    three = 'interface_endpoints = ["sagemaker.api", "sagemaker.runtime", "sts"]\n'

    plan = stack.up(desired_for(tmp_path, [*ENDPOINTS, "vpc_endpoint.sts"], three))

    assert [s.key for s in plan.changes] == ["vpc_endpoint.sts"]
    assert _endpoint(stack, "vpc_endpoint.sts")["ServiceName"] == "com.amazonaws.us-east-1.sts"

    sts_id = stack.id("vpc_endpoint.sts")
    plan = stack.up(desired_for(tmp_path, ENDPOINTS))
    assert [(s.key, s.action) for s in plan.changes] == [("vpc_endpoint.sts", Action.DELETE)]
    [raw] = stack.ec2.describe_vpc_endpoints(VpcEndpointIds=[sts_id])["VpcEndpoints"]
    assert raw["State"].lower() == "deleted"
    assert "vpc_endpoint.sts" not in stack.state.resources


def test_new_route_tables_are_added_in_place(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.up(desired_for(tmp_path, ENDPOINTS))
    endpoint_id = stack.id("vpc_endpoint.s3")
    sent = Sent()
    stack.clients.add_hook("before-parameter-build.ec2.ModifyVpcEndpoint", sent.hook)

    # One private table per zone: the endpoint must route from the new one too.
    redundant = desired_for(tmp_path, ENDPOINTS, "vpc_redundancy = true\n")
    plan = stack.up(redundant)

    step = plan.step_by_key["vpc_endpoint.s3"]
    assert step.action is Action.UPDATE
    assert [c.path for c in step.changes] == ["route_table_ids"]
    assert sent.calls == [
        {
            "VpcEndpointId": endpoint_id,
            "AddRouteTableIds": [stack.id("route_table.private.us-east-1b")],
        }
    ]
    assert stack.id("vpc_endpoint.s3") == endpoint_id
    # moto edits the list (not the routes, see moto-notes §4): enough to see it converge.
    assert stack.up(redundant).is_empty


def test_subnets_groups_and_private_dns_change_in_one_call(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, ENDPOINTS)
    stack.up(desired)
    kind = REGISTRY["vpc_endpoint"]
    live = stack.plan(desired).step_by_key["vpc_endpoint.sagemaker.api"].live
    assert live is not None
    other = stack.ec2.create_security_group(
        GroupName="other", Description="other", VpcId=stack.id("vpc")
    )["GroupId"]
    keep = stack.id("subnet.private.us-east-1a")
    spec = {
        **{k: live.get(k) for k in ("vpc_id", "service_name", "vpc_endpoint_type", "tags")},
        "subnet_ids": [keep],
        "security_group_ids": [other],
        "private_dns_enabled": False,
    }
    sent = Sent()
    stack.clients.add_hook("before-parameter-build.ec2.ModifyVpcEndpoint", sent.hook)

    changes = kind.diff(live, spec)
    assert {c.path for c in changes} == {"subnet_ids", "security_group_ids", "private_dns_enabled"}
    updated = kind.update(stack.ctx(), live, spec, changes)

    assert sent.calls == [
        {
            "VpcEndpointId": live.id,
            "RemoveSubnetIds": [stack.id("subnet.private.us-east-1b")],
            "AddSecurityGroupIds": [other],
            "RemoveSecurityGroupIds": [stack.id("security_group.vpc_endpoints")],
            "PrivateDnsEnabled": False,
        }
    ]
    raw = _endpoint(stack, "vpc_endpoint.sagemaker.api")
    assert raw["SubnetIds"] == [keep]
    assert [g["GroupId"] for g in raw["Groups"]] == [other]
    assert updated.get("subnet_ids") == [keep]


def _pending(times: int) -> Any:
    """Make the endpoint look ``pending`` (as an AWS interface endpoint starts) for the create
    answer and the next ``times`` describes."""
    left = [times + 1]

    def hook(parsed: dict[str, Any], **_: Any) -> None:
        items = [parsed["VpcEndpoint"]] if "VpcEndpoint" in parsed else parsed["VpcEndpoints"]
        if left[0] > 0 and items:
            left[0] -= 1
            for item in items:
                item["State"] = "pending"

    return hook


def test_create_waits_until_available(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, ["vpc_endpoint.sagemaker.api"])
    stack.up([d for d in desired if d.key != "vpc_endpoint.sagemaker.api"])
    pending = _pending(3)
    stack.clients.add_hook("after-call.ec2.CreateVpcEndpoint", pending)
    stack.clients.add_hook("after-call.ec2.DescribeVpcEndpoints", pending)

    stack.log.clear()
    stack.up(desired)

    assert stack.log.count("DescribeVpcEndpoints") >= 4  # refresh, then 3 pending, 1 available
    assert stack.state.attrs["vpc_endpoint.sagemaker.api"]["state"] == "available"


def test_an_endpoint_that_fails_reports_why(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, ["vpc_endpoint.sagemaker.api"])
    stack.up([d for d in desired if d.key != "vpc_endpoint.sagemaker.api"])

    def failed(parsed: dict[str, Any], **_: Any) -> None:
        for item in [parsed.get("VpcEndpoint")] if "VpcEndpoint" in parsed else []:
            item["State"] = "pending"
        for item in parsed.get("VpcEndpoints", []):
            item["State"] = "failed"
            item["LastError"] = {"Code": "Client.Quota", "Message": "too many endpoints"}

    stack.clients.add_hook("after-call.ec2.CreateVpcEndpoint", failed)
    stack.clients.add_hook("after-call.ec2.DescribeVpcEndpoints", failed)
    _plan, report = stack.run(desired)

    [(node, result)] = report.failed
    assert node[0] == "vpc_endpoint.sagemaker.api"
    assert "became failed: Client.Quota: too many endpoints" in result.message
    assert isinstance(result.error, AwsError) and result.error.code == "Client.Quota"


def test_an_adopted_pending_endpoint_is_waited_for() -> None:
    kind = REGISTRY["vpc_endpoint"]
    live = Live("vpce-1", {"state": "pending", "tags": {}})
    assert FieldChange("state", "pending", "available") in kind.diff(live, {"tags": {}})


def test_down_deletes_endpoints_before_their_group_and_subnets(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, ENDPOINTS)
    stack.up(desired)
    vpc_id = stack.id("vpc")
    watch = boto3.client("ec2", region_name="us-east-1")  # no hooks: the injector's own view

    def endpoints_left() -> bool:
        found = watch.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        return any(e["State"].lower() != "deleted" for e in found["VpcEndpoints"])

    blocked: list[str] = []
    released = {"first": True}

    def in_use(params: dict[str, Any], model: Any, **_: Any) -> None:
        # AWS refuses while an endpoint's interfaces are still there; even once they are gone,
        # the first try may come too early. moto checks neither (moto-notes §4).
        if endpoints_left() or released.pop("first", False):
            blocked.append(model.name)
            raise aws_error("DependencyViolation", "resource has a dependent object", model.name)

    stack.clients.add_hook("before-call.ec2.DeleteSecurityGroup", in_use)
    stack.clients.add_hook("before-call.ec2.DeleteSubnet", in_use)

    stack.log.clear()
    stack.down(desired)

    assert len(blocked) == 1  # only the injected first-try lag, never a live endpoint
    ops = stack.log.mutating
    last_endpoint = max(i for i, op in enumerate(ops) if op == "DeleteVpcEndpoints")
    first_blocker = min(
        i for i, op in enumerate(ops) if op in ("DeleteSecurityGroup", "DeleteSubnet")
    )
    assert last_endpoint < first_blocker
    assert stack.state.resources == {}


def test_tags_change_in_place(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.up(desired_for(tmp_path, ENDPOINTS))
    ids = {key: stack.id(key) for key in ENDPOINTS}

    plan = stack.up(desired_for(tmp_path, ENDPOINTS, '[tags]\nteam = "ml"\n'))

    for key in ENDPOINTS:
        assert plan.step_by_key[key].action is Action.UPDATE
        assert stack.id(key) == ids[key]
        tags = {t["Key"]: t["Value"] for t in _endpoint(stack, key)["Tags"]}
        assert tags["team"] == "ml"
