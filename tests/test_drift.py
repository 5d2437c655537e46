"""Drift: a change made outside smprov shows in `plan`, `up` puts it right, and `plan` is empty.

Each case converges a stack in a fresh emulated account, changes one thing with plain boto3 (as a
colleague in the console would), and checks what `plan` says about it, what AWS holds after `up`,
and that nothing is left to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provisioner.aws.clients import Clients
from provisioner.blueprint.sagemaker_role import INLINE_POLICY
from provisioner.engine.model import Action
from provisioner.store.document import StateDocument
from tests.test_crash_matrix import (
    CONFIG,
    REGION,
    Account,
    KillSwitch,
    fake_aws_env,
    fresh_account,
    plan_only,
    run,
)

Check = Callable[[Clients, StateDocument], Any]


@dataclass(frozen=True)
class Drift:
    """One out-of-band change, the plan step it must produce, and how to see it repaired."""

    name: str
    change: Check
    key: str
    action: Action
    field: str | None
    repaired: Check

    def __str__(self) -> str:
        return self.name


def _id(state: StateDocument, key: str) -> str:
    return state.resources[key].id


def _route_table(clients: Clients, table_id: str) -> dict[str, Any]:
    return clients("ec2").describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]


def _default_routes(clients: Clients, state: StateDocument) -> list[dict[str, Any]]:
    table = _route_table(clients, _id(state, "route_table.public"))
    return [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]


def _subnets_tagged(clients: Clients, key: str) -> list[dict[str, Any]]:
    filters = [{"Name": "tag:smprov:key", "Values": [key]}]
    return clients("ec2").describe_subnets(Filters=filters)["Subnets"]


def _vpc_name(clients: Clients, state: StateDocument) -> str:
    vpc = clients("ec2").describe_vpcs(VpcIds=[_id(state, "vpc")])["Vpcs"][0]
    return {t["Key"]: t["Value"] for t in vpc["Tags"]}["Name"]


def _encryption(clients: Clients, state: StateDocument) -> str:
    answer = clients("s3").get_bucket_encryption(Bucket=_id(state, "bucket"))
    rule = answer["ServerSideEncryptionConfiguration"]["Rules"][0]
    return str(rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"])


def _retention(clients: Clients, state: StateDocument) -> int | None:
    name = _id(state, "log_group.flow_logs")
    groups = clients("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return next(g.get("retentionInDays") for g in groups if g["logGroupName"] == name)


def _default_sg_ingress(clients: Clients, state: StateDocument) -> list[Any]:
    group_id = _id(state, "default_security_group")
    group = clients("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return list(group["IpPermissions"])


def _delete_subnet(clients: Clients, state: StateDocument) -> None:
    ec2 = clients("ec2")
    ec2.disassociate_route_table(AssociationId=_id(state, "rta.public.us-east-1b"))
    ec2.delete_subnet(SubnetId=_id(state, "subnet.public.us-east-1b"))


def _open_default_sg(clients: Clients, state: StateDocument) -> None:
    clients("ec2").authorize_security_group_ingress(
        GroupId=_id(state, "default_security_group"),
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )


def _dns_hostnames(clients: Clients, state: StateDocument) -> bool:
    answer = clients("ec2").describe_vpc_attribute(
        VpcId=_id(state, "vpc"), Attribute="enableDnsHostnames"
    )
    return bool(answer["EnableDnsHostnames"]["Value"])


def _inline_policies(clients: Clients, state: StateDocument, key: str) -> list[str]:
    return list(clients("iam").list_role_policies(RoleName=_id(state, key))["PolicyNames"])


def _delete_bucket(clients: Clients, state: StateDocument) -> None:
    s3, bucket = clients("s3"), _id(state, "bucket")
    s3.delete_bucket_policy(Bucket=bucket)  # moto applies the TLS-only policy to plain calls
    versions = s3.list_object_versions(Bucket=bucket)
    doomed = [
        {"Key": v["Key"], "VersionId": v["VersionId"]}
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
    ]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed})
    s3.delete_bucket(Bucket=bucket)


def _bucket_back(clients: Clients, state: StateDocument) -> bool:
    s3, bucket = clients("s3"), _id(state, "bucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return _encryption(clients, state) == "AES256" and "raw-data/" in keys


# The reads smprov sends on a guess (a recorded resource's settings, tags and policies asked
# together with the resource itself) must still see these right.
GUESSED_READS = [
    Drift(
        "DNS hostnames turned off",
        lambda c, s: c("ec2").modify_vpc_attribute(
            VpcId=_id(s, "vpc"), EnableDnsHostnames={"Value": False}
        ),
        "vpc",
        Action.UPDATE,
        "enable_dns_hostnames",
        _dns_hostnames,
    ),
    Drift(
        "inline policy deleted from a role",
        lambda c, s: c("iam").delete_role_policy(
            RoleName=_id(s, "iam_role.sagemaker_execution"), PolicyName=INLINE_POLICY
        ),
        "iam_role.sagemaker_execution",
        Action.UPDATE,
        "inline_policies",
        lambda c, s: _inline_policies(c, s, "iam_role.sagemaker_execution") == [INLINE_POLICY],
    ),
    Drift(
        "inline policy added to a role",
        lambda c, s: c("iam").put_role_policy(
            RoleName=_id(s, "iam_role.flow_logs"),
            PolicyName="added-by-hand",
            PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Action": "s3:ListAllMyBuckets", "Resource": "*"}]}',
        ),
        "iam_role.flow_logs",
        Action.UPDATE,
        "inline_policies",
        lambda c, s: _inline_policies(c, s, "iam_role.flow_logs") == ["deliver-to-cloudwatch-logs"],
    ),
    Drift(
        "log group deleted",
        lambda c, s: c("logs").delete_log_group(logGroupName=_id(s, "log_group.flow_logs")),
        "log_group.flow_logs",
        Action.CREATE,
        None,
        lambda c, s: _retention(c, s) == 7,
    ),
    Drift(
        "DB subnet group deleted",
        lambda c, s: c("rds").delete_db_subnet_group(DBSubnetGroupName=_id(s, "db_subnet_group")),
        "db_subnet_group",
        Action.CREATE,
        None,
        lambda c, s: (
            len(
                c("rds").describe_db_subnet_groups(DBSubnetGroupName=_id(s, "db_subnet_group"))[
                    "DBSubnetGroups"
                ]
            )
            == 1
        ),
    ),
    Drift("bucket deleted", _delete_bucket, "bucket", Action.CREATE, None, _bucket_back),
]

DRIFTS = [
    Drift(
        "subnet deleted",
        _delete_subnet,
        "subnet.public.us-east-1b",
        Action.CREATE,
        None,
        lambda c, s: len(_subnets_tagged(c, "subnet.public.us-east-1b")) == 1,
    ),
    Drift(
        "route removed",
        lambda c, s: c("ec2").delete_route(
            RouteTableId=_id(s, "route_table.public"), DestinationCidrBlock="0.0.0.0/0"
        ),
        "route.public.internet",
        Action.CREATE,
        None,
        lambda c, s: (
            [r["GatewayId"] for r in _default_routes(c, s)] == [_id(s, "internet_gateway")]
        ),
    ),
    Drift(
        "tag edited",
        lambda c, s: c("ec2").create_tags(
            Resources=[_id(s, "vpc")], Tags=[{"Key": "Name", "Value": "renamed-by-hand"}]
        ),
        "vpc",
        Action.UPDATE,
        "tags",
        lambda c, s: _vpc_name(c, s) == "dev",
    ),
    Drift(
        "bucket encryption turned off",
        lambda c, s: c("s3").delete_bucket_encryption(Bucket=_id(s, "bucket")),
        "bucket",
        Action.UPDATE,
        "encryption",
        lambda c, s: _encryption(c, s) == "AES256",
    ),
    Drift(
        "log retention changed",
        lambda c, s: c("logs").put_retention_policy(
            logGroupName=_id(s, "log_group.flow_logs"), retentionInDays=30
        ),
        "log_group.flow_logs",
        Action.UPDATE,
        "retention_in_days",
        lambda c, s: _retention(c, s) == 7,
    ),
    Drift(
        "rule added to the default security group",
        _open_default_sg,
        "default_security_group",
        Action.UPDATE,
        "ingress",
        lambda c, s: _default_sg_ingress(c, s) == [],
    ),
]


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    with fake_aws_env():
        yield Account(Clients(REGION, max_attempts=1))


@pytest.mark.parametrize("drift", DRIFTS + GUESSED_READS, ids=str)
def test_plan_reports_drift_and_up_repairs_it(
    account: Account, tmp_path: Path, drift: Drift
) -> None:
    (tmp_path / "smprov.toml").write_text(CONFIG)
    with fresh_account(account):
        _plan, report, state = run(account, tmp_path)
        assert report.ok
        drift.change(account.clients, state)

        plan = plan_only(account, tmp_path)
        step = plan.step_by_key[drift.key]
        assert step.action is drift.action
        if drift.field is not None:
            assert drift.field in [c.path for c in step.changes]
        if drift.action is Action.CREATE:
            assert step.reason == "deleted outside smprov"

        account.switch = KillSwitch()
        _plan, report, state = run(account, tmp_path)
        assert report.ok, [(node, r.message) for node, r in report.failed]
        assert drift.repaired(account.clients, state)
        assert plan_only(account, tmp_path).is_empty
