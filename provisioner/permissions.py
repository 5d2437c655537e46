"""The least-privilege IAM policy of the identity that runs smprov for one stack
(`smprov permissions`), assembled from what each kind declares it calls (``Kind.grants``).

The kinds name the actions; this module scopes them, as far as the Service Authorization
Reference allows: names that carry the environment (the roles, the bucket, the DB subnet group),
the stack's ``smprov:stack`` tag on EC2 resources (``aws:RequestTag`` when a call creates one,
``aws:ResourceTag`` after), the region everywhere. Actions AWS authorizes on the caller's behalf
are declared by the kind whose call needs them (``iam:PassRole`` for the flow log's role,
``s3:PutBucketOwnershipControls`` for CreateBucket with an ownership setting, ...); tags sent
with an EC2 create are authorized as ``ec2:CreateTags`` (only with ``ec2:CreateAction``).
A kind whose actions fit none of the statements here brings its own (``Grant.resource``).

What no kind calls is here too: the reads before any kind runs (the region's zones, the endpoint
services the preflight checks), the managed policies the preflight reads, the SageMaker role
passed by whoever starts training jobs, the bucket's KMS key, the S3 state backend and its lock,
and with a Terraform state to import (``TerraformSource``: `permissions --from-terraform`),
``ec2:CreateTags`` on resources no smprov stack owns yet, only to make them this stack's, and
the read of the state from its S3 backend (``s3:GetObject``, ``kms:Decrypt`` for SSE-KMS).

tests/test_permissions.py proves it both ways: every call of the recorded paths against the
emulator (tests/iam/paths.py) is allowed under the IAM evaluator (tests/iam), and every action
here is used by some path.
``sts:GetCallerIdentity`` needs no permission (STS API reference) and is not listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from provisioner import keys
from provisioner.blueprint.flow_logs import role_name_of
from provisioner.blueprint.sagemaker_role import role_name
from provisioner.config import StackConfig
from provisioner.engine.contract import KEY_TAG, STACK_TAG, Kind
from provisioner.kinds import REGISTRY

VERSION = "2012-10-17"

#: EC2 reads before any kind runs: the region's zones (the configuration resolved to them) and
#: the endpoint services the preflight checks.
PREFLIGHT_READS = ("ec2:DescribeAvailabilityZones", "ec2:DescribeVpcEndpointServices")
#: The statements scoped here that kinds put actions into (``Grant.statement``).
SCOPED = frozenset(
    {
        "Ec2Read",
        "Ec2CreateTagged",
        "Ec2StackResources",
        "Ec2VpcDefaults",
        "Roles",
        "RolesOutOfInstanceProfiles",
        "AttachManagedPolicies",
        "PassFlowLogRole",
        "FlowLogGroup",
        "FindLogGroups",
        "TrainingBucket",
        "TrainingObjects",
        "FindTheBucket",
        "DbSubnetGroup",
        "FindDbSubnetGroups",
        "EndpointPrivateDns",
    }
)
#: The VPC's default security group, network ACL and main route table: AWS makes them with the
#: VPC, smprov adopts them (tags ``smprov:key``, never ``smprov:stack``: kinds/vpc_default.py).
DEFAULT_KEYS = (keys.DEFAULT_SECURITY_GROUP, keys.DEFAULT_NETWORK_ACL, keys.MAIN_ROUTE_TABLE)
DEFAULT_TYPES = ("network-acl", "route-table", "security-group")
STATE_BUCKET_ACTIONS = (
    "GetBucketPublicAccessBlock",
    "GetBucketVersioning",
    "GetEncryptionConfiguration",
    "ListBucket",
)


@dataclass
class Granted:
    """The kinds' grants gathered: actions by statement, the EC2 creates (call -> the resource
    type it makes) and the kinds' own statements (Sid -> resource template)."""

    actions: dict[str, set[str]] = field(default_factory=dict)
    creates: dict[str, str] = field(default_factory=dict)
    own: dict[str, str] = field(default_factory=dict)

    def of(self, statement: str) -> set[str]:
        return self.actions.get(statement, set())

    def created_types(self, ec2: str) -> list[str]:
        return sorted({f"{ec2}:{t}/*" for t in self.creates.values()})


