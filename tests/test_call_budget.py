"""The API-call budget of the default stack, counted exactly (the counts are deterministic).

A no-change ``up`` or ``plan`` must stay cheap enough for every CI commit: one batched read per
resource kind where AWS offers one (routes and associations share the route tables' describe),
nothing mutating, well under Terraform's 91 requests for a no-op plan of the same stack. The
expected lists are written out on purpose: a change to them is a change to the budget, made
deliberately. A cold ``up`` sends, per resource, its create plus only the settings AWS takes in a
separate call (``bench.report.verdict``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from bench.report import verdict
from bench.trace import Tracer, traced
from provisioner import operations
from provisioner.engine.contract import Ctx, Kind, ReadItem, Resolver
from provisioner.engine.model import Live
from provisioner.kinds import REGISTRY
from tests.harness import Harness

START_UP = {
    ("sts", "GetCallerIdentity"): 1,
    ("ec2", "DescribeAvailabilityZones"): 1,
    # preflight: the interface endpoints' services exist in the region
    ("ec2", "DescribeVpcEndpointServices"): 1,
}
REFRESH = {
    ("ec2", "DescribeDhcpOptions"): 1,
    ("ec2", "DescribeVpcs"): 1,
    ("ec2", "DescribeVpcAttribute"): 2,  # DNS support, DNS hostnames: one attribute per call
    ("ec2", "DescribeSubnets"): 1,
    ("ec2", "DescribeInternetGateways"): 1,
    ("ec2", "DescribeAddresses"): 1,
    ("ec2", "DescribeNatGateways"): 1,
    # tagged tables (route tables, routes, associations) + the VPC's main table
    ("ec2", "DescribeRouteTables"): 2,
    # tagged groups + the VPC's default group
    ("ec2", "DescribeSecurityGroups"): 2,
    ("ec2", "DescribeNetworkAcls"): 1,
    ("ec2", "DescribeVpcEndpoints"): 1,
    ("ec2", "DescribeFlowLogs"): 1,
    ("logs", "DescribeLogGroups"): 1,
    ("logs", "ListTagsForResource"): 1,
    ("rds", "DescribeDBSubnetGroups"): 1,
    ("rds", "ListTagsForResource"): 1,
    # two roles: flow-log delivery and SageMaker execution
    ("iam", "GetRole"): 2,
    ("iam", "ListRolePolicies"): 2,
    ("iam", "GetRolePolicy"): 2,
    ("iam", "ListAttachedRolePolicies"): 2,
    # the bucket: one GET per setting (S3 has no batched read), its policy and its objects
    ("s3", "HeadBucket"): 1,
    ("s3", "GetBucketEncryption"): 1,
    ("s3", "GetBucketVersioning"): 1,
    ("s3", "GetPublicAccessBlock"): 1,
    ("s3", "GetBucketOwnershipControls"): 1,
    ("s3", "GetBucketTagging"): 1,
    ("s3", "GetBucketPolicy"): 1,
    ("s3", "ListObjectsV2"): 1,
}
NO_CHANGE = Counter({**START_UP, **REFRESH})


# A teardown's refresh asks what exists, not how it is set: no DNS attributes, policies, bucket
# settings or separately read tags (and `down` skips the preflight).
TEARDOWN_SKIPS = Counter(
    {
        ("ec2", "DescribeVpcEndpointServices"): 1,
        ("ec2", "DescribeVpcAttribute"): 2,
        ("logs", "ListTagsForResource"): 1,
        ("rds", "ListTagsForResource"): 1,
        ("iam", "ListRolePolicies"): 2,
        ("iam", "GetRolePolicy"): 2,
        ("iam", "ListAttachedRolePolicies"): 2,
        ("s3", "GetBucketEncryption"): 1,
        ("s3", "GetBucketVersioning"): 1,
        ("s3", "GetPublicAccessBlock"): 1,
        ("s3", "GetBucketOwnershipControls"): 1,
        ("s3", "GetBucketTagging"): 1,
    }
)


def test_a_teardown_plan_reads_only_what_exists(harness: Harness) -> None:
    harness.up()
    harness.log.clear()
    plan = harness.plan(destroy=True, preflight=False)  # what `plan --destroy` opens
    assert Counter(harness.log.calls) == NO_CHANGE - TEARDOWN_SKIPS
    assert len(harness.log.calls) == 22
    assert {s.action.value for s in plan.changes} == {"delete"}


def test_no_change_up_and_plan_make_exactly_the_budgeted_reads(harness: Harness) -> None:
    harness.up()

    harness.log.clear()
    plan, _report, _state = harness.up()
    assert plan.is_empty
    assert Counter(harness.log.calls) == NO_CHANGE
    assert harness.log.mutating == []
    assert len(harness.log.calls) <= 45

    harness.log.clear()
    assert harness.plan().is_empty
    assert Counter(harness.log.calls) == NO_CHANGE
    assert harness.log.mutating == []


def test_reads_grow_with_kinds_not_resources(harness: Harness) -> None:
    """Six zones with a NAT gateway each: three times the subnets, six times the NAT gateways,
    the very same reads."""
    harness.write_config("availability_zones = 6\nvpc_redundancy = true\n")
    _plan, _report, state = harness.up()
    assert sum(1 for key in state.resources if key.startswith("subnet.")) == 18
    harness.log.clear()
    assert harness.plan().is_empty
    assert Counter(harness.log.calls) == NO_CHANGE


class _Unused(Kind):
    """A kind no part of the stack yields (a new kind behind a switch that is off)."""

    name = "unused"

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        raise AssertionError("a kind the stack does not use was read")


def test_a_kind_the_stack_does_not_use_costs_no_call(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the kinds the blueprint yields or the state records are read: a new kind behind a
    switch that is off by default changes no budget."""
    monkeypatch.setitem(REGISTRY, _Unused.name, _Unused())
    harness.up()
    harness.log.clear()
    assert harness.plan().is_empty
    assert Counter(harness.log.calls) == NO_CHANGE


