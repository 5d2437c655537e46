"""Changing a setting converges by updating in place, or by creating and removing only what
changed; a change AWS cannot make in place is planned as a replacement and refused by default."""

from __future__ import annotations

from collections import Counter

import pytest

from provisioner.engine.model import Action
from provisioner.errors import SmprovError
from provisioner.operations import check_replacements
from tests.harness import Harness


def stack_ids(h: Harness, describe: str, key: str) -> list[dict]:
    return getattr(h.ec2, describe)(Filters=[{"Name": "tag:smprov:stack", "Values": ["dev"]}])[key]


def live_nats(h: Harness) -> list[dict]:
    nats = h.ec2.describe_nat_gateways()["NatGateways"]
    return [n for n in nats if n["State"] not in ("deleted", "deleting")]


def test_default_network_matches_the_module(harness: Harness) -> None:
    _plan, _report, state = harness.up()
    vpc_id = state.resources["vpc"].id
    vpc = harness.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    for attr in ("enableDnsSupport", "enableDnsHostnames"):
        answer = harness.ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attr)
        assert answer[attr[0].upper() + attr[1:]]["Value"] is True
    dhcp = harness.ec2.describe_dhcp_options(DhcpOptionsIds=[vpc["DhcpOptionsId"]])
    conf = dhcp["DhcpOptions"][0]["DhcpConfigurations"]
    assert {"Key": "domain-name-servers", "Values": [{"Value": "AmazonProvidedDNS"}]} in conf

    subnets = stack_ids(harness, "describe_subnets", "Subnets")
    names = sorted(next(t["Value"] for t in s["Tags"] if t["Key"] == "Name") for s in subnets)
    assert names == [
        "dev-db-us-east-1a",
        "dev-db-us-east-1b",
        "dev-private-us-east-1a",
        "dev-private-us-east-1b",
        "dev-public-us-east-1a",
        "dev-public-us-east-1b",
    ]
    assert not any(s["MapPublicIpOnLaunch"] for s in subnets)
    assert len(live_nats(harness)) == 1

    tables = stack_ids(harness, "describe_route_tables", "RouteTables")
    by_name = {next(t["Value"] for t in rt["Tags"] if t["Key"] == "Name"): rt for rt in tables}
    assert set(by_name) == {"dev-public", "dev-private"}
    public_routes = {r.get("DestinationCidrBlock"): r for r in by_name["dev-public"]["Routes"]}
    assert public_routes["0.0.0.0/0"]["GatewayId"].startswith("igw-")
    private_routes = {r.get("DestinationCidrBlock"): r for r in by_name["dev-private"]["Routes"]}
    assert private_routes["0.0.0.0/0"]["NatGatewayId"].startswith("nat-")
    # private and database subnets of both zones share the one private table
    assert len([a for a in by_name["dev-private"]["Associations"] if a.get("SubnetId")]) == 4
    assert len([a for a in by_name["dev-public"]["Associations"] if a.get("SubnetId")]) == 2


def test_every_resource_carries_the_stack_tags(harness: Harness) -> None:
    harness.write_config('[tags]\nteam = "ml"\n')
    _plan, _report, state = harness.up()
    vpc = harness.ec2.describe_vpcs(VpcIds=[state.resources["vpc"].id])["Vpcs"][0]
    tags = {t["Key"]: t["Value"] for t in vpc["Tags"]}
    assert tags == {
        "Name": "dev",
        "team": "ml",
        "smprov:stack": "dev",
        "smprov:key": "vpc",
        "smprov:lineage": state.lineage,
    }


def test_tag_change_updates_in_place(harness: Harness) -> None:
    harness.write_config('[tags]\nteam = "ml"\n')
    harness.up()
    harness.write_config('[tags]\nteam = "research"\ncost = "42"\n')
    harness.log.clear()
    plan, _report, _state = harness.up()
    counts = plan.summary()
    assert counts[Action.CREATE] == counts[Action.DELETE] == counts[Action.REPLACE] == 0
    assert counts[Action.UPDATE] > 0
    # one tagging call per resource, whatever the service's name for it; nothing else
    assert set(harness.log.mutating) <= {
        "CreateTags",
        "AddTagsToResource",
        "TagResource",
        "PutBucketTagging",
        "TagRole",
    }
    assert harness.plan().is_empty


