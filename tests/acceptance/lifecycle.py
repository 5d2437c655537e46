"""One stack's whole life through the real CLI, for a real account and for the emulator alike.

cold ``up``; ``plan --detailed-exitcode`` (0); a no-change ``up``; drift made out of band and
repaired; the redundancy switch (one NAT gateway per zone); ``down --delete-data --delete-logs``;
``plan --destroy --detailed-exitcode`` (0: nothing left). The state lives in S3 (the S3 backend).
The acceptance suite (``pytest -m aws``) runs it against AWS, adding a training job before
``down``; tests/test_permissions.py runs it against moto's server (``AWS_ENDPOINT_URL``),
recording every call. Nothing here knows which one it talks to.
"""

from __future__ import annotations

import json
import secrets
import string
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Every resource of an acceptance run carries this tag (the sweeper's handle) ...
SUITE_TAG = "smprov-acceptance"
#: ... and an environment named ``acc-<base-36 start time>-<4 random>``: its age is in its name.
ENV_PREFIX = "acc-"
_ALPHABET = string.digits + string.ascii_lowercase


def _base36(number: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 36)
        digits = _ALPHABET[rest] + digits
    return digits or "0"


def unique_environment(now: float | None = None) -> str:
    """``acc-<seconds since the epoch, base 36>-<4 random>``: unique, and dated for the sweeper."""
    started = _base36(int(now if now is not None else time.time()))
    return f"{ENV_PREFIX}{started}-{''.join(secrets.choice(_ALPHABET) for _ in range(4))}"


def started_at(environment: str) -> float | None:
    """When the run that made ``environment`` started (None: not an acceptance environment)."""
    if not environment.startswith(ENV_PREFIX):
        return None
    stamp = environment[len(ENV_PREFIX) :].split("-", 1)[0]
    try:
        return float(int(stamp, 36))
    except ValueError:
        return None


def state_bucket_name(environment: str, account: str) -> str:
    return f"smprov-{environment}-state-{account}"


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


#: Runs ``smprov ARGS`` in the lifecycle's working directory.
Runner = Callable[[Sequence[str]], Result]


@dataclass
class Lifecycle:
    workdir: Path
    environment: str
    region: str
    state_url: str
    run_cli: Runner
    #: Clients for the out-of-band changes (``clients("ec2")``): not smprov's.
    clients: Callable[[str], Any]
    settings: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    #: What the lifecycle made outside smprov (the drift's managed policy): removed by cleanup.
    cleanups: list[Callable[[], Any]] = field(default_factory=list)

    def cleanup(self) -> None:
        while self.cleanups:
            self.cleanups.pop()()

    def write_config(self, **settings: Any) -> None:
        self.settings.update(settings)
        lines = [
            f'environment = "{self.environment}"',
            f'region = "{self.region}"',
            f'state_backend = "{self.state_url}"',
        ]
        lines += [f"{k} = {json.dumps(v)}" for k, v in sorted(self.settings.items())]
        lines += ["[tags]", f'{SUITE_TAG} = "true"']
        (self.workdir / "smprov.toml").write_text("\n".join(lines) + "\n")

    def smprov(self, *args: str, expect: int = 0) -> Result:
        result = self.run_cli(list(args))
        self.log.append(f"smprov {' '.join(args)} -> {result.exit_code}")
        assert result.exit_code == expect, (
            f"smprov {' '.join(args)} exited {result.exit_code}, expected {expect}\n"
            f"{textwrap.indent(result.stderr[-4000:], '  ')}"
        )
        return result

    def state(self) -> dict[str, Any]:
        return json.loads(self.smprov("state", "pull").stdout)

    def resource_id(self, key: str) -> str:
        return self.state()["resources"][key]["id"]

    # The steps, in order (``run`` does them all).

    def cold_up(self) -> None:
        self.write_config()
        self.smprov("up", "--yes", "--json")
        self.smprov("plan", "--detailed-exitcode")

    def no_change_up(self) -> None:
        self.smprov("up", "--yes")

    def drift_repair(self) -> None:
        """A colleague edits the stack by hand, in every way smprov repairs: tags (the bucket's
        too), retention, a subnet setting, the default group's rules, the default ACL's entries,
        the main route table's routes, the roles' trust, description, tags and attachments. One
        `up` repairs it all."""
        state = self.state()["resources"]
        ids = {key: record["id"] for key, record in state.items()}
        ec2, iam = self.clients("ec2"), self.clients("iam")
        vpc, role = ids["vpc"], state["iam_role.sagemaker_execution"]["attrs"]["name"]
        group = f"/aws/vpc-flow-log/{vpc}"
        self.clients("logs").put_retention_policy(logGroupName=group, retentionInDays=30)
        self.clients("logs").tag_log_group(logGroupName=group, tags={"drift": "yes"})
        s3 = self.clients("s3")
        tagset = s3.get_bucket_tagging(Bucket=ids["bucket"])["TagSet"]
        s3.put_bucket_tagging(
            Bucket=ids["bucket"], Tagging={"TagSet": [*tagset, {"Key": "drift", "Value": "yes"}]}
        )
        ec2.create_tags(
            Resources=[vpc],
            Tags=[{"Key": "Name", "Value": "edited"}, {"Key": "drift", "Value": "yes"}],
        )
        public = next(v for k, v in ids.items() if k.startswith("subnet.public."))
        ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
        ec2.authorize_security_group_ingress(
            GroupId=ids["default_security_group"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                }
            ],
        )
        ec2.create_tags(
            Resources=[ids["default_security_group"]], Tags=[{"Key": "drift", "Value": "yes"}]
        )
        ec2.revoke_security_group_egress(
            GroupId=ids["security_group.training"],
            IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )
        nat = next(v for k, v in ids.items() if k.startswith("nat_gateway."))
        ec2.replace_route(
            RouteTableId=ids["route_table.public"],
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId=nat,
        )
        rds = self.clients("rds")
        subnet_group = rds.describe_db_subnet_groups(DBSubnetGroupName=ids["db_subnet_group"])
        rds.add_tags_to_resource(
            ResourceName=subnet_group["DBSubnetGroups"][0]["DBSubnetGroupArn"],
            Tags=[{"Key": "drift", "Value": "yes"}],
        )
        acl = ids["default_network_acl"]
        ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Egress=False)
        ec2.create_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=200,
            Protocol="-1",
            RuleAction="deny",
            Egress=False,
            CidrBlock="10.9.0.0/16",
        )
        ec2.replace_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=100,
            Protocol="-1",
            RuleAction="deny",
            Egress=True,
            CidrBlock="0.0.0.0/0",
        )
        ec2.create_route(
            RouteTableId=ids["main_route_table"],
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=ids["internet_gateway"],
        )
        iam.update_role(RoleName=role, Description="edited", MaxSessionDuration=7200)
        iam.tag_role(RoleName=role, Tags=[{"Key": "drift", "Value": "yes"}])
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        trust = trust if isinstance(trust, dict) else json.loads(trust)
        trust["Statement"][0].pop("Condition", None)  # the confused-deputy guard removed
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
        policy = iam.create_policy(
            PolicyName=f"{self.environment}-drift",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}
                    ],
                }
            ),
        )["Policy"]["Arn"]
        self.cleanups.append(lambda: iam.delete_policy(PolicyArn=policy))
        iam.attach_role_policy(RoleName=role, PolicyArn=policy)
        self.smprov("plan", "--detailed-exitcode", expect=3)
        self.smprov("up", "--yes")
        self.smprov("plan", "--detailed-exitcode")
        self.cleanup()

    def redundancy_switch(self) -> None:
        """One NAT gateway per zone, and a third zone (new subnets, a wider DB subnet group and
        interface endpoints)."""
        self.write_config(vpc_redundancy=True, availability_zones=3)
        self.smprov("up", "--yes")
        self.smprov("plan", "--detailed-exitcode")

    def training_config(self) -> dict[str, Any]:
        return json.loads(self.smprov("output", "--format", "sagemaker").stdout)

    def down(self) -> None:
        self.smprov("down", "--yes", "--delete-data", "--delete-logs")
        self.smprov("plan", "--destroy", "--detailed-exitcode")

    def permissions(self) -> dict[str, Any]:
        """The policy `smprov permissions` prints for this stack."""
        return json.loads(self.smprov("permissions", "--json").stdout)

    def run(self, before_down: Callable[[Lifecycle], None] | None = None) -> None:
        self.cold_up()
        self.no_change_up()
        self.drift_repair()
        self.redundancy_switch()
        if before_down is not None:
            before_down(self)
        self.down()


def make_state_bucket(s3: Any, name: str, region: str) -> None:
    """A bucket the S3 backend accepts: versioned, all public access blocked, tagged as the
    suite's."""
    params: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**params)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": SUITE_TAG, "Value": "true"}]})


def delete_bucket(s3: Any, name: str) -> None:
    """Every version and delete marker, then the bucket (already gone is fine)."""
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=name)
        for page in pages:
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if doomed:
                s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})
        s3.delete_bucket(Bucket=name)
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") != "NoSuchBucket":
            raise