def granted(kinds: Iterable[Kind], config: StackConfig) -> Granted:
    """Every kind's grants for ``config``'s stack, by statement (a kind behind a switch that is
    off grants nothing); a grant to a statement this module does not scope must bring its
    resource, and a kind's own statement has one resource."""
    found = Granted()
    for kind in kinds:
        for grant in kind.grants:
            sid = grant.statement
            if grant.setting is not None:
                switch = getattr(config, grant.setting, None)
                if not isinstance(switch, bool):
                    raise ValueError(
                        f"kind {kind.name}: {grant.setting!r} is not a boolean setting"
                    )
                if not switch:
                    continue
            if grant.resource is None and sid not in SCOPED:
                raise ValueError(
                    f"kind {kind.name}: statement {sid!r} is not one smprov scopes: give the "
                    "Grant its resource"
                )
            if grant.resource is not None:
                if sid in SCOPED or found.own.get(sid, grant.resource) != grant.resource:
                    raise ValueError(f"kind {kind.name}: statement {sid!r} has another resource")
                found.own[sid] = grant.resource
            found.actions.setdefault(sid, set()).update(grant.actions)
            if grant.creates is not None:
                found.creates.update(
                    (action.removeprefix("ec2:"), grant.creates) for action in grant.actions
                )
    return found


@dataclass(frozen=True)
class TerraformSource:
    """What ``smprov import --from-terraform SOURCE`` needs beyond the stack it adopts: the S3
    backend's object (``bucket/key``, when SOURCE is ``s3://``) and the KMS key that object is
    encrypted with (SSE-KMS)."""

    s3_object: str | None = None
    kms_key: str | None = None


def _actions(service: str, names: Any) -> list[str]:
    return sorted({f"{service}:{name}" for name in names})