def test_map_public_ip_on_launch_updates_public_subnets_only(harness: Harness) -> None:
    harness.up()
    harness.write_config("map_public_ip_on_launch = true\n")
    harness.log.clear()
    plan, _report, _state = harness.up()
    assert {s.key for s in plan.changes} == {"subnet.public.us-east-1a", "subnet.public.us-east-1b"}
    assert harness.log.mutating == ["ModifySubnetAttribute", "ModifySubnetAttribute"]
    subnets = stack_ids(harness, "describe_subnets", "Subnets")
    public = [s for s in subnets if "public" in str(s["Tags"])]
    assert all(s["MapPublicIpOnLaunch"] for s in public)


def test_redundancy_on_adds_nat_per_zone_and_off_removes_them(harness: Harness) -> None:
    harness.up()
    first_nat = live_nats(harness)[0]["NatGatewayId"]
    harness.write_config("vpc_redundancy = true\n")
    plan, _report, _state = harness.up()
    created = {s.key for s in plan.changes if s.action is Action.CREATE}
    assert created == {
        "eip.us-east-1b",
        "nat_gateway.us-east-1b",
        "route_table.private.us-east-1b",
        "route.private.us-east-1b.nat",
    }
    moved = {s.key for s in plan.changes if s.action is Action.UPDATE}
    assert {"rta.private.us-east-1b", "rta.database.us-east-1b"} <= moved
    nats = live_nats(harness)
    assert len(nats) == 2 and first_nat in {n["NatGatewayId"] for n in nats}
    assert harness.plan().is_empty

    harness.write_config("vpc_redundancy = false\n")
    plan, _report, _state = harness.up()
    deleted = {s.key for s in plan.changes if s.action is Action.DELETE}
    assert deleted == created
    assert [n["NatGatewayId"] for n in live_nats(harness)] == [first_nat]
    assert harness.plan().is_empty


def test_zone_count_up_and_down_touches_only_that_zone(harness: Harness) -> None:
    harness.up()
    harness.write_config("availability_zones = 3\n")
    plan, _report, _state = harness.up()
    counts = Counter(s.action for s in plan.changes)
    assert counts[Action.CREATE] == 6  # three subnets and three associations in us-east-1c
    assert counts[Action.DELETE] == counts[Action.REPLACE] == 0
    assert all("us-east-1c" in s.key for s in plan.changes if s.action is Action.CREATE)
    # what spans the zones takes the new subnets in place
    updated = {s.key for s in plan.changes if s.action is Action.UPDATE}
    assert updated <= {
        "db_subnet_group",
        "vpc_endpoint.sagemaker.api",
        "vpc_endpoint.sagemaker.runtime",
    }
    assert harness.plan().is_empty
    harness.write_config("availability_zones = 2\n")
    plan, _report, _state = harness.up()
    assert {s.action for s in plan.changes} == {Action.DELETE, Action.UPDATE}
    assert all("us-east-1c" in s.key for s in plan.changes if s.action is Action.DELETE)
    assert len(stack_ids(harness, "describe_subnets", "Subnets")) == 6


def test_vpc_cidr_change_is_a_replacement_refused_without_allow_replace(harness: Harness) -> None:
    harness.up()
    harness.write_config('vpc_cidr = "10.1.0.0/16"\n')
    plan = harness.plan()
    replaced = {s.key for s in plan.replacements()}
    assert "vpc" in replaced and "subnet.private.us-east-1a" in replaced
    with pytest.raises(SmprovError) as err:
        check_replacements(plan, allow_replace=False)
    assert "--allow-replace" in (err.value.hint or "")
    check_replacements(plan, allow_replace=True)
    harness.up()
    vpcs = stack_ids(harness, "describe_vpcs", "Vpcs")
    assert [v["CidrBlock"] for v in vpcs] == ["10.1.0.0/16"]
    assert harness.plan().is_empty


def test_down_leaves_nothing_of_the_stack(harness: Harness) -> None:
    harness.write_config("vpc_redundancy = true\n")
    harness.up()
    _plan, _report, final = harness.down(delete_logs=True, delete_data=True)
    assert final.resources == {}
    for describe, key in (
        ("describe_vpcs", "Vpcs"),
        ("describe_subnets", "Subnets"),
        ("describe_route_tables", "RouteTables"),
        ("describe_internet_gateways", "InternetGateways"),
        ("describe_addresses", "Addresses"),
    ):
        assert stack_ids(harness, describe, key) == [], describe
    assert live_nats(harness) == []
    assert harness.plan(destroy=True).is_empty
