"""The least-privilege IAM policy of the identity that runs smprov for one stack
(`smprov permissions`).

Every action smprov calls, scoped as far as the Service Authorization Reference allows:
names that carry the environment (the roles, the bucket, the DB subnet group), the stack's
``smprov:stack`` tag on EC2 resources (``aws:RequestTag`` when a call creates one,
``aws:ResourceTag`` after), the region everywhere. Actions AWS authorizes on the caller's
behalf are here too: ``ec2:CreateTags`` for tags sent with a create (only with
``ec2:CreateAction``), ``iam:TagRole``/``logs:TagResource``/``rds:AddTagsToResource`` for tags
sent with CreateRole/CreateLogGroup/CreateDBSubnetGroup, ``iam:PassRole`` for the flow log's
role, ``route53:AssociateVPCWithHostedZone`` for private DNS on interface endpoints, and
``s3:PutBucketOwnershipControls`` for CreateBucket with an ownership setting.

With a Terraform state to import (``TerraformSource``: `permissions --from-terraform`), also
``ec2:CreateTags`` on resources no smprov stack owns yet, only to make them this stack's, and the
read of the state from its S3 backend (``s3:GetObject``, ``kms:Decrypt`` for SSE-KMS).

tests/test_permissions.py proves it both ways: every call of the recorded paths against the
emulator (tests/iam/paths.py) is allowed under the IAM evaluator (tests/iam), and every action
here is used by some path.
``sts:GetCallerIdentity`` needs no permission (STS API reference) and is not listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner import keys
from provisioner.blueprint.flow_logs import role_name_of
from provisioner.blueprint.sagemaker_role import role_name
from provisioner.config import StackConfig
from provisioner.engine.contract import KEY_TAG, STACK_TAG

VERSION = "2012-10-17"

#: Calls that create an EC2 resource, with the resource type they create (tags sent with them).
EC2_CREATES = {
    "CreateVpc": "vpc",
    "CreateDhcpOptions": "dhcp-options",
    "CreateSubnet": "subnet",
    "CreateInternetGateway": "internet-gateway",
    "AllocateAddress": "elastic-ip",
    "CreateNatGateway": "natgateway",
    "CreateRouteTable": "route-table",
    "CreateSecurityGroup": "security-group",
    "CreateVpcEndpoint": "vpc-endpoint",
    "CreateFlowLogs": "vpc-flow-log",
}
#: Calls on the stack's own EC2 resources (each carries the smprov:stack tag), including the
#: existing resources a create names (the VPC of a subnet, the subnet of a NAT gateway).
EC2_CHANGES = (
    *EC2_CREATES,
    "AssociateDhcpOptions",
    "AssociateRouteTable",
    "AttachInternetGateway",
    "AuthorizeSecurityGroupEgress",
    "AuthorizeSecurityGroupIngress",
    "CreateRoute",
    "CreateTags",
    "DeleteDhcpOptions",
    "DeleteFlowLogs",
    "DeleteInternetGateway",
    "DeleteNatGateway",
    "DeleteRoute",
    "DeleteRouteTable",
    "DeleteSecurityGroup",
    "DeleteSubnet",
    "DeleteTags",
    "DeleteVpc",
    "DeleteVpcEndpoints",
    "DetachInternetGateway",
    "DisassociateRouteTable",
    "ModifySubnetAttribute",
    "ModifyVpcAttribute",
    "ModifyVpcEndpoint",
    "ReleaseAddress",
    "ReplaceRoute",
    "ReplaceRouteTableAssociation",
    "RevokeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
    "UpdateSecurityGroupRuleDescriptionsIngress",
)
#: The VPC's default security group, network ACL and main route table: AWS makes them with the
#: VPC, smprov adopts them (tags ``smprov:key``, never ``smprov:stack``: kinds/vpc_default.py).
DEFAULT_KEYS = (keys.DEFAULT_SECURITY_GROUP, keys.DEFAULT_NETWORK_ACL, keys.MAIN_ROUTE_TABLE)
EC2_DEFAULTS = (
    "CreateNetworkAclEntry",
    "CreateTags",
    "DeleteNetworkAclEntry",
    "DeleteRoute",
    "DeleteTags",
    "ReplaceNetworkAclEntry",
    "RevokeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
)
EC2_READS = (
    "DescribeAddresses",
    "DescribeAvailabilityZones",
    "DescribeDhcpOptions",
    "DescribeFlowLogs",
    "DescribeInternetGateways",
    "DescribeNatGateways",
    "DescribeNetworkAcls",
    "DescribeNetworkInterfaces",
    "DescribeRouteTables",
    "DescribeSecurityGroups",
    "DescribeSubnets",
    "DescribeVpcAttribute",
    "DescribeVpcEndpointServices",
    "DescribeVpcEndpoints",
    "DescribeVpcs",
)
ROLE_ACTIONS = (
    "CreateRole",
    "DeleteRole",
    "DeleteRolePolicy",
    "DetachRolePolicy",
    "GetRole",
    "GetRolePolicy",
    "ListAttachedRolePolicies",
    "ListInstanceProfilesForRole",
    "ListRolePolicies",
    "PutRolePolicy",
    "TagRole",
    "UntagRole",
    "UpdateAssumeRolePolicy",
    "UpdateRole",
)
BUCKET_ACTIONS = (
    "CreateBucket",
    "DeleteBucket",
    "DeleteBucketPolicy",
    "GetBucketOwnershipControls",
    "GetBucketPolicy",
    "GetBucketPublicAccessBlock",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetEncryptionConfiguration",
    "ListBucket",
    "ListBucketVersions",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutEncryptionConfiguration",
)
OBJECT_ACTIONS = ("DeleteObject", "DeleteObjectVersion", "GetObject", "PutObject")
LOG_GROUP_ACTIONS = (
    "CreateLogGroup",
    "DeleteLogGroup",
    "ListTagsForResource",
    "PutRetentionPolicy",
    "TagResource",
    "UntagResource",
)
DB_SUBNET_GROUP_ACTIONS = (
    "AddTagsToResource",
    "CreateDBSubnetGroup",
    "DeleteDBSubnetGroup",
    "ModifyDBSubnetGroup",
    "RemoveTagsFromResource",
)
STATE_BUCKET_ACTIONS = (
    "GetBucketPublicAccessBlock",
    "GetBucketVersioning",
    "GetEncryptionConfiguration",
    "ListBucket",
)


@dataclass(frozen=True)
class TerraformSource:
    """What ``smprov import --from-terraform SOURCE`` needs beyond the stack it adopts: the S3
    backend's object (``bucket/key``, when SOURCE is ``s3://``) and the KMS key that object is
    encrypted with (SSE-KMS)."""

    s3_object: str | None = None
    kms_key: str | None = None


def _actions(service: str, names: Any) -> list[str]:
    return sorted({f"{service}:{name}" for name in names})


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
    ec2 = f"arn:{p}:ec2:{region}:{account}"
    in_region = {"StringEquals": {"aws:RequestedRegion": region}}
    stack_tag = {f"aws:ResourceTag/{STACK_TAG}": env}
    flow_role = f"arn:{p}:iam::{account}:role/{role_name_of(config)}"
    sagemaker_role = f"arn:{p}:iam::{account}:role/{role_name(config)}"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Ec2Read",
            "Effect": "Allow",
            "Action": _actions("ec2", EC2_READS),
            # Describe calls support no resource-level scoping (SAR): the region is the scope.
            "Resource": "*",
            "Condition": in_region,
        },
        {
            "Sid": "Ec2CreateTagged",
            "Effect": "Allow",
            "Action": _actions("ec2", EC2_CREATES),
            # The new resource: only when the call tags it as this stack's.
            "Resource": sorted({f"{ec2}:{t}/*" for t in EC2_CREATES.values()}),
            "Condition": {"StringEquals": {f"aws:RequestTag/{STACK_TAG}": env}},
        },
        {
            "Sid": "Ec2TagOnCreate",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            # Tags sent with a create are authorized as CreateTags (SAR: ec2:CreateAction).
            "Resource": sorted({f"{ec2}:{t}/*" for t in EC2_CREATES.values()}),
            "Condition": {
                "StringEquals": {
                    "ec2:CreateAction": sorted(EC2_CREATES),
                    f"aws:RequestTag/{STACK_TAG}": env,
                }
            },
        },
        {
            "Sid": "Ec2StackResources",
            "Effect": "Allow",
            "Action": _actions("ec2", EC2_CHANGES),
            # Only resources tagged as this stack's (every one smprov creates is).
            "Resource": f"{ec2}:*",
            "Condition": {"StringEquals": stack_tag},
        },
        {
            "Sid": "Ec2AdoptVpcDefaults",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            # Adopting the VPC's default group, ACL and main table tags them with their key.
            "Resource": [f"{ec2}:network-acl/*", f"{ec2}:route-table/*", f"{ec2}:security-group/*"],
            "Condition": {"StringEquals": {f"aws:RequestTag/{KEY_TAG}": list(DEFAULT_KEYS)}},
        },
        {
            "Sid": "Ec2VpcDefaults",
            "Effect": "Allow",
            "Action": _actions("ec2", EC2_DEFAULTS),
            "Resource": [f"{ec2}:network-acl/*", f"{ec2}:route-table/*", f"{ec2}:security-group/*"],
            "Condition": {"StringEquals": {f"aws:ResourceTag/{KEY_TAG}": list(DEFAULT_KEYS)}},
        },
        {
            "Sid": "Roles",
            "Effect": "Allow",
            "Action": _actions("iam", ROLE_ACTIONS),
            "Resource": [flow_role, sagemaker_role],
        },
        {
            "Sid": "RolesOutOfInstanceProfiles",
            "Effect": "Allow",
            "Action": "iam:RemoveRoleFromInstanceProfile",
            # Deleting a role someone added to an instance profile takes it out first (IAM
            # API reference, DeleteRole). The SAR scopes this action by the instance profile
            # only, and those are whoever's: the account is the scope.
            "Resource": f"arn:{p}:iam::{account}:instance-profile/*",
        },
        *_managed_policy_statements(config, account, p),
        {
            "Sid": "PassFlowLogRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": flow_role,
            "Condition": {"StringEquals": {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"}},
        },
        {
            "Sid": "PassSageMakerRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            # Not smprov's own call: whoever starts training jobs with `output --format
            # sagemaker` passes the role (the acceptance suite does).
            "Resource": sagemaker_role,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        {
            "Sid": "FlowLogGroup",
            "Effect": "Allow",
            "Action": _actions("logs", LOG_GROUP_ACTIONS),
            # Named after the VPC, whose id is known only once it exists.
            "Resource": f"arn:{p}:logs:{region}:{account}:log-group:/aws/vpc-flow-log/vpc-*",
        },
        {
            "Sid": "FindLogGroups",
            "Effect": "Allow",
            "Action": "logs:DescribeLogGroups",
            "Resource": "*",  # no resource type (SAR)
            "Condition": in_region,
        },
        *_bucket_statements(config, p),
    ]
    if config.zone_count >= 2:  # the DB subnet group exists only then (blueprint/database.py)
        rds = f"arn:{p}:rds:{region}:{account}"
        statements += [
            {
                "Sid": "DbSubnetGroup",
                "Effect": "Allow",
                "Action": _actions("rds", DB_SUBNET_GROUP_ACTIONS),
                "Resource": f"{rds}:subgrp:{env}",
            },
            {
                "Sid": "FindDbSubnetGroups",
                "Effect": "Allow",
                "Action": ["rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"],
                "Resource": f"{rds}:subgrp:*",
            },
        ]
    if config.interface_endpoints:
        statements.append(
            {
                "Sid": "EndpointPrivateDns",
                "Effect": "Allow",
                "Action": "route53:AssociateVPCWithHostedZone",
                # Private DNS on an interface endpoint associates the VPC with a hosted zone
                # AWS owns (VPC User Guide, "Identity-based policies for VPC endpoints").
                "Resource": "*",
            }
        )
    statements += _kms_statements(config, account, p)
    statements += _state_statements(state or config.state_backend or "", p)
    if terraform is not None:
        statements += _terraform_statements(config, account, p, terraform)
    return {"Version": VERSION, "Statement": statements}


def _terraform_statements(
    config: StackConfig, account: str, p: str, source: TerraformSource
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
            "Resource": sorted({f"{ec2}:{t}/*" for t in EC2_CREATES.values()}),
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


def _managed_policy_statements(config: StackConfig, account: str, p: str) -> list[dict[str, Any]]:
    """``managed_policy_arns``: the preflight reads them (GetPolicy), `up` attaches exactly
    them to the SageMaker role (iam:PolicyARN)."""
    arns = sorted(config.managed_policy_arns)
    if not arns:
        return []
    role = f"arn:{p}:iam::{account}:role/{role_name(config)}"
    return [
        {
            "Sid": "ManagedPoliciesExist",
            "Effect": "Allow",
            "Action": "iam:GetPolicy",
            "Resource": arns,
        },
        {
            "Sid": "AttachManagedPolicies",
            "Effect": "Allow",
            "Action": "iam:AttachRolePolicy",
            "Resource": role,
            "Condition": {"ArnEquals": {"iam:PolicyARN": arns}},
        },
    ]


def _bucket_statements(config: StackConfig, p: str) -> list[dict[str, Any]]:
    bucket = config.bucket_name or f"{config.environment}-sagemaker-*"
    return [
        {
            "Sid": "TrainingBucket",
            "Effect": "Allow",
            "Action": _actions("s3", BUCKET_ACTIONS),
            "Resource": f"arn:{p}:s3:::{bucket}",
        },
        {
            "Sid": "TrainingObjects",
            "Effect": "Allow",
            "Action": _actions("s3", OBJECT_ACTIONS),
            "Resource": f"arn:{p}:s3:::{bucket}/*",
        },
        {
            "Sid": "FindTheBucket",
            "Effect": "Allow",
            # After a lost state, the generated name is found again by listing.
            "Action": "s3:ListAllMyBuckets",
            "Resource": "*",
        },
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