def _allow(
    sid: str, actions: Iterable[str], resource: Any, condition: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One statement of the kinds' actions (none when no kind declares any): one action as
    itself, more as a sorted list."""
    names = sorted(set(actions))
    if not names:
        return []
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": names[0] if len(names) == 1 else names,
        "Resource": resource,
    }
    if condition:
        statement["Condition"] = condition
    return [statement]


def partition_of(region: str) -> str:
    """The ARN partition of a region (for an account given without asking STS)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def deployer_policy(
    config: StackConfig,
    account: str,
    partition: str = "aws",
    state: str | None = None,
    terraform: TerraformSource | None = None,
) -> dict[str, Any]:
    """The policy document for ``config``'s stack in ``account``, with the S3 state backend's
    actions when ``state`` (``--state``, else ``state_backend``) is an ``s3://`` URL, and what
    an import of the Terraform stack needs with ``terraform``."""
    p, region, env = partition, config.region, config.environment
    kinds = granted(REGISTRY.values(), config)
    ec2 = f"arn:{p}:ec2:{region}:{account}"
    in_region = {"StringEquals": {"aws:RequestedRegion": region}}
    created = kinds.created_types(ec2)
    defaults = [f"{ec2}:{t}/*" for t in DEFAULT_TYPES]
    flow_role = f"arn:{p}:iam::{account}:role/{role_name_of(config)}"
    sagemaker_role = f"arn:{p}:iam::{account}:role/{role_name(config)}"
    statements: list[dict[str, Any]] = [
        # Describe calls support no resource-level scoping (SAR): the region is the scope.
        *_allow("Ec2Read", {*kinds.of("Ec2Read"), *PREFLIGHT_READS}, "*", in_region),
        # The new resource: only when the call tags it as this stack's.
        *_allow(
            "Ec2CreateTagged",
            kinds.of("Ec2CreateTagged"),
            created,
            {"StringEquals": {f"aws:RequestTag/{STACK_TAG}": env}},
        ),
        {
            "Sid": "Ec2TagOnCreate",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            # Tags sent with a create are authorized as CreateTags (SAR: ec2:CreateAction).
            "Resource": created,
            "Condition": {
                "StringEquals": {
                    "ec2:CreateAction": sorted(kinds.creates),
                    f"aws:RequestTag/{STACK_TAG}": env,
                }
            },
        },
        # Only resources tagged as this stack's (every one smprov creates is).
        *_allow(
            "Ec2StackResources",
            {*kinds.of("Ec2CreateTagged"), *kinds.of("Ec2StackResources")},
            f"{ec2}:*",
            {"StringEquals": {f"aws:ResourceTag/{STACK_TAG}": env}},
        ),
        {
            "Sid": "Ec2AdoptVpcDefaults",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            # Adopting the VPC's default group, ACL and main table tags them with their key.
            "Resource": defaults,
            "Condition": {"StringEquals": {f"aws:RequestTag/{KEY_TAG}": list(DEFAULT_KEYS)}},
        },
        *_allow(
            "Ec2VpcDefaults",
            kinds.of("Ec2VpcDefaults"),
            defaults,
            {"StringEquals": {f"aws:ResourceTag/{KEY_TAG}": list(DEFAULT_KEYS)}},
        ),
        *_allow("Roles", kinds.of("Roles"), [flow_role, sagemaker_role]),
        # Deleting a role someone added to an instance profile takes it out first (IAM API
        # reference, DeleteRole). The SAR scopes this action by the instance profile only, and
        # those are whoever's: the account is the scope.
        *_allow(
            "RolesOutOfInstanceProfiles",
            kinds.of("RolesOutOfInstanceProfiles"),
            f"arn:{p}:iam::{account}:instance-profile/*",
        ),
        *_managed_policy_statements(config, sagemaker_role, kinds),
        *_allow(
            "PassFlowLogRole",
            kinds.of("PassFlowLogRole"),
            flow_role,
            {"StringEquals": {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"}},
        ),
        {
            "Sid": "PassSageMakerRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            # Not smprov's own call: whoever starts training jobs with `output --format
            # sagemaker` passes the role (the acceptance suite does).
            "Resource": sagemaker_role,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        # Named after the VPC, whose id is known only once it exists.
        *_allow(
            "FlowLogGroup",
            kinds.of("FlowLogGroup"),
            f"arn:{p}:logs:{region}:{account}:log-group:/aws/vpc-flow-log/vpc-*",
        ),
        *_allow("FindLogGroups", kinds.of("FindLogGroups"), "*", in_region),  # no resource type
        *_bucket_statements(config, p, kinds),
    ]
    if config.zone_count >= 2:  # the DB subnet group exists only then (blueprint/database.py)
        rds = f"arn:{p}:rds:{region}:{account}"
        statements += [
            *_allow("DbSubnetGroup", kinds.of("DbSubnetGroup"), f"{rds}:subgrp:{env}"),
            *_allow("FindDbSubnetGroups", kinds.of("FindDbSubnetGroups"), f"{rds}:subgrp:*"),
        ]
    if config.interface_endpoints:
        # Private DNS on an interface endpoint associates the VPC with a hosted zone AWS owns
        # (VPC User Guide, "Identity-based policies for VPC endpoints").
        statements += _allow("EndpointPrivateDns", kinds.of("EndpointPrivateDns"), "*")
    names = {"partition": p, "region": region, "account": account, "environment": env}
    for sid, resource in kinds.own.items():
        statements += _allow(sid, kinds.of(sid), resource.format(**names))
    statements += _kms_statements(config, account, p)
    statements += _state_statements(state or config.state_backend or "", p)
    if terraform is not None:
        statements += _terraform_statements(config, account, p, terraform, kinds)
    return {"Version": VERSION, "Statement": statements}


def _terraform_statements(
    config: StackConfig, account: str, p: str, source: TerraformSource, kinds: Granted
) -> list[dict[str, Any]]:
    """The import tags the EC2 resources Terraform made, which carry no smprov tag yet, as
    this stack's (the roles, the bucket, the log group and the DB subnet group are named in
    the stack's statements), and reads the state from its S3 backend."""
    ec2 = f"arn:{p}:ec2:{config.region}:{account}"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Ec2AdoptTerraformResources",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            # Only a resource no smprov stack owns yet, and only to make it this stack's.
            "Resource": kinds.created_types(ec2),
            "Condition": {
                "StringEquals": {f"aws:RequestTag/{STACK_TAG}": config.environment},
                "Null": {f"aws:ResourceTag/{STACK_TAG}": "true"},
            },
        }
    ]
    if source.s3_object:
        statements.append(
            {
                "Sid": "TerraformState",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:{p}:s3:::{source.s3_object}",
            }
        )
    if source.kms_key:
        via_s3 = f"s3.{config.region}.amazonaws.com"
        statements.append(
            {
                "Sid": "TerraformStateKey",
                "Effect": "Allow",
                # S3 decrypts the SSE-KMS object with the reader's permissions.
                "Action": "kms:Decrypt",
                "Resource": source.kms_key,
                "Condition": {"StringEquals": {"kms:ViaService": via_s3}},
            }
        )
    return statements


def _managed_policy_statements(
    config: StackConfig, sagemaker_role: str, kinds: Granted
) -> list[dict[str, Any]]:
    """``managed_policy_arns``: the preflight reads them (GetPolicy), `up` attaches exactly
    them to the SageMaker role (iam:PolicyARN)."""
    arns = sorted(config.managed_policy_arns)
    if not arns:
        return []
    return [
        {
            "Sid": "ManagedPoliciesExist",
            "Effect": "Allow",
            "Action": "iam:GetPolicy",
            "Resource": arns,
        },
        *_allow(
            "AttachManagedPolicies",
            kinds.of("AttachManagedPolicies"),
            sagemaker_role,
            {"ArnEquals": {"iam:PolicyARN": arns}},
        ),
    ]


def _bucket_statements(config: StackConfig, p: str, kinds: Granted) -> list[dict[str, Any]]:
    bucket = config.bucket_name or f"{config.environment}-sagemaker-*"
    return [
        *_allow("TrainingBucket", kinds.of("TrainingBucket"), f"arn:{p}:s3:::{bucket}"),
        *_allow("TrainingObjects", kinds.of("TrainingObjects"), f"arn:{p}:s3:::{bucket}/*"),
        *_allow("FindTheBucket", kinds.of("FindTheBucket"), "*"),
    ]


def _kms_statements(config: StackConfig, account: str, p: str) -> list[dict[str, Any]]:
    """The bucket's key: DescribeKey for the preflight, Decrypt and GenerateDataKey for S3 on
    smprov's behalf (it writes and reads SSE-KMS objects: the CSV, the folder markers).

    A key ARN (or a bare key id) names the key. An alias (`smprov permissions` resolves it
    when it can ask AWS) leaves the key unknown: DescribeKey is then held to the alias it is
    called with (kms:RequestAlias), the data-key calls to requests S3 makes (kms:ViaService);
    the SAR lists kms:ResourceAliases for none of these actions."""
    key = config.kms_key_id
    if not key:
        return []
    region = config.region
    if key.startswith("arn:") and ":key/" in key:
        return [_kms_grant(["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"], key)]
    if not (key.startswith("arn:") or key.startswith("alias/")):
        arn = f"arn:{p}:kms:{region}:{account}:key/{key}"
        return [_kms_grant(["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"], arn)]
    alias = key.split(":", 5)[-1] if key.startswith("arn:") else key
    keys = f"arn:{p}:kms:{region}:*:key/*"
    return [
        _kms_grant(
            ["kms:DescribeKey"],
            keys,
            {"StringEquals": {"kms:RequestAlias": sorted({alias, key})}},
        ),
        _kms_grant(
            ["kms:Decrypt", "kms:GenerateDataKey"],
            keys,
            {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        ),
    ]


def _kms_grant(
    actions: list[str], resource: str, condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    sid = "BucketKeyPreflight" if actions == ["kms:DescribeKey"] else "BucketKey"
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resource,
    }
    if condition:
        statement["Condition"] = condition
    return statement


def _state_statements(where: str, p: str) -> list[dict[str, Any]]:
    if not where.startswith("s3://"):
        return []
    bucket, _, key = where.removeprefix("s3://").partition("/")
    return [
        {
            "Sid": "StateBucket",
            "Effect": "Allow",
            "Action": _actions("s3", STATE_BUCKET_ACTIONS),
            "Resource": f"arn:{p}:s3:::{bucket}",
        },
        {
            "Sid": "StateObjects",
            "Effect": "Allow",
            # The state and its lock object (<key>.lock).
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": [f"arn:{p}:s3:::{bucket}/{key}", f"arn:{p}:s3:::{bucket}/{key}.lock"],
        },
    ]