def test_cold_up_sends_one_create_per_resource_plus_separate_settings(harness: Harness) -> None:
    tracer = Tracer()
    harness.clients.add_hook("before-call.*.*", tracer.hook)
    keys_by_id: dict[str, str] = {}
    stk = harness.open()
    stk.kinds = traced(stk.kinds, tracer, keys_by_id)
    with operations.locked(stk, "up") as doc:
        plan, _ = operations.plan_up(stk, doc)
        report, _final = operations.execute(stk, plan, doc)
    assert report.ok

    by_key: dict[str, Any] = tracer.mutating_by_key()
    # The CSV goes up in one PutObject from its step's thread (its answer names the version
    # smprov wrote); only a file above the multipart threshold goes through boto3's managed
    # transfer and its worker threads.
    assert tracer.helper_mutating() == []
    assert set(by_key) == {step.key for step in plan.changes}
    extra = {key: verdict(calls) for key, calls in by_key.items()}
    assert not {k: v for k, v in extra.items() if v.startswith("EXTRA")}
    # Nothing else sent: every mutating call belongs to a resource of the plan.
    assert sum(len(calls) for calls in by_key.values()) == len(harness.log.mutating)


#: Every mutating call of `down --delete-data --delete-logs` of the default stack: each resource's
#: delete, plus what AWS makes a separate call (an internet gateway detached, a role's policies
#: removed). A route table's associations are deleted by their own steps, and never sent again by
#: the table's. AWS keeps a deleted VPC's DHCP options set and frees a deleted NAT gateway's
#: address by itself: no call for either.
DOWN_MUTATING = Counter(
    {
        "DeleteBucket": 1,
        "DeleteBucketPolicy": 1,
        "DeleteDBSubnetGroup": 1,
        "DeleteDhcpOptions": 1,
        "DeleteFlowLogs": 1,
        "DeleteInternetGateway": 1,
        "DeleteLogGroup": 1,
        "DeleteNatGateway": 1,
        "DeleteObjects": 4,  # the three folder markers and the CSV
        "DeleteRole": 2,
        "DeleteRolePolicy": 2,
        "DeleteRoute": 2,
        "DeleteRouteTable": 2,
        "DeleteSecurityGroup": 2,
        "DeleteSubnet": 6,
        "DeleteVpc": 1,
        "DeleteVpcEndpoints": 3,
        "DetachInternetGateway": 1,
        "DisassociateRouteTable": 6,  # one per association, none wasted
        "ReleaseAddress": 1,
    }
)


def test_down_makes_no_wasted_write(harness: Harness) -> None:
    _plan, _report, state = harness.up()
    associations = [key for key in state.resources if key.startswith("rta.")]
    harness.log.clear()
    harness.down(delete_data=True, delete_logs=True)
    assert Counter(harness.log.mutating) == DOWN_MUTATING
    # The teardown's refresh reads the addresses; nothing reads them again after the NAT
    # gateway's deletion.
    assert harness.log.count("DescribeAddresses") == 1
    assert harness.log.count("DisassociateRouteTable") == len(associations)


# `smprov import --from-terraform` of the seed stack (44 Terraform resources, 38 adopted): reads,
# plus exactly one tagging write per taggable adopted resource; nothing else is written.
TERRAFORM_IMPORT_WRITES = {
    # 20 EC2 resources: VPC, DHCP options, 6 subnets, internet gateway, EIP, NAT gateway, 2 route
    # tables, 3 endpoints, flow log, the VPC's default security group, network ACL, main table
    ("ec2", "CreateTags"): 20,
    ("iam", "TagRole"): 2,  # the flow-log role and the SageMaker role
    ("logs", "TagResource"): 1,
    ("rds", "AddTagsToResource"): 1,
    ("s3", "PutBucketTagging"): 1,
}
TERRAFORM_IMPORT_READS = {
    **START_UP,
    # the refresh, each resource by the id Terraform recorded: the stack's tag finds nothing
    # yet, so each EC2 kind asks again by id (one filtered describe for all its resources)
    **{call: 2 for call in REFRESH if call[0] == "ec2"},
    ("ec2", "DescribeVpcAttribute"): 2,
    ("ec2", "DescribeNetworkAcls"): 1,  # found through the VPC, by its id
    # refresh (tagged tables, main table, by id), the routes and associations checked by their
    # tables' ids before tagging, and read through the now-tagged tables after
    ("ec2", "DescribeRouteTables"): 5,
    # refresh (by tag, by id) and the check that no other VPC is the stack's
    ("ec2", "DescribeVpcs"): 3,
    **{call: n for call, n in REFRESH.items() if call[0] != "ec2"},
}


def test_import_from_terraform_makes_reads_and_one_tagging_write_per_resource(
    harness: Harness,
) -> None:
    from tests.migrate.build import Seeded
    from tests.migrate.seed import load_state

    seeded = Seeded(harness, load_state())
    harness.log.clear()
    result = seeded.run()
    calls = Counter(harness.log.calls)
    writes = Counter({c: n for c, n in calls.items() if c[1] in harness.log.mutating})
    assert writes == Counter(TERRAFORM_IMPORT_WRITES)
    assert calls - writes == Counter(TERRAFORM_IMPORT_READS)
    assert len(result.tagged) == sum(TERRAFORM_IMPORT_WRITES.values()) == 25
    assert len(harness.log.calls) == 75
